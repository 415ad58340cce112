// Writing to a child's stdin: bulk data, backpressure, end(), and writes to a child that is
// gone (EPIPE as an ErrorEvent, never a dead test process).
#include "support.hpp"

#include <signal.h>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::DrainEvent;
using childproc::ErrorEvent;
using childproc::ExitEvent;
using childproc::FinishEvent;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// SIGPIPE must still have its default disposition and must not be left pending (a
// pending, blocked SIGPIPE would kill the process when unblocked).
void check_sigpipe_untouched() {
  struct sigaction sa {};
  REQUIRE(sigaction(SIGPIPE, nullptr, &sa) == 0);
  CHECK(sa.sa_handler == SIG_DFL);
  sigset_t pending;
  sigemptyset(&pending);
  REQUIRE(sigpending(&pending) == 0);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "10 MiB written through cat comes back intact", "[stdin]") {
  const std::size_t total = 10 * kMiB;
  const std::size_t chunk = 256 * 1024;
  auto child = spawn_helper({"cat"});
  auto in = child->std_in();
  REQUIRE(in);
  PatternChecker back;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { back.feed(e.chunk); });

  std::size_t sent = 0;
  int drains = 0, finishes = 0, falses = 0;
  std::function<void()> pump = [&] {
    while (sent < total) {
      const std::size_t n = std::min(chunk, total - sent);
      const bool ok = in->write(pattern(sent, n));
      sent += n;
      if (!ok) {
        ++falses;
        return;  // wait for DrainEvent
      }
    }
    in->end();
  };
  in->on<DrainEvent>([&](const DrainEvent&) {
    ++drains;
    CHECK(in->writable_length() == 0);
    pump();
  });
  in->on<FinishEvent>([&](const FinishEvent&) { ++finishes; });
  EventLog log;
  log.attach(*child);
  pump();
  run();

  CHECK(sent == total);
  CHECK(back.size() == total);
  CHECK_FALSE(back.first_mismatch().has_value());
  CHECK(falses > 0);  // 256 KiB writes into a 64 KiB pipe must hit the high-water mark
  CHECK(drains == falses);
  CHECK(finishes == 1);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "write() returns false under backpressure, then DrainEvent",
                 "[stdin]") {
  auto child = spawn_helper({"cat"});
  auto in = child->std_in();
  REQUIRE(in);
  CHECK(in->high_water_mark() == 16 * 1024);
  PatternChecker back;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { back.feed(e.chunk); });
  int drains = 0;
  std::vector<std::string> order;
  int callbacks = 0;
  std::error_code cb_error = std::make_error_code(std::errc::io_error);
  in->on<DrainEvent>([&](const DrainEvent&) {
    ++drains;
    order.push_back("drain");
    CHECK(in->writable_length() == 0);
    in->end();
  });
  in->on<FinishEvent>([&](const FinishEvent&) { order.push_back("finish"); });

  // 1 MiB cannot fit in a pipe: most of it stays queued, far above 16 KiB.
  const bool ok = in->write(pattern(0, kMiB), [&](std::error_code ec) {
    ++callbacks;
    cb_error = ec;
    order.push_back("write cb");
  });
  CHECK_FALSE(ok);
  CHECK(in->writable_length() > in->high_water_mark());
  run();

  CHECK(drains == 1);
  CHECK(callbacks == 1);
  CHECK_FALSE(cb_error);
  // Node's order: 'drain' is emitted before the write's callback runs.
  CHECK(order == std::vector<std::string>{"drain", "write cb", "finish"});
  CHECK(back.ok(kMiB));
}

TEST_CASE_METHOD(LoopFixture, "a small write returns true; end() gives the child EOF", "[stdin]") {
  auto child = spawn_helper({"count-stdin"});
  auto in = child->std_in();
  REQUIRE(in);
  std::string out;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.append(e.chunk); });
  std::vector<std::string> stdin_events;
  in->on<FinishEvent>([&](const FinishEvent&) { stdin_events.push_back("finish"); });
  in->on<CloseEvent>([&](const CloseEvent&) { stdin_events.push_back("close"); });
  in->on<DrainEvent>([&](const DrainEvent&) { stdin_events.push_back("drain"); });
  EventLog log;
  log.attach(*child);

  CHECK(in->write(std::string_view("hello")));
  CHECK(in->write(std::string(" world")));
  in->end();
  CHECK_FALSE(in->writable());
  run();

  CHECK(out == "11\n");
  CHECK(stdin_events == std::vector<std::string>{"finish", "close"});
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "end(data) writes the data then EOF", "[stdin]") {
  auto child = spawn_helper({"cat"});
  std::string out;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.append(e.chunk); });
  child->std_in()->end("last words\n");
  run();
  CHECK(out == "last words\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "writing to a child that exited: EPIPE on the stream", "[stdin]") {
  auto child = spawn_helper({"exit", "0"});
  auto in = child->std_in();
  REQUIRE(in);
  std::vector<childproc::Error> errors;
  in->on<ErrorEvent>([&](const ErrorEvent& e) { errors.push_back(e.error); });
  int callbacks = 0;
  std::error_code cb_error;
  EventLog log;
  log.attach(*child);
  child->on<ExitEvent>([&](const ExitEvent&) {
    in->write(std::string(100000, 'x'), [&](std::error_code ec) {
      ++callbacks;
      cb_error = ec;
    });
  });
  run();

  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == std::errc::broken_pipe);
  CHECK(errors[0].message() == "write EPIPE");
  CHECK(childproc::code_name(errors[0].code) == "EPIPE");
  CHECK(callbacks == 1);
  CHECK(cb_error == std::errc::broken_pipe);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  check_sigpipe_untouched();
}

TEST_CASE_METHOD(LoopFixture, "writing to a child that closed its stdin: EPIPE, child lives on",
                 "[stdin]") {
  auto child = spawn_helper({"close-stdin"});
  auto in = child->std_in();
  REQUIRE(in);
  std::string out;
  std::vector<childproc::Error> errors;
  in->on<ErrorEvent>([&](const ErrorEvent& e) {
    errors.push_back(e.error);
    // The child is still running; end it.
    CHECK_FALSE(child->exit_code().has_value());
    CHECK(child->kill());
  });
  child->std_out()->on<DataEvent>([&](const DataEvent& e) {
    out.append(e.chunk);
    if (out == "closed\n") in->write(std::string(1000, 'y'));
  });
  EventLog log;
  log.attach(*child);
  run();

  CHECK(out == "closed\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == std::errc::broken_pipe);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
  check_sigpipe_untouched();
}

TEST_CASE_METHOD(LoopFixture, "EPIPE with no ErrorEvent listener goes to the UnhandledHandler",
                 "[stdin]") {
  auto child = spawn_helper({"exit", "0"});
  auto in = child->std_in();
  REQUIRE(in);
  REQUIRE(in->listener_count<ErrorEvent>() == 0);
  child->on<ExitEvent>([&](const ExitEvent&) { in->write(std::string(100000, 'x')); });
  run();

  const auto messages = take_unhandled();
  REQUIRE(messages.size() == 1);
  CHECK_THAT(messages[0], Catch::Contains("write EPIPE"));
  CHECK(child->exit_code() == 0);
  check_sigpipe_untouched();
}

TEST_CASE_METHOD(LoopFixture, "a write after end() writes nothing and reports EPIPE", "[stdin]") {
  auto child = spawn_helper({"count-stdin"});
  auto in = child->std_in();
  std::string out;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.append(e.chunk); });
  std::vector<childproc::Error> errors;
  in->on<ErrorEvent>([&](const ErrorEvent& e) { errors.push_back(e.error); });
  int callbacks = 0;
  std::error_code cb_error;
  in->end();
  in->write(std::string_view("late"), [&](std::error_code ec) {
    ++callbacks;
    cb_error = ec;
  });
  run();

  CHECK(out == "0\n");
  CHECK(callbacks == 1);
  CHECK(cb_error == std::errc::broken_pipe);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == std::errc::broken_pipe);
}

TEST_CASE_METHOD(LoopFixture, "destroy() cancels queued writes and closes stdin", "[stdin]") {
  // The child never reads, so 1 MiB stays queued.
  auto child = spawn_helper({"sleep", "20000"});
  auto in = child->std_in();
  int callbacks = 0;
  std::error_code cb_error;
  std::vector<std::string> order;
  in->on<CloseEvent>([&](const CloseEvent&) {
    order.push_back("stdin close");
    child->kill();
  });
  in->on<ErrorEvent>([&](const ErrorEvent& e) { order.push_back("error " + e.error.message()); });
  child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) {
    CHECK_FALSE(in->write(pattern(0, kMiB), [&](std::error_code ec) {
      ++callbacks;
      cb_error = ec;
    }));
    in->destroy();
    CHECK(in->closed());
    CHECK(in->fd() == -1);
  });
  run();

  CHECK(callbacks == 1);
  CHECK(cb_error == std::errc::operation_canceled);
  REQUIRE_FALSE(order.empty());
  CHECK(order.back() == "stdin close");
  CHECK(child->signal_code() == SIGTERM);
}

// A write after the stream closed fails from the loop, not inside write(), and the
// ErrorEvent comes once however often the listener writes again (Node emits 'error'
// once per stream): before, a listener that wrote again recursed until the stack ran out.
TEST_CASE_METHOD(LoopFixture, "writes after close: callbacks from the loop, one ErrorEvent",
                 "[stdin]") {
  auto child = spawn_helper({"exit", "0"});
  auto in = child->std_in();
  int errors = 0;
  int callbacks = 0;
  bool inside_write = false;
  in->on<childproc::ErrorEvent>([&](const childproc::ErrorEvent& e) {
    CHECK_FALSE(inside_write);
    CHECK(e.error.code == std::errc::broken_pipe);
    ++errors;
    if (errors < 5) in->write("again");  // must not recurse or emit again
  });
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent&) {
    REQUIRE(in->closed());
    inside_write = true;
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(in->write("late", [&](std::error_code ec) {
        CHECK(ec == std::errc::broken_pipe);
        ++callbacks;
      }));
    }
    inside_write = false;
    CHECK(callbacks == 0);  // not called from inside write()
  });
  run();
  CHECK(errors == 1);
  CHECK(callbacks == 3);
}

// A child that exits without reading what the parent sent on an fd-3 socketpair resets
// the connection; what it wrote before is still delivered, then ECONNRESET (as Node).
// The child exits only once the parent's bytes are waiting for it: a child gone before
// the write would make it a write EPIPE instead.
TEST_CASE_METHOD(LoopFixture, "fd 3 socket reset: data first, then ECONNRESET", "[stdin]") {
  childproc::SpawnOptions opts;
  opts.stdio = {childproc::Stdio::pipe(), childproc::Stdio::pipe(), childproc::Stdio::pipe(),
                childproc::Stdio::pipe()};
  auto child = spawn_helper({"echo-fd-wait", "3", "hello"}, opts);
  auto fd3 = child->stdio(3);
  REQUIRE(fd3);
  fd3->write("never read\n");
  fd3->pause();  // resumed at exit, after the reset is certain
  std::string got;
  std::vector<std::string> errors;
  fd3->on<DataEvent>([&](const DataEvent& e) { got += e.chunk; });
  fd3->on<childproc::ErrorEvent>(
      [&](const childproc::ErrorEvent& e) { errors.push_back(e.error.message()); });
  std::optional<int> code;
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent& e) { code = e.code; });
  run();
  CHECK(got == "hello");
  CHECK(errors == std::vector<std::string>{"read ECONNRESET"});
  CHECK(code == 0);
}
