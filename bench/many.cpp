// Sub-commands for section 4, each run in a fresh copy of the harness:
//   many-childproc FILE ARG COUNT   COUNT childproc::spawn(FILE, {ARG}) with 3 pipes
//   many-uv        FILE ARG COUNT   COUNT raw uv_spawn with 3 libuv pipes
// All are started in one burst (a plain for loop, no loop iteration between), then the
// loop runs until every child has closed. A burst of 10 first (discarded) faults in code
// and libuv's lazy fds, so the counts below are per-child costs. Prints: total_ms (first
// launch to the last close), fds_before, fds_peak (after the burst: nothing has closed
// yet, since closes happen on the loop), rss_before_kib, rss_after_kib (after the
// burst), count, ok (closed with exit code 0), failed (launch errors), fd_leak.
#include "bench.hpp"
#include "raw_uv.hpp"

#include <childproc/childproc.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace bench {

namespace {

struct Burst {
  std::size_t ok = 0;
  std::size_t failed = 0;
  double total_ms = 0;
  int fds_peak = 0;
  long rss_after = 0;
};

/// Peak fds and RSS, right after the burst. This takes about a millisecond inside the
/// timed span, while the last children sleep, so it does not lengthen the total.
void take_counts(Burst& b) {
  b.fds_peak = count_open_fds();
  b.rss_after = rss_kib();
}

Burst burst_childproc(uv_loop_t* loop, const std::string& file, const std::string& arg,
                      std::size_t count) {
  Burst b;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    auto child = childproc::spawn(loop, file, {arg});
    child->on<childproc::ErrorEvent>([&b](const childproc::ErrorEvent&) { ++b.failed; });
    child->on<childproc::CloseEvent>([&b](const childproc::CloseEvent& e) {
      if (e.code == 0) ++b.ok;
    });
  }
  take_counts(b);
  uv_run(loop, UV_RUN_DEFAULT);
  b.total_ms = us_between(t0, Clock::now()) / 1e3;
  return b;
}

Burst burst_uv(uv_loop_t* loop, const std::string& file, const std::string& arg,
               std::size_t count) {
  Burst b;
  std::string a = arg;
  char* args[] = {const_cast<char*>(file.c_str()), a.data(), nullptr};
  std::size_t done = 0;
  std::vector<std::unique_ptr<RawChild>> children;
  children.reserve(count);
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    children.push_back(std::make_unique<RawChild>());
    children.back()->done_counter = &done;
    if (raw_start(loop, *children.back(), args) != 0) ++b.failed;
  }
  take_counts(b);
  uv_run(loop, UV_RUN_DEFAULT);
  b.total_ms = us_between(t0, Clock::now()) / 1e3;
  for (const auto& c : children) {
    if (raw_ok(*c)) ++b.ok;
  }
  if (done != count) die("many-uv: not every child's handles closed");
  return b;
}

}  // namespace

int many_main(const std::string& which, const std::vector<std::string>& args) {
  if (args.size() != 3) die(which + ": expected FILE ARG COUNT");
  const std::string& file = args[0];
  const std::string& arg = args[1];
  const auto count = static_cast<std::size_t>(std::strtoull(args[2].c_str(), nullptr, 10));
  auto run = which == "many-childproc" ? burst_childproc : which == "many-uv" ? burst_uv : nullptr;
  if (run == nullptr) die("unknown sub-command " + which);

  uv_loop_t loop;
  uv_loop_init(&loop);
  const Burst warm = run(&loop, file, arg, 10);
  if (warm.ok != 10) die(which + ": warm-up children failed");
  const int fds0 = count_open_fds();
  const long rss0 = rss_kib();
  const Burst b = run(&loop, file, arg, count);
  const int leak = count_open_fds() - fds0;
  if (uv_loop_close(&loop) != 0) die(which + ": handles left open on the loop");
  std::printf(
      "total_ms %.3f\nfds_before %d\nfds_peak %d\nrss_before_kib %ld\nrss_after_kib %ld\n"
      "count %zu\nok %zu\nfailed %zu\nfd_leak %d\n",
      b.total_ms, fds0, b.fds_peak, rss0, b.rss_after, count, b.ok, b.failed, leak);
  return 0;
}

}  // namespace bench
