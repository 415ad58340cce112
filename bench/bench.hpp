// childproc-bench: shared declarations. See docs/performance.md for the method.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// ---- statistics and output (util.cpp) ----

struct Summary {
  std::size_t n = 0;
  double median = 0;
  double p90 = 0;
};
/// Median (mean of the middle two for even n) and nearest-rank p90 of the samples.
Summary summarize(std::vector<double> samples);

std::string fmt(double value, int decimals);
/// "1.23x", or "-" when the anchor is missing.
std::string ratio(double value, double anchor);

/// A markdown table, columns padded so the raw text reads too.
class Table {
public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;

private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// ---- process plumbing (util.cpp) ----

[[noreturn]] void die(const std::string& what);
/// Open fds of this process (the listing's own fd not counted).
int count_open_fds();
/// Resident set size now (/proc/self/statm), KiB.
long rss_kib();
/// Peak resident set size of this address space (VmHWM in /proc/self/status), KiB.
/// Not getrusage's ru_maxrss: on Linux that survives execve, so a freshly started
/// child reports at least its parent's peak (the harness's, up to 4 GiB in section 2).
long peak_rss_kib();
/// The first executable `name` on PATH, or empty.
std::string find_in_path(std::string_view name);
/// This program's path (for re-running itself with a sub-command).
std::string self_exe();

struct RunResult {
  bool ok = false;     // started and exited 0
  std::string status;  // "exit 3", "signal 9", "spawn: ENOENT"
  std::string out;     // its stdout
};
/// Runs argv (argv[0] a path) with posix_spawn, stdout captured, stderr inherited, and
/// waits for it.
RunResult run_capture(const std::vector<std::string>& argv);

/// Lines "key v1 v2 ..." (numbers) from a sub-process or script; other lines ignored.
using Metrics = std::map<std::string, std::vector<double>>;
Metrics parse_metrics(const std::string& text);
/// The one value of `key`, or dies naming `who`.
double metric(const Metrics& m, const std::string& key, const std::string& who);

// ---- one spawn+wait of a child that writes nothing (spawners.cpp) ----

struct SpawnSample {
  // From before the launch until the child is reaped and every fd and handle closed.
  double total_us = 0;
  // Inside the launching call: the loop (or the caller) can do nothing else.
  double blocked_us = 0;
};
/// waitpid, retried on EINTR; dies on any other error.
int wait_child(pid_t pid);
/// Dies unless the wait status `st` is a normal exit with 0.
void expect_exit0(int st, const char* what);
/// pipe2 x3 + posix_spawn(argv) with them as fds 0-2; stdin closed at once, stdout and
/// stderr read to EOF with poll (stdout appended to `out` when set), then waitpid.
/// Returns the wait status; `spawn_us` (when set) gets the time inside posix_spawn.
int posix_spawn_pipes(char* const argv[], std::string* out, double* spawn_us);
SpawnSample childproc_spawn_once(uv_loop_t* loop, const char* file, bool background = false,
                                 bool pty = false);
SpawnSample childproc_exec_file_once(uv_loop_t* loop, const char* file);
SpawnSample raw_uv_spawn_once(uv_loop_t* loop, const char* file);
SpawnSample posix_spawn_pipes_once(const char* file);
SpawnSample posix_spawn_plain_once(const char* file);

// ---- section 5, IPC: the C++ parent's rows (ipc.cpp) ----

/// Message counts of one IPC sample: each phase in turn on one child.
struct IpcCounts {
  std::size_t bytes = 1024;  // the JSON text of each message (a string), newline not counted
  std::size_t warm_pingpong = 0;
  std::size_t pingpong = 0;  // round trips, one message in flight
  std::size_t warm_throughput = 0;
  std::size_t throughput = 0;  // messages sent as fast as send()'s backpressure allows
};
/// Seconds of the two timed phases: from the first send to the last echo.
struct IpcTimes {
  double pingpong_s = 0;
  double throughput_s = 0;
};
/// The echo child: `node` empty: bench-ipc-echo at `echo` (childproc::spawn with
/// Stdio::ipc()); else childproc::fork(echo = node_bench.js, {"ipc-echo"}) with `node`.
struct IpcChild {
  std::string node;
  std::string echo;
};
/// The JSON text of a message: a string of `bytes` bytes, quotes included.
std::string ipc_payload(std::size_t bytes);
/// One sample: starts the child, runs the phases on `loop`, waits for the child's close.
/// Dies on any error or a wrong echo.
IpcTimes ipc_cpp_parent(uv_loop_t* loop, const IpcChild& who, const IpcCounts& counts);
/// The floor: the same phases over a plain socketpair with `echo --raw` (poll, read,
/// write; no JSON, no event loop, no message framing) as the child.
IpcTimes ipc_raw(const std::string& echo, const IpcCounts& counts);

// ---- sub-commands run in a fresh copy of the harness (collect.cpp, many.cpp) ----
// Each prints Metrics lines on stdout and returns the exit status.

/// collect-childproc|collect-uv WRITER BYTES WARM_BYTES
int collect_main(const std::string& which, const std::vector<std::string>& args);
/// many-childproc|many-uv FILE ARG COUNT
int many_main(const std::string& which, const std::vector<std::string>& args);
/// requests-childproc-spawn|requests-childproc-exec|requests-uv|requests-threads
/// FILE ARG COUNT CONCURRENCY
int requests_main(const std::string& which, const std::vector<std::string>& args);

}  // namespace bench
