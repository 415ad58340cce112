// Sub-commands for section 3, each run in a fresh copy of the harness so its peak RSS
// (VmHWM, see peak_rss_kib) is that row's own:
//   collect-childproc WRITER BYTES WARM_BYTES   childproc::exec_file, max_buffer > BYTES
//   collect-childproc-pty WRITER BYTES WARM_BYTES  the same with ExecOptions::pty (the
//                                               terminal's "\r\n" turned back into "\n")
//   collect-uv        WRITER BYTES WARM_BYTES   uv_spawn + uv_read_start into a growing buffer
//   collect-uv-slab   WRITER BYTES WARM_BYTES   the same, reading into a 64 KiB slab and
//                                               copying each read into the buffer
// A WARM_BYTES collection first (discarded), then one timed collection of BYTES.
// Prints: seconds, bytes, peak_start_kib (before both), peak_kib (after), and
// fd_leak (fds open after the timed run minus before it).
#include "bench.hpp"
#include "pattern.hpp"
#include "raw_uv.hpp"

#include <childproc/childproc.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace bench {

namespace {

/// The output is the writer's pattern: length, the first and last MiB in full, and
/// 4096 positions spread over the rest.
bool output_ok(const char* data, std::size_t size, std::size_t expected) {
  if (size != expected) return false;
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(data[i]) == pattern_byte(i); };
  const std::size_t edge = std::min(size, kWriterBlock);
  for (std::size_t i = 0; i < edge; ++i) {
    if (!at(i) || !at(size - 1 - i)) return false;
  }
  const std::size_t stride = size / 4096 + 1;
  for (std::size_t i = 0; i < size; i += stride) {
    if (!at(i)) return false;
  }
  return true;
}

// A terminal shows each "\n" as "\r\n" (ONLCR). The pattern never has a "\r" right
// before a "\n" of its own, so dropping every such "\r" gives the written bytes back.
void undo_onlcr(std::string& shown) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] == '\r' && i + 1 < shown.size() && shown[i + 1] == '\n') continue;
    shown[out++] = shown[i];
  }
  shown.resize(out);
}

/// One collection; returns seconds from the launch until the output is in hand.
double collect_childproc_with(uv_loop_t* loop, const std::string& writer, std::size_t bytes,
                              bool pty) {
  childproc::ExecOptions o;
  o.pty = pty;
  o.max_buffer = bytes + bytes / 128 + (std::size_t{1} << 20);
  bool called = false;
  bool ok = false;
  std::string error;
  Clock::time_point t1;
  const auto t0 = Clock::now();
  childproc::exec_file(loop, writer, {std::to_string(bytes)}, o,
                       [&](const childproc::ExecError& e, std::string out, std::string) {
                         t1 = Clock::now();
                         called = true;
                         if (e) error = e.message();
                         if (pty) undo_onlcr(out);
                         ok = !e && output_ok(out.data(), out.size(), bytes);
                       });
  uv_run(loop, UV_RUN_DEFAULT);
  if (!called) die("collect-childproc: no callback");
  if (!ok) die("collect-childproc: wrong output " + error);
  return us_between(t0, t1) / 1e6;
}

double collect_childproc(uv_loop_t* loop, const std::string& writer, std::size_t bytes) {
  return collect_childproc_with(loop, writer, bytes, false);
}

double collect_childproc_pty(uv_loop_t* loop, const std::string& writer, std::size_t bytes) {
  return collect_childproc_with(loop, writer, bytes, true);
}

double collect_uv_with(uv_loop_t* loop, const std::string& writer, std::size_t bytes, bool slab) {
  GrowBuf buf;
  RawChild c;
  c.sink = &buf;
  c.copy_from_slab = slab;
  std::string count = std::to_string(bytes);
  char* args[] = {const_cast<char*>(writer.c_str()), count.data(), nullptr};
  const auto t0 = Clock::now();
  const int err = raw_start(loop, c, args);
  uv_run(loop, UV_RUN_DEFAULT);
  const auto t1 = Clock::now();
  if (err != 0) die(std::string("collect-uv: uv_spawn: ") + uv_strerror(err));
  if (!raw_ok(c) || !output_ok(buf.data, buf.size, bytes)) die("collect-uv: wrong output");
  return us_between(t0, t1) / 1e6;
}

double collect_uv(uv_loop_t* loop, const std::string& writer, std::size_t bytes) {
  return collect_uv_with(loop, writer, bytes, false);
}

double collect_uv_slab(uv_loop_t* loop, const std::string& writer, std::size_t bytes) {
  return collect_uv_with(loop, writer, bytes, true);
}

}  // namespace

int collect_main(const std::string& which, const std::vector<std::string>& args) {
  if (args.size() != 3) die(which + ": expected WRITER BYTES WARM_BYTES");
  const std::string& writer = args[0];
  const auto bytes = static_cast<std::size_t>(std::strtoull(args[1].c_str(), nullptr, 10));
  const auto warm = static_cast<std::size_t>(std::strtoull(args[2].c_str(), nullptr, 10));
  auto run = which == "collect-childproc"       ? collect_childproc
             : which == "collect-childproc-pty" ? collect_childproc_pty
             : which == "collect-uv"            ? collect_uv
             : which == "collect-uv-slab"       ? collect_uv_slab
                                                : nullptr;
  if (run == nullptr) die("unknown sub-command " + which);

  uv_loop_t loop;
  uv_loop_init(&loop);
  const long peak0 = peak_rss_kib();
  if (warm > 0) run(&loop, writer, warm);
  const int fds0 = count_open_fds();  // after the warm-up: libuv opens some fds lazily
  const double seconds = run(&loop, writer, bytes);
  const long peak1 = peak_rss_kib();
  const int leak = count_open_fds() - fds0;
  if (uv_loop_close(&loop) != 0) die(which + ": handles left open on the loop");
  std::printf("seconds %.6f\nbytes %zu\npeak_start_kib %ld\npeak_kib %ld\nfd_leak %d\n", seconds,
              bytes, peak0, peak1, leak);
  return 0;
}

}  // namespace bench
