// Raw libuv: one child with three libuv pipes (uv_pipe_init + UV_CREATE_PIPE), as a
// program using libuv directly would write it. stdout and stderr are read to EOF
// (stdout into a growing buffer when a sink is set, else discarded); stdin and the
// process handle are closed at exit, as Node does. Done when every handle is closed.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace bench {

/// A malloc'ed buffer grown by doubling with realloc (large blocks are mremap'ed, so
/// growth does not copy).
struct GrowBuf {
  char* data = nullptr;
  std::size_t size = 0;
  std::size_t cap = 0;
  GrowBuf() = default;
  GrowBuf(const GrowBuf&) = delete;
  GrowBuf& operator=(const GrowBuf&) = delete;
  ~GrowBuf();
  void make_room(std::size_t room);
};

struct RawChild {
  uv_process_t proc{};
  uv_pipe_t pipes[3]{};
  int open_handles = 0;
  bool exited = false;
  int64_t exit_status = -1;
  int term_signal = 0;
  int read_error = 0;                    // a read error other than EOF
  GrowBuf* sink = nullptr;               // stdout goes here when set
  bool copy_from_slab = false;           // read into a 64 KiB slab, then copy into sink
  std::size_t* done_counter = nullptr;   // incremented when the last handle is closed
  void (*on_done)(RawChild&) = nullptr;  // called when the last handle is closed
  void* user = nullptr;                  // for on_done
};

/// Starts `args[0]` (looked up as execvp does) on `loop`. On failure every handle is
/// already closing and the libuv error is returned; run the loop to finish. When
/// `spawn_us` is set it gets the time spent inside uv_spawn.
int raw_start(uv_loop_t* loop, RawChild& c, char** args, double* spawn_us = nullptr);

/// True when the child exited 0, was not signalled, and no read failed.
inline bool raw_ok(const RawChild& c) {
  return c.exited && c.exit_status == 0 && c.term_signal == 0 && c.read_error == 0;
}

}  // namespace bench
