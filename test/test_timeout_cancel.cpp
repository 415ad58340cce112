// timeout + kill_signal, and cancellation through a std::stop_token.
#include "support.hpp"

#include <signal.h>

#include <stop_token>
#include <thread>

using namespace cptest;
using childproc::ErrorEvent;
using childproc::SpawnEvent;
using childproc::SpawnOptions;

TEST_CASE_METHOD(LoopFixture, "timeout kills with SIGTERM by default", "[timeout]") {
  SpawnOptions opts;
  opts.timeout = 100ms;
  auto child = spawn_helper({"sleep", "20000"}, opts);
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
  CHECK(child->timed_out());
  CHECK(child->killed());
  CHECK(child->signal_code() == SIGTERM);
  CHECK_FALSE(child->exit_code().has_value());
}

TEST_CASE_METHOD(LoopFixture, "timeout kills with the chosen kill_signal", "[timeout]") {
  SECTION("\"SIGKILL\" for a child that ignores SIGTERM") {
    SpawnOptions opts;
    opts.timeout = 100ms;
    opts.kill_signal = "SIGKILL";
    auto child = spawn_helper({"ignore-term", "20000"}, opts);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGKILL", "close null SIGKILL"});
    CHECK(child->timed_out());
    CHECK(child->killed());
    CHECK(child->signal_code() == SIGKILL);
  }
  SECTION("SIGINT by number") {
    SpawnOptions opts;
    opts.timeout = 100ms;
    opts.kill_signal = SIGINT;
    auto child = spawn_helper({"sleep", "20000"}, opts);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGINT", "close null SIGINT"});
    CHECK(child->timed_out());
    CHECK(child->signal_code() == SIGINT);
  }
}

TEST_CASE_METHOD(LoopFixture, "a timeout that does not expire changes nothing", "[timeout]") {
  SpawnOptions opts;
  opts.timeout = 10s;
  const auto start = std::chrono::steady_clock::now();
  auto child = spawn_helper({"exit", "0"}, opts);
  EventLog log;
  log.attach(*child);
  run();
  // The timer must not keep the loop alive once the child closed.
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK_FALSE(child->timed_out());
  CHECK_FALSE(child->killed());
}

TEST_CASE_METHOD(LoopFixture, "a stop requested from another thread kills and errors once",
                 "[cancel]") {
  std::stop_source source;
  SpawnOptions opts;
  opts.stop_token = source.get_token();
  SECTION("default kill_signal") {
    auto child = spawn_helper({"sleep", "20000"}, opts);
    EventLog log;
    log.attach(*child);
    child->on<SpawnEvent>([&](const SpawnEvent&) {
      std::thread t([&] { source.request_stop(); });
      t.join();
    });
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "error The operation was aborted",
                                                 "exit null SIGTERM", "close null SIGTERM"});
    REQUIRE(log.errors.size() == 1);
    CHECK(log.errors[0].code == childproc::errc::aborted);
    CHECK(childproc::code_name(log.errors[0].code) == "ABORT_ERR");
    CHECK(child->killed());
    CHECK_FALSE(child->timed_out());
    CHECK(child->signal_code() == SIGTERM);
  }
  SECTION("kill_signal SIGKILL") {
    opts.kill_signal = "SIGKILL";
    auto child = spawn_helper({"ignore-term", "20000"}, opts);
    EventLog log;
    log.attach(*child);
    child->on<SpawnEvent>([&](const SpawnEvent&) {
      std::thread t([&] { source.request_stop(); });
      t.join();
    });
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "error The operation was aborted",
                                                 "exit null SIGKILL", "close null SIGKILL"});
    CHECK(child->signal_code() == SIGKILL);
  }
}

TEST_CASE_METHOD(LoopFixture, "a stop already requested before spawn kills at once", "[cancel]") {
  std::stop_source source;
  source.request_stop();
  SpawnOptions opts;
  opts.stop_token = source.get_token();
  auto child = spawn_helper({"sleep", "20000"}, opts);
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "error The operation was aborted",
                                               "exit null SIGTERM", "close null SIGTERM"});
  CHECK(child->killed());
}

TEST_CASE_METHOD(LoopFixture, "a stop token never stopped, or stopped after close, does nothing",
                 "[cancel]") {
  std::stop_source source;
  SpawnOptions opts;
  opts.stop_token = source.get_token();
  auto child = spawn_helper({"exit", "4"}, opts);
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 4 null", "close 4 null"});
  std::thread t([&] { source.request_stop(); });
  t.join();
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 4 null", "close 4 null"});
  CHECK_FALSE(child->killed());
}
