// Shared test support: a fresh libuv loop per test with a watchdog and leak checks,
// event recorders, the helper program's byte pattern, temporary directories.
#pragma once

#include <sys/types.h>
#include <uv.h>
#include <catch2/catch.hpp>

#include <childproc/childproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef CP_HELPER
#error "CP_HELPER (the path of cp_helper) must be defined"
#endif

namespace cptest {

using namespace std::chrono_literals;

/// The helper program every test runs (test/helpers/cp_helper.cpp).
inline const std::string kHelper = CP_HELPER;

/// Byte `i` of the helper's output pattern.
inline char pattern_byte(std::size_t i) {
  return static_cast<char>(i % 251);
}
/// `n` pattern bytes starting at offset `offset`.
std::string pattern(std::size_t offset, std::size_t n);

/// Checks a byte stream, fed chunk by chunk, against the pattern.
class PatternChecker {
public:
  void feed(std::string_view chunk);
  std::size_t size() const noexcept { return size_; }
  /// Offset of the first wrong byte, or empty when every byte so far was right.
  std::optional<std::size_t> first_mismatch() const noexcept { return mismatch_; }
  bool ok(std::size_t expected_size) const noexcept { return size_ == expected_size && !mismatch_; }

private:
  std::size_t size_ = 0;
  std::optional<std::size_t> mismatch_;
};

/// True when `s` is exactly the pattern from offset 0.
bool is_pattern(std::string_view s);

/// "42" or "null" (Node's spelling of a missing value).
std::string str(std::optional<int> v);
/// "SIGTERM" or "null".
std::string sig(std::optional<int> signo);

/// True when CHILDPROC_LAUNCHER=uv forces the uv_spawn launcher (meson test --setup
/// uvspawn); false on the default clone launcher.
bool uv_launcher();

/// True when the kernel is at least `major.minor`.
bool kernel_at_least(int major, int minor);

/// A function the test binary runs in place of the tests when started as
/// `<test binary> --mode NAME ARGS...`: for scenarios that need a process of their own
/// (a private pid namespace, a parent that is SIGKILLed). Register one per static
/// object; its return value is the exit status.
using ModeFn = int (*)(const std::vector<std::string>& args);
struct Mode {
  Mode(const char* name, ModeFn fn);
};
/// Runs the mode argv names; -1 when argv names none.
int run_mode(int argc, char** argv);
/// This test binary's path, for re-running it with --mode.
std::string self_exe();

/// True when `pid` is gone or a zombie (it can run no more).
bool process_dead(pid_t pid);
/// Waits until `pid` is dead (through a pidfd, so on the event, not by sleeping);
/// false when `limit` passed first.
bool wait_dead(pid_t pid, std::chrono::milliseconds limit);

/// The pids whose parent is this process (running or unreaped), from /proc.
std::vector<pid_t> own_children();

/// Number of entries in /proc/self/fd.
int count_fds();

/// Reads what `fd` holds, up to EOF or until it would block; the fd is left open.
std::string read_fd(int fd);

/// A directory made with mkdtemp, removed with its contents at scope end.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }
  /// Writes `content` to `name` in the directory with `mode`; returns its path.
  std::string write_file(const std::string& name, const std::string& content,
                         int mode = 0644) const;

private:
  std::string path_;
};

/// What an exec callback was given, and how many times it ran.
struct ExecOutput {
  int calls = 0;
  childproc::ExecError error;
  std::string out;
  std::string err;
};
/// An ExecCallback that records into `o` (which must outlive the call).
childproc::ExecCallback into(ExecOutput& o);

/// Records a child's events as strings, in order: "spawn", "exit 0 null",
/// "exit null SIGTERM", "close -2 null", "error spawn nosuchprog ENOENT".
struct EventLog {
  std::vector<std::string> events;
  std::vector<childproc::Error> errors;

  void attach(childproc::ChildProcess& child);
  std::size_t count(std::string_view prefix) const;
};

/// The per-test environment: a fresh loop with an unref'd watchdog, and at the end the
/// checks every test gets (loop closes with no handle left, same fd count, no zombie,
/// no unexpected message to the UnhandledHandler).
class LoopFixture {
public:
  LoopFixture();
  ~LoopFixture();
  LoopFixture(const LoopFixture&) = delete;
  LoopFixture& operator=(const LoopFixture&) = delete;

  uv_loop_t* loop() const noexcept { return loop_; }

  /// Runs the loop until nothing keeps it alive. If `limit` passes first, the test
  /// fails and every child is killed with SIGKILL; the loop goes on until they close
  /// (their listeners run while the test's locals exist), 10 s at most.
  void run(std::chrono::milliseconds limit = 30s);
  /// True once the watchdog fired in this test.
  bool watchdog_fired() const noexcept { return watchdog_fired_; }

  /// Remembers `child` (weakly) so the watchdog can kill it and, when the test ends
  /// with the loop still alive (a REQUIRE failed), its listeners and its streams' are
  /// removed before the fixture drains the loop; returns it. Track every child.
  std::shared_ptr<childproc::ChildProcess> track(std::shared_ptr<childproc::ChildProcess> child);
  /// spawn(loop, kHelper, args, options), tracked.
  std::shared_ptr<childproc::ChildProcess> spawn_helper(
      std::vector<std::string> args, const childproc::SpawnOptions& options = {});

  /// Calls `fn` once after `delay`, from the loop (the timer keeps the loop alive).
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

  /// Messages the UnhandledHandler got during this test so far; clears the list.
  /// Any message left at the end of the test fails it.
  std::vector<std::string> take_unhandled();

private:
  struct Timer;
  static void on_watchdog(uv_timer_t* t);
  void kill_tracked();
  void detach_tracked() noexcept;
  void drain_at_end();

  uv_loop_t* loop_ = nullptr;
  uv_timer_t watchdog_{};
  bool watchdog_fired_ = false;
  bool cleaning_ = false;
  int fds_before_ = 0;
  std::vector<std::weak_ptr<childproc::ChildProcess>> tracked_;
  std::vector<std::unique_ptr<Timer>> timers_;
  childproc::UnhandledHandler previous_handler_;
};

/// Messages collected by the fixture's UnhandledHandler (shared across threads).
struct UnhandledSink {
  std::mutex mutex;
  std::vector<std::string> messages;
};
UnhandledSink& unhandled_sink();

}  // namespace cptest
