// IPC between real peers, with the C++ child always ipc_helper (parent_channel()):
//  - a Node parent (test/js/parent_*.js run by node): message order, multi-byte text,
//    1 MiB, handles the child must NACK, NODE_CHANNEL_FD other than 3, and messages
//    the child sends on its own;
//  - a C++ parent (spawn() with Stdio::ipc()): 10,000 messages in order, 8 MiB,
//    disconnect and exit, what parent_channel() does to the environment and the fd,
//    and what keeps the child's loop alive.
#include "ipc_support.hpp"

#include <sstream>

#ifndef IPC_HELPER
#error "IPC_HELPER (the path of ipc_helper) must be defined"
#endif

using namespace cptest;
using childproc::ChildProcess;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::DisconnectEvent;
using childproc::Env;
using childproc::ErrorEvent;
using childproc::ExitEvent;
using childproc::MessageEvent;
using childproc::SpawnEvent;
using childproc::SpawnOptions;
using childproc::Stdio;

namespace {

const std::string kIpcHelper = IPC_HELPER;

SpawnOptions with_stdio(std::vector<Stdio> stdio) {
  SpawnOptions o;
  o.stdio = std::move(stdio);
  return o;
}

// Three pipes and the channel on fd 3, as fork() with silent: true.
SpawnOptions with_ipc() {
  return with_stdio({Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()});
}

// Removes every listener of its children when the test body ends, before the
// fixture's clean-up runs the loop again (it does after a watchdog stop): those
// listeners refer to the test's locals, gone by then. Declare it first.
class Quiet {
public:
  Quiet() = default;
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;
  ~Quiet() {
    for (auto& w : children_) {
      auto c = w.lock();
      if (!c) continue;
      c->remove_all_listeners<SpawnEvent>();
      c->remove_all_listeners<MessageEvent>();
      c->remove_all_listeners<DisconnectEvent>();
      c->remove_all_listeners<ExitEvent>();
      c->remove_all_listeners<CloseEvent>();
      c->remove_all_listeners<ErrorEvent>();
      for (std::size_t i = 0; i < 3; ++i) {
        if (c->stdio(i)) c->stdio(i)->remove_all_listeners<DataEvent>();
      }
    }
  }
  std::shared_ptr<ChildProcess> operator()(std::shared_ptr<ChildProcess> c) {
    children_.push_back(c);
    return c;
  }

private:
  std::vector<std::weak_ptr<ChildProcess>> children_;
};

// A child's events in one ordered list: "spawn", "message <json>" (long ones as their
// size), "disconnect", "exit 0 null", "close 0 null", "error <message>"; its stdout and
// stderr apart.
struct Peer {
  std::vector<std::string> events;
  std::vector<std::string> messages;
  std::vector<childproc::Error> errors;
  std::string out, err;

  void attach(ChildProcess& c, bool log_messages = true) {
    c.on<SpawnEvent>([this](const SpawnEvent&) { events.push_back("spawn"); });
    c.on<MessageEvent>([this, log_messages](const MessageEvent& m) {
      messages.push_back(m.json);
      if (!log_messages) {
        // Runs of messages as one entry, "messages 1000": order against the rest stays.
        if (events.empty() || events.back().rfind("messages ", 0) != 0) {
          events.push_back("messages 1");
        } else {
          events.back() = "messages " + std::to_string(std::stoul(events.back().substr(9)) + 1);
        }
        return;
      }
      events.push_back(m.json.size() <= 200
                           ? "message " + m.json
                           : "message (" + std::to_string(m.json.size()) + " bytes)");
    });
    c.on<DisconnectEvent>([this](const DisconnectEvent&) { events.push_back("disconnect"); });
    c.on<ExitEvent>([this](const ExitEvent& e) {
      events.push_back("exit " + str(e.code) + " " + sig(e.signal));
    });
    c.on<CloseEvent>([this](const CloseEvent& e) {
      events.push_back("close " + str(e.code) + " " + sig(e.signal));
    });
    c.on<ErrorEvent>([this](const ErrorEvent& e) {
      events.push_back("error " + e.error.message());
      errors.push_back(e.error);
    });
    if (c.std_out()) {
      c.std_out()->on<DataEvent>([this](const DataEvent& e) { out.append(e.chunk); });
    }
    if (c.std_err()) {
      c.std_err()->on<DataEvent>([this](const DataEvent& e) { err.append(e.chunk); });
    }
  }

  std::string describe() const {
    std::ostringstream s;
    s << "events:";
    for (std::size_t i = 0; i < events.size() && i < 40; ++i)
      s << "\n  " << events[i].substr(0, 200);
    if (events.size() > 40) s << "\n  ... " << events.size() << " in all";
    s << "\nstdout: " << out << "\nstderr: " << err;
    return s.str();
  }
};

// The events of a child that sent `messages` and then ended well.
std::vector<std::string> ended_well(const std::vector<std::string>& messages = {}) {
  std::vector<std::string> v{"spawn"};
  for (const auto& m : messages)
    v.push_back("message " + m);
  v.insert(v.end(), {"disconnect", "exit 0 null", "close 0 null"});
  return v;
}

// The same for `n` messages recorded without their text.
std::vector<std::string> ended_well(std::size_t n) {
  std::vector<std::string> v{"spawn"};
  if (n > 0) v.push_back("messages " + std::to_string(n));
  v.insert(v.end(), {"disconnect", "exit 0 null", "close 0 null"});
  return v;
}

// Where `got` first differs from `want` ("" when equal), for large lists.
std::string first_difference(const std::vector<std::string>& got,
                             const std::vector<std::string>& want) {
  for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (got[i] != want[i]) {
      return "#" + std::to_string(i) + ": got " + got[i].substr(0, 100) + ", want " +
             want[i].substr(0, 100);
    }
  }
  if (got.size() != want.size()) {
    return std::to_string(got.size()) + " entries, want " + std::to_string(want.size());
  }
  return "";
}

bool node_missing() {
  if (kNode.empty()) {
    WARN("node not found: the test with a Node parent is skipped");
    return true;
  }
  return false;
}

// Runs `node TEST_JS_DIR/<script> IPC_HELPER` on the fixture's loop, to its close.
void run_node(LoopFixture& f, Quiet& quiet, const std::string& script, Peer& p) {
  auto child = quiet(f.track(childproc::spawn(f.loop(), kNode, {js(script), kIpcHelper})));
  p.attach(*child);
  f.run(45s);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// A Node parent

TEST_CASE_METHOD(LoopFixture, "Node parent, C++ child: messages come back in order and intact",
                 "[ipc-peers][node]") {
  if (node_missing()) return;
  Quiet quiet;
  Peer p;
  run_node(*this, quiet, "parent_echo.js", p);
  INFO(p.describe());
  CHECK(p.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  // The script also checks the helper's account: it saw every message (but Node's
  // internal ones) and the disconnect, ended by itself, and leaked no fd.
  CHECK(p.out == "parent_echo: ok\n");
}

TEST_CASE_METHOD(LoopFixture, "Node parent sends handles: the C++ child NACKs, messages go on",
                 "[ipc-peers][node]") {
  if (node_missing()) return;
  Quiet quiet;
  Peer p;
  run_node(*this, quiet, "parent_handle.js", p);
  INFO(p.describe());
  CHECK(p.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK_THAT(p.out, Catch::Contains("parent_handle: ok"));
  // Five handle messages arrived with an fd each: none of those fds stayed open.
  CHECK_THAT(p.out, Catch::Contains("echo: 3 messages, disconnected, leaked=0"));
}

TEST_CASE_METHOD(LoopFixture, "Node parent with other stdio layouts: NODE_CHANNEL_FD 0, 3, 4, 5",
                 "[ipc-peers][node]") {
  if (node_missing()) return;
  Quiet quiet;
  Peer p;
  run_node(*this, quiet, "parent_layouts.js", p);
  INFO(p.describe());
  CHECK(p.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK_THAT(p.out, Catch::Contains("parent_layouts: ok"));
}

TEST_CASE_METHOD(LoopFixture, "Node parent receives: N messages in order, refusals stay local",
                 "[ipc-peers][node]") {
  if (node_missing()) return;
  Quiet quiet;
  Peer p;
  run_node(*this, quiet, "parent_count.js", p);
  INFO(p.describe());
  CHECK(p.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK_THAT(p.out, Catch::Contains("parent_count: ok"));
}

// ---------------------------------------------------------------------------------------
// A C++ parent: messages

TEST_CASE_METHOD(LoopFixture, "C++ parent and child: 10,000 messages ping-pong in order",
                 "[ipc-peers]") {
  Quiet quiet;
  constexpr int kCount = 10000;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"echo"}, with_ipc())));
  ChildProcess* c = child.get();
  const auto msg = [](int i) {
    return "{\"i\":" + std::to_string(i) + ",\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}";
  };
  int next = 0;
  std::string mismatch;
  child->on<MessageEvent>([&, c](const MessageEvent& m) {
    if (!mismatch.empty()) return;
    if (m.json != msg(next)) {
      mismatch = "message " + std::to_string(next) + " came back as " + m.json;
      c->disconnect();
      return;
    }
    if (++next == kCount) {
      c->disconnect();
    } else {
      c->send(msg(next));
    }
  });
  Peer p;
  p.attach(*child, false);
  child->send(msg(0));
  run();

  INFO(p.describe());
  CHECK(mismatch.empty());
  CHECK(next == kCount);
  CHECK(p.events == ended_well(kCount));
  CHECK(p.out == "echo: 10000 messages, disconnected, leaked=0\n");
}

TEST_CASE_METHOD(LoopFixture, "C++ parent and child: a burst of 10,000 messages, all in order",
                 "[ipc-peers]") {
  Quiet quiet;
  constexpr int kCount = 10000;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"echo"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child, false);
  child->on<MessageEvent>([&p, c](const MessageEvent&) {
    if (p.messages.size() == kCount) c->disconnect();
  });
  // Shared: send callbacks may outlive this body (they run at the channel's close).
  struct Callbacks {
    int count = 0;
    std::error_code first_error;
  };
  auto cbs = std::make_shared<Callbacks>();
  std::vector<std::string> sent;
  for (int i = 0; i < kCount; ++i) {
    sent.push_back(seq_message(i) + std::string(static_cast<std::size_t>(i % 50), ' '));
    child->send(sent.back(), [cbs](std::error_code ec) {
      ++cbs->count;
      if (ec && !cbs->first_error) cbs->first_error = ec;
    });
  }
  run();

  INFO(p.describe());
  CHECK(cbs->count == kCount);
  CHECK_FALSE(cbs->first_error);
  CHECK(first_difference(p.messages, sent) == "");
  CHECK(p.events == ended_well(kCount));
  CHECK(p.out == "echo: 10000 messages, disconnected, leaked=0\n");
}

TEST_CASE_METHOD(LoopFixture, "C++ parent and child: an 8 MiB message both ways", "[ipc-peers]") {
  Quiet quiet;
  std::string body;
  for (int i = 0; body.size() < 8 * 1024 * 1024; ++i) {
    body += "abc\\\"\\\\\\u00e9\\ud800\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ";
    body += std::to_string(i);
  }
  const std::string big = "{\"big\":\"" + body + "\"}";
  REQUIRE_FALSE(childproc::check_message(big).has_value());

  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"echo"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  child->on<MessageEvent>([&p, c](const MessageEvent&) {
    if (p.messages.size() == 2) c->disconnect();
  });
  auto callbacks = std::make_shared<std::vector<std::string>>();
  const auto record = [callbacks](std::string what) {
    return [callbacks, what](std::error_code ec) {
      callbacks->push_back(what + " " + (ec ? childproc::code_name(ec) : std::string("ok")));
    };
  };
  // Far above the 128 KiB mark: queued, and send() says so.
  CHECK_FALSE(child->send(big, record("big")));
  // Still above the mark: the big one is queued before it.
  CHECK_FALSE(child->send("{\"after\":\"big\"}", record("after")));
  run();

  INFO(p.describe());
  CHECK(*callbacks == std::vector<std::string>{"big ok", "after ok"});
  REQUIRE(p.messages.size() == 2);
  CHECK(p.messages[0].size() == big.size());
  CHECK(p.messages[0] == big);
  CHECK(p.messages[1] == "{\"after\":\"big\"}");
  CHECK(p.events == std::vector<std::string>{"spawn",
                                             "message (" + std::to_string(big.size()) + " bytes)",
                                             "message {\"after\":\"big\"}", "disconnect",
                                             "exit 0 null", "close 0 null"});
  CHECK(p.out == "echo: 2 messages, disconnected, leaked=0\n");
}

// ---------------------------------------------------------------------------------------
// Disconnect and exit

TEST_CASE_METHOD(LoopFixture, "disconnect() from the parent: the C++ child exits 0 by itself",
                 "[ipc-peers]") {
  Quiet quiet;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"echo"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  auto after = std::make_shared<std::vector<std::string>>();
  child->on<MessageEvent>([after, c](const MessageEvent&) {
    CHECK(c->connected());
    c->disconnect();
    CHECK_FALSE(c->connected());
    // Too late now: the callback says so, no ErrorEvent.
    CHECK_FALSE(c->send(
        "\"late\"", [after](std::error_code ec) { after->push_back(childproc::code_name(ec)); }));
  });
  CHECK(child->connected());
  child->send("\"hello\"");
  run();

  INFO(p.describe());
  CHECK(*after == std::vector<std::string>{"ERR_IPC_CHANNEL_CLOSED"});
  CHECK(p.events == ended_well({"\"hello\""}));
  CHECK(p.out == "echo: 1 messages, disconnected, leaked=0\n");
  CHECK_FALSE(child->connected());
}

TEST_CASE_METHOD(LoopFixture,
                 "count N: N messages in order, then DisconnectEvent, ExitEvent, CloseEvent",
                 "[ipc-peers]") {
  Quiet quiet;
  constexpr int kCount = 1000;
  std::vector<std::string> args{"count", std::to_string(kCount)};
  SECTION("the child calls disconnect()") {}
  SECTION("the child just exits once its messages are written") {
    // No listener and no disconnect(): its loop must end by itself.
    args.push_back("exit");
  }
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, args, with_ipc())));
  Peer p;
  p.attach(*child, false);
  run(10s);

  INFO(p.describe());
  std::vector<std::string> expected;
  for (int i = 0; i < kCount; ++i)
    expected.push_back(seq_message(i));
  CHECK(first_difference(p.messages, expected) == "");
  CHECK(p.events == ended_well(kCount));
  CHECK(p.out == "count: sent " + std::to_string(kCount) + "\n");
}

TEST_CASE_METHOD(LoopFixture, "the child's send() refusals stay in the child", "[ipc-peers]") {
  Quiet quiet;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"bad"}, with_ipc())));
  Peer p;
  p.attach(*child);
  run(15s);

  INFO(p.describe());
  CHECK(p.events == ended_well({"{\"after\":\"bad\"}"}));
  CHECK(p.out ==
        "returns 00010\n"
        "callback after ok\n"
        "callback closed ERR_IPC_CHANNEL_CLOSED\n"
        "callback invalid ERR_INVALID_ARG_VALUE\n"
        "callback newline ERR_INVALID_ARG_VALUE\n"
        "event ERR_INVALID_ARG_VALUE\n"
        "event ERR_IPC_DISCONNECTED\n");
}

// ---------------------------------------------------------------------------------------
// parent_channel() and the environment

TEST_CASE_METHOD(LoopFixture, "parent_channel() clears NODE_CHANNEL_*, sets CLOEXEC and O_NONBLOCK",
                 "[ipc-peers]") {
  Quiet quiet;
  SpawnOptions opts;
  std::string fd;
  SECTION("channel on fd 3") {
    opts = with_ipc();
    fd = "3";
  }
  SECTION("channel on fd 4") {
    opts = with_stdio({Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()});
    fd = "4";
  }
  SECTION("channel on fd 0") {
    opts = with_stdio({Stdio::ipc(), Stdio::pipe(), Stdio::pipe()});
    fd = "0";
  }
  SECTION("channel on fd 6, after ignored slots") {
    opts = with_stdio({Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ignore(),
                       Stdio::ignore(), Stdio::ignore(), Stdio::ipc()});
    fd = "6";
  }
  SECTION("stale NODE_CHANNEL_* in options.env are replaced") {
    opts = with_ipc();
    opts.env = Env{{"NODE_CHANNEL_FD", "42"}, {"NODE_CHANNEL_SERIALIZATION_MODE", "advanced"}};
    fd = "3";
  }
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"env"}, opts)));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  child->on<MessageEvent>([&p, c](const MessageEvent&) {
    if (p.messages.size() == 1) c->send("\"ping\"");
    if (p.messages.size() == 2) c->disconnect();
  });
  run(15s);

  INFO(p.describe());
  const std::string report = "{\"fd\":\"" + fd +
                             "\",\"NODE_CHANNEL_FD\":\"unset\","
                             "\"NODE_CHANNEL_SERIALIZATION_MODE\":\"unset\",\"cloexec\":true,"
                             "\"nonblock\":true,\"second\":null,\"grandchild\":\"unset unset\"}";
  CHECK(p.events == ended_well({report, "\"ping\""}));
  CHECK(p.out == "fd=" + fd +
                     " NODE_CHANNEL_FD=unset NODE_CHANNEL_SERIALIZATION_MODE=unset cloexec=1 "
                     "nonblock=1 second=null grandchild=unset unset\n"
                     "echo: 1 messages, disconnected, leaked=0\n");
}

TEST_CASE_METHOD(LoopFixture, "parent_channel() without a usable channel: null or InvalidArgument",
                 "[ipc-peers]") {
  Quiet quiet;
  SpawnOptions opts;
  std::string first_line;
  std::string detail;
  SECTION("no channel: null") {
    first_line = "null";
  }
  SECTION("NODE_CHANNEL_FD is empty: null, as Node") {
    opts.env = Env{{"NODE_CHANNEL_FD", ""}};
    first_line = "null";
  }
  SECTION("NODE_CHANNEL_FD is not a number") {
    opts.env = Env{{"NODE_CHANNEL_FD", "abc"}};
    first_line = "invalid ERR_INVALID_ARG_VALUE: ";
    detail = "'abc'";
  }
  SECTION("NODE_CHANNEL_FD is negative") {
    opts.env = Env{{"NODE_CHANNEL_FD", "-1"}};
    first_line = "invalid ERR_INVALID_ARG_VALUE: ";
    detail = "'-1'";
  }
  SECTION("NODE_CHANNEL_FD names a pipe") {
    opts.env = Env{{"NODE_CHANNEL_FD", "1"}};
    first_line = "invalid ERR_INVALID_ARG_VALUE: ";
    detail = "socket";
  }
  SECTION("NODE_CHANNEL_FD names a closed fd") {
    opts.env = Env{{"NODE_CHANNEL_FD", "200"}};
    first_line = "invalid ERR_INVALID_ARG_VALUE: ";
    detail = "socket";
  }
  SECTION("a socket, but NODE_CHANNEL_SERIALIZATION_MODE=advanced") {
    // A pipe on fd 3 is a socketpair: only the serialization is wrong.
    opts = with_stdio({Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pipe()});
    opts.env = Env{{"NODE_CHANNEL_FD", "3"}, {"NODE_CHANNEL_SERIALIZATION_MODE", "advanced"}};
    first_line = "invalid ERR_INVALID_ARG_VALUE: ";
    detail = "advanced";
  }
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"none"}, opts)));
  Peer p;
  p.attach(*child);
  run(15s);

  INFO(p.describe());
  CHECK(p.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  const auto nl = p.out.find('\n');
  REQUIRE(nl != std::string::npos);
  const std::string line = p.out.substr(0, nl);
  CHECK(line.substr(0, first_line.size()) == first_line);
  if (!detail.empty()) CHECK_THAT(line, Catch::Contains(detail));
  // Removed even when they were unusable, so a grandchild does not trip over them.
  CHECK(p.out.substr(nl + 1) ==
        "after: NODE_CHANNEL_FD=unset NODE_CHANNEL_SERIALIZATION_MODE=unset\n");
}

// ---------------------------------------------------------------------------------------
// What keeps the child's loop alive: MessageEvent/DisconnectEvent listeners, not the
// channel itself.

TEST_CASE_METHOD(LoopFixture, "no listeners: the child sends, then its loop ends by itself",
                 "[ipc-peers][keep-alive]") {
  Quiet quiet;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"listeners"}, with_ipc())));
  Peer p;
  p.attach(*child);
  // The parent never disconnects: only the child's own exit can end this.
  run(15s);

  INFO(p.describe());
  CHECK(p.events == ended_well({"{\"hello\":\"no listeners\"}"}));
  CHECK(p.out == "loop ended, sent ok, connected=1\n");
}

TEST_CASE_METHOD(LoopFixture, "a MessageEvent listener keeps the child alive until disconnect",
                 "[ipc-peers][keep-alive]") {
  Quiet quiet;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"listen"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  child->on<MessageEvent>([&p, c](const MessageEvent& m) {
    // After "ready" the child has nothing left to write: only its listener holds it.
    if (m.json == "\"ready\"") c->send("{\"n\":1}");
    if (p.messages.size() == 2) c->send("{\"n\":2}");
    if (p.messages.size() == 3) c->disconnect();
  });
  run(15s);

  INFO(p.describe());
  CHECK(p.events == ended_well({"\"ready\"", "{\"pong\":1,\"got\":{\"n\":1}}",
                                "{\"pong\":2,\"got\":{\"n\":2}}"}));
  CHECK(p.out == "disconnected\nloop ended\n");
}

TEST_CASE_METHOD(LoopFixture, "a DisconnectEvent listener alone keeps the child alive too",
                 "[ipc-peers][keep-alive]") {
  Quiet quiet;
  auto child =
      quiet(track(childproc::spawn(loop(), kIpcHelper, {"disconnect-listener"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  bool exited_early = false;
  child->on<ExitEvent>([&](const ExitEvent&) { exited_early = c->connected(); });
  child->on<MessageEvent>([c](const MessageEvent&) {
    // The child has nothing left to write after "ready": only its DisconnectEvent
    // listener holds it. One more message first (it has no MessageEvent listener, so
    // it is dropped), then the disconnect it must see.
    c->send("\"are you there?\"", [c](std::error_code) {
      if (c->connected()) c->disconnect();
    });
  });
  run(15s);

  INFO(p.describe());
  CHECK_FALSE(exited_early);
  CHECK(p.events == ended_well({"\"ready\""}));
  CHECK(p.out == "disconnected\nloop ended\n");
}

TEST_CASE_METHOD(LoopFixture, "once(): after its one message the child's loop ends by itself",
                 "[ipc-peers][keep-alive]") {
  Quiet quiet;
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {"once"}, with_ipc())));
  ChildProcess* c = child.get();
  Peer p;
  p.attach(*child);
  child->on<MessageEvent>([c](const MessageEvent& m) {
    if (m.json == "\"ready\"") c->send("{\"n\":1}");
  });
  // No disconnect from here: the child must go when its once() listener is gone.
  run(15s);

  INFO(p.describe());
  CHECK(p.events == ended_well({"\"ready\"", "{\"got\":{\"n\":1}}"}));
  CHECK(p.out == "loop ended, 1 message(s)\n");
}

TEST_CASE_METHOD(LoopFixture, "off() or Channel::unref(): the child's loop ends by itself",
                 "[ipc-peers][keep-alive]") {
  Quiet quiet;
  std::string mode;
  SECTION("the listener removed with off()") {
    mode = "off";
  }
  SECTION("listeners, but unref()") {
    mode = "unref";
  }
  auto child = quiet(track(childproc::spawn(loop(), kIpcHelper, {mode}, with_ipc())));
  Peer p;
  p.attach(*child);
  run(15s);

  INFO(p.describe());
  CHECK(p.events == ended_well({"\"ready\""}));
  CHECK(p.out == "loop ended\n");
}
