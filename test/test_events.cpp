// The ChildProcess's events, their order and the properties they leave behind.
#include "support.hpp"

#include <signal.h>

using namespace cptest;
using childproc::ChildProcess;
using childproc::CloseEvent;
using childproc::ExitEvent;
using childproc::SpawnEvent;

TEST_CASE_METHOD(LoopFixture, "exit 0: spawn, then exit and close with (0, null)", "[events]") {
  auto child = spawn_helper({"exit", "0"});
  REQUIRE(child);
  REQUIRE(child->pid().has_value());
  CHECK(*child->pid() > 0);
  CHECK(child->spawnfile() == kHelper);
  CHECK(child->spawnargs() == std::vector<std::string>{kHelper, "exit", "0"});
  CHECK_FALSE(child->exit_code().has_value());
  CHECK_FALSE(child->signal_code().has_value());

  // Nothing is emitted from inside spawn(): listeners attached afterwards see it all.
  EventLog log;
  log.attach(*child);
  std::vector<std::string> order;
  child->std_out()->on<CloseEvent>([&](const CloseEvent&) { order.push_back("stdout close"); });
  child->std_err()->on<CloseEvent>([&](const CloseEvent&) { order.push_back("stderr close"); });
  child->on<CloseEvent>([&](const CloseEvent&) { order.push_back("child close"); });
  run();

  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK(child->exit_code() == 0);
  CHECK_FALSE(child->signal_code().has_value());
  CHECK_FALSE(child->killed());
  CHECK_FALSE(child->timed_out());
  // close comes after both readable stdio streams closed.
  REQUIRE(order.size() == 3);
  CHECK(order[2] == "child close");
}

TEST_CASE_METHOD(LoopFixture, "exit code 42 is reported as 42", "[events]") {
  auto child = spawn_helper({"exit", "42"});
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 42 null", "close 42 null"});
  CHECK(child->exit_code() == 42);
  CHECK_FALSE(child->signal_code().has_value());
  CHECK_FALSE(child->killed());
}

TEST_CASE_METHOD(LoopFixture, "stdio streams exist for pipes only", "[events]") {
  auto child = spawn_helper({"exit", "0"});
  CHECK(child->std_in() != nullptr);
  CHECK(child->std_out() != nullptr);
  CHECK(child->std_err() != nullptr);
  CHECK(child->stdio(0) == child->std_in());
  CHECK(child->stdio(1) == child->std_out());
  CHECK(child->stdio(2) == child->std_err());
  CHECK(child->stdio(3) == nullptr);
  CHECK(child->stdio(1000) == nullptr);
  CHECK(child->std_out()->readable());
  CHECK(child->std_in()->writable());
  run();
}

TEST_CASE_METHOD(LoopFixture, "a child killed by us reports (null, signal) and killed()",
                 "[events]") {
  SECTION("SIGTERM, the default") {
    auto child = spawn_helper({"sleep", "20000"});
    EventLog log;
    log.attach(*child);
    bool sent = false;
    child->on<SpawnEvent>([&](const SpawnEvent&) { sent = child->kill(); });
    run();
    CHECK(sent);
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK_FALSE(child->exit_code().has_value());
    CHECK(child->signal_code() == SIGTERM);
    CHECK(child->killed());
    CHECK_FALSE(child->timed_out());
  }
  SECTION("SIGKILL by name") {
    auto child = spawn_helper({"sleep", "20000"});
    EventLog log;
    log.attach(*child);
    bool sent = false;
    child->on<SpawnEvent>([&](const SpawnEvent&) { sent = child->kill("SIGKILL"); });
    run();
    CHECK(sent);
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(child->signal_code() == SIGKILL);
    CHECK(child->killed());
  }
  SECTION("SIGKILL by lower-case name and by number") {
    auto a = spawn_helper({"sleep", "20000"});
    auto b = spawn_helper({"sleep", "20000"});
    EventLog la, lb;
    la.attach(*a);
    lb.attach(*b);
    a->on<SpawnEvent>([&](const SpawnEvent&) { CHECK(a->kill("sigkill")); });
    b->on<SpawnEvent>([&](const SpawnEvent&) { CHECK(b->kill(SIGKILL)); });
    run();
    CHECK(la.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(lb.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(a->killed());
    CHECK(b->killed());
  }
}

TEST_CASE_METHOD(LoopFixture, "a child that kills itself: signal reported, killed() false",
                 "[events]") {
  SECTION("SIGTERM") {
    auto child = spawn_helper({"kill-self", std::to_string(SIGTERM)});
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK(child->signal_code() == SIGTERM);
    CHECK_FALSE(child->exit_code().has_value());
    CHECK_FALSE(child->killed());
  }
  SECTION("SIGKILL") {
    auto child = spawn_helper({"kill-self", std::to_string(SIGKILL)});
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(child->signal_code() == SIGKILL);
    CHECK_FALSE(child->killed());
  }
}

TEST_CASE_METHOD(LoopFixture, "kill() after close returns false and sends nothing", "[events]") {
  auto child = spawn_helper({"exit", "3"});
  bool closed = false;
  child->on<CloseEvent>([&](const CloseEvent&) { closed = true; });
  run();
  REQUIRE(closed);
  CHECK_FALSE(child->kill());
  CHECK_FALSE(child->kill(SIGKILL));
  CHECK_FALSE(child->killed());
  CHECK(child->exit_code() == 3);
}

TEST_CASE_METHOD(LoopFixture, "kill() between exit and close returns false", "[events]") {
  // The grandchild keeps stdout open, so there is a window between exit and close.
  auto child = spawn_helper({"grandchild"});
  int grandchild = 0;
  bool kill_result = true;
  std::string buf;
  child->std_out()->on<childproc::DataEvent>(
      [&](const childproc::DataEvent& e) { buf.append(e.chunk); });
  bool exited = false;
  // Once exited and the grandchild's pid is known, end the grandchild so close can come.
  auto maybe_finish = [&] {
    if (exited && grandchild == 0 && buf.find('\n') != std::string::npos) {
      grandchild = std::stoi(buf);
      ::kill(grandchild, SIGKILL);
    }
  };
  child->std_out()->on<childproc::DataEvent>([&](const childproc::DataEvent&) { maybe_finish(); });
  child->on<ExitEvent>([&](const ExitEvent&) {
    exited = true;
    kill_result = child->kill();
    maybe_finish();
  });
  run();
  CHECK_FALSE(kill_result);
  CHECK_FALSE(child->killed());
  CHECK(grandchild > 0);
}

TEST_CASE_METHOD(LoopFixture, "ExitEvent and CloseEvent: one each, several listeners", "[events]") {
  auto child = spawn_helper({"exit", "5"});
  int spawn1 = 0, spawn2 = 0, exits = 0, closes = 0, once_exit = 0;
  child->on<SpawnEvent>([&](const SpawnEvent&) { ++spawn1; });
  child->on<SpawnEvent>([&](const SpawnEvent&) { ++spawn2; });
  child->on<ExitEvent>([&](const ExitEvent& e) {
    ++exits;
    CHECK(e.code == 5);
  });
  child->once<ExitEvent>([&](const ExitEvent&) { ++once_exit; });
  child->on<CloseEvent>([&](const CloseEvent& e) {
    ++closes;
    CHECK(e.code == 5);
    CHECK_FALSE(e.signal.has_value());
  });
  CHECK(child->listener_count<SpawnEvent>() == 2);
  run();
  CHECK(spawn1 == 1);
  CHECK(spawn2 == 1);
  CHECK(exits == 1);
  CHECK(once_exit == 1);
  CHECK(closes == 1);
  CHECK(child->listener_count<ExitEvent>() == 1);
}
