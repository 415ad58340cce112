// spawn()'s options: cwd, env, PATH lookup, argv0, shell, detached, uid/gid, stdio.
#include "support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace cptest;
using childproc::DataEvent;
using childproc::SpawnOptions;
using childproc::Stdio;

namespace {

// Collects a child's stdout into `into`.
void collect(const std::shared_ptr<childproc::ChildProcess>& child, std::string& into) {
  child->std_out()->on<DataEvent>([&into](const DataEvent& e) { into.append(e.chunk); });
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "cwd: the child runs in the given directory", "[options]") {
  TempDir dir;
  SpawnOptions opts;
  opts.cwd = dir.path();
  auto child = spawn_helper({"cwd"}, opts);
  std::string out;
  collect(child, out);
  run();
  CHECK(out == dir.path() + "\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "env replaces the environment", "[options]") {
  SpawnOptions opts;
  opts.env = childproc::Env{{"CP_A", "1"}, {"CP_B", "two words"}, {"CP_EMPTY", ""}};
  auto child = spawn_helper({"envall"}, opts);
  std::string out;
  collect(child, out);
  run();
  CHECK(out == "CP_A=1\nCP_B=two words\nCP_EMPTY=\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "without env the child inherits the parent's environment",
                 "[options]") {
  ::setenv("CHILDPROC_TEST_INHERITED", "yes it is", 1);
  auto child = spawn_helper({"env", "CHILDPROC_TEST_INHERITED"});
  ::unsetenv("CHILDPROC_TEST_INHERITED");
  std::string out;
  collect(child, out);
  run();
  CHECK(out == "yes it is\n");
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "PATH lookup uses the child's PATH", "[options]") {
  TempDir dir;
  const std::string link = dir.path() + "/myprog";
  std::filesystem::create_symlink(kHelper, link);

  SECTION("found in env's PATH") {
    SpawnOptions opts;
    opts.env = childproc::Env{{"PATH", dir.path()}};
    auto child = track(childproc::spawn(loop(), "myprog", {"argv", "x"}, opts));
    std::string out;
    collect(child, out);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(out == "myprog\nargv\nx\n");
    CHECK(child->spawnfile() == "myprog");
    CHECK(child->spawnargs() == std::vector<std::string>{"myprog", "argv", "x"});
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  }
  SECTION("not found with the parent's PATH") {
    auto child = track(childproc::spawn(loop(), "myprog", {"argv"}));
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"error spawn myprog ENOENT", "close -2 null"});
  }
}

TEST_CASE_METHOD(LoopFixture, "an env without PATH looks programs up in /usr/bin:/bin",
                 "[options]") {
  SpawnOptions opts;
  opts.env = childproc::Env{{"CP_ONLY", "1"}};
  auto child = track(childproc::spawn(loop(), "sh", {"-c", "echo $CP_ONLY"}, opts));
  std::string out;
  collect(child, out);
  EventLog log;
  log.attach(*child);
  run();
  CHECK(out == "1\n");
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}

TEST_CASE_METHOD(LoopFixture, "argv0 sets argv[0] and runs the file", "[options]") {
  SpawnOptions opts;
  opts.argv0 = "custom-name";
  auto child = spawn_helper({"argv", "a b"}, opts);
  std::string out;
  collect(child, out);
  run();
  CHECK(out == "custom-name\nargv\na b\n");
  CHECK(child->spawnfile() == kHelper);
  CHECK(child->spawnargs() == std::vector<std::string>{"custom-name", "argv", "a b"});
}

TEST_CASE_METHOD(LoopFixture, "shell: true runs /bin/sh -c with the args joined", "[options]") {
  SECTION("a command line") {
    SpawnOptions opts;
    opts.shell = true;
    auto child = track(childproc::spawn(loop(), "echo $((6*7))", {}, opts));
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "42\n");
    CHECK(child->exit_code() == 0);
    CHECK(child->spawnfile() == "/bin/sh");
    CHECK(child->spawnargs() == std::vector<std::string>{"/bin/sh", "-c", "echo $((6*7))"});
  }
  SECTION("args are joined by spaces") {
    SpawnOptions opts;
    opts.shell = true;
    auto child = track(childproc::spawn(loop(), "echo", {"a", "$((1+2))", "b"}, opts));
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "a 3 b\n");
    CHECK(child->spawnargs() == std::vector<std::string>{"/bin/sh", "-c", "echo a $((1+2)) b"});
  }
  SECTION("a shell given by path") {
    SpawnOptions opts;
    opts.shell = std::string("/bin/sh");
    auto child = track(childproc::spawn(loop(), "echo $((6*7)); exit 3", {}, opts));
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "42\n");
    CHECK(child->exit_code() == 3);
    CHECK(child->spawnfile() == "/bin/sh");
  }
}

TEST_CASE_METHOD(LoopFixture, "detached: the child leads a new session", "[options]") {
  SECTION("detached") {
    SpawnOptions opts;
    opts.detached = true;
    auto child = spawn_helper({"sid"}, opts);
    std::string out;
    collect(child, out);
    run();
    REQUIRE(child->pid().has_value());
    const std::string pid = std::to_string(*child->pid());
    CHECK(out == pid + " " + pid + "\n");
  }
  SECTION("not detached: the parent's session") {
    auto child = spawn_helper({"sid"});
    std::string out;
    collect(child, out);
    run();
    REQUIRE(child->pid().has_value());
    CHECK(out == std::to_string(::getsid(0)) + " " + std::to_string(*child->pid()) + "\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "uid/gid: drop to nobody", "[options]") {
  if (::geteuid() != 0) {
    WARN("skipped: uid/gid need root to drop privileges (running as uid " << ::geteuid() << ")");
    return;
  }
  // A copy nobody can reach and run.
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::string prog = dir.path() + "/cp_helper";
  std::filesystem::copy_file(kHelper, prog);
  ::chmod(prog.c_str(), 0755);

  SECTION("uid and gid") {
    SpawnOptions opts;
    opts.uid = 65534;
    opts.gid = 65534;
    opts.cwd = "/";
    auto child = track(childproc::spawn(loop(), prog, {"ids"}, opts));
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "65534 65534\n");
    CHECK(child->exit_code() == 0);
  }
  SECTION("gid only") {
    SpawnOptions opts;
    opts.gid = 65534;
    auto child = track(childproc::spawn(loop(), prog, {"ids"}, opts));
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "0 65534\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "Stdio::inherit() gives the child the parent's fd", "[options]") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  // Point our fd 1 at the pipe just for the spawn, so the child inherits the pipe.
  std::cout.flush();
  std::fflush(nullptr);
  const int saved = ::fcntl(1, F_DUPFD_CLOEXEC, 10);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(p[1], 1) == 1);
  SpawnOptions opts;
  opts.stdio = {Stdio::ignore(), Stdio::inherit(), Stdio::pipe()};
  std::shared_ptr<childproc::ChildProcess> child;
  try {
    child = spawn_helper({"out", "1000"}, opts);
  } catch (...) {
    ::dup2(saved, 1);
    throw;
  }
  ::dup2(saved, 1);
  ::close(saved);
  ::close(p[1]);
  CHECK(child->std_in() == nullptr);
  CHECK(child->std_out() == nullptr);
  CHECK(child->std_err() != nullptr);
  EventLog log;
  log.attach(*child);
  run();
  const std::string data = read_fd(p[0]);
  ::close(p[0]);
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  CHECK(data.size() == 1000);
  CHECK(is_pattern(data));
}

TEST_CASE_METHOD(LoopFixture, "Stdio::fd(n) connects a parent fd", "[options]") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  SECTION("as stdout") {
    SpawnOptions opts;
    opts.stdio = {Stdio::ignore(), Stdio::fd(p[1]), Stdio::ignore()};
    auto child = spawn_helper({"out", "1000"}, opts);
    CHECK(child->std_out() == nullptr);
    EventLog log;
    log.attach(*child);
    run();
    ::close(p[1]);  // the parent keeps its fd open until we close it
    const std::string data = read_fd(p[0]);
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
    CHECK(data.size() == 1000);
    CHECK(is_pattern(data));
  }
  SECTION("as fd 3") {
    SpawnOptions opts;
    opts.stdio = {Stdio::ignore(), Stdio::pipe(), Stdio::pipe(), Stdio::fd(p[1])};
    auto child = spawn_helper({"echo-fd", "3", "hello fd"}, opts);
    CHECK(child->stdio(3) == nullptr);
    run();
    ::close(p[1]);
    CHECK(read_fd(p[0]) == "hello fd");
    CHECK(child->exit_code() == 0);
  }
  ::close(p[0]);
}

TEST_CASE_METHOD(LoopFixture, "Stdio::ignore(): /dev/null for 0-2, closed for 3+", "[options]") {
  SECTION("all three ignored") {
    SpawnOptions opts;
    opts.stdio = {Stdio::ignore(), Stdio::ignore(), Stdio::ignore()};
    auto child = spawn_helper({"both", "100000"}, opts);
    CHECK(child->std_in() == nullptr);
    CHECK(child->std_out() == nullptr);
    CHECK(child->std_err() == nullptr);
    EventLog log;
    log.attach(*child);
    run();
    CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  }
  SECTION("stdin ignored reads EOF at once") {
    SpawnOptions opts;
    opts.stdio = {Stdio::ignore(), Stdio::pipe(), Stdio::pipe()};
    auto child = spawn_helper({"count-stdin"}, opts);
    std::string out;
    collect(child, out);
    run();
    CHECK(out == "0\n");
    CHECK(child->exit_code() == 0);
  }
  SECTION("fd 3 ignored is closed in the child") {
    SpawnOptions opts;
    opts.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ignore()};
    auto child = spawn_helper({"echo-fd", "3", "x"}, opts);
    CHECK(child->stdio(3) == nullptr);
    run();
    CHECK(child->exit_code() == 3);  // the helper's code for a failed write
  }
  SECTION("missing entries of 0-2 are pipes") {
    SpawnOptions opts;
    opts.stdio = {Stdio::ignore()};
    auto child = spawn_helper({"argv"}, opts);
    CHECK(child->std_in() == nullptr);
    REQUIRE(child->std_out() != nullptr);
    CHECK(child->std_err() != nullptr);
    std::string out;
    collect(child, out);
    run();
    CHECK(out == kHelper + "\nargv\n");
  }
}

TEST_CASE_METHOD(LoopFixture, "an extra pipe on fd 3 is readable and writable", "[options]") {
  SpawnOptions opts;
  opts.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::pipe()};
  auto child = spawn_helper({"fd3"}, opts);
  auto fd3 = child->stdio(3);
  REQUIRE(fd3 != nullptr);
  CHECK(fd3->readable());
  CHECK(fd3->writable());
  std::string back;
  std::vector<std::string> order;
  fd3->on<DataEvent>([&](const DataEvent& e) { back.append(e.chunk); });
  fd3->on<childproc::EndEvent>([&](const childproc::EndEvent&) { order.push_back("fd3 end"); });
  child->on<childproc::CloseEvent>(
      [&](const childproc::CloseEvent& e) { order.push_back("close " + str(e.code)); });
  CHECK(fd3->write(std::string_view("hello fd3\n")));
  run();
  CHECK(back == "HELLO FD3\n");
  CHECK(child->exit_code() == 0);
  CHECK(order == std::vector<std::string>{"fd3 end", "close 0"});
}

TEST_CASE_METHOD(LoopFixture, "stdio pipes are real FIFOs the child can open by name",
                 "[options]") {
  // Under Node these are socketpairs and opening /dev/stdin fails; here they are pipes.
  auto child = track(childproc::spawn(
      loop(), "/bin/sh",
      {"-c",
       "[ -p /dev/stdin ] && [ -p /dev/stdout ] && [ -p /dev/stderr ] && echo fifo; "
       "read line < /dev/stdin; echo \"got $line\" > /dev/stdout; echo x > /dev/stderr"}));
  std::string out, err;
  collect(child, out);
  child->std_err()->on<DataEvent>([&](const DataEvent& e) { err.append(e.chunk); });
  child->std_in()->end("hello\n");
  run();
  CHECK(out == "fifo\ngot hello\n");
  CHECK(err == "x\n");
  CHECK(child->exit_code() == 0);
}
