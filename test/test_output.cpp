// Reading a child's stdout and stderr: every byte, in order; close after both ends.
#include "support.hpp"

#include <fcntl.h>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::EndEvent;
using childproc::ExitEvent;

namespace {
constexpr std::size_t kMiB = 1024 * 1024;
}

TEST_CASE_METHOD(LoopFixture, "10 MiB on stdout and 10 MiB on stderr at once", "[output]") {
  const std::size_t total = 10 * kMiB;
  auto child = spawn_helper({"both", std::to_string(total)});
  PatternChecker out, err;
  std::vector<std::string> order;
  int out_ends = 0, err_ends = 0;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.feed(e.chunk); });
  child->std_err()->on<DataEvent>([&](const DataEvent& e) { err.feed(e.chunk); });
  child->std_out()->on<EndEvent>([&](const EndEvent&) {
    ++out_ends;
    order.push_back("stdout end");
  });
  child->std_err()->on<EndEvent>([&](const EndEvent&) {
    ++err_ends;
    order.push_back("stderr end");
  });
  child->on<ExitEvent>(
      [&](const ExitEvent& e) { order.push_back("exit " + str(e.code) + " " + sig(e.signal)); });
  child->on<CloseEvent>([&](const CloseEvent& e) {
    order.push_back("close " + str(e.code) + " " + sig(e.signal));
    // Every byte arrived before close.
    CHECK(out.size() == total);
    CHECK(err.size() == total);
  });
  run();

  CHECK(out.size() == total);
  CHECK(err.size() == total);
  CHECK_FALSE(out.first_mismatch().has_value());
  CHECK_FALSE(err.first_mismatch().has_value());
  CHECK(out_ends == 1);
  CHECK(err_ends == 1);
  REQUIRE(order.size() == 4);
  CHECK(order.back() == "close 0 null");
  CHECK(std::count(order.begin(), order.end(), "exit 0 null") == 1);
  CHECK(std::count(order.begin(), order.end(), "stdout end") == 1);
  CHECK(std::count(order.begin(), order.end(), "stderr end") == 1);
  CHECK_FALSE(child->std_out()->readable());
  CHECK_FALSE(child->std_err()->readable());
}

TEST_CASE_METHOD(LoopFixture, "a child writing 1 MiB that nobody reads still reaches close",
                 "[output]") {
  SECTION("stdout") {
    auto child = spawn_helper({"out", std::to_string(kMiB)});
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  }
  SECTION("stderr") {
    auto child = spawn_helper({"err", std::to_string(kMiB)});
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  }
  SECTION("both") {
    auto child = spawn_helper({"both", std::to_string(kMiB)});
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  }
}

TEST_CASE_METHOD(LoopFixture, "small outputs arrive exactly, then EndEvent, then CloseEvent",
                 "[output]") {
  auto child = spawn_helper({"argv", "hello", "world"});
  std::string text;
  std::vector<std::string> order;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { text.append(e.chunk); });
  child->std_out()->on<EndEvent>([&](const EndEvent&) { order.push_back("end"); });
  child->std_out()->on<CloseEvent>([&](const CloseEvent& e) {
    order.push_back("stream close");
    CHECK_FALSE(e.code.has_value());
    CHECK_FALSE(e.signal.has_value());
  });
  child->on<CloseEvent>([&](const CloseEvent&) { order.push_back("child close"); });
  run();
  CHECK(text == kHelper + "\nargv\nhello\nworld\n");
  CHECK(order == std::vector<std::string>{"end", "stream close", "child close"});
}

TEST_CASE_METHOD(LoopFixture, "empty output: EndEvent without DataEvent", "[output]") {
  auto child = spawn_helper({"exit", "0"});
  int data = 0, ends = 0;
  child->std_out()->on<DataEvent>([&](const DataEvent&) { ++data; });
  child->std_out()->on<EndEvent>([&](const EndEvent&) { ++ends; });
  run();
  CHECK(data == 0);
  CHECK(ends == 1);
}

TEST_CASE_METHOD(LoopFixture, "a listener attached after the first loop turn still gets data",
                 "[output]") {
  // pause() before returning to the loop holds the data for a listener attached later.
  auto child = spawn_helper({"out", "100000"});
  child->std_out()->pause();
  PatternChecker out;
  bool exited = false;
  child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) {
    child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.feed(e.chunk); });
    child->std_out()->resume();
  });
  child->on<ExitEvent>([&](const ExitEvent&) { exited = true; });
  run();
  CHECK(exited);
  CHECK(out.ok(100000));
}

// Output pipes are grown for throughput while this process is within its share of the
// per-user pipe budget (a fresh test process is); stdin keeps the kernel's default.
TEST_CASE_METHOD(LoopFixture, "stdout and stderr pipes are 256 KiB, stdin 64 KiB", "[output]") {
  auto child = spawn_helper({"exit", "0"});
  CHECK(::fcntl(child->std_out()->fd(), F_GETPIPE_SZ) == 256 * 1024);
  CHECK(::fcntl(child->std_err()->fd(), F_GETPIPE_SZ) == 256 * 1024);
  CHECK(::fcntl(child->std_in()->fd(), F_GETPIPE_SZ) == 64 * 1024);
  run();
}
