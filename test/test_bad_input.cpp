// Bad input: argument errors are thrown from the call with Node's wording; OS failures
// arrive as ErrorEvent then CloseEvent{-errno}, never ExitEvent; nothing leaks.
#include "support.hpp"

#include <fcntl.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>

#include <filesystem>
#include <set>

using namespace cptest;
using childproc::InvalidArgument;
using childproc::SpawnOptions;

namespace {

using namespace std::string_literals;

const std::string kNulDisplay = "a\\x00b";  // how Node shows "a\0b" in a message

// Runs `fn`, which must throw `Ex` with Node's `code` and, when given, exactly `message`.
// A child started by mistake is tracked so the fixture ends it.
template <typename Ex, typename F>
void check_throws(LoopFixture& fx, F&& fn, const std::string& code,
                  const std::optional<std::string>& message) {
  try {
    auto child = fn();
    if (child) {
      fx.track(child);
      child->kill(SIGKILL);
    }
    FAIL_CHECK("no exception was thrown");
  } catch (const Ex& e) {
    CHECK(e.code() == code);
    if (message) CHECK(std::string(e.what()) == *message);
  } catch (const std::exception& e) {
    FAIL_CHECK("unexpected exception type: " << e.what());
  }
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "spawn(\"\") throws ERR_INVALID_ARG_VALUE", "[bad-input]") {
  check_throws<InvalidArgument>(
      *this, [&] { return track(childproc::spawn(loop(), "")); }, "ERR_INVALID_ARG_VALUE",
      "The argument 'file' cannot be empty. Received ''");
  // It is a std::invalid_argument.
  CHECK_THROWS_AS(track(childproc::spawn(loop(), "")), std::invalid_argument);
  run();
}

TEST_CASE_METHOD(LoopFixture, "exec(\"\") and exec_file(\"\") throw, the callback never runs",
                 "[bad-input]") {
  int calls = 0;
  auto cb = [&](const childproc::ExecError&, std::string, std::string) { ++calls; };
  check_throws<InvalidArgument>(
      *this, [&] { return track(childproc::exec(loop(), "", {}, cb)); }, "ERR_INVALID_ARG_VALUE",
      "The argument 'file' cannot be empty. Received ''");
  check_throws<InvalidArgument>(
      *this, [&] { return track(childproc::exec_file(loop(), "", {}, {}, cb)); },
      "ERR_INVALID_ARG_VALUE", "The argument 'file' cannot be empty. Received ''");
  run();
  CHECK(calls == 0);
}

TEST_CASE_METHOD(LoopFixture, "a NUL byte in any string throws", "[bad-input]") {
  const std::string nul = "a\0b"s;
  const std::string code = "ERR_INVALID_ARG_VALUE";

  SECTION("file") {
    check_throws<InvalidArgument>(
        *this, [&] { return track(childproc::spawn(loop(), nul)); }, code,
        "The argument 'file' must be a string without null bytes. Received '" + kNulDisplay + "'");
  }
  SECTION("an argument") {
    check_throws<InvalidArgument>(
        *this,
        [&] {
          return track(childproc::spawn(loop(), kHelper, {"x", nul}));
        },
        code,
        "The argument 'args[1]' must be a string without null bytes. Received '" + kNulDisplay +
            "'");
  }
  SECTION("an env key") {
    SpawnOptions opts;
    opts.env = childproc::Env{{nul, "x"}};
    try {
      auto child = track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
      track(child);
      FAIL_CHECK("no exception was thrown");
    } catch (const InvalidArgument& e) {
      CHECK(e.code() == code);
      // Node quotes the key inside the property name too; check both ends.
      const std::string what = e.what();
      CHECK_THAT(what, Catch::StartsWith("The property 'options.env["));
      CHECK_THAT(what, Catch::EndsWith("must be a string without null bytes. Received '" +
                                       kNulDisplay + "'"));
    }
  }
  SECTION("an env value") {
    SpawnOptions opts;
    opts.env = childproc::Env{{"A", nul}};
    check_throws<InvalidArgument>(
        *this,
        [&] {
          return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
        },
        code,
        "The property 'options.env['A']' must be a string without null bytes. Received '" +
            kNulDisplay + "'");
  }
  SECTION("cwd") {
    SpawnOptions opts;
    opts.cwd = nul;
    try {
      auto child = track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
      track(child);
      FAIL_CHECK("no exception was thrown");
    } catch (const InvalidArgument& e) {
      CHECK(e.code() == code);
      // Node: "must be a string, Uint8Array, or URL without null bytes"; the types may differ.
      const std::string what = e.what();
      CHECK_THAT(what, Catch::StartsWith("The property 'options.cwd' must be a string"));
      CHECK_THAT(what, Catch::EndsWith("without null bytes. Received '" + kNulDisplay + "'"));
    }
  }
  SECTION("argv0") {
    SpawnOptions opts;
    opts.argv0 = nul;
    check_throws<InvalidArgument>(
        *this,
        [&] {
          return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
        },
        code,
        "The property 'options.argv0' must be a string without null bytes. Received '" +
            kNulDisplay + "'");
  }
  SECTION("shell") {
    SpawnOptions opts;
    opts.shell = nul;
    check_throws<InvalidArgument>(
        *this, [&] { return track(childproc::spawn(loop(), "echo hi", {}, opts)); }, code,
        "The property 'options.shell' must be a string without null bytes. Received '" +
            kNulDisplay + "'");
  }
  run();
}

TEST_CASE_METHOD(LoopFixture, "unknown signals throw UnknownSignal", "[bad-input]") {
  auto expect_unknown = [](auto make, const std::string& message) {
    try {
      make();
      FAIL_CHECK("no exception was thrown");
    } catch (const childproc::UnknownSignal& e) {
      CHECK(e.code() == "ERR_UNKNOWN_SIGNAL");
      CHECK(std::string(e.what()) == message);
    }
  };
  expect_unknown([] { return childproc::Signal("SIGFOO"); }, "Unknown signal: SIGFOO");
  expect_unknown([] { return childproc::Signal(std::string("sigfoo")); }, "Unknown signal: sigfoo");
  expect_unknown([] { return childproc::Signal(999); }, "Unknown signal: 999");
  expect_unknown(
      [] {
        SpawnOptions opts;
        opts.kill_signal = "SIGFOO";
        return opts.timeout;
      },
      "Unknown signal: SIGFOO");
  CHECK_THROWS_AS(childproc::Signal("SIGFOO"), InvalidArgument);
  CHECK_THROWS_AS(childproc::Signal("SIGFOO"), std::invalid_argument);

  // kill() with a bad name throws too, and sends nothing.
  auto child = spawn_helper({"sleep", "20000"});
  expect_unknown([&] { return child->kill("SIGFOO"); }, "Unknown signal: SIGFOO");
  CHECK_FALSE(child->killed());
  CHECK(child->kill());
  run();
  CHECK(child->signal_code() == SIGTERM);
}

TEST_CASE_METHOD(LoopFixture, "a negative timeout throws OutOfRange", "[bad-input]") {
  const std::string message =
      "The value of \"timeout\" is out of range. It must be an unsigned integer. Received -1";
  SpawnOptions opts;
  opts.timeout = std::chrono::milliseconds(-1);
  check_throws<childproc::OutOfRange>(
      *this,
      [&] {
        return track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts));
      },
      "ERR_OUT_OF_RANGE", message);

  childproc::ExecOptions eopts;
  eopts.timeout = std::chrono::milliseconds(-1);
  int calls = 0;
  check_throws<childproc::OutOfRange>(
      *this,
      [&] {
        return childproc::exec(
            loop(), "exit 0", eopts,
            [&](const childproc::ExecError&, std::string, std::string) { ++calls; });
      },
      "ERR_OUT_OF_RANGE", message);
  run();
  CHECK(calls == 0);
}

TEST_CASE_METHOD(LoopFixture, "a negative Stdio::fd throws InvalidArgument", "[bad-input]") {
  SpawnOptions opts;
  opts.stdio = {childproc::Stdio::pipe(), childproc::Stdio::fd(-1), childproc::Stdio::pipe()};
  CHECK_THROWS_AS(track(childproc::spawn(loop(), kHelper, {"exit", "0"}, opts)), InvalidArgument);
  run();
}

TEST_CASE_METHOD(LoopFixture, "a missing program: ErrorEvent ENOENT, then CloseEvent{-2}",
                 "[bad-input]") {
  auto child = track(childproc::spawn(loop(), "nosuchprog", {"a", "b"}));
  REQUIRE(child);
  CHECK_FALSE(child->pid().has_value());
  // kill() before the spawn succeeded: false, nothing signalled (not the process group).
  CHECK_FALSE(child->kill());
  EventLog log;
  log.attach(*child);
  run();

  CHECK(log.events == std::vector<std::string>{"error spawn nosuchprog ENOENT", "close -2 null"});
  REQUIRE(log.errors.size() == 1);
  const auto& e = log.errors[0];
  CHECK(e.code == std::errc::no_such_file_or_directory);
  CHECK(childproc::code_name(e.code) == "ENOENT");
  CHECK(e.syscall == "spawn nosuchprog");
  CHECK(e.path == "nosuchprog");
  CHECK(e.spawnargs == std::vector<std::string>{"a", "b"});
  CHECK(e.message() == "spawn nosuchprog ENOENT");
  CHECK_FALSE(child->pid().has_value());
  CHECK(child->exit_code() == -2);
  CHECK_FALSE(child->signal_code().has_value());
  CHECK_FALSE(child->kill());
  CHECK_FALSE(child->kill(SIGKILL));
  CHECK_FALSE(child->killed());
  CHECK(child->spawnfile() == "nosuchprog");
  CHECK(child->spawnargs() == std::vector<std::string>{"nosuchprog", "a", "b"});
}

TEST_CASE_METHOD(LoopFixture, "a spawn error with no ErrorEvent listener is not fatal",
                 "[bad-input]") {
  auto child = track(childproc::spawn(loop(), "nosuchprog"));
  int closes = 0;
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent& e) {
    ++closes;
    CHECK(e.code == -2);
  });
  run();
  CHECK(closes == 1);
  const auto messages = take_unhandled();
  REQUIRE(messages.size() == 1);
  CHECK_THAT(messages[0], Catch::Contains("spawn nosuchprog ENOENT"));
}

TEST_CASE_METHOD(LoopFixture, "a file that is not executable: EACCES", "[bad-input]") {
  TempDir dir;
  const std::string file = dir.write_file("script.sh", "#!/bin/sh\necho hi\n", 0644);
  auto child = track(childproc::spawn(loop(), file, {"x"}));
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events ==
        std::vector<std::string>{"error spawn " + file + " EACCES", "close -13 null"});
  REQUIRE(log.errors.size() == 1);
  CHECK(log.errors[0].code == std::errc::permission_denied);
  CHECK(log.errors[0].syscall == "spawn " + file);
  CHECK(log.errors[0].path == file);
  CHECK(log.errors[0].spawnargs == std::vector<std::string>{"x"});
  CHECK(child->exit_code() == -13);
}

// Node says only "spawn <file> ENOENT" here, which reads as a missing program;
// childproc names the cwd (docs/node-compat.md).
TEST_CASE_METHOD(LoopFixture, "a bad cwd: ENOENT or ENOTDIR", "[bad-input]") {
  SECTION("missing directory") {
    SpawnOptions opts;
    opts.cwd = "/nonexistent-childproc-dir";
    auto child = spawn_helper({"exit", "0"}, opts);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{
                            "error spawn " + kHelper + " ENOENT (cwd '/nonexistent-childproc-dir')",
                            "close -2 null"});
    REQUIRE(log.errors.size() == 1);
    CHECK(log.errors[0].code == std::errc::no_such_file_or_directory);
    CHECK(log.errors[0].path == kHelper);
  }
  SECTION("not a directory") {
    TempDir dir;
    SpawnOptions opts;
    opts.cwd = dir.write_file("plain", "x");
    auto child = spawn_helper({"exit", "0"}, opts);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"error spawn " + kHelper + " ENOTDIR (cwd '" + *opts.cwd + "')",
                                   "close -20 null"});
    REQUIRE(log.errors.size() == 1);
    CHECK(log.errors[0].code == std::errc::not_a_directory);
  }
}

TEST_CASE_METHOD(LoopFixture, "a uid or gid that is not permitted: EPERM", "[bad-input]") {
  const std::string which = GENERATE(std::string("uid"), std::string("gid"));
  const std::string expected = "error spawn " + kHelper + " EPERM\nclose -1 null\n";
  if (::geteuid() != 0) {
    SpawnOptions opts;
    (which == "gid" ? opts.gid : opts.uid) = 0;
    auto child = spawn_helper({"exit", "0"}, opts);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events ==
          std::vector<std::string>{"error spawn " + kHelper + " EPERM", "close -1 null"});
    REQUIRE(log.errors.size() == 1);
    CHECK(log.errors[0].code == std::errc::operation_not_permitted);
    return;
  }
  // As root every uid is permitted: re-run this test binary, which drops to nobody and
  // then asks for uid/gid 0 (see main.cpp).
  std::string out;
  auto self = track(childproc::spawn(loop(), "/proc/self/exe", {"--unprivileged-spawn", which}));
  self->std_out()->on<childproc::DataEvent>([&](const childproc::DataEvent& e) { out += e.chunk; });
  std::optional<int> code;
  self->on<childproc::CloseEvent>([&](const childproc::CloseEvent& e) { code = e.code; });
  run();
  CHECK(code == 0);
  CHECK(out == expected);
}

namespace {

// Lowers RLIMIT_NOFILE's soft limit so that exactly `free_slots` fd numbers are free
// below it; restores the old limit when done.
class FdLimit {
public:
  explicit FdLimit(int free_slots) {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    std::set<int> open;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      open.insert(std::stoi(entry.path().filename().string()));
    }
    // The directory iterator's own fd is closed again by now: free it in the count.
    std::set<int> really_open;
    for (int fd : open) {
      if (::fcntl(fd, F_GETFD) != -1) really_open.insert(fd);
    }
    int free = 0, fd = 0;
    for (; free < free_slots; ++fd) {
      if (!really_open.count(fd)) ++free;
    }
    rlimit low = old_;
    low.rlim_cur = static_cast<rlim_t>(fd);
    active_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
  }
  ~FdLimit() { restore(); }
  void restore() {
    if (active_) ::setrlimit(RLIMIT_NOFILE, &old_);
    active_ = false;
  }
  bool active() const noexcept { return active_; }

private:
  rlimit old_{};
  bool active_ = false;
};

}  // namespace

TEST_CASE_METHOD(LoopFixture, "too many open files: EMFILE as an ErrorEvent, nothing leaks",
                 "[bad-input]") {
  // A first child creates whatever the loop keeps for children (its signal pipe).
  auto first = spawn_helper({"exit", "0"});
  run();
  REQUIRE(first->exit_code() == 0);
  first.reset();

  for (int free_slots : {0, 1, 2, 3, 5}) {
    INFO("free fd slots: " << free_slots);
    EventLog log;
    std::shared_ptr<childproc::ChildProcess> child;
    {
      FdLimit limit(free_slots);
      REQUIRE(limit.active());
      child = spawn_helper({"out", "10"});
      log.attach(*child);
      child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) { limit.restore(); });
      child->on<childproc::ErrorEvent>([&](const childproc::ErrorEvent&) { limit.restore(); });
      run();
    }
    CHECK(log.events ==
          std::vector<std::string>{"error spawn " + kHelper + " EMFILE", "close -24 null"});
    REQUIRE(log.errors.size() == 1);
    CHECK(log.errors[0].code == std::errc::too_many_files_open);
    CHECK_FALSE(child->pid().has_value());
    CHECK_FALSE(child->kill());
  }
}

// Issue 4's scale check: under `ulimit -Sn 1024`, 1000 children started at once. The
// spawns that find no fd fail each with a clean EMFILE; every other child runs to the
// end; nothing leaks (the fixture counts fds, handles and zombies).
TEST_CASE_METHOD(LoopFixture, "1000 children under a soft fd limit of 1024", "[bad-input]") {
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = std::min<rlim_t>(1024, old.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  int ok = 0;
  int emfile = 0;
  int other = 0;
  for (int i = 0; i < 1000; ++i) {
    auto child = spawn_helper({"sleep", "200"});
    child->on<childproc::ErrorEvent>([&](const childproc::ErrorEvent& e) {
      if (e.error.code == std::errc::too_many_files_open) {
        ++emfile;
      } else {
        ++other;
      }
    });
    child->on<childproc::CloseEvent>([&](const childproc::CloseEvent& e) {
      if (e.code == 0) ++ok;
    });
  }
  run(60s);
  ::setrlimit(RLIMIT_NOFILE, &old);
  CHECK(other == 0);
  CHECK(ok + emfile == 1000);
  CHECK(ok > 100);    // the limit leaves room for a couple of hundred children
  CHECK(emfile > 0);  // and not for a thousand
}

TEST_CASE("raise_fd_limit() lifts the soft fd limit to the hard one, and only when asked",
          "[bad-input]") {
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = std::min<rlim_t>(512, old.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  const long raised = childproc::raise_fd_limit();
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  ::setrlimit(RLIMIT_NOFILE, &old);
  CHECK(raised == static_cast<long>(old.rlim_max));
  CHECK(now.rlim_cur == old.rlim_max);
}
