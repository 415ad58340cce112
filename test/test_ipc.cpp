// IPC with real Node children: a C++ parent (fork(), or spawn() with Stdio::ipc()) and
// node's process.send()/process.on('message') at the other end. Order, size, UTF-8
// split across reads, the disconnect in both directions, the order of disconnect, exit
// and close, the channel's hold on the loop, and send()'s backpressure signal.
#include "ipc_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>

using namespace cptest;
using childproc::ChildProcess;
using childproc::DisconnectEvent;
using childproc::ExitEvent;
using childproc::ForkOptions;
using childproc::MessageEvent;
using childproc::SpawnEvent;
using childproc::SpawnOptions;
using childproc::Stdio;

namespace {

// Offset of the first byte where `a` and `b` differ (the shorter one's size when one is
// a prefix of the other), or npos when they are equal: a readable result for big texts.
std::size_t first_difference(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return a.size() == b.size() ? std::string::npos : n;
}

// A JSON text of about `size` bytes that JSON.stringify(JSON.parse(text)) gives back
// byte for byte: an object holding one string made of ASCII, the escapes JSON.stringify
// itself writes (\" \\ \n \t) and raw multi-byte characters.
std::string big_message(std::size_t size) {
  static const char* const tokens[] = {"a",   "b",   "q",      "z",      " ",
                                       "0",   "9",   "~",      "\\\"",   "\\\\",
                                       "\\n", "\\t", "\u00e9", "\u20ac", "\U0001D11E"};
  constexpr std::size_t kTokens = sizeof tokens / sizeof tokens[0];
  std::string s = "{\"big\":\"";
  std::uint32_t x = 12345;
  while (s.size() < size - 2) {
    x = x * 1103515245u + 12345u;
    s += tokens[(x >> 16) % kTokens];
  }
  s += "\"}";
  return s;
}

// child_utf8.js's text(k): k 'a's, then 6400 times a unit of 32 bytes of 2-, 3- and
// mostly 4-byte characters.
std::string utf8_text(int k) {
  const std::string unit =
      "\U0001D11E\U0001F600\U0002070E\U0001D11E\U0001F600\U0002070E\u00e9\u20ac\u4e2d";
  std::string s(static_cast<std::size_t>(k), 'a');
  s.reserve(s.size() + unit.size() * 6400);
  for (int i = 0; i < 6400; ++i)
    s += unit;
  return s;
}

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
};

FileId file_id(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return {st.st_dev, st.st_ino};
}

// child_fds.js's report for one fd, as JSON.stringify writes it.
std::string fd_report(FileId id, bool fifo) {
  return "{\"dev\":\"" + std::to_string(id.dev) + "\",\"ino\":\"" + std::to_string(id.ino) +
         "\",\"fifo\":" + (fifo ? "true" : "false") + "}";
}

bool is_fifo(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "ping-pong: 10,000 messages come back in order", "[ipc]") {
  REQUIRE_NODE();
  constexpr int kCount = 10000;
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  int replies = 0;
  int wrong = 0;
  std::string first_wrong;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    if (m.json != seq_message(replies) && wrong++ == 0) {
      first_wrong = "reply " + std::to_string(replies) + " was " + m.json;
    }
    ++replies;
    if (replies < kCount) {
      child->send(seq_message(replies));
    } else {
      child->disconnect();
    }
  });
  IpcLog log;
  log.attach(*child);
  child->on<DisconnectEvent>([&](const DisconnectEvent&) { log.events.push_back("disconnect"); });
  child->send(seq_message(0));
  run();

  CHECK(replies == kCount);
  CHECK(wrong == 0);
  CHECK(first_wrong == "");
  // The child counted what it received before it saw the disconnect.
  CHECK(out == "disconnect 10000\n");
  CHECK(log.events == Events{"spawn", "disconnect", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "an 8 MiB message goes there and back intact", "[ipc]") {
  REQUIRE_NODE();
  const std::string big = big_message(8 * 1024 * 1024);
  REQUIRE(big.size() >= 8 * 1024 * 1024 - 4);
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach(*child);
  std::vector<std::string> replies;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    replies.push_back(m.json);
    if (replies.size() == 1) child->send("{\"op\":\"count\"}");
    if (replies.size() == 2) child->disconnect();
  });
  int callbacks = 0;
  std::error_code cb_error = std::make_error_code(std::errc::io_error);
  child->send(big, [&](std::error_code ec) {
    ++callbacks;
    cb_error = ec;
  });
  run();

  REQUIRE(replies.size() == 2);
  CHECK(replies[0].size() == big.size());
  CHECK(first_difference(replies[0], big) == std::string::npos);
  // The child got it as one message (and nothing else).
  CHECK(replies[1] == "{\"count\":2,\"internal\":0}");
  CHECK(callbacks == 1);
  CHECK_FALSE(cb_error);
  CHECK(out == "disconnect 2\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "multi-byte UTF-8 split across reads arrives intact both ways",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_utf8.js", {}, silent());
  std::string err;
  collect(child->std_err(), err);
  std::vector<std::string> got;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    got.push_back(m.json);
    if (got.size() == 8) {
      // Back to node: the parent's own copy of each text.
      for (int k = 0; k < 4; ++k)
        child->send("\"" + utf8_text(k) + "\"");
    }
    if (got.size() == 12) child->disconnect();
  });
  IpcLog log;
  log.attach(*child);
  run();

  REQUIRE(got.size() == 12);
  for (int k = 0; k < 4; ++k) {
    INFO("text " << k);
    const std::string expected = "\"" + utf8_text(k) + "\"";
    CHECK(expected.size() == 204802 + static_cast<std::size_t>(k));
    // Exactly what node's JSON.stringify wrote, with its byte count from node itself.
    const std::string& text = got[2 * static_cast<std::size_t>(k)];
    CHECK(text.size() == expected.size());
    CHECK(first_difference(text, expected) == std::string::npos);
    CHECK(got[2 * static_cast<std::size_t>(k) + 1] ==
          "{\"k\":" + std::to_string(k) + ",\"bytes\":" + std::to_string(expected.size()) + "}");
    // And node read the parent's copy as the same string.
    CHECK(got[8 + static_cast<std::size_t>(k)] ==
          "{\"k\":" + std::to_string(k) +
              ",\"equal\":true,\"bytes\":" + std::to_string(expected.size()) + "}");
  }
  CHECK(err == "");
  CHECK(log.events == Events{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "messages sent just before exit come before ExitEvent", "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_last_words.js");
  IpcLog log;
  log.attach_ipc(*child);
  run();

  CHECK(log.events == Events{"spawn", "message {\"last\":1}", "message {\"last\":2}",
                             "message {\"last\":3}", "disconnect", "exit 7 null", "close 7 null"});
}

TEST_CASE_METHOD(LoopFixture, "a child that just exits: disconnect, exit, close in that order",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_exit.js", {"3"});
  CHECK(child->connected());
  IpcLog log;
  log.attach_ipc(*child);
  child->on<SpawnEvent>([&](const SpawnEvent&) { CHECK(child->connected()); });
  child->on<ExitEvent>([&](const ExitEvent&) { CHECK_FALSE(child->connected()); });
  child->on<childproc::CloseEvent>(
      [&](const childproc::CloseEvent&) { CHECK_FALSE(child->connected()); });
  run();

  CHECK(log.events == Events{"spawn", "disconnect", "exit 3 null", "close 3 null"});
  CHECK_FALSE(child->connected());
}

TEST_CASE_METHOD(LoopFixture,
                 "disconnect() from the parent: DisconnectEvent here, 'disconnect' in the child",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  int disconnects_in_call = -1;
  int disconnects = 0;
  child->on<DisconnectEvent>([&](const DisconnectEvent&) { ++disconnects; });
  child->on<MessageEvent>([&](const MessageEvent&) {
    CHECK(child->connected());
    child->disconnect();
    CHECK_FALSE(child->connected());
    disconnects_in_call = disconnects;  // DisconnectEvent comes from the loop, not from here
  });
  CHECK(child->connected());
  child->send("{\"hello\":\"world\"}");
  run();

  CHECK(disconnects_in_call == 0);
  CHECK(disconnects == 1);
  CHECK(out == "disconnect 1\n");
  CHECK(log.events == Events{"spawn", "message {\"hello\":\"world\"}", "disconnect", "exit 0 null",
                             "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "process.disconnect() in the child: DisconnectEvent here", "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  child->send("{\"op\":\"disconnect\"}");
  run();

  CHECK(out == "disconnect 1\n");
  CHECK(log.events == Events{"spawn", "disconnect", "exit 0 null", "close 0 null"});
  CHECK_FALSE(child->connected());
}

TEST_CASE_METHOD(LoopFixture, "send() callbacks: success, once each, in order, from the loop",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  std::vector<std::string> calls;
  for (int i = 0; i < 3; ++i) {
    CHECK(child->send(seq_message(i), [&calls, i](std::error_code ec) {
      calls.push_back(std::to_string(i) + (ec ? " " + ec.message() : " ok"));
    }));
  }
  CHECK(calls.empty());
  int replies = 0;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    CHECK(m.json == seq_message(replies));
    if (++replies == 3) child->disconnect();
  });
  run();

  CHECK(calls == Events{"0 ok", "1 ok", "2 ok"});
  CHECK(replies == 3);
  CHECK(out == "disconnect 3\n");
}

TEST_CASE_METHOD(LoopFixture, "fork() silent: pipes on std_in/std_out/std_err", "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_fds.js", {}, silent());
  REQUIRE(child->std_in());
  REQUIRE(child->std_out());
  REQUIRE(child->std_err());
  // The child's fd i is the other end of the parent's pipe i: the same pipe inode.
  std::string expected = "{\"fds\":[";
  for (int fd = 0; fd < 3; ++fd) {
    const int parent_end = child->stdio(static_cast<std::size_t>(fd))->fd();
    CHECK(is_fifo(parent_end));
    expected += (fd > 0 ? "," : "") + fd_report(file_id(parent_end), true);
  }
  expected += "]}";
  CHECK(child->stdio(3) == nullptr);  // the IPC slot has no stream
  std::string err;
  collect(child->std_err(), err);
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  run();

  CHECK(log.messages == Events{expected});
  CHECK(err == "");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "fork() not silent: the child inherits fds 0, 1 and 2", "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_fds.js");
  CHECK(child->std_in() == nullptr);
  CHECK(child->std_out() == nullptr);
  CHECK(child->std_err() == nullptr);
  std::string expected = "{\"fds\":[";
  for (int fd = 0; fd < 3; ++fd)
    expected += (fd > 0 ? "," : "") + fd_report(file_id(fd), is_fifo(fd));
  expected += "]}";
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  run();

  CHECK(log.messages == Events{expected});
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "fork(): exec_argv and args reach node", "[ipc]") {
  REQUIRE_NODE();
  ForkOptions o = silent();
  o.exec_argv = {"--max-old-space-size=64", "--no-deprecation"};
  auto child = fork_js(*this, "child_echo.js", {"a b", "--flag", "\u00e9", ""}, o);
  CHECK(child->spawnargs() == Events{kNode, "--max-old-space-size=64", "--no-deprecation",
                                     js("child_echo.js"), "a b", "--flag", "\u00e9", ""});
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  child->send("{\"op\":\"info\"}");
  run();

  // process.argv.slice(2), process.execArgv, process.channel.fd, and NODE_CHANNEL_FD,
  // which node removes from process.env once it has opened the channel.
  CHECK(log.messages ==
        Events{"{\"argv\":[\"a b\",\"--flag\",\"\u00e9\",\"\"],\"execArgv\":[\"--max-old-space-"
               "size=64\",\"--no-deprecation\"],\"channelFd\":3,\"envFd\":null}"});
  CHECK(out == "disconnect 1\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "spawn() with Stdio::ipc() on fd 4: NODE_CHANNEL_FD=4, and it works",
                 "[ipc]") {
  REQUIRE_NODE();
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ignore(), Stdio::ipc()};
  auto child = track(childproc::spawn(loop(), kNode, {js("child_echo.js"), "x"}, o));
  CHECK(child->connected());
  CHECK(child->stdio(3) == nullptr);
  CHECK(child->stdio(4) == nullptr);
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent&) {
    if (log.messages.size() == 2) child->disconnect();
  });
  child->send("{\"op\":\"info\"}");
  child->send("[\"echo\",4]");
  run();

  CHECK(log.messages == Events{"{\"argv\":[\"x\"],\"execArgv\":[],\"channelFd\":4,\"envFd\":null}",
                               "[\"echo\",4]"});
  CHECK(out == "disconnect 2\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "spawn() with Stdio::ipc(): the child's environment names the fd",
                 "[ipc]") {
  // No node needed: a shell shows the two variables the child gets.
  SpawnOptions o;
  o.stdio = {Stdio::ignore(), Stdio::pipe(), Stdio::pipe(), Stdio::ignore(), Stdio::ipc()};
  o.env = childproc::Env{{"PATH", "/usr/bin:/bin"},
                         {"NODE_CHANNEL_FD", "9"},
                         {"NODE_CHANNEL_SERIALIZATION_MODE", "advanced"}};
  auto child = track(childproc::spawn(
      loop(), "/bin/sh",
      {"-c", "echo \"$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE\"; env | grep -c ^NODE_"},
      o));
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  run();

  // Stale values given in env are replaced, not doubled.
  CHECK(out == "4 json\n2\n");
  CHECK(log.events == Events{"spawn", "disconnect", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "the open channel alone keeps the loop alive until disconnect()",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  // Neither the process nor its pipes keep the loop alive now: only the channel.
  child->unref();
  child->ref_channel();
  // An unref'd timer fires only if something else keeps the loop running that long.
  struct Probe {
    uv_timer_t timer{};
    bool fired = false;
    std::shared_ptr<ChildProcess> child;
  } probe;
  probe.child = child;
  uv_timer_init(loop(), &probe.timer);
  probe.timer.data = &probe;
  uv_unref(reinterpret_cast<uv_handle_t*>(&probe.timer));
  uv_timer_start(
      &probe.timer,
      [](uv_timer_t* t) {
        auto* p = static_cast<Probe*>(t->data);
        p->fired = true;
        CHECK(p->child->connected());
        p->child->disconnect();
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
      },
      300, 0);
  run();

  CHECK(probe.fired);
  if (!probe.fired) {
    uv_close(reinterpret_cast<uv_handle_t*>(&probe.timer), nullptr);
    child->disconnect();
  }
  // The process was unref'd: it may not be reaped yet. Let the loop wait for it.
  child->ref();
  run();
  CHECK(out == "disconnect 0\n");
  CHECK(log.events == Events{"spawn", "disconnect", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "unref_channel() lets the loop end while the child is connected",
                 "[ipc]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  child->unref();
  child->ref_channel();
  child->on<MessageEvent>([&](const MessageEvent&) { child->unref_channel(); });
  child->send("\"hello\"");
  run(10s);

  // run() returned with the child alive and the channel open.
  CHECK(log.events == Events{"spawn", "message \"hello\""});
  CHECK(child->connected());
  CHECK_FALSE(child->exit_code().has_value());
  // Clean up: the echo child leaves once disconnected; wait for it.
  child->ref();
  child->disconnect();
  run();
  CHECK(out == "disconnect 1\n");
  CHECK(log.events ==
        Events{"spawn", "message \"hello\"", "disconnect", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "send() returns false once 128 KiB is queued, then all is delivered",
                 "[ipc]") {
  REQUIRE_NODE();
  // The child reads nothing from the channel until it gets a line on stdin.
  auto child = fork_js(*this, "child_block.js", {}, silent());
  std::string err;
  collect(child->std_err(), err);
  IpcLog log;
  log.attach_ipc(*child);
  const std::string message = "\"" + std::string(16 * 1024 - 3, 'x') + "\"";  // + '\n': 16 KiB
  constexpr std::size_t kLimit = 64 * 1024 * 1024;
  std::size_t sent = 0;
  int trues = 0;
  std::vector<int> callbacks;
  int failures = 0;
  auto cb = [&](int i) {
    return [&callbacks, &failures, i](std::error_code ec) {
      callbacks.push_back(i);
      if (ec) ++failures;
    };
  };
  int n = 0;
  while (sent < kLimit) {
    const bool ok = child->send(message, cb(n++));
    sent += message.size() + 1;
    if (!ok) break;
    ++trues;
  }
  REQUIRE(sent < kLimit);  // it did return false
  // Whatever the kernel took, 7 messages (112 KiB) queued are below the threshold.
  CHECK(trues >= 7);
  // While nothing is written, the queue only grows: false again.
  CHECK_FALSE(child->send(message, cb(n++)));
  CHECK_FALSE(child->send("{\"op\":\"count\"}", cb(n++)));
  CHECK(callbacks.empty());
  child->std_in()->write("go\n");
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  run();

  CHECK(log.messages == Events{"{\"count\":" + std::to_string(n) + "}"});
  REQUIRE(callbacks.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    if (callbacks[static_cast<std::size_t>(i)] != i) {
      FAIL_CHECK("callback " << i << " came as number " << callbacks[static_cast<std::size_t>(i)]);
      break;
    }
  }
  CHECK(failures == 0);
  CHECK(err == "");
  CHECK(child->exit_code() == 0);
}
