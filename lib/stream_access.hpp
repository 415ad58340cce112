// What the process and exec layers may do to a Stream that users may not.
#pragma once

#include <childproc/stream.hpp>

#include <functional>
#include <memory>

namespace childproc::detail {

struct StreamAccess {
  /// Wraps the parent's end `fd` (CLOEXEC; uv_poll_init makes it non-blocking), taking
  /// ownership of it.
  /// Returns the libuv error and closes `fd` on failure.
  static int create(uv_loop_t* loop, int fd, bool readable, bool writable, bool socket,
                    std::shared_ptr<Stream>& out);
  /// A stream that is closed from the start: what a failed spawn hands out, so code
  /// written for the success path (`child->std_in()->write(...)`) gets EPIPE, not a
  /// null pointer.
  static std::shared_ptr<Stream> create_closed(uv_loop_t* loop, bool readable, bool writable);
  /// Grows an output pipe (read end `fd`) for throughput when this process's share of
  /// the per-user pipe budget allows; the stream made from `fd` must be told the
  /// pages returned (0 when unchanged) so they are given back when it closes.
  static std::size_t enlarge_pipe(int fd) noexcept;
  static void owns_pipe_pages(Stream& s, std::size_t pages) noexcept { s.pipe_pages_ = pages; }
  /// Gives back pages of a pipe that never became a stream.
  static void release_pipe_pages(std::size_t pages) noexcept;
  /// Starts reading (at the owner's SpawnEvent), unless the user paused first.
  static void start(Stream& s);
  /// Reads go into `sink` from now on; null restores the scratch buffer.
  static void set_sink(Stream& s, ReadSink* sink) noexcept { s.sink_ = sink; }
  /// Runs `fn` right after the stream's CloseEvent.
  static void on_close(Stream& s, std::function<void()> fn) { s.on_close_ = std::move(fn); }
  /// The child exited: resume a paused stream so the pipe drains and close can come.
  static void flush(Stream& s);
  /// Reads (and delivers) everything the fd holds now, up to EOF or EAGAIN.
  static void drain(Stream& s) {
    if (s.readable_ && s.started_ && !s.paused_ && !s.closing_) s.do_read(true);
  }
  /// While held, writes only queue (nothing reaches the fd); released, they go out.
  static void hold_writes(Stream& s, bool hold) {
    s.held_ = hold;
    if (!hold) s.update_poll();
  }
  /// While given, the stream is another child's stdio being launched: the parent
  /// neither reads nor writes it (given back when that launch fails).
  static void give(Stream& s, bool given) {
    s.given_ = given;
    s.update_poll();
  }
  /// The stream is a pseudo-terminal's master (Stdio::pty()).
  static void mark_terminal(Stream& s) noexcept { s.tty_ = true; }
  static bool is_terminal(const Stream& s) noexcept { return s.tty_; }
  /// A terminal stays open after its end (EIO) until release_terminal(): closing the
  /// master hangs the terminal up, which would SIGHUP a child that merely closed its
  /// stdio and runs on.
  static void hold_terminal(Stream& s) noexcept { s.hold_at_end_ = true; }
  /// The child exited: the terminal closes at its end, now if that already came (or if
  /// stop_reading() was called).
  static void release_terminal(Stream& s) {
    s.hold_at_end_ = false;
    if (!s.closing_ && (!s.readable_ || s.close_at_release_)) s.start_close();
  }
  /// Its owner wants no more of its data (exec's max_buffer or timeout, an error): a
  /// pipe is closed now. A held terminal is not (that would SIGHUP the child before it
  /// could act on `kill_signal`): its data goes on being read and not collected, and it
  /// closes at the child's exit.
  static void stop_reading(Stream& s) {
    if (!s.tty_ || !s.hold_at_end_) {
      s.destroy();
      return;
    }
    s.sink_ = nullptr;
    s.close_at_release_ = true;
  }
  /// Queued writes keep the loop alive even while the stream is unref'd.
  static void ref_while_writing(Stream& s) noexcept {
    s.ref_while_writing_ = true;
    s.apply_ref();
  }
};

}  // namespace childproc::detail
