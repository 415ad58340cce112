// The controls Node lacks: kill_group(), force_kill_after (timeout, cancellation, exec,
// terminate()), close_timeout for grandchildren holding the pipes, and ChildGuard.
#include "support.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <stop_token>
#include <thread>

using namespace cptest;
using childproc::ChildGuard;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::ExecError;
using childproc::ExecOptions;
using childproc::ExitEvent;
using childproc::SpawnOptions;

namespace {

using Clock = std::chrono::steady_clock;

// Collects a child's stdout into `into`.
void collect(const std::shared_ptr<childproc::ChildProcess>& child, std::string& into) {
  child->std_out()->on<DataEvent>([&into](const DataEvent& e) { into.append(e.chunk); });
}

// True when this process has no child at all (none running, none unreaped).
bool no_children() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  return pid == -1 && errno == ECHILD;
}

// Makes this process the reaper of its orphaned descendants for the scope, so the
// grandchildren a test kills can be waited for and their end checked.
class Subreaper {
public:
  Subreaper() { active_ = ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }
  ~Subreaper() {
    if (active_) ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  }
  Subreaper(const Subreaper&) = delete;
  Subreaper& operator=(const Subreaper&) = delete;
  bool active() const noexcept { return active_; }

private:
  bool active_ = false;
};

// The end of descendant `pid`, once it is gone: "SIGKILL", "exit 0", or "alive" when it
// still runs after `limit` (it is then killed and reaped, so nothing outlives the test),
// or "gone" when it ended without being ours to reap.
std::string wait_gone(pid_t pid, std::chrono::milliseconds limit = 10s) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFSIGNALED(status)) return std::string(childproc::signal_name(WTERMSIG(status)));
      return "exit " + std::to_string(WEXITSTATUS(status));
    }
    if (r < 0 && ::kill(pid, 0) != 0 && errno == ESRCH) return "gone";
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return "alive";
    }
    std::this_thread::sleep_for(10ms);
  }
}

// The pids, one per line, before a line starting with "leader".
std::vector<pid_t> pids_before_leader(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("leader", 0) == 0) break;
    pids.push_back(static_cast<pid_t>(std::stoi(line)));
  }
  return pids;
}

template <typename F>
void check_out_of_range(F&& fn, const std::string& name) {
  try {
    auto child = fn();
    if (child) child->kill(SIGKILL);
    FAIL_CHECK("no exception was thrown");
  } catch (const childproc::OutOfRange& e) {
    CHECK(e.code() == "ERR_OUT_OF_RANGE");
    CHECK_THAT(std::string(e.what()), Catch::Contains(name));
  } catch (const std::exception& e) {
    FAIL_CHECK("unexpected exception type: " << e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// kill_group

TEST_CASE_METHOD(LoopFixture, "kill_group: one call kills a detached child and its grandchildren",
                 "[kill-group]") {
  Subreaper reaper;
  REQUIRE(reaper.active());
  SpawnOptions opts;
  opts.detached = true;
  std::shared_ptr<childproc::ChildProcess> child;
  SECTION("cp_helper with three grandchildren in its group") {
    child = spawn_helper({"group", "3", "20000"}, opts);
  }
  SECTION("a shell with background jobs") {
    const std::string job = kHelper + " sleep 20000 >/dev/null 2>&1 & echo $!; ";
    child = track(childproc::spawn(loop(), "/bin/sh",
                                   {"-c", job + job + job + "echo leader $$; wait"}, opts));
  }
  std::string out;
  bool sent = false;
  bool kill_result = false;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) {
    out.append(e.chunk);
    if (!sent && out.find("leader") != std::string::npos &&
        out.find('\n', out.find("leader")) != std::string::npos) {
      sent = true;
      kill_result = child->kill_group(SIGKILL);
    }
  });
  EventLog log;
  log.attach(*child);
  run(20s);

  const std::vector<pid_t> grandchildren = pids_before_leader(out);
  std::vector<std::string> ends;
  for (pid_t pid : grandchildren)
    ends.push_back(wait_gone(pid));
  CHECK(sent);
  CHECK(kill_result);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
  REQUIRE(grandchildren.size() == 3);
  CHECK(ends == std::vector<std::string>(3, "SIGKILL"));
  for (pid_t pid : grandchildren) {
    errno = 0;
    CHECK(::kill(pid, 0) == -1);
    CHECK(errno == ESRCH);
  }
  // After close, with the whole group gone, nothing is signalled.
  CHECK_FALSE(child->kill_group(0));
}

TEST_CASE_METHOD(LoopFixture, "kill_group: reaches a grandchild holding the pipes after exit",
                 "[kill-group]") {
  Subreaper reaper;
  REQUIRE(reaper.active());
  SpawnOptions opts;
  opts.detached = true;
  auto child = spawn_helper({"grandchild"}, opts);
  std::string out;
  bool exited = false;
  bool sent = false;
  bool kill_result = false;
  auto maybe_kill = [&] {
    if (sent || !exited || out.find('\n') == std::string::npos) return;
    sent = true;
    kill_result = child->kill_group(SIGKILL);  // the child is gone; its group is not
  };
  collect(child, out);
  child->std_out()->on<DataEvent>([&](const DataEvent&) { maybe_kill(); });
  child->on<ExitEvent>([&](const ExitEvent&) {
    exited = true;
    maybe_kill();
  });
  EventLog log;
  log.attach(*child);
  run(20s);

  REQUIRE(out.find('\n') != std::string::npos);
  const pid_t grandchild = static_cast<pid_t>(std::stoi(out));
  CHECK(wait_gone(grandchild) == "SIGKILL");
  CHECK(sent);
  CHECK(kill_result);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "kill_group: a child that is not detached throws std::logic_error",
                 "[kill-group][bad-input]") {
  auto child = spawn_helper({"sleep", "20000"});
  EventLog log;
  log.attach(*child);
  CHECK_THROWS_AS(child->kill_group(0), std::logic_error);
  CHECK_THROWS_AS(child->kill_group(), std::logic_error);
  CHECK_FALSE(child->killed());
  bool alive_later = false;
  after(300ms, [&] {
    alive_later = log.count("exit") == 0;
    child->kill();
  });
  run();
  CHECK(alive_later);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
}

TEST_CASE_METHOD(LoopFixture, "kill_group: false after a failed spawn", "[kill-group]") {
  SpawnOptions opts;
  opts.detached = true;
  auto child = track(childproc::spawn(loop(), "nosuchprog_childproc", {}, opts));
  EventLog log;
  log.attach(*child);
  // The null signal: a wrong implementation (kill(0, ...)) would hit our own group.
  CHECK_FALSE(child->kill_group(0));
  run();
  CHECK_FALSE(child->kill_group(0));
  CHECK(log.events ==
        std::vector<std::string>{"error spawn nosuchprog_childproc ENOENT", "close -2 null"});
}

// ---------------------------------------------------------------------------------------
// force_kill_after

TEST_CASE_METHOD(LoopFixture,
                 "force_kill_after: timeout, then SIGKILL for a child trapping SIGTERM",
                 "[force-kill]") {
  SpawnOptions opts;
  opts.timeout = 1000ms;  // long enough for the child to install its handler first
  opts.force_kill_after = 300ms;
  const auto start = Clock::now();
  auto child = spawn_helper({"trap-term", "30000"}, opts);
  std::string out;
  collect(child, out);
  EventLog log;
  log.attach(*child);
  run(20s);
  const auto took = Clock::now() - start;
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
  CHECK(out == "ready\nTERM\n");  // SIGTERM first, then SIGKILL
  CHECK(child->killed());
  CHECK(child->timed_out());
  CHECK(child->signal_code() == SIGKILL);
  CHECK(took >= 1200ms);
  CHECK(took < 10s);
}

TEST_CASE_METHOD(LoopFixture, "force_kill_after: off by default, and not for a plain kill()",
                 "[force-kill]") {
  std::shared_ptr<childproc::ChildProcess> child;
  SECTION("timeout without force_kill_after") {
    SpawnOptions opts;
    opts.timeout = 500ms;
    child = spawn_helper({"trap-term", "30000"}, opts);
  }
  SECTION("kill() by the caller is not escalated") {
    SpawnOptions opts;
    opts.force_kill_after = 100ms;
    child = spawn_helper({"trap-term", "30000"}, opts);
    after(500ms, [&] { CHECK(child->kill()); });
  }
  std::string out;
  collect(child, out);
  EventLog log;
  log.attach(*child);
  bool alive_later = false;
  after(1500ms, [&] {
    alive_later = log.count("exit") == 0;
    child->kill(SIGKILL);
  });
  run(20s);
  CHECK(alive_later);
  CHECK(out == "ready\nTERM\n");
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
}

TEST_CASE_METHOD(LoopFixture, "force_kill_after: cancellation escalates too", "[force-kill]") {
  std::stop_source source;
  SpawnOptions opts;
  opts.stop_token = source.get_token();
  opts.force_kill_after = 300ms;
  auto child = spawn_helper({"trap-term", "30000"}, opts);
  std::string out;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) {
    out.append(e.chunk);
    if (out == "ready\n") {
      std::thread t([&] { source.request_stop(); });
      t.join();
    }
  });
  EventLog log;
  log.attach(*child);
  run(20s);
  CHECK(log.events == std::vector<std::string>{"spawn", "error The operation was aborted",
                                               "exit null SIGKILL", "close null SIGKILL"});
  CHECK(out == "ready\nTERM\n");
  CHECK(child->killed());
}

TEST_CASE_METHOD(LoopFixture, "force_kill_after on exec: the callback sees SIGKILL",
                 "[force-kill][exec]") {
  SECTION("after a timeout") {
    ExecOptions opts;
    opts.timeout = 1000ms;
    opts.force_kill_after = 300ms;
    int calls = 0;
    ExecError error;
    const auto start = Clock::now();
    track(childproc::exec_file(loop(), kHelper, {"trap-term", "30000"}, opts,
                               [&](const ExecError& e, std::string, std::string) {
                                 ++calls;
                                 error = e;
                               }));
    run(20s);
    CHECK(Clock::now() - start < 10s);
    REQUIRE(calls == 1);
    CHECK(error.code == childproc::errc::timed_out);
    CHECK(error.signal == SIGKILL);
    CHECK(error.signal_name() == "SIGKILL");
    CHECK(error.killed);
    CHECK_FALSE(error.exit_code.has_value());
    CHECK(error.message() == "Command failed: " + kHelper + " trap-term 30000\n");
  }
  SECTION("after max_buffer") {
    // The shell writes past max_buffer, then becomes a sleeper that ignores SIGTERM.
    ExecOptions opts;
    opts.max_buffer = 1000;
    opts.force_kill_after = 300ms;
    int calls = 0;
    ExecError error;
    std::string out;
    const auto start = Clock::now();
    track(childproc::exec(
        loop(), "trap '' TERM; " + kHelper + " out 2000; exec " + kHelper + " sleep 30000", opts,
        [&](const ExecError& e, std::string o, std::string) {
          ++calls;
          error = e;
          out = std::move(o);
        }));
    run(20s);
    CHECK(Clock::now() - start < 10s);
    REQUIRE(calls == 1);
    CHECK(error.code == childproc::errc::max_buffer_exceeded);
    CHECK(error.signal == SIGKILL);
    CHECK(error.killed);
    CHECK(out.size() == 1000);
    CHECK(is_pattern(out));
  }
}

// ---------------------------------------------------------------------------------------
// terminate()

TEST_CASE_METHOD(LoopFixture, "terminate(): kill_signal, then SIGKILL after the delay",
                 "[terminate]") {
  SECTION("no delay: only kill_signal, to a child that dies of it") {
    auto child = spawn_helper({"sleep", "20000"});
    EventLog log;
    log.attach(*child);
    CHECK(child->terminate());
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK(child->killed());
    CHECK_FALSE(child->timed_out());
  }
  SECTION("the spawn option kill_signal is what it sends") {
    SpawnOptions opts;
    opts.kill_signal = "SIGINT";
    auto child = spawn_helper({"sleep", "20000"}, opts);
    EventLog log;
    log.attach(*child);
    CHECK(child->terminate());
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGINT", "close null SIGINT"});
  }
  SECTION("a delay: SIGKILL for a child trapping SIGTERM") {
    auto child = spawn_helper({"trap-term", "30000"});
    std::string out;
    Clock::time_point sent_at{}, exit_at{};
    bool terminate_result = false;
    child->std_out()->on<DataEvent>([&](const DataEvent& e) {
      out.append(e.chunk);
      if (out == "ready\n") {
        sent_at = Clock::now();
        terminate_result = child->terminate(300ms);
      }
    });
    child->on<ExitEvent>([&](const ExitEvent&) { exit_at = Clock::now(); });
    EventLog log;
    log.attach(*child);
    run(20s);
    CHECK(terminate_result);
    CHECK(out == "ready\nTERM\n");
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(child->killed());
    CHECK(exit_at - sent_at >= 250ms);
    CHECK(exit_at - sent_at < 10s);
  }
  SECTION("the delay defaults to the spawn option force_kill_after") {
    SpawnOptions opts;
    opts.force_kill_after = 300ms;
    auto child = spawn_helper({"trap-term", "30000"}, opts);
    std::string out;
    child->std_out()->on<DataEvent>([&](const DataEvent& e) {
      out.append(e.chunk);
      if (out == "ready\n") CHECK(child->terminate());
    });
    EventLog log;
    log.attach(*child);
    run(20s);
    CHECK(out == "ready\nTERM\n");
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
  }
  SECTION("a zero delay overrides the spawn option: no SIGKILL") {
    SpawnOptions opts;
    opts.force_kill_after = 200ms;
    auto child = spawn_helper({"trap-term", "30000"}, opts);
    std::string out;
    child->std_out()->on<DataEvent>([&](const DataEvent& e) {
      out.append(e.chunk);
      if (out == "ready\n") CHECK(child->terminate(0ms));
    });
    EventLog log;
    log.attach(*child);
    bool alive_later = false;
    after(1500ms, [&] {
      alive_later = log.count("exit") == 0;
      child->kill(SIGKILL);
    });
    run(20s);
    CHECK(alive_later);
    CHECK(out == "ready\nTERM\n");
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
  }
  SECTION("the pending SIGKILL does not keep the loop alive once the child is gone") {
    auto child = spawn_helper({"sleep", "20000"});
    EventLog log;
    log.attach(*child);
    const auto start = Clock::now();
    CHECK(child->terminate(20s));
    run();
    CHECK(Clock::now() - start < 5s);
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
  }
}

TEST_CASE_METHOD(LoopFixture, "terminate(): false when there is no live child", "[terminate]") {
  SECTION("after exit") {
    auto child = spawn_helper({"exit", "0"});
    run();
    CHECK_FALSE(child->terminate());
    CHECK_FALSE(child->terminate(100ms));
    CHECK_FALSE(child->killed());
    run();
  }
  SECTION("after a failed spawn") {
    auto child = track(childproc::spawn(loop(), "nosuchprog_childproc"));
    EventLog log;
    log.attach(*child);
    CHECK_FALSE(child->terminate());
    run();
    CHECK_FALSE(child->terminate(100ms));
    CHECK(log.events ==
          std::vector<std::string>{"error spawn nosuchprog_childproc ENOENT", "close -2 null"});
  }
}

// ---------------------------------------------------------------------------------------
// close_timeout

TEST_CASE_METHOD(LoopFixture, "close_timeout: a grandchild holding stdout no longer delays close",
                 "[close-timeout]") {
  SpawnOptions opts;
  opts.close_timeout = 300ms;
  const auto start = Clock::now();
  auto child = spawn_helper({"hold-stdout", "5000", "before"}, opts);
  std::string out, err;
  collect(child, out);
  child->std_err()->on<DataEvent>([&](const DataEvent& e) { err.append(e.chunk); });
  Clock::time_point exit_at{}, close_at{};
  std::string out_at_close;
  child->on<ExitEvent>([&](const ExitEvent&) { exit_at = Clock::now(); });
  child->on<CloseEvent>([&](const CloseEvent&) {
    close_at = Clock::now();
    out_at_close = out;
  });
  EventLog log;
  log.attach(*child);
  run(20s);
  const int grandchild = std::atoi(err.c_str());
  if (grandchild > 0) ::kill(grandchild, SIGKILL);

  CHECK(grandchild > 0);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK(close_at - start < 3s);  // the grandchild holds the pipes for 5 s
  CHECK(close_at - exit_at >= 250ms);
  CHECK(out_at_close == "before\n");
  CHECK(out == "before\n");
  CHECK(err == std::to_string(grandchild) + "\n");
  CHECK(child->std_out()->closed());
  CHECK(child->std_err()->closed());
}

TEST_CASE_METHOD(LoopFixture, "close_timeout: a child closing normally is not delayed",
                 "[close-timeout]") {
  SpawnOptions opts;
  opts.close_timeout = 20s;
  const auto start = Clock::now();
  auto child = spawn_helper({"out", "100000"}, opts);
  PatternChecker data;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { data.feed(e.chunk); });
  EventLog log;
  log.attach(*child);
  run();
  CHECK(Clock::now() - start < 5s);
  CHECK(data.ok(100000));
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "close_timeout on exec: the output written before",
                 "[close-timeout][exec]") {
  ExecOptions opts;
  opts.close_timeout = 300ms;
  int calls = 0;
  ExecError error;
  std::string out, err;
  const auto start = Clock::now();
  track(childproc::exec_file(loop(), kHelper, {"hold-stdout", "5000", "before"}, opts,
                             [&](const ExecError& e, std::string o, std::string er) {
                               ++calls;
                               error = e;
                               out = std::move(o);
                               err = std::move(er);
                             }));
  run(20s);
  const auto took = Clock::now() - start;
  const int grandchild = std::atoi(err.c_str());
  if (grandchild > 0) ::kill(grandchild, SIGKILL);
  CHECK(grandchild > 0);
  REQUIRE(calls == 1);
  CHECK(took < 3s);
  CHECK_FALSE(static_cast<bool>(error));
  CHECK(out == "before\n");
}

// ---------------------------------------------------------------------------------------
// ChildGuard

TEST_CASE_METHOD(LoopFixture, "ChildGuard terminates a running child at scope end",
                 "[child-guard]") {
  SECTION("a child that dies of SIGTERM") {
    std::shared_ptr<childproc::ChildProcess> child;
    EventLog log;
    {
      ChildGuard guard(spawn_helper({"sleep", "20000"}));
      child = guard.get();
      log.attach(*guard);
      CHECK(guard->pid().has_value());
    }
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK(child->killed());
  }
  SECTION("kill_signal, then SIGKILL after the grace period") {
    auto child = spawn_helper({"trap-term", "30000"});
    std::optional<ChildGuard> guard;
    guard.emplace(child, 300ms);
    std::string out;
    child->std_out()->on<DataEvent>([&](const DataEvent& e) {
      out.append(e.chunk);
      if (out == "ready\n") guard.reset();  // scope end, from a callback
    });
    EventLog log;
    log.attach(*child);
    run(20s);
    CHECK(out == "ready\nTERM\n");
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
  }
  SECTION("move assignment terminates the child it replaces") {
    auto first = spawn_helper({"sleep", "20000"});
    auto second = spawn_helper({"sleep", "20000"});
    EventLog first_log, second_log;
    first_log.attach(*first);
    second_log.attach(*second);
    std::optional<ChildGuard> guard;
    guard.emplace(first);
    bool second_alive_later = false;
    *guard = ChildGuard(second);  // `first` is terminated now
    after(300ms, [&] {
      second_alive_later = second_log.count("exit") == 0;
      guard.reset();
    });
    run();
    CHECK(second_alive_later);
    CHECK(first_log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK(second_log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
  }
}

TEST_CASE_METHOD(LoopFixture, "ChildGuard: release() and finished children are left alone",
                 "[child-guard]") {
  SECTION("release()") {
    auto child = spawn_helper({"sleep", "300"});
    EventLog log;
    log.attach(*child);
    {
      ChildGuard guard(child);
      auto released = guard.release();
      CHECK(released == child);
      CHECK(guard.get() == nullptr);
    }
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
    CHECK_FALSE(child->killed());
  }
  SECTION("a child that already exited") {
    auto child = spawn_helper({"exit", "5"});
    EventLog log;
    log.attach(*child);
    run();
    { ChildGuard guard(child); }
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 5 null", "close 5 null"});
    CHECK_FALSE(child->killed());
  }
  SECTION("a child whose spawn failed") {
    auto child = track(childproc::spawn(loop(), "nosuchprog_childproc"));
    EventLog log;
    log.attach(*child);
    { ChildGuard guard(child); }
    run();
    CHECK(log.events ==
          std::vector<std::string>{"error spawn nosuchprog_childproc ENOENT", "close -2 null"});
    CHECK_FALSE(child->killed());
  }
  SECTION("an empty guard") {
    ChildGuard guard(nullptr);
    ChildGuard moved(std::move(guard));
    CHECK(moved.get() == nullptr);
  }
}

// ---------------------------------------------------------------------------------------
// Bad input

TEST_CASE_METHOD(LoopFixture, "negative force_kill_after or close_timeout throws OutOfRange",
                 "[force-kill][close-timeout][bad-input]") {
  const int fds_before = count_fds();
  int calls = 0;
  auto cb = [&](const ExecError&, std::string, std::string) { ++calls; };
  {
    SpawnOptions opts;
    opts.force_kill_after = std::chrono::milliseconds(-1);
    check_out_of_range(
        [&] {
          return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
        },
        "force_kill_after");
  }
  {
    SpawnOptions opts;
    opts.close_timeout = std::chrono::milliseconds(-1);
    check_out_of_range(
        [&] {
          return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
        },
        "close_timeout");
  }
  {
    ExecOptions opts;
    opts.force_kill_after = std::chrono::milliseconds(-1);
    check_out_of_range([&] { return track(childproc::exec(loop(), "exit 0", opts, cb)); },
                       "force_kill_after");
    check_out_of_range(
        [&] {
          return track(childproc::exec_file(loop(), kHelper, {"exit", "0"}, opts, cb));
        },
        "force_kill_after");
  }
  {
    ExecOptions opts;
    opts.close_timeout = std::chrono::milliseconds(-1);
    check_out_of_range([&] { return track(childproc::exec(loop(), "exit 0", opts, cb)); },
                       "close_timeout");
  }
  CHECK(no_children());
  CHECK(count_fds() == fds_before);
  run();
  CHECK(calls == 0);
}
