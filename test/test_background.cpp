// SpawnOptions::background_launch: the clone runs on a launcher thread. Everything a
// spawn does must still hold (events in order, output, errors, signals, timeouts), plus
// what the option promises: streams at once, pid() at SpawnEvent, signals sent before
// then delivered. On the uv_spawn launcher the option falls back to the inline launch,
// and the same tests must pass there too.
#include "support.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::ExecError;
using childproc::ExecOptions;
using childproc::KillReason;
using childproc::SpawnEvent;
using childproc::SpawnOptions;
using childproc::Stdio;

namespace {

SpawnOptions background() {
  SpawnOptions o;
  o.background_launch = true;
  return o;
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "background_launch: events, pid at SpawnEvent, output and exit",
                 "[background]") {
  auto child = spawn_helper({"out", "100000"}, background());
  // On the clone launcher spawn() returned before the clone: no pid yet.
  if (!uv_launcher()) CHECK_FALSE(child->pid());
  EventLog log;
  log.attach(*child);
  std::optional<int> pid_at_spawn;
  child->on<SpawnEvent>([&](const SpawnEvent&) { pid_at_spawn = child->pid(); });
  PatternChecker out;
  REQUIRE(child->std_out());
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.feed(e.chunk); });
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  REQUIRE(pid_at_spawn);
  CHECK(*pid_at_spawn > 0);
  CHECK(child->pid() == pid_at_spawn);
  CHECK(out.ok(100000));
}

TEST_CASE_METHOD(LoopFixture, "background_launch: stdin can be written before the child starts",
                 "[background]") {
  auto child = spawn_helper({"cat"}, background());
  REQUIRE(child->std_in());
  const std::string text(200000, 'x');  // more than a pipe holds: part of it waits queued
  child->std_in()->end(text);
  std::string got;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { got.append(e.chunk); });
  EventLog log;
  log.attach(*child);
  run();
  CHECK(got == text);
  CHECK(log.events.back() == "close 0 null");
}

TEST_CASE_METHOD(LoopFixture, "background_launch: a missing program is ErrorEvent then CloseEvent",
                 "[background]") {
  auto child = track(childproc::spawn(loop(), "no-such-program-cp", {}, background()));
  EventLog log;
  log.attach(*child);
  std::optional<std::error_code> write_error;
  REQUIRE(child->std_in());
  child->std_in()->write("lost", [&](std::error_code ec) { write_error = ec; });
  child->std_in()->on<childproc::ErrorEvent>([](const childproc::ErrorEvent&) {});
  // In the background the failure is not known yet: the signal waits, and is dropped.
  const bool sent = child->kill();
  CHECK(sent == !uv_launcher());
  run();
  REQUIRE(log.events.size() == 2);
  CHECK(log.events[0] == "error spawn no-such-program-cp ENOENT");
  CHECK(log.events[1] == "close -2 null");
  CHECK_FALSE(child->pid());
  CHECK_FALSE(child->killed());
  REQUIRE(write_error);
  CHECK(*write_error);  // the bytes never reached a child
  CHECK(log.errors.at(0).path == "no-such-program-cp");
}

TEST_CASE_METHOD(LoopFixture, "background_launch: a bad cwd is named in the error",
                 "[background]") {
  SpawnOptions o = background();
  o.cwd = "/no/such/dir/cp";
  auto child = spawn_helper({"exit", "0"}, o);
  EventLog log;
  log.attach(*child);
  run();
  REQUIRE(log.errors.size() == 1);
  CHECK(log.errors[0].code == std::errc::no_such_file_or_directory);
  CHECK(log.errors[0].message().find("/no/such/dir/cp") != std::string::npos);
  CHECK(log.count("spawn") == 0);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: kill() before SpawnEvent reaches the child",
                 "[background]") {
  auto child = spawn_helper({"sleep", "30000"}, background());
  CHECK(child->kill("SIGTERM"));
  EventLog log;
  log.attach(*child);
  run(20s);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
  CHECK(child->killed());
  CHECK(child->kill_reason() == KillReason::kill);
}

TEST_CASE_METHOD(LoopFixture,
                 "background_launch: terminate() before SpawnEvent escalates to SIGKILL",
                 "[background]") {
  auto child = spawn_helper({"ignore-term", "30000"}, background());
  // The helper ignores SIGTERM only once it runs; the SIGKILL that follows ends it either way.
  CHECK(child->terminate(std::chrono::milliseconds(200)));
  EventLog log;
  log.attach(*child);
  run(20s);
  REQUIRE_FALSE(log.events.empty());
  CHECK(log.events.back().rfind("close null SIG", 0) == 0);
  CHECK(child->kill_reason() == KillReason::terminate);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: the timeout kills the child", "[background]") {
  SpawnOptions o = background();
  o.timeout = std::chrono::milliseconds(100);
  auto child = spawn_helper({"sleep", "30000"}, o);
  EventLog log;
  log.attach(*child);
  run(20s);
  CHECK(log.events.back() == "close null SIGTERM");
  CHECK(child->timed_out());
  CHECK(child->kill_reason() == KillReason::timeout);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: exec_file collects as usual", "[background]") {
  ExecOptions o;
  o.background_launch = true;
  bool called = false;
  track(childproc::exec_file(loop(), kHelper, {"both", "5000"}, o,
                             [&](const ExecError& e, std::string out, std::string err) {
                               called = true;
                               CHECK_FALSE(e);
                               CHECK(is_pattern(out));
                               CHECK(out.size() == 5000);
                               CHECK(is_pattern(err));
                             }));
  run();
  CHECK(called);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: a stream given as stdio is handed over",
                 "[background]") {
  // ps | grep as in the pipeline example: the second child reads the first one's stdout.
  auto first = spawn_helper({"out", "50000"}, background());
  SpawnOptions o = background();
  o.stdio = {Stdio::from(first->std_out()), Stdio::pipe(), Stdio::pipe()};
  auto second = spawn_helper({"count-stdin"}, o);
  std::string counted;
  second->std_out()->on<DataEvent>([&](const DataEvent& e) { counted.append(e.chunk); });
  run();
  CHECK(counted == "50000\n");
  CHECK(first->exit_code() == 0);
  CHECK(second->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: unref() lets the loop end before the child",
                 "[background]") {
  auto child = spawn_helper({"sleep", "30000"}, background());
  child->unref();
  run();  // returns once launched: nothing else keeps the loop alive
  CHECK_FALSE(child->exit_code());
  REQUIRE(child->pid());
  CHECK(child->kill("SIGKILL"));
  child->ref();
  run();
  CHECK(child->signal_code() == SIGKILL);
}

TEST_CASE_METHOD(LoopFixture, "background_launch: 200 children at once, every one accounted for",
                 "[background]") {
  int closed = 0;
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    auto child = spawn_helper({"out", "1000"}, background());
    auto got = std::make_shared<std::string>();
    child->std_out()->on<DataEvent>([got](const DataEvent& e) { got->append(e.chunk); });
    child->on<CloseEvent>([&closed, &ok, got](const CloseEvent& e) {
      ++closed;
      if (e.code == 0 && is_pattern(*got) && got->size() == 1000) ++ok;
    });
  }
  run(60s);
  CHECK(closed == 200);
  CHECK(ok == 200);
}

TEST_CASE("background_launch: loops on several threads spawn at once", "[background]") {
  const int before = count_fds();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ok] {
      uv_loop_t loop;
      uv_loop_init(&loop);
      int good = 0;
      for (int i = 0; i < 25; ++i) {
        childproc::ExecOptions o;
        o.background_launch = true;
        childproc::exec_file(&loop, kHelper, {"out", "10"}, o,
                             [&good](const ExecError& e, std::string out, std::string) {
                               if (!e && out.size() == 10) ++good;
                             });
      }
      uv_run(&loop, UV_RUN_DEFAULT);
      if (uv_loop_close(&loop) == 0) ok += good;
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(ok == 100);
  CHECK(count_fds() == before);
}
