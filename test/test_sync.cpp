// spawn_sync(), exec_sync(), exec_file_sync(): blocking calls on a private loop. Exact
// results for every way a child can end, input, max_buffer, stderr echo, and calls from
// several threads and from inside a callback of the caller's loop.
#include "support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <stop_token>
#include <thread>

using namespace cptest;
using childproc::ExecSyncError;
using childproc::ExecSyncOptions;
using childproc::SpawnSyncOptions;
using childproc::SpawnSyncResult;
using childproc::Stdio;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

using Clock = std::chrono::steady_clock;

// Points this process's fd 2 at a pipe for its lifetime; `finish()` restores fd 2 and
// returns what arrived. Keep what is written small: nothing drains the pipe meanwhile.
class StderrCapture {
public:
  StderrCapture() {
    std::fflush(stderr);
    REQUIRE(::pipe2(pipe_, O_CLOEXEC) == 0);
    saved_ = ::fcntl(2, F_DUPFD_CLOEXEC, 10);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(pipe_[1], 2) == 2);
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string finish() {
    restore();
    return captured_;
  }

private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
    ::close(pipe_[1]);
    captured_ = read_fd(pipe_[0]);
    ::close(pipe_[0]);
  }

  int pipe_[2] = {-1, -1};
  int saved_ = -1;
  std::string captured_;
};

// True when this process has no child at all (none running, none unreaped).
bool no_children() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  return pid == -1 && errno == ECHILD;
}

// Runs `fn`, which must throw ExecSyncError; returns it.
template <typename F>
std::optional<ExecSyncError> expect_exec_sync_error(F&& fn) {
  try {
    std::string out = fn();
    FAIL_CHECK("no exception was thrown; stdout was: " << out);
  } catch (const ExecSyncError& e) {
    return e;
  } catch (const std::exception& e) {
    FAIL_CHECK("unexpected exception type: " << e.what());
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// spawn_sync: how the child ended

TEST_CASE_METHOD(LoopFixture, "spawn_sync: exit 0 gives the output and no error", "[sync]") {
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"argv", "x y"});
  REQUIRE(r.pid.has_value());
  CHECK(*r.pid > 0);
  CHECK(r.status == 0);
  CHECK_FALSE(r.signal.has_value());
  CHECK_FALSE(r.error.has_value());
  CHECK(r.out == kHelper + "\nargv\nx y\n");
  CHECK(r.err.empty());
  REQUIRE(r.output.size() == 3);
  // stdin is a pipe the parent writes, not reads: no entry, as Node's null.
  CHECK_FALSE(r.output[0].has_value());
  CHECK(r.output[1] == r.out);
  CHECK(r.output[2] == std::optional<std::string>(""));
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: exit 3 is a status, not an error", "[sync]") {
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"fail", "bad thing", "3"});
  CHECK(r.pid.has_value());
  CHECK(r.status == 3);
  CHECK_FALSE(r.signal.has_value());
  CHECK_FALSE(r.error.has_value());
  CHECK(r.out.empty());
  CHECK(r.err == "bad thing\n");
  REQUIRE(r.output.size() == 3);
  CHECK(r.output[2] == std::optional<std::string>("bad thing\n"));
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: death by a signal sets signal, not status", "[sync]") {
  SECTION("SIGTERM") {
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"kill-self", "15"});
    CHECK(r.pid.has_value());
    CHECK_FALSE(r.status.has_value());
    CHECK(r.signal == SIGTERM);
    CHECK_FALSE(r.error.has_value());
  }
  SECTION("SIGKILL") {
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"kill-self", "9"});
    CHECK_FALSE(r.status.has_value());
    CHECK(r.signal == SIGKILL);
    CHECK_FALSE(r.error.has_value());
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: a missing program is ENOENT, nothing unhandled",
                 "[sync]") {
  const SpawnSyncResult r = childproc::spawn_sync("nosuchprog_childproc", {"a", "b"});
  REQUIRE(r.error.has_value());
  CHECK(r.error->code == std::errc::no_such_file_or_directory);
  CHECK(childproc::code_name(r.error->code) == "ENOENT");
  CHECK(r.error->syscall == "spawnSync nosuchprog_childproc");
  CHECK(r.error->path == "nosuchprog_childproc");
  CHECK(r.error->spawnargs == std::vector<std::string>{"a", "b"});
  CHECK(r.error->message() == "spawnSync nosuchprog_childproc ENOENT");
  CHECK_FALSE(r.pid.has_value());
  CHECK_FALSE(r.status.has_value());
  CHECK_FALSE(r.signal.has_value());
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  // The private loop's ErrorEvent/CloseEvent stay inside the call: the fixture fails the
  // test if anything reached the UnhandledHandler.
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: a file that is not executable is EACCES", "[sync]") {
  TempDir dir;
  const std::string file = dir.write_file("script.sh", "#!/bin/sh\necho hi\n", 0644);
  const SpawnSyncResult r = childproc::spawn_sync(file);
  REQUIRE(r.error.has_value());
  CHECK(r.error->code == std::errc::permission_denied);
  CHECK(r.error->message() == "spawnSync " + file + " EACCES");
  CHECK(r.error->path == file);
  CHECK_FALSE(r.pid.has_value());
  CHECK_FALSE(r.status.has_value());
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: timeout kills with kill_signal, ETIMEDOUT", "[sync]") {
  SECTION("SIGTERM by default") {
    SpawnSyncOptions opts;
    opts.timeout = 200ms;
    const auto start = Clock::now();
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"sleep", "20000"}, opts);
    const auto took = Clock::now() - start;
    CHECK(took >= 150ms);
    CHECK(took < 10s);
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::timed_out);
    CHECK(childproc::code_name(r.error->code) == "ETIMEDOUT");
    CHECK(r.error->syscall == "spawnSync " + kHelper);
    CHECK(r.error->path == kHelper);
    CHECK(r.error->spawnargs == std::vector<std::string>{"sleep", "20000"});
    CHECK(r.error->message() == "spawnSync " + kHelper + " ETIMEDOUT");
    CHECK(r.pid.has_value());
    CHECK(r.signal == SIGTERM);
    CHECK_FALSE(r.status.has_value());
  }
  SECTION("the chosen kill_signal") {
    SpawnSyncOptions opts;
    opts.timeout = 200ms;
    opts.kill_signal = "SIGINT";
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"sleep", "20000"}, opts);
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::timed_out);
    CHECK(r.signal == SIGINT);
  }
  SECTION("a timeout that does not expire changes nothing") {
    SpawnSyncOptions opts;
    opts.timeout = 10s;
    const auto start = Clock::now();
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"exit", "0"}, opts);
    CHECK(Clock::now() - start < 5s);
    CHECK(r.status == 0);
    CHECK_FALSE(r.error.has_value());
  }
}

TEST_CASE_METHOD(LoopFixture,
                 "spawn_sync: a child trapping SIGTERM is SIGKILLed after force_kill_after",
                 "[sync][force-kill]") {
  SpawnSyncOptions opts;
  opts.timeout = 1000ms;  // long enough for the child to install its handler first
  opts.force_kill_after = 300ms;
  const auto start = Clock::now();
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"trap-term", "30000"}, opts);
  const auto took = Clock::now() - start;
  CHECK(took >= 1200ms);
  CHECK(took < 10s);  // the child would sleep 30 s
  CHECK(r.signal == SIGKILL);
  CHECK_FALSE(r.status.has_value());
  REQUIRE(r.error.has_value());
  CHECK(r.error->code == std::errc::timed_out);
  CHECK(r.error->message() == "spawnSync " + kHelper + " ETIMEDOUT");
  // Its "TERM" line may or may not arrive (the pipes may be closed at the kill).
  CHECK_THAT(r.out, Catch::StartsWith("ready\n"));
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: a stop from another thread aborts the call", "[sync]") {
  std::stop_source source;
  SpawnSyncOptions opts;
  opts.stop_token = source.get_token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    source.request_stop();
  });
  const auto start = Clock::now();
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"sleep", "20000"}, opts);
  const auto took = Clock::now() - start;
  stopper.join();
  CHECK(took < 10s);
  REQUIRE(r.error.has_value());
  CHECK(r.error->code == childproc::errc::aborted);
  CHECK(r.signal == SIGTERM);
  CHECK_FALSE(r.status.has_value());
}

// ---------------------------------------------------------------------------------------
// spawn_sync: input, output slots, options

TEST_CASE_METHOD(LoopFixture, "spawn_sync: 10 MiB of input through cat comes back intact",
                 "[sync]") {
  SpawnSyncOptions opts;
  opts.input = pattern(0, 10 * kMiB);
  opts.max_buffer = 16 * kMiB;
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"cat"}, opts);
  CHECK(r.status == 0);
  CHECK_FALSE(r.error.has_value());
  CHECK(r.out.size() == 10 * kMiB);
  CHECK(is_pattern(r.out));
  CHECK(r.err.empty());
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: stdin without input reads EOF at once", "[sync]") {
  SECTION("no input") {
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"count-stdin"});
    CHECK(r.status == 0);
    CHECK(r.out == "0\n");
  }
  SECTION("empty input") {
    SpawnSyncOptions opts;
    opts.input = "";
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"count-stdin"}, opts);
    CHECK(r.status == 0);
    CHECK(r.out == "0\n");
  }
  SECTION("small input") {
    SpawnSyncOptions opts;
    opts.input = "hello\n";
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"count-stdin"}, opts);
    CHECK(r.status == 0);
    CHECK(r.out == "6\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: input to a child that does not read it", "[sync]") {
  // The child exits without reading: the write fails with EPIPE inside the call, which
  // must neither hang, kill this process nor reach the UnhandledHandler as a failure of
  // the run (the child itself exited 0).
  SpawnSyncOptions opts;
  opts.input = pattern(0, 4 * kMiB);
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"exit", "0"}, opts);
  CHECK(r.status == 0);
  CHECK_FALSE(r.signal.has_value());
  // Node reports EPIPE in `error` here; either way no crash and no hang is what counts.
  for (const auto& m : take_unhandled())
    WARN("message to the UnhandledHandler from inside spawn_sync: " << m);
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: output has one entry per slot, empty for non-pipes",
                 "[sync]") {
  SECTION("stdout and stderr ignored") {
    SpawnSyncOptions opts;
    opts.stdio = {Stdio::pipe(), Stdio::ignore(), Stdio::ignore()};
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"both", "1000"}, opts);
    CHECK(r.status == 0);
    REQUIRE(r.output.size() == 3);
    CHECK_FALSE(r.output[1].has_value());
    CHECK_FALSE(r.output[2].has_value());
    CHECK(r.out.empty());
    CHECK(r.err.empty());
  }
  SECTION("stdin ignored, stderr to a parent fd") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    SpawnSyncOptions opts;
    opts.stdio = {Stdio::ignore(), Stdio::pipe(), Stdio::fd(p[1])};
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"both", "1000"}, opts);
    ::close(p[1]);
    const std::string via_fd = read_fd(p[0]);
    ::close(p[0]);
    CHECK(r.status == 0);
    REQUIRE(r.output.size() == 3);
    CHECK_FALSE(r.output[0].has_value());
    REQUIRE(r.output[1].has_value());
    CHECK(r.output[1]->size() == 1000);
    CHECK(is_pattern(*r.output[1]));
    CHECK(r.out == *r.output[1]);
    CHECK_FALSE(r.output[2].has_value());
    CHECK(r.err.empty());
    CHECK(via_fd.size() == 1000);
    CHECK(is_pattern(via_fd));
  }
  SECTION("an extra pipe on fd 3") {
    SpawnSyncOptions opts;
    opts.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"echo-fd", "3", "on fd 3"}, opts);
    CHECK(r.status == 0);
    REQUIRE(r.output.size() == 4);
    CHECK(r.output[1] == std::optional<std::string>(""));
    CHECK(r.output[2] == std::optional<std::string>(""));
    CHECK(r.output[3] == std::optional<std::string>("on fd 3"));
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: cwd, env, argv0 and shell options", "[sync]") {
  TempDir dir;
  SECTION("cwd") {
    SpawnSyncOptions opts;
    opts.cwd = dir.path();
    CHECK(childproc::spawn_sync(kHelper, {"cwd"}, opts).out == dir.path() + "\n");
  }
  SECTION("env") {
    SpawnSyncOptions opts;
    opts.env = childproc::Env{{"CP_A", "1"}, {"CP_B", "two words"}};
    CHECK(childproc::spawn_sync(kHelper, {"envall"}, opts).out == "CP_A=1\nCP_B=two words\n");
  }
  SECTION("argv0") {
    SpawnSyncOptions opts;
    opts.argv0 = "custom";
    CHECK(childproc::spawn_sync(kHelper, {"argv"}, opts).out == "custom\nargv\n");
  }
  SECTION("shell") {
    SpawnSyncOptions opts;
    opts.shell = true;
    const SpawnSyncResult r = childproc::spawn_sync("echo $((6*7)); exit 5", {}, opts);
    CHECK(r.out == "42\n");
    CHECK(r.status == 5);
  }
  SECTION("detached") {
    SpawnSyncOptions opts;
    opts.detached = true;
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"sid"}, opts);
    REQUIRE(r.pid.has_value());
    CHECK(r.out == std::to_string(*r.pid) + " " + std::to_string(*r.pid) + "\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: max_buffer over keeps exactly max_buffer, ENOBUFS",
                 "[sync]") {
  SECTION("stdout") {
    SpawnSyncOptions opts;
    opts.max_buffer = 1000;
    const SpawnSyncResult r =
        childproc::spawn_sync(kHelper, {"out", std::to_string(2 * kMiB)}, opts);
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::no_buffer_space);
    CHECK(childproc::code_name(r.error->code) == "ENOBUFS");
    CHECK(r.error->message() == "spawnSync " + kHelper + " ENOBUFS");
    CHECK(r.out.size() == 1000);
    CHECK(is_pattern(r.out));
    REQUIRE(r.output.size() == 3);
    CHECK(r.output[1] == std::optional<std::string>(r.out));
    CHECK(r.err.empty());
    CHECK(r.signal == SIGTERM);
    CHECK_FALSE(r.status.has_value());
  }
  SECTION("stderr") {
    SpawnSyncOptions opts;
    opts.max_buffer = 1000;
    const SpawnSyncResult r =
        childproc::spawn_sync(kHelper, {"err", std::to_string(2 * kMiB)}, opts);
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::no_buffer_space);
    CHECK(r.err.size() == 1000);
    CHECK(is_pattern(r.err));
    CHECK(r.out.empty());
    CHECK(r.signal == SIGTERM);
  }
  SECTION("the default is 1 MiB") {
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"out", std::to_string(kMiB + 1)});
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::no_buffer_space);
    CHECK(r.out.size() == kMiB);
    CHECK(is_pattern(r.out));
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: output exactly max_buffer long is no error", "[sync]") {
  SECTION("both streams at the limit") {
    SpawnSyncOptions opts;
    opts.max_buffer = 100000;
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"both", "100000"}, opts);
    CHECK_FALSE(r.error.has_value());
    CHECK(r.status == 0);
    CHECK(r.out.size() == 100000);
    CHECK(r.err.size() == 100000);
    CHECK(is_pattern(r.out));
    CHECK(is_pattern(r.err));
  }
  SECTION("the default 1 MiB") {
    const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"out", std::to_string(kMiB)});
    CHECK_FALSE(r.error.has_value());
    CHECK(r.status == 0);
    CHECK(r.out.size() == kMiB);
    CHECK(is_pattern(r.out));
  }
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync: close_timeout bounds a grandchild holding stdout",
                 "[sync][close-timeout]") {
  SpawnSyncOptions opts;
  opts.close_timeout = 300ms;
  const auto start = Clock::now();
  const SpawnSyncResult r = childproc::spawn_sync(kHelper, {"hold-stdout", "5000", "before"}, opts);
  const auto took = Clock::now() - start;
  const int grandchild = std::atoi(r.err.c_str());
  if (grandchild > 0) ::kill(grandchild, SIGKILL);
  CHECK(took < 3s);
  CHECK(r.status == 0);
  CHECK_FALSE(r.signal.has_value());
  CHECK_FALSE(r.error.has_value());
  CHECK(r.out == "before\n");
  CHECK(grandchild > 0);
}

// ---------------------------------------------------------------------------------------
// exec_sync and exec_file_sync

TEST_CASE_METHOD(LoopFixture, "exec_sync: success returns stdout", "[sync][exec-sync]") {
  CHECK(childproc::exec_sync("echo hello; echo $((6*7))") == "hello\n42\n");
  CHECK(childproc::exec_file_sync(kHelper, {"argv", "a b"}) == kHelper + "\nargv\na b\n");
  const std::string big = childproc::exec_file_sync(kHelper, {"out", "500000"});
  CHECK(big.size() == 500000);
  CHECK(is_pattern(big));
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: cwd, env, input and shell options", "[sync][exec-sync]") {
  TempDir dir;
  ExecSyncOptions opts;
  opts.cwd = dir.path();
  opts.env = childproc::Env{{"FOO", "bar"}};
  opts.input = "from input\n";
  opts.shell = std::string("/bin/sh");
  CHECK(childproc::exec_sync("pwd; echo $FOO; cat", opts) == dir.path() + "\nbar\nfrom input\n");

  ExecSyncOptions file_opts;
  file_opts.input = pattern(0, 3 * 100000);
  CHECK(childproc::exec_file_sync(kHelper, {"count-stdin"}, file_opts) == "300000\n");
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: a non-zero exit throws ExecSyncError with Node's message",
                 "[sync][exec-sync]") {
  SECTION("exec_sync, with stderr") {
    StderrCapture capture;
    auto e = expect_exec_sync_error([] { return childproc::exec_sync("echo foo >&2; exit 7"); });
    const std::string echoed = capture.finish();
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "Command failed: echo foo >&2; exit 7\nfoo\n");
    CHECK(e->cmd == "echo foo >&2; exit 7");
    CHECK(e->result.status == 7);
    CHECK_FALSE(e->result.signal.has_value());
    CHECK(e->result.err == "foo\n");
    CHECK(e->result.out.empty());
    CHECK(e->result.pid.has_value());
    // A non-zero exit is not an `error` of the run (as spawn_sync's result).
    CHECK_FALSE(e->result.error.has_value());
    CHECK(echoed == "foo\n");
    // It is a std::runtime_error.
    CHECK_THROWS_AS(childproc::exec_sync("exit 1"), std::runtime_error);
  }
  SECTION("exec_sync, empty stderr: no newline") {
    auto e = expect_exec_sync_error([] { return childproc::exec_sync("echo some out; exit 3"); });
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "Command failed: echo some out; exit 3");
    CHECK(e->cmd == "echo some out; exit 3");
    CHECK(e->result.status == 3);
    CHECK(e->result.out == "some out\n");
    CHECK(e->result.err.empty());
  }
  SECTION("exec_file_sync") {
    const std::string cmd = kHelper + " fail oops 7";
    StderrCapture capture;
    auto e = expect_exec_sync_error([] {
      return childproc::exec_file_sync(kHelper, {"fail", "oops", "7"});
    });
    const std::string echoed = capture.finish();
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "Command failed: " + cmd + "\noops\n");
    CHECK(e->cmd == cmd);
    CHECK(e->result.status == 7);
    CHECK(e->result.err == "oops\n");
    CHECK(echoed == "oops\n");
  }
  SECTION("killed by a signal") {
    auto e = expect_exec_sync_error([] { return childproc::exec_sync("kill -TERM $$"); });
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "Command failed: kill -TERM $$");
    CHECK(e->result.signal == SIGTERM);
    CHECK_FALSE(e->result.status.has_value());
  }
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: timeout and max_buffer throw with the run's error",
                 "[sync][exec-sync]") {
  SECTION("timeout") {
    ExecSyncOptions opts;
    opts.timeout = 200ms;
    const auto start = Clock::now();
    auto e = expect_exec_sync_error(
        [&] { return childproc::exec_sync("exec " + kHelper + " sleep 20000", opts); });
    CHECK(Clock::now() - start < 10s);
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "spawnSync /bin/sh ETIMEDOUT");
    REQUIRE(e->result.error.has_value());
    CHECK(e->result.error->code == std::errc::timed_out);
    CHECK(e->result.signal == SIGTERM);
    CHECK_FALSE(e->result.status.has_value());
  }
  SECTION("timeout plus force_kill_after for a child trapping SIGTERM") {
    ExecSyncOptions opts;
    opts.timeout = 1000ms;
    opts.force_kill_after = 300ms;
    const auto start = Clock::now();
    auto e = expect_exec_sync_error([&] {
      return childproc::exec_file_sync(kHelper, {"trap-term", "30000"}, opts);
    });
    CHECK(Clock::now() - start < 10s);
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "spawnSync " + kHelper + " ETIMEDOUT");
    CHECK(e->result.signal == SIGKILL);
  }
  SECTION("max_buffer") {
    ExecSyncOptions opts;
    opts.max_buffer = 1000;
    auto e = expect_exec_sync_error([&] {
      return childproc::exec_file_sync(kHelper, {"out", "200000"}, opts);
    });
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "spawnSync " + kHelper + " ENOBUFS");
    REQUIRE(e->result.error.has_value());
    CHECK(e->result.error->code == std::errc::no_buffer_space);
    CHECK(e->result.out.size() == 1000);
    CHECK(is_pattern(e->result.out));
  }
  SECTION("output exactly max_buffer long") {
    ExecSyncOptions opts;
    opts.max_buffer = 200000;
    const std::string out = childproc::exec_file_sync(kHelper, {"out", "200000"}, opts);
    CHECK(out.size() == 200000);
    CHECK(is_pattern(out));
  }
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: a missing shell or file is ENOENT naming it",
                 "[sync][exec-sync]") {
  SECTION("a missing shell") {
    ExecSyncOptions opts;
    opts.shell = std::string("/nonexistent/sh");
    auto e = expect_exec_sync_error([&] { return childproc::exec_sync("echo hi", opts); });
    REQUIRE(e.has_value());
    REQUIRE(e->result.error.has_value());
    CHECK(e->result.error->code == std::errc::no_such_file_or_directory);
    CHECK(e->result.error->path == "/nonexistent/sh");
    CHECK(e->result.error->syscall == "spawnSync /nonexistent/sh");
    CHECK(e->result.error->message() == "spawnSync /nonexistent/sh ENOENT");
    CHECK(std::string(e->what()) == "spawnSync /nonexistent/sh ENOENT");
    CHECK(e->cmd == "echo hi");
    CHECK_FALSE(e->result.pid.has_value());
    CHECK_FALSE(e->result.status.has_value());
  }
  SECTION("a missing file") {
    auto e = expect_exec_sync_error(
        [] { return childproc::exec_file_sync("nosuchprog_childproc", {"a"}); });
    REQUIRE(e.has_value());
    REQUIRE(e->result.error.has_value());
    CHECK(e->result.error->code == std::errc::no_such_file_or_directory);
    CHECK(e->result.error->path == "nosuchprog_childproc");
    CHECK(std::string(e->what()) == "spawnSync nosuchprog_childproc ENOENT");
    CHECK(e->cmd == "nosuchprog_childproc a");
  }
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: the child's stderr is echoed unless stdio is given",
                 "[sync][exec-sync]") {
  SECTION("no stdio: echoed to this process's fd 2, and captured") {
    StderrCapture capture;
    const std::string out = childproc::exec_sync("echo to-out; echo to-stderr >&2");
    const std::string echoed = capture.finish();
    CHECK(out == "to-out\n");
    CHECK(echoed == "to-stderr\n");
  }
  SECTION("exec_file_sync echoes too") {
    StderrCapture capture;
    const std::string out = childproc::exec_file_sync(kHelper, {"err", "1000"});
    const std::string echoed = capture.finish();
    CHECK(out.empty());
    CHECK(echoed.size() == 1000);
    CHECK(is_pattern(echoed));
  }
  SECTION("stdio given: nothing echoed") {
    ExecSyncOptions opts;
    opts.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
    StderrCapture capture;
    const std::string out = childproc::exec_sync("echo to-out; echo to-stderr >&2", opts);
    const std::string echoed = capture.finish();
    CHECK(out == "to-out\n");
    CHECK(echoed.empty());
  }
  SECTION("stdio given: the failure still carries stderr") {
    ExecSyncOptions opts;
    opts.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
    StderrCapture capture;
    auto e =
        expect_exec_sync_error([&] { return childproc::exec_sync("echo bad >&2; exit 2", opts); });
    const std::string echoed = capture.finish();
    REQUIRE(e.has_value());
    CHECK(std::string(e->what()) == "Command failed: echo bad >&2; exit 2\nbad\n");
    CHECK(echoed.empty());
  }
}

TEST_CASE_METHOD(LoopFixture, "exec_sync: close_timeout returns the output written before",
                 "[sync][exec-sync][close-timeout]") {
  TempDir dir;
  const std::string pid_file = dir.path() + "/pid";
  ExecSyncOptions opts;
  opts.close_timeout = 300ms;
  const auto start = Clock::now();
  std::string out;
  try {
    // The helper's stderr (the grandchild's pid) goes to a file; stdout stays held.
    out = childproc::exec_sync(kHelper + " hold-stdout 5000 before 2>" + pid_file, opts);
  } catch (const ExecSyncError& e) {
    FAIL_CHECK("unexpected ExecSyncError: " << e.what());
  }
  const auto took = Clock::now() - start;
  int fd = ::open(pid_file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const int gpid = std::atoi(read_fd(fd).c_str());
  ::close(fd);
  if (gpid > 0) ::kill(gpid, SIGKILL);
  CHECK(gpid > 0);
  CHECK(took < 3s);
  CHECK(out == "before\n");
}

// ---------------------------------------------------------------------------------------
// Where sync calls can be made from

TEST_CASE_METHOD(LoopFixture, "sync calls from two threads at once each get their own output",
                 "[sync][threads]") {
  constexpr int kRounds = 8;
  std::latch start(3);
  std::vector<SpawnSyncResult> a_results, c_results;
  std::vector<std::string> b_results;
  std::vector<std::string> thread_errors;
  std::mutex errors_mutex;
  auto guard = [&](auto fn) {
    return [&, fn] {
      try {
        start.arrive_and_wait();
        fn();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(errors_mutex);
        thread_errors.emplace_back(e.what());
      }
    };
  };
  std::thread a(guard([&] {
    for (int i = 0; i < kRounds; ++i)
      a_results.push_back(childproc::spawn_sync(kHelper, {"out", std::to_string(300000 + i)}));
  }));
  std::thread b(guard([&] {
    for (int i = 0; i < kRounds; ++i)
      b_results.push_back(childproc::exec_file_sync(kHelper, {"argv", "b", std::to_string(i)}));
  }));
  // A third thread whose children time out: its signals must reach its own loop only.
  std::thread c(guard([&] {
    SpawnSyncOptions opts;
    opts.timeout = 100ms;
    for (int i = 0; i < 3; ++i)
      c_results.push_back(childproc::spawn_sync(kHelper, {"sleep", "20000"}, opts));
  }));
  a.join();
  b.join();
  c.join();

  CHECK(thread_errors.empty());
  for (const auto& m : thread_errors)
    FAIL_CHECK("a thread threw: " << m);
  REQUIRE(a_results.size() == kRounds);
  REQUIRE(b_results.size() == kRounds);
  REQUIRE(c_results.size() == 3);
  for (int i = 0; i < kRounds; ++i) {
    INFO("round " << i);
    CHECK(a_results[i].status == 0);
    CHECK_FALSE(a_results[i].error.has_value());
    CHECK(a_results[i].out.size() == static_cast<std::size_t>(300000 + i));
    CHECK(is_pattern(a_results[i].out));
    CHECK(b_results[i] == kHelper + "\nargv\nb\n" + std::to_string(i) + "\n");
  }
  for (const auto& r : c_results) {
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == std::errc::timed_out);
    CHECK(r.signal == SIGTERM);
  }
}

TEST_CASE_METHOD(LoopFixture, "sync calls from a callback of the caller's loop", "[sync][loop]") {
  // Children on the fixture's loop run, exit and close around a blocking call made from
  // one of that loop's timer callbacks.
  auto outer = spawn_helper({"out", "300000"});
  auto quick = spawn_helper({"exit", "4"});  // exits while the sync call blocks
  EventLog outer_log, quick_log;
  outer_log.attach(*outer);
  quick_log.attach(*quick);
  PatternChecker outer_data;
  outer->std_out()->on<childproc::DataEvent>(
      [&](const childproc::DataEvent& e) { outer_data.feed(e.chunk); });

  std::optional<SpawnSyncResult> inner;
  std::string inner_exec;
  std::optional<SpawnSyncResult> inner_timeout;
  int callbacks = 0;
  after(20ms, [&] {
    ++callbacks;
    inner = childproc::spawn_sync(kHelper, {"sleep", "500"});
    inner_exec = childproc::exec_sync("echo from the callback");
    SpawnSyncOptions opts;
    opts.timeout = 100ms;
    inner_timeout = childproc::spawn_sync(kHelper, {"sleep", "20000"}, opts);
  });
  run();

  CHECK(callbacks == 1);
  REQUIRE(inner.has_value());
  CHECK(inner->status == 0);
  CHECK_FALSE(inner->error.has_value());
  CHECK(inner_exec == "from the callback\n");
  REQUIRE(inner_timeout.has_value());
  REQUIRE(inner_timeout->error.has_value());
  CHECK(inner_timeout->error->code == std::errc::timed_out);
  CHECK(inner_timeout->signal == SIGTERM);

  CHECK(outer_log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK(quick_log.events == std::vector<std::string>{"spawn", "exit 4 null", "close 4 null"});
  CHECK(outer_data.ok(300000));
}

// ---------------------------------------------------------------------------------------
// Bad input: thrown from the call, nothing spawned

TEST_CASE_METHOD(LoopFixture, "spawn_sync: input with a stdin that is not a pipe throws",
                 "[sync][bad-input]") {
  const int fds_before = count_fds();
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  const std::vector<Stdio> stdins = {Stdio::ignore(), Stdio::inherit(), Stdio::fd(p[0])};
  for (std::size_t i = 0; i < stdins.size(); ++i) {
    INFO("stdin kind " << i);
    SpawnSyncOptions opts;
    opts.stdio = {stdins[i], Stdio::pipe(), Stdio::pipe()};
    opts.input = "data";
    CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"count-stdin"}, opts),
                    childproc::InvalidArgument);
    CHECK(no_children());

    ExecSyncOptions eopts;
    eopts.stdio = {stdins[i], Stdio::pipe(), Stdio::pipe()};
    eopts.input = "data";
    CHECK_THROWS_AS(childproc::exec_sync("cat", eopts), childproc::InvalidArgument);
    CHECK_THROWS_AS(childproc::exec_file_sync(kHelper, {"count-stdin"}, eopts),
                    childproc::InvalidArgument);
    CHECK(no_children());
  }
  ::close(p[0]);
  ::close(p[1]);
  CHECK(count_fds() == fds_before);
}

TEST_CASE_METHOD(LoopFixture, "sync calls: argument errors are thrown, nothing spawned",
                 "[sync][bad-input]") {
  SECTION("empty file") {
    CHECK_THROWS_AS(childproc::spawn_sync(""), childproc::InvalidArgument);
    CHECK_THROWS_AS(childproc::exec_sync(""), childproc::InvalidArgument);
    CHECK_THROWS_AS(childproc::exec_file_sync(""), childproc::InvalidArgument);
  }
  SECTION("negative timeout") {
    SpawnSyncOptions opts;
    opts.timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"exit", "0"}, opts), childproc::OutOfRange);
    ExecSyncOptions eopts;
    eopts.timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(childproc::exec_sync("exit 0", eopts), childproc::OutOfRange);
  }
  SECTION("negative force_kill_after") {
    SpawnSyncOptions opts;
    opts.force_kill_after = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"exit", "0"}, opts), childproc::OutOfRange);
    ExecSyncOptions eopts;
    eopts.force_kill_after = std::chrono::milliseconds(-5);
    CHECK_THROWS_AS(childproc::exec_sync("exit 0", eopts), childproc::OutOfRange);
  }
  SECTION("negative close_timeout") {
    SpawnSyncOptions opts;
    opts.close_timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"exit", "0"}, opts), childproc::OutOfRange);
    ExecSyncOptions eopts;
    eopts.close_timeout = std::chrono::milliseconds(-5);
    CHECK_THROWS_AS(childproc::exec_file_sync(kHelper, {"exit", "0"}, eopts),
                    childproc::OutOfRange);
  }
  SECTION("a stream of the caller's loop as a slot (the call runs on its own loop)") {
    auto other = spawn_helper({"sleep", "20000"});
    SpawnSyncOptions opts;
    opts.stdio = {Stdio::from(other->std_out()), Stdio::pipe(), Stdio::pipe()};
    CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"count-stdin"}, opts),
                    childproc::InvalidArgument);
    CHECK_FALSE(other->std_out()->closed());
    other->kill(SIGKILL);
    run();
  }
  CHECK(no_children());
}
