// Shared support of the IPC tests with real Node processes (test_ipc, test_ipc_bad_input,
// test_ipc_peers): where node is, the test scripts in test/js, fork() of one of them,
// and an event recorder that also logs the channel's events.
#pragma once

#include "support.hpp"

#include <memory>
#include <string>
#include <vector>

#ifndef NODE_BIN
#error "NODE_BIN (the path of node, or empty) must be defined"
#endif
#ifndef TEST_JS_DIR
#error "TEST_JS_DIR (the directory of the test's Node scripts) must be defined"
#endif

// Skips (with a warning, never a failure) a test that needs node when there is none.
#define REQUIRE_NODE()                                                     \
  do {                                                                     \
    if (::cptest::kNode.empty()) {                                         \
      WARN("node not found: the IPC tests with a Node child are skipped"); \
      return;                                                              \
    }                                                                      \
  } while (false)

namespace cptest {

/// The node this build found, or empty when there is none.
inline const std::string kNode = NODE_BIN;

/// Events or messages as a list of strings, for comparisons.
using Events = std::vector<std::string>;

/// The path of test/js/<name>.
inline std::string js(const std::string& name) {
  return std::string(TEST_JS_DIR) + "/" + name;
}

/// fork() of test/js/<script> with this build's node, tracked by the fixture.
inline std::shared_ptr<childproc::ChildProcess> fork_js(LoopFixture& fx, const std::string& script,
                                                        const std::vector<std::string>& args = {},
                                                        childproc::ForkOptions options = {}) {
  options.exec_path = kNode;
  return fx.track(childproc::fork(fx.loop(), js(script), args, options));
}

/// ForkOptions with silent: true (the child's stdout and stderr are pipes).
inline childproc::ForkOptions silent() {
  childproc::ForkOptions o;
  o.silent = true;
  return o;
}

/// Collects a stream's data into `into`.
inline void collect(const std::shared_ptr<childproc::Stream>& s, std::string& into) {
  REQUIRE(s);
  s->on<childproc::DataEvent>([&into](const childproc::DataEvent& e) { into.append(e.chunk); });
}

/// The text of the message {"seq":i}.
inline std::string seq_message(int i) {
  return "{\"seq\":" + std::to_string(i) + "}";
}

/// EventLog plus the channel's events, in order with the rest: "message <json>" (only
/// the first 200 bytes of the JSON, so a failing comparison stays readable) and
/// "disconnect" (checking that the child is no longer connected by then).
struct IpcLog : EventLog {
  std::vector<std::string> messages;  // every message's full JSON text

  void attach_ipc(childproc::ChildProcess& child) {
    attach(child);
    child.on<childproc::MessageEvent>([this](const childproc::MessageEvent& m) {
      messages.push_back(m.json);
      events.push_back("message " + m.json.substr(0, 200));
    });
    child.on<childproc::DisconnectEvent>([this, &child](const childproc::DisconnectEvent&) {
      events.push_back("disconnect");
      CHECK_FALSE(child.connected());
    });
  }
};

}  // namespace cptest
