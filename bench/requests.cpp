// Sub-commands for section 6 (spawn per request), each run in a fresh copy of the
// harness:
//   requests-childproc-spawn|requests-childproc-exec|requests-uv|requests-threads
//   FILE ARG COUNT CONCURRENCY
// (requests-childproc-spawn-bg and -exec-bg: the same with background_launch.)
// Runs COUNT children of `FILE ARG` (e.g. /bin/echo hello), at most CONCURRENCY at
// once, collects each one's stdout and checks it is ARG plus a newline. A warm-up of
// CONCURRENCY children first (discarded). Prints: seconds, children, cpu_us (this
// process's user + system CPU over the timed run), fd_leak.
#include "bench.hpp"
#include "raw_uv.hpp"

#include <childproc/childproc.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bench {
namespace {

double cpu_us() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

struct Job {
  uv_loop_t* loop = nullptr;
  std::string file;
  std::string arg;
  std::string expected;  // ARG + "\n"
  int count = 0;
  int concurrency = 0;
  int started = 0;
  int finished = 0;
  int in_flight = 0;
  bool background = false;  // SpawnOptions::background_launch
};

void check_output(const Job& job, std::string_view out, const char* who) {
  if (out != job.expected) die(std::string(who) + ": wrong output '" + std::string(out) + "'");
}

// ---- childproc spawn: stdout gathered from DataEvents, checked at CloseEvent
void spawn_more(Job& job) {
  while (job.started < job.count && job.in_flight < job.concurrency) {
    ++job.started;
    ++job.in_flight;
    childproc::SpawnOptions o;
    o.background_launch = job.background;
    auto child = childproc::spawn(job.loop, job.file, {job.arg}, o);
    auto out = std::make_shared<std::string>();
    child->std_out()->on<childproc::DataEvent>(
        [out](const childproc::DataEvent& e) { out->append(e.chunk); });
    child->on<childproc::CloseEvent>([&job, out](const childproc::CloseEvent& e) {
      if (e.code != 0) die("requests-childproc-spawn: a child failed");
      check_output(job, *out, "requests-childproc-spawn");
      --job.in_flight;
      ++job.finished;
      spawn_more(job);
    });
  }
}

// ---- childproc exec_file: the callback's stdout
void exec_more(Job& job) {
  while (job.started < job.count && job.in_flight < job.concurrency) {
    ++job.started;
    ++job.in_flight;
    childproc::ExecOptions o;
    o.background_launch = job.background;
    childproc::exec_file(job.loop, job.file, {job.arg}, o,
                         [&job](const childproc::ExecError& e, std::string out, std::string) {
                           if (e) die("requests-childproc-exec: " + e.message());
                           check_output(job, out, "requests-childproc-exec");
                           --job.in_flight;
                           ++job.finished;
                           exec_more(job);
                         });
  }
}

// ---- raw libuv: three libuv pipes per child, stdout into a buffer
struct UvRequest {
  Job* job = nullptr;
  RawChild child;
  GrowBuf out;
  std::string arg_copy;
};

void uv_more(Job& job);

void uv_done(RawChild& c) {
  auto* r = static_cast<UvRequest*>(c.user);
  Job& job = *r->job;
  if (!raw_ok(c)) die("requests-uv: a child failed");
  check_output(job, std::string_view(r->out.data, r->out.size), "requests-uv");
  delete r;
  --job.in_flight;
  ++job.finished;
  uv_more(job);
}

void uv_more(Job& job) {
  while (job.started < job.count && job.in_flight < job.concurrency) {
    ++job.started;
    ++job.in_flight;
    auto* r = new UvRequest;
    r->job = &job;
    r->arg_copy = job.arg;
    r->child.sink = &r->out;
    r->child.on_done = uv_done;
    r->child.user = r;
    char* argv[] = {job.file.data(), r->arg_copy.data(), nullptr};
    if (const int err = raw_start(job.loop, r->child, argv); err != 0)
      die(std::string("requests-uv: uv_spawn: ") + uv_strerror(err));
  }
}

// ---- posix_spawn from threads: each thread spawns, reads stdout and stderr to EOF
// with poll, and waits, one child at a time
std::string posix_spawn_capture(const Job& job) {
  char* argv[] = {const_cast<char*>(job.file.c_str()), const_cast<char*>(job.arg.c_str()), nullptr};
  std::string captured;
  expect_exit0(posix_spawn_pipes(argv, &captured, nullptr), "requests-threads");
  return captured;
}

void run_threads(Job& job) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < job.concurrency; ++t) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < job.count)
        check_output(job, posix_spawn_capture(job), "requests-threads");
    });
  }
  for (auto& t : threads)
    t.join();
  job.finished = job.count;
}

void run_once(const std::string& which, Job& job) {
  job.started = job.finished = job.in_flight = 0;
  if (which == "requests-threads") {
    run_threads(job);
    return;
  }
  job.background = which.size() > 3 && which.compare(which.size() - 3, 3, "-bg") == 0;
  if (which == "requests-childproc-spawn" || which == "requests-childproc-spawn-bg") {
    spawn_more(job);
  } else if (which == "requests-childproc-exec" || which == "requests-childproc-exec-bg") {
    exec_more(job);
  } else if (which == "requests-uv") {
    uv_more(job);
  } else {
    die("unknown sub-command " + which);
  }
  uv_run(job.loop, UV_RUN_DEFAULT);
  if (job.finished != job.count) die(which + ": not every child finished");
}

}  // namespace

int requests_main(const std::string& which, const std::vector<std::string>& args) {
  if (args.size() != 4) die(which + ": expected FILE ARG COUNT CONCURRENCY");
  Job job;
  job.loop = uv_default_loop();
  job.file = args[0];
  job.arg = args[1];
  job.expected = args[1] + "\n";
  job.count = std::atoi(args[2].c_str());
  job.concurrency = std::atoi(args[3].c_str());
  if (job.count <= 0 || job.concurrency <= 0) die(which + ": bad COUNT or CONCURRENCY");
  const int total = job.count;
  job.count = job.concurrency;  // warm-up
  run_once(which, job);
  job.count = total;
  const int fds_before = count_open_fds();
  const double cpu0 = cpu_us();
  const auto t0 = Clock::now();
  run_once(which, job);
  const auto t1 = Clock::now();
  const double cpu1 = cpu_us();
  std::printf("seconds %.6f\nchildren %d\ncpu_us %.0f\nfd_leak %d\n", us_between(t0, t1) / 1e6,
              job.finished, cpu1 - cpu0, count_open_fds() - fds_before);
  return 0;
}

}  // namespace bench
