// Stdio::pty(): a pseudo-terminal as the child's stdio. The child must see a terminal
// (isatty, a controlling terminal, the size asked for), the parent must read all it
// showed and end cleanly at the terminal's EIO, type into it (lines, Ctrl-C, Ctrl-D),
// resize it, and exec, the sync variants, kill, kill_tree and timeouts must behave as
// with pipes. The suite runs on both launchers (meson test --setup uvspawn).
#include "support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::EndEvent;
using childproc::ErrorEvent;
using childproc::ExecError;
using childproc::ExecOptions;
using childproc::ExecResult;
using childproc::ExitEvent;
using childproc::SpawnEvent;
using childproc::SpawnOptions;
using childproc::Stdio;
using childproc::Stream;
using childproc::TerminalSize;

namespace {

SpawnOptions with_pty() {
  SpawnOptions o;
  o.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
  return o;
}

// Everything a terminal stream shows, and how it ended.
struct Screen {
  std::string text;
  int ends = 0;
  int errors = 0;
  int closes = 0;
  void attach(Stream& s) {
    s.on<DataEvent>([this](const DataEvent& e) { text += e.chunk; });
    s.on<EndEvent>([this](const EndEvent&) { ++ends; });
    s.on<ErrorEvent>([this](const ErrorEvent&) { ++errors; });
    s.on<CloseEvent>([this](const CloseEvent&) { ++closes; });
  }
};

// What a terminal shows for bytes the child wrote: ONLCR turns "\n" into "\r\n".
std::string as_shown(std::string_view written) {
  std::string out;
  for (char c : written) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "pty: the child's stdio is a terminal that it controls", "[pty]") {
  SpawnOptions o = with_pty();
  o.background_launch = GENERATE(false, true);
  auto child = spawn_helper({"tty"}, o);
  REQUIRE(child->terminal());
  CHECK(child->std_in() == child->terminal());
  CHECK(child->std_out() == child->terminal());
  CHECK(child->std_err() == child->terminal());
  EventLog log;
  log.attach(*child);
  Screen screen;
  screen.attach(*child->terminal());
  run();
  CHECK(screen.text == "isatty 1 1 1\r\nctty 1\r\nforeground 1\r\nleader 1\r\n");
  // The terminal's EIO is its end: EndEvent, no error, then close.
  CHECK(screen.ends == 1);
  CHECK(screen.errors == 0);
  CHECK(screen.closes == 1);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "pty: only the slots that ask for it are the terminal", "[pty]") {
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pty(), Stdio::pipe()};
  auto child = spawn_helper({"tty"}, o);
  REQUIRE(child->terminal());
  CHECK(child->std_out() == child->terminal());
  REQUIRE(child->std_in());
  CHECK(child->std_in() != child->terminal());
  REQUIRE(child->std_err());
  CHECK(child->std_err() != child->terminal());
  Screen screen;
  screen.attach(*child->terminal());
  run();
  // fd 0 is a pipe, so tcgetpgrp(0) cannot say; the session is still the child's.
  CHECK(screen.text == "isatty 0 1 0\r\nctty 1\r\nforeground 0\r\nleader 1\r\n");
}

TEST_CASE_METHOD(LoopFixture, "pty: test -t 0 -a -t 1 holds in a terminal, not on pipes", "[pty]") {
  const char* command = "test -t 0 -a -t 1 && echo terminal || echo pipes";
  ExecOutput with, without;
  ExecOptions o;
  o.pty = true;
  track(childproc::exec(loop(), command, o, into(with)));
  track(childproc::exec(loop(), command, {}, into(without)));
  run();
  CHECK(with.calls == 1);
  CHECK_FALSE(with.error);
  CHECK(with.out == "terminal\r\n");
  CHECK(with.err.empty());
  CHECK(without.out == "pipes\n");
}

TEST_CASE_METHOD(LoopFixture, "pty: stty size is 80x24 by default, else terminal_size", "[pty]") {
  ExecOutput standard, sized, helper;
  ExecOptions o;
  o.pty = true;
  track(childproc::exec(loop(), "stty size", o, into(standard)));
  o.terminal_size = TerminalSize{100, 40};
  track(childproc::exec(loop(), "stty size", o, into(sized)));
  track(childproc::exec_file(loop(), kHelper, {"winsize"}, o, into(helper)));
  run();
  CHECK_FALSE(standard.error);
  CHECK(standard.out == "24 80\r\n");
  CHECK(sized.out == "40 100\r\n");
  CHECK(helper.out == "40 100\r\n");
}

TEST_CASE_METHOD(LoopFixture, "pty: resize_terminal sends SIGWINCH and stty size follows",
                 "[pty]") {
  // The helper waits for SIGWINCH itself; the shell is asked after the resize.
  auto winch = spawn_helper({"winch"}, with_pty());
  auto sh = track(
      childproc::spawn(loop(), "/bin/sh", {"-c", "echo ready; read x; stty size"}, with_pty()));
  Screen a, b;
  a.attach(*winch->terminal());
  b.attach(*sh->terminal());
  bool resized_a = false, resized_b = false;
  winch->terminal()->on<DataEvent>([&](const DataEvent&) {
    if (!resized_a && a.text.find("ready\r\n") != std::string::npos) {
      resized_a = true;
      CHECK(winch->resize_terminal(120, 30));
    }
  });
  sh->terminal()->on<DataEvent>([&](const DataEvent&) {
    if (!resized_b && b.text.find("ready\r\n") != std::string::npos) {
      resized_b = true;
      CHECK(sh->resize_terminal(132, 50));
      sh->terminal()->write("\n");
    }
  });
  EventLog la, lb;
  la.attach(*winch);
  lb.attach(*sh);
  run();
  CHECK(a.text == "ready\r\n30 120\r\n");
  CHECK(b.text == "ready\r\n\r\n50 132\r\n");  // the typed newline is echoed
  CHECK(la.events.back() == "close 0 null");
  CHECK(lb.events.back() == "close 0 null");
  // The terminal is gone: nothing to resize.
  CHECK_FALSE(winch->resize_terminal(10, 10));
}

TEST_CASE_METHOD(LoopFixture, "pty: a child prints colour only on a terminal", "[pty]") {
  ExecOutput tty, pipe;
  ExecOptions o;
  o.pty = true;
  track(childproc::exec_file(loop(), kHelper, {"colour"}, o, into(tty)));
  track(childproc::exec_file(loop(), kHelper, {"colour"}, {}, into(pipe)));
  run();
  CHECK(tty.out == "\x1b[31mred\x1b[0m\r\n");
  CHECK(pipe.out == "red\n");
}

TEST_CASE_METHOD(LoopFixture, "pty: output written just before the exit is never lost", "[pty]") {
  // Many children that write and exit at once: the last bytes are in the terminal when
  // its slave closes, and reading must take them before the EIO.
  constexpr int kChildren = 24;
  std::vector<ExecOutput> small(kChildren), large(4);
  ExecOptions o;
  o.pty = true;
  for (auto& r : small)
    track(childproc::exec_file(loop(), kHelper, {"out", "300"}, o, into(r)));
  for (auto& r : large)
    track(childproc::exec_file(loop(), kHelper, {"out", "300000"}, o, into(r)));
  run();
  const std::string want_small = as_shown(pattern(0, 300));
  const std::string want_large = as_shown(pattern(0, 300000));
  for (auto& r : small) {
    CHECK_FALSE(r.error);
    CHECK(r.out == want_small);
  }
  for (auto& r : large) {
    CHECK_FALSE(r.error);
    CHECK(r.out.size() == want_large.size());
    CHECK(r.out == want_large);
  }
}

TEST_CASE_METHOD(LoopFixture, "pty: the child reads a line the parent types", "[pty]") {
  // The prompt has no newline and is not flushed: it arrives only because a terminal's
  // stdio is line-buffered and flushed before the read.
  auto child = spawn_helper({"prompt"}, with_pty());
  Screen screen;
  screen.attach(*child->terminal());
  bool typed = false;
  child->terminal()->on<DataEvent>([&](const DataEvent&) {
    if (!typed && screen.text == "name? ") {
      typed = true;
      child->terminal()->write("world\r");  // Enter sends CR; the terminal makes it NL
    }
  });
  EventLog log;
  log.attach(*child);
  run();
  CHECK(typed);
  CHECK(screen.text == "name? world\r\nhello world\r\n");
  CHECK(log.events.back() == "close 0 null");
}

TEST_CASE_METHOD(LoopFixture, "pty: Ctrl-C sends SIGINT to the foreground process group", "[pty]") {
  // The helper forks two grandchildren into its group (their stdio on /dev/null) and
  // prints their pids: Ctrl-C must reach all three, as in a terminal.
  auto child = spawn_helper({"group", "2", "60000"}, with_pty());
  Screen screen;
  screen.attach(*child->terminal());
  bool sent = false;
  child->terminal()->on<DataEvent>([&](const DataEvent&) {
    if (!sent && screen.text.find("leader") != std::string::npos &&
        screen.text.find("\r\n", screen.text.find("leader")) != std::string::npos) {
      sent = true;
      child->terminal()->write("\x03");
    }
  });
  EventLog log;
  log.attach(*child);
  run();
  CHECK(sent);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGINT", "close null SIGINT"});
  CHECK_FALSE(child->killed());  // the terminal sent it, not childproc
  std::istringstream lines(screen.text);
  std::string word;
  int grandchildren = 0;
  long pid = 0;
  while (lines >> word) {
    if (word == "leader") {
      lines >> word;
      continue;
    }
    if ((pid = std::atol(word.c_str())) > 0) {
      ++grandchildren;
      CHECK(wait_dead(static_cast<pid_t>(pid), 10s));
    }
  }
  CHECK(grandchildren == 2);
}

TEST_CASE_METHOD(LoopFixture, "pty: end() types Ctrl-D and the reader sees EOF", "[pty]") {
  // "abc" has no newline: the first Ctrl-D hands it to cat's read, the second is EOF.
  auto child = spawn_helper({"cat"}, with_pty());
  Screen screen;
  screen.attach(*child->terminal());
  int finished = 0;
  child->terminal()->on<childproc::FinishEvent>([&](const childproc::FinishEvent&) {
    ++finished;
    // Reading goes on after the write side is done.
    CHECK(child->terminal()->readable());
    CHECK_FALSE(child->terminal()->writable());
  });
  child->terminal()->end("abc");
  EventLog log;
  log.attach(*child);
  run();
  CHECK(finished == 1);
  CHECK(screen.text == "abcabc");  // the echo, then cat's copy
  CHECK(log.events.back() == "close 0 null");
}

TEST_CASE_METHOD(LoopFixture, "pty: kill(), kill_tree and timeouts behave as with pipes", "[pty]") {
  SECTION("kill") {
    auto child = spawn_helper({"sleep", "60000"}, with_pty());
    child->on<SpawnEvent>([&](const SpawnEvent&) { CHECK(child->kill()); });
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
    CHECK(child->killed());
  }
  SECTION("exec timeout") {
    ExecOutput r;
    ExecOptions o;
    o.pty = true;
    o.timeout = 200ms;
    track(childproc::exec_file(loop(), kHelper, {"sleep", "60000"}, o, into(r)));
    run();
    CHECK(r.calls == 1);
    CHECK(r.error.code == childproc::errc::timed_out);
    CHECK(r.error.signal == SIGTERM);
    CHECK(r.error.killed);
  }
  SECTION("kill_tree reaches the grandchildren") {
    SpawnOptions o = with_pty();
    o.kill_tree = true;
    auto child = spawn_helper({"group", "2", "60000"}, o);
    Screen screen;
    screen.attach(*child->terminal());
    bool sent = false;
    child->terminal()->on<DataEvent>([&](const DataEvent&) {
      const auto at = screen.text.find("leader");
      if (!sent && at != std::string::npos && screen.text.find("\r\n", at) != std::string::npos) {
        sent = true;
        CHECK(child->kill());
      }
    });
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events.back() == "close null SIGTERM");
    std::istringstream lines(screen.text.substr(0, screen.text.find("leader")));
    long pid = 0;
    int grandchildren = 0;
    while (lines >> pid) {
      ++grandchildren;
      CHECK(wait_dead(static_cast<pid_t>(pid), 10s));
    }
    CHECK(grandchildren == 2);
  }
}

TEST_CASE_METHOD(LoopFixture,
                 "pty: the child's exit hangs up its foreground group, so close does not wait",
                 "[pty]") {
  // With pipes a grandchild holding stdout delays CloseEvent for as long as it lives
  // (60 s here); a terminal whose session leader exits sends its foreground group
  // SIGHUP, as closing a terminal window does.
  auto child = spawn_helper({"hold-stdout", "60000", "up"}, with_pty());
  Screen screen;
  screen.attach(*child->terminal());
  EventLog log;
  log.attach(*child);
  run(20s);
  CHECK_FALSE(watchdog_fired());
  CHECK(screen.text.rfind("up\r\n", 0) == 0);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  const long grandchild = std::atol(screen.text.c_str() + 4);
  CHECK(grandchild > 0);
  CHECK(wait_dead(static_cast<pid_t>(grandchild), 10s));
}

TEST_CASE("pty: the sync variants", "[pty]") {
  SECTION("spawn_sync types the input, then Ctrl-D") {
    childproc::SpawnSyncOptions o;
    o.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
    o.input = "abc\n";
    const auto r = childproc::spawn_sync(kHelper, {"cat"}, o);
    CHECK_FALSE(r.error);
    CHECK(r.status == 0);
    CHECK(r.out == "abc\r\nabc\r\n");  // echo, then cat's copy
    CHECK(r.err.empty());
    REQUIRE(r.output.size() == 3);
    CHECK_FALSE(r.output[0]);
    CHECK(r.output[1] == r.out);
    CHECK_FALSE(r.output[2]);
  }
  SECTION("exec_sync and exec_file_sync") {
    childproc::ExecSyncOptions o;
    o.pty = true;
    CHECK(childproc::exec_sync("test -t 0 -a -t 1 -a -t 2 && echo yes", o) == "yes\r\n");
    o.terminal_size = TerminalSize{132, 50};
    CHECK(childproc::exec_file_sync(kHelper, {"winsize"}, o) == "50 132\r\n");
  }
  SECTION("a timeout") {
    childproc::SpawnSyncOptions o;
    o.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
    o.timeout = 200ms;
    const auto r = childproc::spawn_sync(kHelper, {"sleep", "60000"}, o);
    REQUIRE(r.error);
    CHECK(r.error->code == std::errc::timed_out);
    CHECK(r.signal == SIGTERM);
  }
}

TEST_CASE_METHOD(LoopFixture, "pty: many terminals at once leak no fd", "[pty]") {
  // The fixture checks /proc/self/fd at the end: every master and slave is closed.
  constexpr int kChildren = 48;
  std::vector<Screen> screens(kChildren);
  std::vector<std::shared_ptr<childproc::ChildProcess>> children;
  for (auto& s : screens) {
    children.push_back(spawn_helper({"tty"}, with_pty()));
    s.attach(*children.back()->terminal());
  }
  run();
  for (auto& s : screens) {
    CHECK(s.text == "isatty 1 1 1\r\nctty 1\r\nforeground 1\r\nleader 1\r\n");
    CHECK(s.errors == 0);
  }
  for (auto& c : children)
    CHECK(c->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "pty: TERM is set when the environment has none", "[pty]") {
  ExecOutput none, given;
  ExecOptions o;
  o.pty = true;
  o.env = childproc::Env{};
  track(childproc::exec_file(loop(), kHelper, {"env", "TERM"}, o, into(none)));
  o.env = childproc::Env{{"TERM", "dumb"}};
  track(childproc::exec_file(loop(), kHelper, {"env", "TERM"}, o, into(given)));
  run();
  CHECK(none.out == "xterm-256color\r\n");
  CHECK(given.out == "dumb\r\n");
}

TEST_CASE_METHOD(LoopFixture, "pty: bad input gets a clear error", "[pty]") {
  SpawnOptions o;
  o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pty()};
  CHECK_THROWS_AS(childproc::spawn(loop(), kHelper, {"exit", "0"}, o), childproc::InvalidArgument);
  auto plain = spawn_helper({"exit", "0"});
  CHECK(plain->terminal() == nullptr);
  CHECK_THROWS_AS(plain->resize_terminal(80, 24), std::logic_error);
  // A failed spawn hands out a closed terminal: writes fail with EPIPE, resize is false.
  auto missing = track(childproc::spawn(loop(), "/nonexistent/program", {}, with_pty()));
  REQUIRE(missing->terminal());
  CHECK(missing->std_out() == missing->terminal());
  CHECK_FALSE(missing->resize_terminal(80, 24));
  missing->on<ErrorEvent>(
      [](const ErrorEvent& e) { CHECK(e.error.code == std::errc::no_such_file_or_directory); });
  std::error_code write_error;
  missing->terminal()->on<ErrorEvent>([](const ErrorEvent&) {});
  missing->terminal()->write("x", [&](std::error_code ec) { write_error = ec; });
  childproc::SpawnSyncOptions so;
  so.stdio = {Stdio::ignore(), Stdio::pty(), Stdio::pty()};
  so.input = "x";
  CHECK_THROWS_AS(childproc::spawn_sync(kHelper, {"exit", "0"}, so), childproc::InvalidArgument);
  run();
  CHECK(write_error == std::errc::broken_pipe);
}

namespace {

// A host that is itself a session leader without a terminal (a daemon): opening a
// terminal without O_NOCTTY would make it the host's own. After spawning with a pty,
// the host must still have no controlling terminal.
const Mode no_ctty_mode("pty-no-ctty", [](const std::vector<std::string>&) -> int {
  if (::getsid(0) != ::getpid()) return 10;
  if (int probe = ::open("/dev/tty", O_RDWR | O_CLOEXEC); probe >= 0) return 11;
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 12;
  std::string shown;
  auto child = childproc::spawn(&loop, kHelper, {"tty"}, with_pty());
  child->terminal()->on<DataEvent>([&shown](const DataEvent& e) { shown += e.chunk; });
  child.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) return 13;
  if (shown != "isatty 1 1 1\r\nctty 1\r\nforeground 1\r\nleader 1\r\n") return 14;
  if (int probe = ::open("/dev/tty", O_RDWR | O_CLOEXEC); probe >= 0) return 15;
  return 0;
});

}  // namespace

TEST_CASE("pty: a host that leads a session without a terminal does not get the child's",
          "[pty][hostile-host]") {
  childproc::SpawnSyncOptions o;
  o.detached = true;  // the host: a session leader with no controlling terminal
  const auto r = childproc::spawn_sync(self_exe(), {"--mode", "pty-no-ctty"}, o);
  INFO(r.out << r.err);
  CHECK_FALSE(r.signal);
  CHECK(r.status == 0);
}

TEST_CASE_METHOD(LoopFixture, "pty: a child that closes its terminal and runs on is not hung up",
                 "[pty]") {
  // Every holder of the terminal closed it: the parent reads its end, but the child
  // still runs, and closing the master now would send it SIGHUP. It must be able to
  // finish: it exits 5 when told (SIGUSR1) after the parent saw the end.
  auto child =
      track(childproc::spawn(loop(), "/bin/sh",
                             {"-c",
                              "trap 'exit 5' USR1; echo closing; exec </dev/null >/dev/null 2>&1; "
                              "while :; do sleep 1; done"},
                             with_pty()));
  Screen screen;
  screen.attach(*child->terminal());
  child->terminal()->on<EndEvent>([&](const EndEvent&) { CHECK(child->kill(SIGUSR1)); });
  EventLog log;
  log.attach(*child);
  run();
  CHECK(screen.text == "closing\r\n");
  CHECK(screen.ends == 1);
  CHECK(screen.errors == 0);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 5 null", "close 5 null"});
}

TEST_CASE_METHOD(LoopFixture,
                 "pty: max_buffer stops the collection but the child gets kill_signal, not a "
                 "hangup",
                 "[pty]") {
  // The shell traps SIGTERM before it prints past max_buffer: it must get to run its
  // trap (exit 3). Closing the terminal at the decision would SIGHUP it first.
  const char* script = "trap 'exit 3' TERM; echo 0123456789; while :; do sleep 1; done";
  SECTION("exec") {
    ExecOutput r;
    ExecOptions o;
    o.pty = true;
    o.max_buffer = 5;
    track(childproc::exec(loop(), script, o, into(r)));
    run();
    CHECK(r.calls == 1);
    CHECK(r.error.code == childproc::errc::max_buffer_exceeded);
    CHECK(r.error.exit_code == 3);
    CHECK_FALSE(r.error.signal);
    CHECK(r.out == "01234");
  }
  SECTION("spawn_sync") {
    childproc::SpawnSyncOptions o;
    o.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
    o.max_buffer = 5;
    const auto r = childproc::spawn_sync("/bin/sh", {"-c", script}, o);
    REQUIRE(r.error);
    CHECK(r.error->code == std::errc::no_buffer_space);
    CHECK(r.status == 3);
    CHECK_FALSE(r.signal);
    CHECK(r.out == "01234");
  }
}
