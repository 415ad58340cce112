// IPC bad input, both ways: send() of text that is not one JSON message (refused, nothing
// written: the Node child, which would crash on it, still answers), send() and
// disconnect() on a closed channel, a Node child writing malformed lines, a handle, or a
// partial line before dying, options fork()/spawn() must refuse, and a child killed
// during a burst. Never a crash or a hang; no fd leaks (the fixture counts them).
#include "ipc_support.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <stdexcept>

using namespace cptest;
using childproc::DisconnectEvent;
using childproc::errc;
using childproc::ErrorEvent;
using childproc::ForkOptions;
using childproc::InvalidArgument;
using childproc::MessageEvent;
using childproc::SpawnOptions;
using childproc::Stdio;

namespace {

// Runs `fn`, which must throw InvalidArgument with Node's `code`. A child
// started by mistake is tracked so the fixture ends it.
template <typename F>
void check_invalid(LoopFixture& fx, F&& fn, const std::string& code) {
  try {
    auto child = fn();
    if (child) {
      fx.track(child);
      child->kill(SIGKILL);
    }
    FAIL_CHECK("no exception was thrown");
  } catch (const InvalidArgument& e) {
    CHECK(e.code() == code);
  } catch (const std::exception& e) {
    FAIL_CHECK("unexpected exception type: " << e.what());
  }
}

// Texts send() must refuse, each with why.
const std::vector<std::pair<std::string, std::string>>& not_messages() {
  static const std::vector<std::pair<std::string, std::string>> v = {
      {"{\"a\":", "invalid JSON"},
      {"1 2", "two JSON values"},
      {"[1,\n2]", "valid JSON with a raw newline"},
      {"\"a\nb\"", "a raw newline inside a string"},
      {"", "empty text"},
      {"  ", "only whitespace"},
      {"\"\xff\"", "invalid UTF-8"},
      {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":1}", "an internal message"},
      {"{\"cmd\":\"NODE_X\"}", "another internal message"},
  };
  return v;
}

}  // namespace

TEST_CASE_METHOD(LoopFixture,
                 "send() of a text that is not one message: invalid_message, nothing written",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out, err;
  collect(child->std_out(), out);
  collect(child->std_err(), err);
  IpcLog log;
  log.attach_ipc(*child);
  std::vector<std::string> results;
  for (const auto& [text, why] : not_messages()) {
    INFO(why);
    const bool ok = child->send(text, [&results, why = why](std::error_code ec) {
      results.push_back(why + ": " +
                        (ec == errc::invalid_message ? "invalid_message"
                         : ec                        ? ec.message()
                                                     : "sent"));
    });
    CHECK_FALSE(ok);
  }
  CHECK(results.empty());  // the callbacks come from the loop
  // The child answers a valid message: it got only that one (node would have died on
  // most of the others, and counted an internal one).
  child->send("{\"op\":\"count\"}");
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  run();

  Events expected;
  for (const auto& [text, why] : not_messages())
    expected.push_back(why + ": invalid_message");
  CHECK(results == expected);
  CHECK(log.messages == Events{"{\"count\":1,\"internal\":0}"});
  CHECK(log.errors.empty());
  CHECK(out == "disconnect 1\n");
  CHECK(err == "");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "send() refused without a callback: an ErrorEvent, never a throw",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  for (const auto& [text, why] : not_messages()) {
    INFO(why);
    CHECK_FALSE(child->send(text));
  }
  CHECK(log.errors.empty());  // from the loop
  child->send("{\"op\":\"count\"}");
  child->on<MessageEvent>([&](const MessageEvent&) { child->disconnect(); });
  run();

  REQUIRE(log.errors.size() == not_messages().size());
  for (const auto& e : log.errors) {
    CHECK(e.code == errc::invalid_message);
    CHECK(e.message().find("not sent") != std::string::npos);
  }
  CHECK(log.messages == Events{"{\"count\":1,\"internal\":0}"});
  CHECK(out == "disconnect 1\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "an ErrorEvent nobody listens to goes to the unhandled sink",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  CHECK_FALSE(child->send("1 2"));
  child->send("{\"op\":\"count\"}");
  std::vector<std::string> messages;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    messages.push_back(m.json);
    child->disconnect();
  });
  run();

  const auto unhandled = take_unhandled();
  REQUIRE(unhandled.size() == 1);
  CHECK(unhandled[0].find("'1 2'") != std::string::npos);  // the refused text is shown
  CHECK(messages == Events{"{\"count\":1,\"internal\":0}"});
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "send() callbacks come in the order of the calls, refusals included",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  std::vector<std::string> calls;
  auto record = [&calls](std::string what) {
    return [&calls, what](std::error_code ec) {
      calls.push_back(what + ": " +
                      (ec == errc::invalid_message ? "invalid_message"
                       : ec                        ? ec.message()
                                                   : "sent"));
    };
  };
  // As Node, where each send() callback is queued with process.nextTick by the call.
  CHECK(child->send("1", record("first")));
  CHECK_FALSE(child->send("1 2", record("second")));
  CHECK(child->send("2", record("third")));
  std::vector<std::string> replies;
  child->on<MessageEvent>([&](const MessageEvent& m) {
    replies.push_back(m.json);
    if (replies.size() == 2) child->disconnect();
  });
  run();

  CHECK(calls == Events{"first: sent", "second: invalid_message", "third: sent"});
  CHECK(replies == Events{"1", "2"});
  CHECK(out == "disconnect 2\n");
}

TEST_CASE_METHOD(LoopFixture,
                 "after disconnect(): send() gives channel_closed, disconnect() gives disconnected",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  std::vector<std::string> results;
  auto record = [&results](std::string what) {
    return [&results, what](std::error_code ec) {
      results.push_back(what + ": " +
                        (ec == errc::channel_closed ? "channel_closed"
                         : ec                       ? ec.message()
                                                    : "sent"));
    };
  };
  CHECK(child->send("\"before\"", record("before")));
  child->disconnect();
  CHECK_FALSE(child->send("\"after\"", record("after, with a callback")));
  CHECK_FALSE(child->send("\"after\""));  // no callback: an ErrorEvent
  CHECK_FALSE(child->send("1 2", record("invalid, after")));
  child->disconnect();  // again: an ErrorEvent (Node's ERR_IPC_DISCONNECTED)
  run();

  // What was sent before the disconnect was written first, as the child's count shows.
  CHECK(out == "disconnect 1\n");
  std::sort(results.begin(), results.end());  // the order is another test's business
  CHECK(results == Events{"after, with a callback: channel_closed", "before: sent",
                          "invalid, after: channel_closed"});
  REQUIRE(log.errors.size() == 2);
  CHECK(log.errors[0].code == errc::channel_closed);
  CHECK(log.errors[1].code == errc::disconnected);
  CHECK(log.count("disconnect") == 1);
  CHECK(log.messages.empty());  // nothing is delivered after disconnect()
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "after the child disconnected: send() gives channel_closed",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  std::string out;
  collect(child->std_out(), out);
  IpcLog log;
  log.attach_ipc(*child);
  std::vector<std::string> results;
  child->on<DisconnectEvent>([&](const DisconnectEvent&) {
    CHECK_FALSE(child->send("\"late\"", [&](std::error_code ec) {
      results.push_back(ec == errc::channel_closed ? "channel_closed" : ec.message());
    }));
    child->disconnect();
  });
  child->send("{\"op\":\"disconnect\"}");
  run();

  CHECK(results == Events{"channel_closed"});
  REQUIRE(log.errors.size() == 1);
  CHECK(log.errors[0].code == errc::disconnected);
  CHECK(log.count("disconnect") == 1);
  CHECK(out == "disconnect 1\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture,
                 "malformed lines from the child: ErrorEvent each, later messages still arrive",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_raw.js", {}, silent());
  std::string err;
  collect(child->std_err(), err);
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent& m) {
    if (m.json == "\"after\"") child->disconnect();
  });
  run();

  Events got = log.events;
  for (auto& e : got) {
    if (e.rfind("error ", 0) == 0) e = "error";
  }
  // One error per bad line ('not json', '', two invalid UTF-8, and '[1,2' before a good
  // line in the same write); the internal message is dropped without one.
  CHECK(got == Events{"spawn", "error", "error", "error", "error", "error",
                      "message {\"in\":\"one write\"}", "message \"after\"", "disconnect",
                      "exit 0 null", "close 0 null"});
  REQUIRE(log.errors.size() == 5);
  for (const auto& e : log.errors)
    CHECK(e.code == errc::malformed_message);
  CHECK(log.errors[0].message().find("'not json'") != std::string::npos);
  CHECK(log.errors[1].message().find("''") != std::string::npos);
  CHECK(log.errors[4].message().find("'[1,2'") != std::string::npos);
  CHECK(err == "");
}

TEST_CASE_METHOD(LoopFixture,
                 "handles from the child are refused with a NACK, and what follows "
                 "arrives",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_handle.js", {}, silent());
  std::string err;
  collect(child->std_err(), err);
  IpcLog log;
  log.attach_ipc(*child);
  child->on<MessageEvent>([&](const MessageEvent& m) {
    if (m.json == "\"after socket\"") child->disconnect();
  });
  run(10s);

  // The handles' messages ("x", "y") are Node's internal business: not delivered.
  // Without a NACK node would hold back what follows forever (the watchdog would fire).
  CHECK(log.events == Events{"spawn", "message \"after server\"", "message \"after socket\"",
                             "disconnect", "exit 0 null", "close 0 null"});
  // Node resends a NACKed socket 3 times, then gives up with this warning: all 4 were
  // NACKed. (The fds that came with them are not kept: the fixture counts fds.)
  CHECK(err.find("SentHandleNotReceivedWarning") != std::string::npos);
}

TEST_CASE_METHOD(LoopFixture, "the child dies in the middle of a line: an error, then disconnect",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_partial.js");
  IpcLog log;
  log.attach_ipc(*child);
  run();

  REQUIRE(log.errors.size() == 1);
  CHECK(log.errors[0].code == errc::malformed_message);
  CHECK(log.errors[0].message() ==
        "The channel closed in the middle of a message: 11 bytes without a newline were "
        "dropped");
  CHECK(log.events == Events{"spawn", "message \"whole\"", "error " + log.errors[0].message(),
                             "disconnect", "exit 5 null", "close 5 null"});
}

TEST_CASE_METHOD(LoopFixture,
                 "a child killed during a large burst: callbacks fail, then disconnect, no hang",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_echo.js", {}, silent());
  IpcLog log;
  log.attach(*child);
  int disconnects = 0;
  child->on<DisconnectEvent>([&](const DisconnectEvent&) {
    ++disconnects;
    log.events.push_back("disconnect");
  });
  const std::string message = "\"" + std::string(64 * 1024, 'k') + "\"";
  constexpr int kCount = 200;  // 12.8 MiB: far more than a socket buffer
  int callbacks = 0;
  int failed = 0;
  std::vector<std::string> unexpected;  // failures other than the peer being gone
  for (int i = 0; i < kCount; ++i) {
    child->send(message, [&](std::error_code ec) {
      ++callbacks;
      if (!ec) return;
      ++failed;
      if (ec != std::errc::broken_pipe && ec != std::errc::connection_reset &&
          ec != std::errc::operation_canceled) {
        unexpected.push_back(ec.message());
      }
    });
  }
  // Killed as soon as node has answered the first: the rest is still queued (node needs
  // more than one loop turn of the parent for each of the 64 KiB messages). The loop is
  // held until the child is dead (not reaped), so that the channel's end and the exit
  // are both waiting when it goes on, whatever the scheduling.
  int replies = 0;
  child->on<MessageEvent>([&](const MessageEvent&) {
    if (++replies != 1) return;
    CHECK(child->kill(SIGKILL));
    siginfo_t info{};
    CHECK(::waitid(P_PID, static_cast<id_t>(*child->pid()), &info, WEXITED | WNOWAIT) == 0);
  });
  run(20s);

  CHECK(replies >= 1);
  CHECK(callbacks == kCount);
  CHECK(failed > 0);  // most of it was still queued when the child died
  CHECK(disconnects == 1);
  CHECK(unexpected.empty());
  CHECK_FALSE(child->connected());
  // The peer being gone is a disconnect, not an error (as in Node): the unsent messages
  // fail in their callbacks, and the exit comes after the disconnect.
  CHECK(log.events == Events{"spawn", "disconnect", "exit null SIGKILL", "close null SIGKILL"});
  CHECK(child->signal_code() == SIGKILL);
}

TEST_CASE_METHOD(LoopFixture,
                 "a child that exits without reading: its last messages still come, then "
                 "disconnect, then exit",
                 "[ipc-bad-input]") {
  REQUIRE_NODE();
  auto child = fork_js(*this, "child_write_exit.js");
  IpcLog log;
  log.attach_ipc(*child);
  // More than the socket can hold: most of it is still queued when the child exits,
  // so writing fails (EPIPE) while the child's messages wait to be read.
  const std::string message = "\"" + std::string(64 * 1024, 'w') + "\"";
  int callbacks = 0;
  int failed = 0;
  std::vector<std::string> unexpected;  // failures other than the peer being gone
  for (int i = 0; i < 32; ++i) {
    child->send(message, [&](std::error_code ec) {
      ++callbacks;
      if (!ec) return;
      ++failed;
      if (ec != std::errc::broken_pipe && ec != std::errc::connection_reset &&
          ec != std::errc::operation_canceled) {
        unexpected.push_back(ec.message());
      }
    });
  }
  // Hold the loop until the child is dead (not reaped): its messages and its end of the
  // channel's close then wait for the parent all at once, with the unwritable burst.
  child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) {
    siginfo_t info{};
    CHECK(::waitid(P_PID, static_cast<id_t>(*child->pid()), &info, WEXITED | WNOWAIT) == 0);
  });
  run(20s);

  CHECK(callbacks == 32);
  CHECK(failed > 0);
  CHECK(unexpected.empty());
  // No ErrorEvent: the peer being gone (ECONNRESET on read, EPIPE on write) is a
  // disconnect, as in Node.
  CHECK(log.events == Events{"spawn", "message {\"last\":1}", "message {\"last\":2}",
                             "message {\"last\":3}", "disconnect", "exit 7 null", "close 7 null"});
}

TEST_CASE_METHOD(LoopFixture, "two Stdio::ipc() slots throw ERR_IPC_ONE_PIPE", "[ipc-bad-input]") {
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc(), Stdio::ipc()};
  check_invalid(
      *this,
      [&] {
        return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, o));
      },
      "ERR_IPC_ONE_PIPE");
  ForkOptions f;
  f.exec_path = kHelper;
  f.stdio = {Stdio::ipc(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  check_invalid(
      *this, [&] { return track(childproc::fork(loop(), "module.js", {}, f)); },
      "ERR_IPC_ONE_PIPE");
  run();
}

TEST_CASE_METHOD(LoopFixture, "serialization other than \"json\" throws", "[ipc-bad-input]") {
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  o.serialization = "advanced";
  check_invalid(
      *this,
      [&] {
        return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, o));
      },
      "ERR_INVALID_ARG_VALUE");
  ForkOptions f;
  f.exec_path = kHelper;
  f.serialization = "advanced";
  check_invalid(
      *this, [&] { return track(childproc::fork(loop(), "module.js", {}, f)); },
      "ERR_INVALID_ARG_VALUE");
  f.serialization = "";
  check_invalid(
      *this, [&] { return track(childproc::fork(loop(), "module.js", {}, f)); },
      "ERR_INVALID_ARG_VALUE");
  run();
}

TEST_CASE_METHOD(LoopFixture, "spawn_sync() with Stdio::ipc() throws ERR_IPC_SYNC_FORK",
                 "[ipc-bad-input]") {
  childproc::SpawnSyncOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  try {
    childproc::spawn_sync(kHelper, {"exit", "0"}, o);
    FAIL_CHECK("no exception was thrown");
  } catch (const InvalidArgument& e) {
    CHECK(e.code() == "ERR_IPC_SYNC_FORK");
  }
  CHECK(own_children().empty());
  run();
}

TEST_CASE_METHOD(LoopFixture, "fork() with stdio lacking ipc throws ERR_CHILD_PROCESS_IPC_REQUIRED",
                 "[ipc-bad-input]") {
  ForkOptions f;
  f.exec_path = kHelper;
  f.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
  check_invalid(
      *this, [&] { return track(childproc::fork(loop(), "module.js", {}, f)); },
      "ERR_CHILD_PROCESS_IPC_REQUIRED");
  f.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
  check_invalid(
      *this, [&] { return track(childproc::fork(loop(), "module.js", {}, f)); },
      "ERR_CHILD_PROCESS_IPC_REQUIRED");
  run();
}

TEST_CASE_METHOD(LoopFixture, "send() and disconnect() without an IPC slot throw std::logic_error",
                 "[ipc-bad-input]") {
  auto child = spawn_helper({"exit", "0"});
  CHECK_FALSE(child->connected());
  CHECK_THROWS_AS(child->send("1"), std::logic_error);
  CHECK_THROWS_AS(child->send("1", [](std::error_code) {}), std::logic_error);
  CHECK_THROWS_AS(child->disconnect(), std::logic_error);
  child->ref_channel();  // no-ops
  child->unref_channel();
  IpcLog log;
  log.attach_ipc(*child);
  run();
  CHECK(log.events == Events{"spawn", "exit 0 null", "close 0 null"});
}
