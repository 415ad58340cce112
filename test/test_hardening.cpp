// A hostile user's inputs: timeouts that must bound a call even when a grandchild holds
// the pipes, a host with no free fd or with fds 0-2 closed, Node's exact argument
// errors, errno values libuv cannot name, an IPC peer that never ends its line, and
// tests that fail without taking the test binary down with them.
#include "support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::ErrorEvent;
using childproc::ExecError;
using childproc::ExecOptions;
using childproc::ExecSyncError;
using childproc::ExecSyncOptions;
using childproc::ExitEvent;
using childproc::InvalidArgument;
using childproc::MessageEvent;
using childproc::SpawnOptions;
using childproc::SpawnSyncOptions;
using childproc::Stdio;

namespace {

using Clock = std::chrono::steady_clock;

// The grandchild of `hold-stdout` prints its pid to stderr and sleeps: end it.
void kill_grandchild(const std::string& err) {
  const int pid = std::atoi(err.c_str());
  if (pid > 0) ::kill(pid, SIGKILL);
}

// What an exec callback got.
struct ExecResult {
  std::optional<ExecError> error;
  std::string out;
  std::string err;
  Clock::duration after{};
  childproc::ExecCallback callback(Clock::time_point start) {
    return [this, start](const ExecError& e, std::string o, std::string r) {
      error = e;
      out = std::move(o);
      err = std::move(r);
      after = Clock::now() - start;
    };
  }
};

// The message of the InvalidArgument `fn` throws, or a note that it threw none.
template <typename F>
std::string argument_error(F&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.code() + ": " + e.what();
  }
  return "no exception";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// 1. A timeout bounds exec and the sync variants as Node's does: cleared at close, not at
// exit, so a grandchild holding the pipes cannot stretch the call past it.

TEST_CASE_METHOD(LoopFixture, "exec: timeout still bounds the call after the child exited",
                 "[hardening][timeout]") {
  // The child exits at once; the timeout is far enough for a slow, loaded machine to
  // see that first, and the grandchild holds the pipes far longer.
  ExecOptions o;
  o.timeout = 2000ms;
  ExecResult r;
  SECTION("exit 0: a success with what was read (Node: null error, \"hi\\n\")") {
    track(childproc::exec_file(loop(), kHelper, {"hold-stdout", "60000", "hi"}, o,
                               r.callback(Clock::now())));
    run(45s);
    kill_grandchild(r.err);
    REQUIRE(r.error);
    CHECK_FALSE(*r.error);
    // (killed may be true: on a slow machine the timeout can fire after the child exited
    // but before its exit was seen, and the signal then reaches the zombie, as in Node.)
    CHECK(r.out == "hi\n");
    CHECK(r.error->exit_code == 0);
  }
  SECTION("exit 3: Command failed, killed as Node's (the kill was decided)") {
    track(childproc::exec(loop(), kHelper + " hold-stdout 60000 hi; exit 3", o,
                          r.callback(Clock::now())));
    run(45s);
    kill_grandchild(r.err);
    REQUIRE(r.error);
    CHECK(r.error->code == childproc::errc::command_failed);
    CHECK(r.error->exit_code == 3);
    CHECK_FALSE(r.error->signal);
    CHECK(r.error->killed);
    CHECK(r.out == "hi\n");
  }
  CHECK(r.after < 30s);
}

TEST_CASE_METHOD(LoopFixture, "exec: a terminate() before the exit does not cancel the timeout",
                 "[hardening][timeout]") {
  // terminate() arms its SIGKILL on the timer the timeout uses. SIGCHLD as kill_signal
  // is ignored by the child, so it lives on with the SIGKILL pending until it exits.
  ExecOptions o;
  o.timeout = 2000ms;
  o.kill_signal = "SIGCHLD";
  o.force_kill_after = 60s;
  ExecResult r;
  auto child = track(childproc::exec_file(loop(), kHelper, {"hold-stdout", "60000", "hi"}, o,
                                          r.callback(Clock::now())));
  CHECK(child->terminate());
  run(45s);
  kill_grandchild(r.err);
  REQUIRE(r.error);
  CHECK_FALSE(*r.error);
  CHECK(r.out == "hi\n");
  CHECK(r.after < 30s);
}

TEST_CASE("spawn_sync: a cancellation before the exit does not cancel the timeout",
          "[hardening][timeout][sync]") {
  SpawnSyncOptions o;
  o.timeout = 2000ms;
  o.kill_signal = "SIGCHLD";
  o.force_kill_after = 60s;
  std::stop_source stop;
  stop.request_stop();
  o.stop_token = stop.get_token();
  const auto start = Clock::now();
  auto r = childproc::spawn_sync(kHelper, {"hold-stdout", "60000", "hi"}, o);
  kill_grandchild(r.err);
  CHECK(Clock::now() - start < 30s);
  REQUIRE(r.error);
  CHECK(r.error->code == childproc::errc::aborted);
}

TEST_CASE("spawn_sync and exec_sync: timeout still bounds the call after the child exited",
          "[hardening][timeout][sync]") {
  SECTION("spawn_sync: ETIMEDOUT, status 0, the output so far (as Node's spawnSync)") {
    SpawnSyncOptions o;
    o.timeout = 2000ms;
    const auto start = Clock::now();
    auto r = childproc::spawn_sync(kHelper, {"hold-stdout", "60000", "hi"}, o);
    const auto took = Clock::now() - start;
    kill_grandchild(r.err);
    CHECK(took < 30s);
    REQUIRE(r.error);
    CHECK(r.error->code == std::errc::timed_out);
    CHECK(r.error->message() == "spawnSync " + kHelper + " ETIMEDOUT");
    CHECK(r.status == 0);
    CHECK(r.out == "hi\n");
  }
  SECTION("exec_sync: throws spawnSync /bin/sh ETIMEDOUT") {
    ExecSyncOptions o;
    o.timeout = 2000ms;
    o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
    const auto start = Clock::now();
    std::string what;
    std::string err;
    try {
      childproc::exec_sync(kHelper + " hold-stdout 60000 hi", o);
    } catch (const ExecSyncError& e) {
      what = e.what();
      err = e.result.err;
      CHECK(e.result.out == "hi\n");
    }
    kill_grandchild(err);
    CHECK(Clock::now() - start < 30s);
    CHECK(what == "spawnSync /bin/sh ETIMEDOUT");
  }
}

// ---------------------------------------------------------------------------------------
// 2. No free fd: the sync variants report EMFILE instead of running a half-made loop.

namespace {

// `--mode no-free-fd fresh|warm`: fills the fd table (under a soft limit of 64), then
// for 0, 1, 2, ... free fds runs spawn_sync and exec_sync. Each must succeed or fail
// with EMFILE, and (warm) leave the fd table as it found it. One line per case on
// stdout. `fresh` makes no libuv loop before: the first one of the process also makes
// libuv's process-wide signal pipe (two fds for good), and libuv aborts if it cannot.
const Mode no_free_fd_mode("no-free-fd", [](const std::vector<std::string>& args) -> int {
  const bool warm = !args.empty() && args[0] == "warm";
  if (warm) {
    uv_loop_t first;
    if (uv_loop_init(&first) != 0 || uv_loop_close(&first) != 0) return 11;
  }
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = 64;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 10;
  std::vector<int> fill;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
    fill.push_back(fd);
  int bad = 0;
  auto say = [](const std::string& s) {
    const std::string line = s + "\n";
    if (::write(1, line.data(), line.size()) < 0) std::abort();
  };
  for (std::size_t free = 0; free <= 12 && free <= fill.size(); ++free) {
    for (std::size_t i = 0; i < free; ++i) {
      ::close(fill.back());
      fill.pop_back();
    }
    const int before = count_fds();
    auto r = childproc::spawn_sync(kHelper, {"out", "10"});
    std::string line = std::to_string(free) + " free: spawn_sync ";
    if (r.error) {
      line += r.error->message();
      if (r.error->code != std::errc::too_many_files_open) ++bad;
      if (free == 0 && r.error->message() != "spawnSync " + kHelper + " EMFILE") ++bad;
    } else {
      line += "status " + str(r.status);
      if (r.status != 0 || r.out != pattern(0, 10)) ++bad;
    }
    ExecSyncOptions eo;
    eo.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
    line += ", exec_sync ";
    try {
      line += "returned '" + childproc::exec_sync("echo hi", eo) + "'";
    } catch (const ExecSyncError& e) {
      line += e.what();
      if (std::string(e.what()) != "spawnSync /bin/sh EMFILE") ++bad;
    }
    const int after = count_fds();
    if (warm && after != before) {
      line += ", fds " + std::to_string(before) + " -> " + std::to_string(after);
      ++bad;
    }
    say(line);
    for (int fd; fill.size() < 200 && (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
      fill.push_back(fd);
  }
  // The sanitizers' exit-time checks need fds of their own.
  for (int fd : fill)
    ::close(fd);
  return bad;
});

}  // namespace

TEST_CASE("the sync variants with no free fd: EMFILE, no crash, no leak",
          "[hardening][sync][fd-limit]") {
  const std::string how = GENERATE(as<std::string>(), "fresh", "warm");
  auto r = childproc::spawn_sync(self_exe(), {"--mode", "no-free-fd", how});
  INFO(r.out << r.err);
  CHECK_FALSE(r.signal);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("0 free: spawn_sync spawnSync " + kHelper +
                                      " EMFILE, exec_sync spawnSync /bin/sh EMFILE\n"));
  CHECK_THAT(r.out, Catch::Contains("12 free: "));
}

// ---------------------------------------------------------------------------------------
// 3. An empty cwd is no cwd, as in Node's spawn and exec.

TEST_CASE_METHOD(LoopFixture, "cwd \"\" runs the child in the parent's directory",
                 "[hardening][cwd]") {
  char here[4096];
  REQUIRE(::getcwd(here, sizeof here) != nullptr);
  const std::string expected = std::string(here) + "\n";

  SpawnOptions so;
  so.cwd = "";
  auto child = spawn_helper({"cwd"}, so);
  std::string out;
  child->std_out()->on<childproc::DataEvent>(
      [&out](const childproc::DataEvent& e) { out.append(e.chunk); });
  ExecOptions eo;
  eo.cwd = "";
  ExecResult r;
  track(childproc::exec_file(loop(), kHelper, {"cwd"}, eo, r.callback(Clock::now())));
  run();
  CHECK(out == expected);
  REQUIRE(r.error);
  CHECK_FALSE(*r.error);
  CHECK(r.out == expected);

  SpawnSyncOptions sso;
  sso.cwd = "";
  auto s = childproc::spawn_sync(kHelper, {"cwd"}, sso);
  CHECK_FALSE(s.error);
  CHECK(s.out == expected);
}

// ---------------------------------------------------------------------------------------
// 4. Argument errors: Node's code and text, word for word (each checked against Node 20).

TEST_CASE_METHOD(LoopFixture, "argument errors carry Node's exact text", "[hardening][args]") {
  using namespace std::string_literals;
  const std::string nul = "ERR_INVALID_ARG_VALUE: ";
  auto noop = [](const ExecError&, std::string, std::string) {};

  CHECK(argument_error([&] { track(childproc::exec(loop(), "echo a\0b"s, noop)); }) ==
        nul +
            "The argument 'command' must be a string without null bytes. Received 'echo "
            "a\\x00b'");
  CHECK(argument_error([] { childproc::exec_sync("echo a\0b"s); }) ==
        nul +
            "The argument 'command' must be a string without null bytes. Received 'echo "
            "a\\x00b'");
  CHECK(argument_error([&] { track(childproc::exec_file(loop(), "ec\0ho"s, {}, noop)); }) ==
        nul +
            "The argument 'file' must be a string without null bytes. Received "
            "'ec\\x00ho'");
  CHECK(argument_error([&] { track(childproc::spawn(loop(), "echo", {"a\0b"s})); }) ==
        nul +
            "The argument 'args[0]' must be a string without null bytes. Received "
            "'a\\x00b'");
  SpawnOptions cwd;
  cwd.cwd = "a\0b"s;
  CHECK(argument_error([&] { track(childproc::spawn(loop(), "echo", {}, cwd)); }) ==
        nul +
            "The property 'options.cwd' must be a string, Uint8Array, or URL without null "
            "bytes. Received 'a\\x00b'");
  SpawnOptions env;
  env.env = childproc::Env{{"A", "a\0b"s}};
  CHECK(argument_error([&] { track(childproc::spawn(loop(), "echo", {}, env)); }) ==
        nul +
            "The property 'options.env['A']' must be a string without null bytes. Received "
            "'a\\x00b'");
  SpawnOptions key;
  key.env = childproc::Env{{"A\0"s, "x"}};
  CHECK(argument_error([&] { track(childproc::spawn(loop(), "echo", {}, key)); }) ==
        nul +
            "The property 'options.env['A\\x00']' must be a string without null bytes. "
            "Received 'A\\x00'");
  SpawnOptions shell;
  shell.shell = "sh\0"s;
  CHECK(argument_error([&] { track(childproc::spawn(loop(), "echo", {}, shell)); }) ==
        nul +
            "The property 'options.shell' must be a string without null bytes. Received "
            "'sh\\x00'");

  // util.inspect's quoting: the quote that needs no escape, escapes, a 128-unit cut and,
  // for a long value with newlines, one quoted piece per line.
  auto arg0 = [&](const std::string& v) {
    return argument_error([&] { track(childproc::spawn(loop(), "x", {v})); });
  };
  const std::string head = nul + "The argument 'args[0]' must be a string without null bytes. ";
  CHECK(arg0("it's\0"s) == head + "Received \"it's\\x00\"");
  CHECK(arg0("a\"b'c\0"s) == head + "Received `a\"b'c\\x00`");
  CHECK(arg0("a\"b'c`\0"s) == head + "Received 'a\"b\\'c`\\x00'");
  CHECK(arg0("a\"b'c${\0"s) == head + "Received 'a\"b\\'c${\\x00'");
  CHECK(arg0("a\\b\0\t\x7f\x1b\xc2\x85\xc3\xa9"s) ==
        head + "Received 'a\\\\b\\x00\\t\\x7F\\x1B\\x85\xc3\xa9'");
  CHECK(arg0(std::string(200, 'x') + "\0"s) == head + "Received '" + std::string(127, 'x') + "...");
  CHECK(arg0("short\nx\0"s) == head + "Received 'short\\nx\\x00'");
  // A cut through a character outside the BMP keeps its first surrogate (U+FFFD here).
  CHECK(arg0(std::string(126, 'a') + "\xF0\x9F\x98\x80\0"s) ==
        head + "Received '" + std::string(126, 'a') + "\xEF\xBF\xBD...");
  CHECK(arg0(std::string(125, 'a') + "\xF0\x9F\x98\x80\0"s) ==
        head + "Received '" + std::string(125, 'a') + "\xF0\x9F\x98\x80...");
  CHECK(arg0(std::string(70, 'a') + "\n\0"s + std::string(10, 'b')) ==
        head + "Received '" + std::string(70, 'a') + "\\n' +\n  '\\x00bbbbbbbbbb'");
  CHECK(arg0("line one is here and long enough\nline two is also here and long enough\n\0 and "
             "a third line which goes past the break length"s) ==
        head +
            "Received 'line one is here and long enough\\n' +\n  'line two is also here and "
            "long enough\\n' +\n  '\\x00 and a third line which goes past th...");
}

TEST_CASE_METHOD(LoopFixture, "fork(): Node's names in its argument errors; empty exec_path",
                 "[hardening][args][fork]") {
  using namespace std::string_literals;
  const std::string nul = "ERR_INVALID_ARG_VALUE: ";
  CHECK(argument_error([&] { track(childproc::fork(loop(), "a\0b"s)); }) ==
        nul +
            "The argument 'modulePath' must be a string, Uint8Array, or URL without null "
            "bytes. Received 'a\\x00b'");
  childproc::ForkOptions path;
  path.exec_path = "no\0de"s;
  CHECK(argument_error([&] { track(childproc::fork(loop(), "m.js", {}, path)); }) ==
        nul +
            "The property 'options.execPath' must be a string without null bytes. Received "
            "'no\\x00de'");
  childproc::ForkOptions argv;
  argv.exec_argv = {"--a", "b\0"s};
  CHECK(argument_error([&] { track(childproc::fork(loop(), "m.js", {}, argv)); }) ==
        nul +
            "The property 'options.execArgv[1]' must be a string without null bytes. "
            "Received 'b\\x00'");

  // As Node's `execPath || process.execPath`: empty is the default, node from PATH.
  childproc::ForkOptions empty;
  empty.exec_path = "";
  empty.env = childproc::Env{{"PATH", "/nonexistent"}};
  auto child = track(childproc::fork(loop(), "m.js", {}, empty));
  EventLog log;
  log.attach(*child);
  run();
  CHECK(child->spawnfile() == "node");
  CHECK(log.count("error spawn node ENOENT") == 1);
}

// ---------------------------------------------------------------------------------------
// 5. Every errno has its name, and naming one allocates nothing that stays.

TEST_CASE("errno values libuv cannot name get glibc's name", "[hardening][errors]") {
  const auto echild = childproc::uv_error(-ECHILD);
  CHECK(childproc::code_name(echild) == "ECHILD");
  CHECK(echild.message() == std::strerror(ECHILD));
  CHECK(childproc::Error{echild, "waitid", {}, {}, {}}.message() == "waitid ECHILD");
  CHECK(childproc::code_name(std::error_code(ECHILD, std::generic_category())) == "ECHILD");
  CHECK(childproc::code_name(childproc::uv_error(-ENOTRECOVERABLE)) == "ENOTRECOVERABLE");
  // Known to libuv: its own name, as before.
  CHECK(childproc::code_name(childproc::uv_error(UV_ENOENT)) == "ENOENT");
  CHECK(childproc::uv_error(UV_ENOENT).message() == "no such file or directory");
  // Known to nobody.
  CHECK(childproc::code_name(childproc::uv_error(-4000)) == "Unknown system error -4000");
  CHECK(childproc::uv_error(-4000).message() == "Unknown system error -4000");
  // Under LeakSanitizer, one leaked string per call would fail this binary at exit.
  for (int i = 0; i < 1000; ++i)
    CHECK(childproc::code_name(echild) == "ECHILD");
}

// ---------------------------------------------------------------------------------------
// 6. A host with fds 0-2 closed: libuv aborts when it closes one of its own fds below 3,
// so childproc keeps them off 0-2 while it works, and gives 0-2 back closed.

namespace {

const Mode closed_std_mode("closed-0-2", [](const std::vector<std::string>&) -> int {
  // Results go to a copy of stdout far from 0-2.
  const int report = ::fcntl(1, F_DUPFD_CLOEXEC, 100);
  if (report < 0) return 10;
  auto say = [report](const std::string& s) {
    const std::string line = s + "\n";
    if (::write(report, line.data(), line.size()) < 0) std::abort();
  };
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 11;
  ::close(0);
  ::close(1);
  ::close(2);
  int bad = 0;

  auto r = childproc::spawn_sync(kHelper, {"out", "10"});
  say("spawn_sync: " + (r.error ? r.error->message() : "status " + str(r.status)));
  if (r.error || r.status != 0 || r.out != pattern(0, 10)) ++bad;

  ExecSyncOptions eo;
  eo.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
  try {
    const std::string out = childproc::exec_sync("echo hi", eo);
    say("exec_sync: '" + out + "'");
    if (out != "hi\n") ++bad;
  } catch (const std::exception& e) {
    say(std::string("exec_sync: ") + e.what());
    ++bad;
  }

  // On the caller's loop, with no pipe of ours to fill 0-2 first.
  SpawnOptions o;
  o.stdio = {Stdio::ignore(), Stdio::ignore(), Stdio::ignore()};
  int code = -1;
  auto child = childproc::spawn(&loop, kHelper, {"exit", "7"}, o);
  child->on<ExitEvent>([&code](const ExitEvent& e) { code = e.code.value_or(-2); });
  child.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  say("spawn: exit " + std::to_string(code));
  if (code != 7) ++bad;

  // A pty's master and slave land on the free 0-2 themselves.
  o.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
  std::string shown;
  auto tty = childproc::spawn(&loop, kHelper, {"tty"}, o);
  tty->terminal()->on<DataEvent>([&shown](const DataEvent& e) { shown += e.chunk; });
  tty.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  say("pty: " + shown.substr(0, shown.find('\r')));
  if (shown.find("isatty 1 1 1\r\nctty 1\r\n") != 0) ++bad;
  if (uv_loop_close(&loop) != 0) ++bad;

  // The placeholders are gone: the host's 0-2 are closed again.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) {
      say("fd " + std::to_string(fd) + " is open after the calls");
      ++bad;
    }
  }
  return bad;
});

}  // namespace

TEST_CASE("a host with fds 0-2 closed: the sync variants and spawn work, 0-2 stay closed",
          "[hardening][hostile-host]") {
  auto r = childproc::spawn_sync(self_exe(), {"--mode", "closed-0-2"});
  INFO(r.out << r.err);
  CHECK_FALSE(r.signal);
  CHECK(r.status == 0);
  CHECK(r.out == "spawn_sync: status 0\nexec_sync: 'hi\n'\nspawn: exit 7\npty: isatty 1 1 1\n");
}

// ---------------------------------------------------------------------------------------
// 7. ExecError::exit_code is the child's, 0 included, when another error ended the call.

TEST_CASE_METHOD(LoopFixture, "exec: max_buffer reached after the child exited",
                 "[hardening][max-buffer]") {
  // The shell exits 0 at once; its background writer starts only after that.
  ExecOptions o;
  o.max_buffer = 1000;
  ExecResult r;
  track(
      childproc::exec(loop(), kHelper + " out-orphaned 2000000 $$ &", o, r.callback(Clock::now())));
  run();
  REQUIRE(r.error);
  CHECK(r.error->code == childproc::errc::max_buffer_exceeded);
  CHECK(r.error->message() == "stdout maxBuffer length exceeded");
  CHECK(r.error->exit_code == 0);
  CHECK_FALSE(r.error->signal);
  CHECK(r.error->killed);
  CHECK(r.out.size() == 1000);
}

// ---------------------------------------------------------------------------------------
// 8. An IPC peer cannot grow our memory with a line that never ends.

TEST_CASE_METHOD(LoopFixture, "IPC: a line longer than max_message is skipped with an error",
                 "[hardening][ipc]") {
  CHECK(SpawnOptions{}.max_message == std::size_t{64} << 20);
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  o.max_message = std::size_t{1} << 20;
  // 8 MiB without a newline, then one good message.
  auto child = spawn_helper({"fd3-raw", "8388608"}, o);
  std::vector<childproc::Error> errors;
  std::vector<std::string> messages;
  child->on<ErrorEvent>([&errors](const ErrorEvent& e) { errors.push_back(e.error); });
  child->on<MessageEvent>([&messages](const MessageEvent& m) { messages.push_back(m.json); });
  run();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == childproc::errc::message_too_large);
  CHECK(childproc::code_name(errors[0].code) == "ERR_IPC_MESSAGE_TOO_LARGE");
  CHECK_THAT(errors[0].message(),
             Catch::StartsWith("Received a message longer than max_message (1048576 bytes)"));
  CHECK(messages == std::vector<std::string>{"{\"after\":1}"});
  CHECK(child->exit_code() == 0);
}

#ifdef IPC_HELPER
TEST_CASE_METHOD(LoopFixture, "IPC: the child's end has max_message too", "[hardening][ipc]") {
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  auto child = track(childproc::spawn(loop(), IPC_HELPER, {"max-message", "100"}, o));
  std::string out;
  child->std_out()->on<childproc::DataEvent>(
      [&out](const childproc::DataEvent& e) { out.append(e.chunk); });
  childproc::ChildProcess* c = child.get();
  child->on<MessageEvent>([c](const MessageEvent& m) {
    if (m.json != "\"ready\"") return;
    c->send("\"" + std::string(200, 'x') + "\"");
    c->send("\"bye\"");
  });
  run();
  CHECK(child->exit_code() == 0);
  CHECK_THAT(out, Catch::StartsWith("error ERR_IPC_MESSAGE_TOO_LARGE: Received a message longer "
                                    "than max_message (100 bytes)"));
  CHECK_THAT(out, Catch::EndsWith("\nmessage of 5 bytes\n"));
}
#endif

// ---------------------------------------------------------------------------------------
// Test-suite hygiene: a failing test fails cleanly. These two fail on purpose and are
// hidden; the test below runs them in a separate process and checks that they failed
// as tests (Catch2's exit status) rather than crashed.

namespace {

// Set when a hidden test's body has returned or thrown: a listener that runs after
// that would use the body's locals, gone by then.
bool g_body_over = false;

struct BodyOver {
  ~BodyOver() { g_body_over = true; }
};

void listener_ran(std::string& log, const char* what) {
  if (g_body_over) {
    static const char msg[] = "a listener ran after the test body ended\n";
    if (::write(2, msg, sizeof msg - 1) < 0) std::abort();
    std::abort();
  }
  log += what;
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "hygiene: the watchdog fires with listeners on locals",
                 "[.][fixture-hygiene]") {
  g_body_over = false;
  BodyOver over;
  std::string log;
  auto tracked = spawn_helper({"sleep", "30000"});
  tracked->on<ExitEvent>([&log](const ExitEvent&) { listener_ran(log, "exit "); });
  tracked->on<CloseEvent>([&log](const CloseEvent&) { listener_ran(log, "close "); });
  run(300ms);
  CHECK(log == "exit close ");
}

TEST_CASE_METHOD(LoopFixture, "hygiene: a REQUIRE fails while children run",
                 "[.][fixture-hygiene]") {
  g_body_over = false;
  BodyOver over;
  std::string log;
  auto child = spawn_helper({"sleep", "30000"});
  child->on<CloseEvent>([&log](const CloseEvent&) { listener_ran(log, "close "); });
  child->std_out()->on<childproc::EndEvent>(
      [&log](const childproc::EndEvent&) { listener_ran(log, "end "); });
  ExecResult r;
  track(childproc::exec_file(loop(), kHelper, {"sleep", "30000"}, r.callback(Clock::now())));
  REQUIRE(log == "never");
}

TEST_CASE("a failing test fails cleanly: no crash after a watchdog stop or a REQUIRE",
          "[hardening][hygiene]") {
  auto r = childproc::spawn_sync(self_exe(), {"[fixture-hygiene]"});
  INFO(r.out << r.err);
  CHECK_FALSE(r.signal);
  CHECK(r.status == 2);  // Catch2: the number of failed test cases
  CHECK_THAT(r.out, Catch::Contains("watchdog"));
  CHECK_THAT(r.out, Catch::Contains("2 failed"));
}
