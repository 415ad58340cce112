// The demo, docs/examples/exec_ls: the founding article's Node program in C++. It must
// print exactly what Node prints (Node's "    at ..." stack lines aside).
#include "support.hpp"

using namespace cptest;
using childproc::ExecError;
using childproc::ExecOptions;

namespace {

using Output = ExecOutput;

}  // namespace

#ifndef EXEC_LS

TEST_CASE("demo: exec_ls", "[demo]") {
  WARN("skipped: docs/examples was not built (examples disabled), so exec_ls is absent");
}

#else

TEST_CASE_METHOD(LoopFixture, "demo: exec_ls prints what Node's program prints", "[demo]") {
  const std::string exec_ls = EXEC_LS;
  TempDir dir;
  dir.write_file("alpha.txt", "");
  dir.write_file("beta.txt", "some bytes\n");
  ExecOptions opts;
  opts.cwd = dir.path();

  SECTION("ls -l (the default command)") {
    // What `ls -l` itself prints in that directory, through childproc.
    Output ls;
    track(childproc::exec(loop(), "ls -l", opts, into(ls)));
    run();
    REQUIRE(ls.calls == 1);
    REQUIRE_FALSE(static_cast<bool>(ls.error));
    CHECK_THAT(ls.out, Catch::Contains("alpha.txt"));
    CHECK_THAT(ls.out, Catch::Contains("beta.txt"));

    Output demo;
    track(childproc::exec_file(loop(), exec_ls, {}, opts, into(demo)));
    run();
    REQUIRE(demo.calls == 1);
    CHECK_FALSE(static_cast<bool>(demo.error));
    CHECK(demo.out ==
          "Child process exited with exit code 0\n"
          "Child Process STDOUT: " +
              ls.out +
              "\n"
              "Child Process STDERR: \n");
    CHECK(demo.err.empty());
  }

  SECTION("ls -l /nonexistent (a failing command)") {
    Output ls;
    track(childproc::exec(loop(), "ls -l /nonexistent", opts, into(ls)));
    run();
    REQUIRE(ls.calls == 1);
    REQUIRE(ls.error.exit_code == 2);
    CHECK(ls.err == "ls: cannot access '/nonexistent': No such file or directory\n");

    Output demo;
    track(childproc::exec_file(loop(), exec_ls, {"ls -l /nonexistent"}, opts, into(demo)));
    run();
    REQUIRE(demo.calls == 1);
    CHECK_FALSE(static_cast<bool>(demo.error));
    CHECK(demo.out ==
          "Child process exited with exit code 2\n"
          "Error: Command failed: ls -l /nonexistent\n" +
              ls.err +
              "\n"
              "Error code: 2\n"
              "Signal received: null\n"
              "Child Process STDOUT: \n"
              "Child Process STDERR: " +
              ls.err + "\n");
  }

  SECTION("kill -TERM $$ (a command killed by a signal)") {
    Output demo;
    track(childproc::exec_file(loop(), exec_ls, {"kill -TERM $$"}, opts, into(demo)));
    run();
    REQUIRE(demo.calls == 1);
    CHECK_FALSE(static_cast<bool>(demo.error));
    CHECK(demo.out ==
          "Child process exited with exit code null\n"
          "Error: Command failed: kill -TERM $$\n"
          "\n"
          "Error code: null\n"
          "Signal received: SIGTERM\n"
          "Child Process STDOUT: \n"
          "Child Process STDERR: \n");
  }
}

#endif

#ifdef SPAWN_STREAM

TEST_CASE_METHOD(LoopFixture, "example: spawn_stream talks to cat through its pipes", "[demo]") {
  Output demo;
  track(childproc::exec_file(loop(), SPAWN_STREAM, {}, into(demo)));
  run();
  REQUIRE(demo.calls == 1);
  CHECK_FALSE(static_cast<bool>(demo.error));
  CHECK(demo.out == "stdout: hello\nstdout: world\nexit code 0\nclosed\n");
  CHECK(demo.err.empty());
}

#endif

#ifdef PIPELINE

TEST_CASE_METHOD(LoopFixture, "example: pipeline runs ps ax | grep", "[demo]") {
  SECTION("the default pattern, ssh") {
    Output demo;
    track(childproc::exec_file(loop(), PIPELINE, {}, into(demo)));
    run();
    REQUIRE(demo.calls == 1);
    CHECK_FALSE(static_cast<bool>(demo.error));
    CHECK(demo.err.empty());
    // grep's lines, each naming ssh, or the example's own answer for no line at all.
    if (demo.out != "no match\n") {
      REQUIRE_FALSE(demo.out.empty());
      CHECK(demo.out.back() == '\n');
      std::size_t start = 0;
      while (start < demo.out.size()) {
        const std::size_t end = demo.out.find('\n', start);
        const std::string line = demo.out.substr(start, end - start);
        CHECK_THAT(line, Catch::Contains("ssh"));
        start = end + 1;
      }
    }
  }
  SECTION("a pattern that matches the example itself") {
    // ps runs while the example does, so its own command line is in ps's output.
    Output demo;
    track(childproc::exec_file(loop(), PIPELINE, {"childproc-pipeline-marker"}, into(demo)));
    run();
    REQUIRE(demo.calls == 1);
    CHECK_FALSE(static_cast<bool>(demo.error));
    CHECK(demo.err.empty());
    CHECK_THAT(demo.out, Catch::Contains(std::string(PIPELINE) + " childproc-pipeline-marker"));
  }
}

#endif

#ifdef KILL_TREE

TEST_CASE_METHOD(LoopFixture,
                 "example: kill_tree kills a shell's background children at the "
                 "timeout",
                 "[demo]") {
  Output demo;
  const std::string command = kHelper + " sleep 30000 & echo started $!; wait";
  track(childproc::exec_file(loop(), KILL_TREE, {command, "300"}, into(demo)));
  run();
  REQUIRE(demo.calls == 1);
  CHECK_FALSE(static_cast<bool>(demo.error));
  CHECK_THAT(demo.out, Catch::StartsWith("tree: "));
  CHECK_THAT(demo.out, Catch::Contains("timed out: the tree was sent SIGTERM\nstdout: started "));
  const auto at = demo.out.find("started ");
  REQUIRE(at != std::string::npos);
  const pid_t background = static_cast<pid_t>(std::atol(demo.out.c_str() + at + 8));
  REQUIRE(background > 0);
  CHECK(wait_dead(background, 10s));
}

#endif

#ifdef IPC_SUPERVISOR

TEST_CASE_METHOD(LoopFixture, "example: ipc_supervisor restarts a crashed Node worker", "[demo]") {
  const std::string node = NODE_BIN;
  if (node.empty()) {
    WARN("skipped: node was not found when the tests were configured");
    return;
  }
  Output demo;
  track(childproc::exec_file(loop(), IPC_SUPERVISOR, {IPC_WORKER_JS, node}, into(demo)));
  run();
  REQUIRE(demo.calls == 1);
  CHECK_FALSE(static_cast<bool>(demo.error));
  CHECK(demo.err.empty());
  CHECK(demo.out ==
        "worker 1 started\n"
        "job 1 to worker 1: {\"op\":\"add\",\"args\":[1,2,3]}\n"
        "job 1 result: {\"id\":1,\"result\":6}\n"
        "job 2 to worker 1: {\"op\":\"upper\",\"text\":\"hello\"}\n"
        "job 2 result: {\"id\":2,\"result\":\"HELLO\"}\n"
        "job 3 to worker 1: {\"op\":\"crash\"}\n"
        "worker 1 disconnected\n"
        "worker 1 exited with code 1: job 3 lost\n"
        "worker 2 started\n"
        "job 4 to worker 2: {\"op\":\"add\",\"args\":[40,2]}\n"
        "job 4 result: {\"id\":4,\"result\":42}\n"
        "no jobs left: disconnecting worker 2\n"
        "worker 2 disconnected\n"
        "worker 2 exited with code 0\n"
        "3 jobs done, 1 lost, 1 restart\n");
}

#endif

#ifdef JOB_RUNNER

TEST_CASE_METHOD(LoopFixture,
                 "example: job_runner runs 50 jobs 4 at a time, with a timeout and a summary",
                 "[demo]") {
  Output demo;
  track(childproc::exec_file(loop(), JOB_RUNNER, {}, into(demo)));
  run(60s);
  REQUIRE(demo.calls == 1);
  CHECK(demo.error.exit_code == 1);  // some jobs fail, by design
  CHECK(demo.err.empty());
  std::string expected;
  for (int i = 1; i <= 50; ++i) {
    const std::string tag = "[" + std::to_string(i) + "] ";
    if (i % 10 == 0) {
      expected += tag + "job " + std::to_string(i) + " fails\n";
    } else if (i == 25) {
      expected += tag + "job 25 hangs\n";
    } else {
      expected += tag + "job " + std::to_string(i) + "\n" + tag + "done\n";
    }
  }
  expected += "44 ok, 5 failed, 1 timed out\n";
  CHECK(demo.out == expected);
}

#endif

#ifdef PTY_CAPTURE

TEST_CASE_METHOD(LoopFixture, "example: pty_capture shows what a terminal would", "[demo]") {
  Output colour;
  track(childproc::exec_file(loop(), PTY_CAPTURE, {kHelper + " colour"}, into(colour)));
  Output size;
  track(childproc::exec_file(loop(), PTY_CAPTURE, {"stty size", "100", "30"}, into(size)));
  Output ls;
  track(childproc::exec_file(loop(), PTY_CAPTURE, {}, into(ls)));
  run();
  REQUIRE(colour.calls == 1);
  CHECK_FALSE(static_cast<bool>(colour.error));
  CHECK(colour.out == "\\e[31mred\\e[0m\nexit code 0\ncolour: yes\n");
  CHECK(size.out == "30 100\nexit code 0\ncolour: no\n");
  // ls in a terminal lists in columns: fewer lines than entries.
  REQUIRE(ls.calls == 1);
  CHECK_FALSE(static_cast<bool>(ls.error));
  CHECK_THAT(ls.out, Catch::Contains("exit code 0\n"));
  CHECK_THAT(ls.out, Catch::Contains("usr"));
}

#endif
