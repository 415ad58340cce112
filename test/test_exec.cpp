// exec() and exec_file(): buffered output, Node's error object, max_buffer, timeout,
// cancellation; the callback runs exactly once in every case.
#include "support.hpp"

#include <signal.h>

#include <stop_token>
#include <thread>

using namespace cptest;
using childproc::ExecError;
using childproc::ExecOptions;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

struct Result {
  int calls = 0;
  ExecError error;
  std::string out;
  std::string err;
  std::vector<std::string>* order = nullptr;

  childproc::ExecCallback callback() {
    return [this](const ExecError& e, std::string o, std::string er) {
      ++calls;
      error = e;
      out = std::move(o);
      err = std::move(er);
      if (order) order->push_back("callback");
    };
  }
};

}  // namespace

TEST_CASE_METHOD(LoopFixture, "exec: success gives both outputs and no error", "[exec]") {
  Result r;
  auto child = track(childproc::exec(loop(), "echo hello; echo oops >&2", {}, r.callback()));
  REQUIRE(child);
  EventLog log;
  log.attach(*child);
  run();
  CHECK(r.calls == 1);
  CHECK_FALSE(static_cast<bool>(r.error));
  CHECK_FALSE(r.error.code);
  CHECK(r.out == "hello\n");
  CHECK(r.err == "oops\n");
  // The returned ChildProcess still emits its events.
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK(child->spawnfile() == "/bin/sh");
  CHECK(child->spawnargs() ==
        std::vector<std::string>{"/bin/sh", "-c", "echo hello; echo oops >&2"});
}

TEST_CASE_METHOD(LoopFixture, "exec_file: success, exact bytes", "[exec]") {
  Result r;
  track(childproc::exec_file(loop(), kHelper, {"out", "100000"}, {}, r.callback()));
  run();
  CHECK(r.calls == 1);
  CHECK_FALSE(static_cast<bool>(r.error));
  CHECK(r.out.size() == 100000);
  CHECK(is_pattern(r.out));
  CHECK(r.err.empty());
}

TEST_CASE_METHOD(LoopFixture, "exec: cwd, env and shell options", "[exec]") {
  TempDir dir;
  ExecOptions opts;
  opts.cwd = dir.path();
  opts.env = childproc::Env{{"FOO", "bar"}};
  opts.shell = std::string("/bin/sh");
  Result r;
  track(childproc::exec(loop(), "pwd; echo $FOO", opts, r.callback()));
  run();
  CHECK(r.calls == 1);
  CHECK_FALSE(static_cast<bool>(r.error));
  CHECK(r.out == dir.path() + "\nbar\n");
}

TEST_CASE_METHOD(LoopFixture, "exec: exit 7 gives Node's message and fields", "[exec]") {
  SECTION("exec") {
    Result r;
    track(childproc::exec(loop(), "echo foo >&2; exit 7", {}, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(static_cast<bool>(r.error));
    CHECK(r.error.message() == "Command failed: echo foo >&2; exit 7\nfoo\n");
    CHECK(r.error.exit_code == 7);
    CHECK_FALSE(r.error.signal.has_value());
    CHECK(r.error.signal_name().empty());
    CHECK_FALSE(r.error.killed);
    CHECK(r.error.cmd == "echo foo >&2; exit 7");
    CHECK(r.error.code == childproc::errc::command_failed);
    CHECK(r.out.empty());
    CHECK(r.err == "foo\n");
  }
  SECTION("exec_file") {
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"fail", "oops", "7"}, {}, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    const std::string cmd = kHelper + " fail oops 7";
    CHECK(r.error.message() == "Command failed: " + cmd + "\noops\n");
    CHECK(r.error.exit_code == 7);
    CHECK_FALSE(r.error.signal.has_value());
    CHECK_FALSE(r.error.killed);
    CHECK(r.error.cmd == cmd);
    CHECK(r.error.code == childproc::errc::command_failed);
    CHECK(r.err == "oops\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "exec: a child killed by a signal it sent itself", "[exec]") {
  Result r;
  track(childproc::exec(loop(), "kill -TERM $$", {}, r.callback()));
  run();
  REQUIRE(r.calls == 1);
  CHECK(r.error.message() == "Command failed: kill -TERM $$\n");
  CHECK_FALSE(r.error.exit_code.has_value());
  CHECK(r.error.signal == SIGTERM);
  CHECK(r.error.signal_name() == "SIGTERM");
  CHECK_FALSE(r.error.killed);
  CHECK(r.error.code == childproc::errc::command_failed);
}

TEST_CASE_METHOD(LoopFixture, "exec: a missing command through the shell exits 127", "[exec]") {
  Result r;
  track(childproc::exec(loop(), "nosuchcmd_childproc", {}, r.callback()));
  run();
  REQUIRE(r.calls == 1);
  CHECK(r.error.exit_code == 127);
  CHECK(r.err == "/bin/sh: 1: nosuchcmd_childproc: not found\n");
  CHECK(r.error.message() == "Command failed: nosuchcmd_childproc\n" + r.err);
  CHECK(r.error.code == childproc::errc::command_failed);
  CHECK_FALSE(r.error.killed);
}

TEST_CASE_METHOD(LoopFixture, "exec_file: a missing file is ENOENT and never exits", "[exec]") {
  Result r;
  auto child = track(childproc::exec_file(loop(), "nosuchprog_childproc", {"a"}, {}, r.callback()));
  int exits = 0;
  child->on<childproc::ExitEvent>([&](const childproc::ExitEvent&) { ++exits; });
  run();
  REQUIRE(r.calls == 1);
  CHECK(r.error.code == std::errc::no_such_file_or_directory);
  CHECK(childproc::code_name(r.error.code) == "ENOENT");
  CHECK(r.error.message() == "spawn nosuchprog_childproc ENOENT");
  CHECK(r.error.syscall == "spawn nosuchprog_childproc");
  CHECK(r.error.path == "nosuchprog_childproc");
  CHECK(r.error.cmd == "nosuchprog_childproc a");
  CHECK_FALSE(r.error.exit_code.has_value());
  CHECK_FALSE(r.error.signal.has_value());
  CHECK_FALSE(r.error.killed);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  CHECK(exits == 0);
  CHECK_FALSE(child->pid().has_value());
}

TEST_CASE_METHOD(LoopFixture, "exec: max_buffer exceeded keeps exactly max_buffer bytes",
                 "[exec]") {
  SECTION("stdout") {
    ExecOptions opts;
    opts.max_buffer = 1000;
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"out", std::to_string(2 * kMiB)}, opts,
                               r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(childproc::code_name(r.error.code) == "ERR_CHILD_PROCESS_STDIO_MAXBUFFER");
    CHECK(r.error.message() == "stdout maxBuffer length exceeded");
    CHECK(r.out.size() == 1000);
    CHECK(is_pattern(r.out));
    CHECK(r.err.empty());
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGTERM);
    CHECK_FALSE(r.error.exit_code.has_value());
  }
  SECTION("stderr") {
    ExecOptions opts;
    opts.max_buffer = 1000;
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"err", std::to_string(2 * kMiB)}, opts,
                               r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(r.error.message() == "stderr maxBuffer length exceeded");
    CHECK(r.err.size() == 1000);
    CHECK(is_pattern(r.err));
    CHECK(r.out.empty());
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGTERM);
  }
  SECTION("with kill_signal SIGKILL") {
    ExecOptions opts;
    opts.max_buffer = 5000;
    opts.kill_signal = "SIGKILL";
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"out", std::to_string(2 * kMiB)}, opts,
                               r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(r.out.size() == 5000);
    CHECK(is_pattern(r.out));
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGKILL);
  }
  SECTION("the default is 1 MiB") {
    Result r;
    track(track(childproc::exec_file(loop(), kHelper, {"out", std::to_string(kMiB + 1)}, {},
                                     r.callback())));
    run();
    REQUIRE(r.calls == 1);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(r.out.size() == kMiB);
    CHECK(is_pattern(r.out));
  }
}

TEST_CASE_METHOD(LoopFixture, "exec: output exactly max_buffer long succeeds", "[exec]") {
  SECTION("explicit limit, both streams") {
    ExecOptions opts;
    opts.max_buffer = 100000;
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"both", "100000"}, opts, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK_FALSE(static_cast<bool>(r.error));
    CHECK(r.out.size() == 100000);
    CHECK(r.err.size() == 100000);
    CHECK(is_pattern(r.out));
    CHECK(is_pattern(r.err));
  }
  SECTION("the default 1 MiB") {
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"out", std::to_string(kMiB)}, {}, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK_FALSE(static_cast<bool>(r.error));
    CHECK(r.out.size() == kMiB);
    CHECK(is_pattern(r.out));
  }
}

TEST_CASE_METHOD(LoopFixture, "exec: timeout kills the child", "[exec]") {
  SECTION("SIGTERM by default") {
    ExecOptions opts;
    opts.timeout = 100ms;
    Result r;
    track(childproc::exec_file(loop(), kHelper, {"sleep", "20000"}, opts, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    const std::string cmd = kHelper + " sleep 20000";
    CHECK(r.error.code == childproc::errc::timed_out);
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGTERM);
    CHECK(r.error.signal_name() == "SIGTERM");
    CHECK_FALSE(r.error.exit_code.has_value());
    CHECK(r.error.cmd == cmd);
    CHECK(r.error.message() == "Command failed: " + cmd + "\n");
  }
  SECTION("the chosen kill_signal") {
    ExecOptions opts;
    opts.timeout = 100ms;
    opts.kill_signal = "SIGKILL";
    Result r;
    // The helper ignores SIGTERM, so only the chosen signal can end it.
    track(childproc::exec_file(loop(), kHelper, {"ignore-term", "20000"}, opts, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(r.error.code == childproc::errc::timed_out);
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGKILL);
    CHECK(r.error.signal_name() == "SIGKILL");
    CHECK(r.error.message() == "Command failed: " + kHelper + " ignore-term 20000\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "exec: a grandchild holding the pipes does not delay the callback",
                 "[exec]") {
  // When exec kills the child (timeout, max_buffer), Node destroys stdout and stderr too,
  // so the callback comes at once even if a grandchild still holds the pipes open.
  const auto start = std::chrono::steady_clock::now();
  SECTION("after a timeout") {
    ExecOptions opts;
    opts.timeout = 100ms;
    Result r;
    track(childproc::exec(loop(), kHelper + " sleep 5000; true", opts, r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.error.code == childproc::errc::timed_out);
    CHECK(r.error.killed);
    CHECK(r.error.signal == SIGTERM);
  }
  SECTION("after max_buffer") {
    ExecOptions opts;
    opts.max_buffer = 1000;
    Result r;
    track(childproc::exec(loop(), kHelper + " sleep 5000 & " + kHelper + " out 2000; wait", opts,
                          r.callback()));
    run();
    REQUIRE(r.calls == 1);
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(r.out.size() == 1000);
    CHECK(r.error.killed);
  }
}

TEST_CASE_METHOD(LoopFixture, "exec: a stop from another thread calls back at once, aborted",
                 "[exec]") {
  std::stop_source source;
  ExecOptions opts;
  opts.stop_token = source.get_token();
  std::vector<std::string> order;
  Result r;
  r.order = &order;
  auto child = track(childproc::exec_file(loop(), kHelper, {"sleep", "20000"}, opts, r.callback()));
  child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) {
    std::thread t([&] { source.request_stop(); });
    t.join();
  });
  child->on<childproc::ExitEvent>([&](const childproc::ExitEvent& e) {
    order.push_back("exit " + str(e.code) + " " + sig(e.signal));
  });
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent&) { order.push_back("close"); });
  run();
  REQUIRE(r.calls == 1);
  CHECK(r.error.code == childproc::errc::aborted);
  CHECK(r.error.message() == "The operation was aborted");
  CHECK(order == std::vector<std::string>{"callback", "exit null SIGTERM", "close"});
}
