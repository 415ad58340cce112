// EventEmitter: on/once/off/listener_count, listeners changing the list during an emit,
// exceptions from listeners going to the UnhandledHandler.
#include "support.hpp"

#include <stdexcept>

using namespace cptest;
using childproc::ListenerId;

namespace {

struct Ping {
  int value;
};
struct Pong {};

class Emitter : public childproc::EventEmitter<Ping, Pong> {
public:
  using EventEmitter::emit;
};

// Captures the UnhandledHandler's messages for one test, then restores the handler.
class CaptureUnhandled {
public:
  CaptureUnhandled() {
    previous_ =
        childproc::set_unhandled_handler([this](std::string_view m) { messages.emplace_back(m); });
  }
  ~CaptureUnhandled() { childproc::set_unhandled_handler(std::move(previous_)); }
  std::vector<std::string> messages;

private:
  childproc::UnhandledHandler previous_;
};

}  // namespace

TEST_CASE("on: every listener, in order, on every emit", "[emitter]") {
  Emitter em;
  std::vector<std::string> calls;
  em.on<Ping>([&](const Ping& p) { calls.push_back("a" + std::to_string(p.value)); });
  em.on<Ping>([&](const Ping& p) { calls.push_back("b" + std::to_string(p.value)); });
  em.on<Pong>([&](const Pong&) { calls.push_back("pong"); });
  CHECK(em.listener_count<Ping>() == 2);
  CHECK(em.listener_count<Pong>() == 1);
  CHECK(em.emit(Ping{1}) == 2);
  CHECK(em.emit(Ping{2}) == 2);
  CHECK(em.emit(Pong{}) == 1);
  CHECK(calls == std::vector<std::string>{"a1", "b1", "a2", "b2", "pong"});
}

TEST_CASE("emit with no listener returns 0", "[emitter]") {
  Emitter em;
  CHECK(em.emit(Ping{1}) == 0);
  CHECK(em.listener_count<Ping>() == 0);
}

TEST_CASE("once: called for the next event only", "[emitter]") {
  Emitter em;
  int once = 0, always = 0;
  em.once<Ping>([&](const Ping&) { ++once; });
  em.on<Ping>([&](const Ping&) { ++always; });
  CHECK(em.listener_count<Ping>() == 2);
  CHECK(em.emit(Ping{1}) == 2);
  CHECK(em.listener_count<Ping>() == 1);
  CHECK(em.emit(Ping{2}) == 1);
  CHECK(once == 1);
  CHECK(always == 2);
}

TEST_CASE("off: removes by id, once", "[emitter]") {
  Emitter em;
  int a = 0, b = 0;
  ListenerId ia = em.on<Ping>([&](const Ping&) { ++a; });
  ListenerId ib = em.on<Pong>([&](const Pong&) { ++b; });
  CHECK(ia != ib);
  CHECK(em.off(ia));
  CHECK_FALSE(em.off(ia));
  CHECK(em.listener_count<Ping>() == 0);
  CHECK(em.listener_count<Pong>() == 1);
  em.emit(Ping{1});
  em.emit(Pong{});
  CHECK(a == 0);
  CHECK(b == 1);
  CHECK_FALSE(em.off(12345));
  // A once listener that already ran is gone.
  ListenerId io = em.once<Pong>([](const Pong&) {});
  em.emit(Pong{});
  CHECK_FALSE(em.off(io));
}

TEST_CASE("remove_all_listeners removes one event's listeners", "[emitter]") {
  Emitter em;
  em.on<Ping>([](const Ping&) {});
  em.on<Ping>([](const Ping&) {});
  em.on<Pong>([](const Pong&) {});
  em.remove_all_listeners<Ping>();
  CHECK(em.listener_count<Ping>() == 0);
  CHECK(em.listener_count<Pong>() == 1);
  CHECK(em.emit(Ping{0}) == 0);
}

TEST_CASE("a listener that removes itself and adds another during emit", "[emitter]") {
  Emitter em;
  std::vector<std::string> calls;
  ListenerId self = 0;
  self = em.on<Ping>([&](const Ping& p) {
    calls.push_back("self" + std::to_string(p.value));
    CHECK(em.off(self));
    em.on<Ping>([&](const Ping& q) { calls.push_back("added" + std::to_string(q.value)); });
  });
  em.on<Ping>([&](const Ping& p) { calls.push_back("second" + std::to_string(p.value)); });

  CHECK(em.emit(Ping{1}) == 2);  // the added listener is not called by this emit
  CHECK(em.listener_count<Ping>() == 2);
  CHECK(em.emit(Ping{2}) == 2);
  CHECK(calls == std::vector<std::string>{"self1", "second1", "second2", "added2"});
}

TEST_CASE("a listener that removes a later listener during emit", "[emitter]") {
  // This emitter's documented rule: a removed listener is not called any more, even by
  // the emit in progress.
  Emitter em;
  std::vector<std::string> calls;
  ListenerId later = 0;
  em.on<Ping>([&](const Ping&) {
    calls.push_back("first");
    em.off(later);
  });
  later = em.on<Ping>([&](const Ping&) { calls.push_back("later"); });
  CHECK(em.emit(Ping{1}) == 1);
  CHECK(calls == std::vector<std::string>{"first"});
  CHECK(em.listener_count<Ping>() == 1);
}

TEST_CASE("a listener that emits again (nested emit) and adds many listeners", "[emitter]") {
  Emitter em;
  std::vector<int> seen;
  em.on<Ping>([&](const Ping& p) {
    seen.push_back(p.value);
    if (p.value == 1) {
      // Growing the list must not move the running listener.
      for (int i = 0; i < 100; ++i)
        em.on<Ping>([](const Ping&) {});
      em.emit(Ping{2});
    }
  });
  em.emit(Ping{1});
  CHECK(seen == std::vector<int>{1, 2});
  CHECK(em.listener_count<Ping>() == 101);
}

TEST_CASE("an exception in a listener goes to the UnhandledHandler", "[emitter]") {
  CaptureUnhandled capture;
  Emitter em;
  int after = 0;
  em.on<Ping>([](const Ping&) { throw std::runtime_error("boom in listener"); });
  em.on<Ping>([&](const Ping&) { ++after; });
  CHECK_NOTHROW(em.emit(Ping{1}));
  CHECK(after == 1);  // the next listener still runs
  REQUIRE(capture.messages.size() == 1);
  CHECK_THAT(capture.messages[0], Catch::Contains("boom in listener"));

  em.on<Pong>([](const Pong&) { throw 42; });
  CHECK_NOTHROW(em.emit(Pong{}));
  CHECK(capture.messages.size() == 2);
}

TEST_CASE("set_unhandled_handler returns the previous handler", "[emitter]") {
  std::vector<std::string> first, second;
  auto original =
      childproc::set_unhandled_handler([&](std::string_view m) { first.emplace_back(m); });
  auto prev = childproc::set_unhandled_handler([&](std::string_view m) { second.emplace_back(m); });
  REQUIRE(prev);
  prev("via previous");
  CHECK(first == std::vector<std::string>{"via previous"});
  childproc::detail::report_unhandled("to current");
  CHECK(second == std::vector<std::string>{"to current"});
  childproc::set_unhandled_handler(std::move(original));
}

TEST_CASE_METHOD(LoopFixture, "an exception in a ChildProcess listener is contained", "[emitter]") {
  auto child = spawn_helper({"exit", "0"});
  int closes = 0;
  child->on<childproc::ExitEvent>(
      [](const childproc::ExitEvent&) { throw std::runtime_error("listener threw on exit"); });
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent&) { ++closes; });
  run();
  CHECK(closes == 1);
  const auto messages = take_unhandled();
  REQUIRE(messages.size() == 1);
  CHECK_THAT(messages[0], Catch::Contains("listener threw on exit"));
}
