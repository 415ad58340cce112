// Owning children in hostile hosts: another reaper in the process, pids reused, PATH
// searched where the child runs, uid/gid and scripts without "#!" through the clone
// launcher, and what a child cost (resource usage).
#include "support.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

using namespace cptest;
using childproc::CloseEvent;
using childproc::ExecError;
using childproc::ExitEvent;
using childproc::SpawnEvent;
using childproc::Stdio;

namespace {

// Runs `total` quick children, `in_flight` at a time, each writing its own line to
// stderr and exiting with its own status; returns how many came back wrong.
int run_quick_children(LoopFixture& f, int total, int in_flight, std::string& first_bad) {
  int started = 0;
  int bad = 0;
  std::function<void()> start_one = [&] {
    const int i = started++;
    const int status = i % 200;
    childproc::exec_file(
        f.loop(), kHelper, {"fail", "m" + std::to_string(i), std::to_string(status)},
        [&, i, status](const ExecError& e, std::string out, std::string err) {
          const bool ok = err == "m" + std::to_string(i) + "\n" && out.empty() &&
                          e.exit_code.value_or(0) == status && !e.signal && (status == 0) == !e;
          if (!ok && bad++ == 0) {
            first_bad = "child " + std::to_string(i) + ": code " + str(e.exit_code) + " signal " +
                        sig(e.signal) + " err '" + err + "' message '" + e.message() + "'";
          }
          if (started < total) start_one();
        });
  };
  for (int k = 0; k < in_flight; ++k)
    start_one();
  f.run(180s);
  return bad;
}

// Before 6.15 the kernel keeps no status for a child someone else reaped.
bool stolen_status_readable() {
  return kernel_at_least(6, 15);
}

}  // namespace

TEST_CASE_METHOD(LoopFixture,
                 "a host that ignores SIGCHLD: 1000 quick children report their "
                 "real status and output",
                 "[ownership]") {
  if (uv_launcher()) {
    WARN(
        "skipped on the uv_spawn launcher: libuv reaps through its own SIGCHLD handler, "
        "which a host's SIG_IGN replaces (docs/guide.md, launch)");
    return;
  }
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0);
  std::string first_bad;
  const int bad = run_quick_children(*this, 1000, 32, first_bad);
  ::sigaction(SIGCHLD, &old, nullptr);
  if (stolen_status_readable()) {
    INFO(first_bad);
    CHECK(bad == 0);
  } else {
    WARN("kernel before 6.15: an auto-reaped child's status is lost (" << bad << " of 1000)");
  }
}

TEST_CASE_METHOD(LoopFixture,
                 "a host reaping with waitpid(-1) in a thread: 1000 quick children "
                 "report their real status and output",
                 "[ownership]") {
  if (uv_launcher()) {
    WARN(
        "skipped on the uv_spawn launcher: libuv 1.44 waits forever for a child another "
        "reaper took (docs/guide.md, launch)");
    return;
  }
  std::atomic<bool> stop{false};
  std::atomic<int> stolen{0};
  std::thread reaper([&] {
    while (!stop) {
      int st = 0;
      if (::waitpid(-1, &st, WNOHANG) > 0) {
        ++stolen;
      } else {
        ::usleep(100);  // the hostile host's own pace, not a synchronisation
      }
    }
  });
  std::string first_bad;
  const int bad = run_quick_children(*this, 1000, 32, first_bad);
  stop = true;
  reaper.join();
  INFO("the host stole " << stolen << " children");
  CHECK(stolen > 0);
  if (stolen_status_readable()) {
    INFO(first_bad);
    CHECK(bad == 0);
  } else {
    WARN("kernel before 6.15: a stolen child's status is lost (" << bad << " of 1000)");
  }
}

namespace {

// In a private pid namespace (so forcing pid reuse disturbs nobody): spawn a child, let
// the "host" reap it behind childproc's back, make a stranger take its pid and lead a
// process group with that number, then ask childproc to signal the child (and its
// tree). Nothing may reach the stranger. Exit 0 on success, 77 when pid reuse cannot be
// forced here, else a code naming the failed step (printed too).
int pid_reuse_in_namespace(const std::string& how) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (how == "group") ::setenv("CHILDPROC_KILL_TREE", "process_group", 1);
  childproc::SpawnOptions o;
  o.stdio = {Stdio::ignore(), Stdio::ignore(), Stdio::ignore()};
  o.kill_tree = how != "plain";
  auto child = childproc::spawn(&loop, kHelper, {"sleep", "20000"}, o);
  if (!child->pid()) return 10;
  const pid_t pid = *child->pid();
  std::printf("child %d mechanism %d\n", pid, static_cast<int>(child->tree_mechanism()));
  if (how == "group" && child->tree_mechanism() != childproc::TreeMechanism::process_group)
    return 11;
  if (how == "cgroup" && child->tree_mechanism() != childproc::TreeMechanism::cgroup) return 77;

  // The host steals it.
  ::kill(pid, SIGKILL);
  int st = 0;
  if (::waitpid(pid, &st, __WALL) != pid) return 12;

  // A stranger takes the pid and leads a process group of that number.
  const int fd = ::open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
  if (fd < 0) return 77;
  const std::string last = std::to_string(pid - 1);
  const bool written = ::write(fd, last.data(), last.size()) == static_cast<ssize_t>(last.size());
  ::close(fd);
  if (!written) return 77;
  int ready[2];
  if (::pipe(ready) != 0) return 13;
  const pid_t stranger = ::fork();
  if (stranger == 0) {
    ::setsid();
    (void)::write(ready[1], "x", 1);
    for (;;)
      ::pause();
  }
  char c;
  (void)::read(ready[0], &c, 1);
  std::printf("stranger %d\n", stranger);
  int rc = 0;
  if (stranger != pid) {
    rc = 77;
  } else {
    if (child->kill(SIGTERM)) rc = 20;
    if (child->kill(SIGKILL)) rc = 21;
    if (::waitpid(stranger, &st, WNOHANG) != 0) rc = 22;  // the stranger must be alive
  }
  std::optional<int> code, signal;
  child->on<CloseEvent>([&](const CloseEvent& e) {
    code = e.code;
    signal = e.signal;
  });
  child->on<childproc::ErrorEvent>([&](const childproc::ErrorEvent& e) {
    std::printf("error %s\n", e.error.message().c_str());
  });
  child.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  std::printf("close %s %s\n", str(code).c_str(), sig(signal).c_str());
  if (rc == 0 && kernel_at_least(6, 15) && signal != SIGKILL) rc = 23;
  ::kill(stranger, SIGKILL);
  ::waitpid(stranger, &st, 0);
  if (uv_loop_close(&loop) != 0 && rc == 0) rc = 24;
  return rc;
}

// `--mode pid-reuse plain|group|cgroup`: pid 1 of a new pid namespace runs the scenario.
const Mode pid_reuse_mode("pid-reuse", [](const std::vector<std::string>& args) -> int {
  if (args.size() != 1) return 2;
  if (::unshare(CLONE_NEWPID) != 0) return 77;
  std::fflush(stdout);
  const pid_t init = ::fork();
  if (init < 0) return 77;
  if (init == 0) {
    // Not std::exit: LeakSanitizer's exit-time check finds its threads through
    // /proc/<getpid()>/task, and this /proc is the host's, where pid 1 is someone else.
    const int rc = pid_reuse_in_namespace(args[0]);
    std::fflush(stdout);
    ::_exit(rc);
  }
  int st = 0;
  ::waitpid(init, &st, 0);
  // No exit-time checks here: LeakSanitizer's would fork into the namespace, whose init
  // has gone.
  std::fflush(stdout);
  ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
});

}  // namespace

TEST_CASE(
    "pids reused after another reaper took the child: kill() and the tree kill never "
    "reach the process that took the pid",
    "[ownership]") {
  if (uv_launcher()) {
    WARN(
        "skipped on the uv_spawn launcher: it has no pidfd to tell the child from a "
        "process that took its pid (docs/guide.md, launch)");
    return;
  }
  for (const char* how : {"plain", "group", "cgroup"}) {
    auto r = childproc::spawn_sync(self_exe(), {"--mode", "pid-reuse", how});
    INFO(how << ": " << r.out << r.err);
    REQUIRE(r.status.has_value());
    if (*r.status == 77) {
      WARN(
          "pid reuse cannot be forced here (needs root for a private pid namespace and "
          "ns_last_pid, and for 'cgroup' a writable cgroup2): "
          << how);
      continue;
    }
    CHECK(*r.status == 0);
  }
}

TEST_CASE_METHOD(LoopFixture, "PATH is searched after cwd applies: relative and empty entries",
                 "[ownership]") {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/bin");
  dir.write_file("bin/cp-tool", "#!/bin/sh\necho relative entry in $(pwd)\n", 0755);
  dir.write_file("cp-tool2", "#!/bin/sh\necho empty entry\n", 0755);
  std::string out_rel, out_empty;
  childproc::ExecOptions o;
  o.cwd = dir.path();
  o.env = childproc::Env{{"PATH", "bin"}};
  track(childproc::exec_file(loop(), "cp-tool", {}, o,
                             [&](const ExecError& e, std::string out, std::string err) {
                               INFO(e.message() << err);
                               CHECK_FALSE(e);
                               out_rel = out;
                             }));
  o.env = childproc::Env{{"PATH", "/nonexistent::/also-not"}};
  track(childproc::exec_file(loop(), "cp-tool2", {}, o,
                             [&](const ExecError& e, std::string out, std::string err) {
                               INFO(e.message() << err);
                               CHECK_FALSE(e);
                               out_empty = out;
                             }));
  run();
  CHECK(out_rel == "relative entry in " + dir.path() + "\n");
  CHECK(out_empty == "empty entry\n");
}

TEST_CASE_METHOD(LoopFixture,
                 "a directory named like the program in PATH is EACCES, and the "
                 "search goes on past it, as execvp",
                 "[ownership]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/a/cp-prog");
  std::filesystem::create_directories(dir.path() + "/b");
  childproc::ExecOptions o;
  o.env = childproc::Env{{"PATH", dir.path() + "/a:" + dir.path() + "/b"}};
  std::error_code code;
  track(childproc::exec_file(loop(), "cp-prog", {}, o,
                             [&](const ExecError& e, std::string, std::string) { code = e.code; }));
  run();
  CHECK(code == std::errc::permission_denied);

  dir.write_file("b/cp-prog", "#!/bin/sh\necho found in b\n", 0755);
  std::string found;
  track(childproc::exec_file(loop(), "cp-prog", {}, o,
                             [&](const ExecError& e, std::string out, std::string) {
                               CHECK_FALSE(e);
                               found = out;
                             }));
  run();
  CHECK(found == "found in b\n");
}

TEST_CASE_METHOD(LoopFixture,
                 "a script without #! runs with /bin/sh (ENOEXEC), by path and "
                 "through PATH",
                 "[ownership]") {
  TempDir dir;
  const std::string script = dir.write_file("noshebang", "echo no shebang \"$@\" $0\n", 0755);
  std::vector<std::string> outs;
  auto collect = [&](const ExecError& e, std::string out, std::string err) {
    INFO(e.message() << err);
    CHECK_FALSE(e);
    outs.push_back(out);
  };
  track(childproc::exec_file(loop(), script, {"a b", "c"}, {}, collect));
  childproc::ExecOptions o;
  o.env = childproc::Env{{"PATH", dir.path()}};
  track(childproc::exec_file(loop(), "noshebang", {"x"}, o, collect));
  run();
  std::sort(outs.begin(), outs.end());  // the two run at once
  CHECK(outs == std::vector<std::string>{"no shebang a b c " + script + "\n",
                                         "no shebang x " + script + "\n"});
}

TEST_CASE_METHOD(LoopFixture,
                 "uid and gid without uv_spawn: the host's SIGCHLD disposition is "
                 "never touched",
                 "[ownership]") {
  if (::geteuid() != 0) {
    WARN("skipped: needs root to change ids");
    return;
  }
  struct sigaction before {};
  ::sigaction(SIGCHLD, nullptr, &before);
  childproc::SpawnOptions o;
  o.uid = 65534;
  o.gid = 65534;
  auto child = spawn_helper({"ids"}, o);
  std::string out;
  child->std_out()->on<childproc::DataEvent>(
      [&](const childproc::DataEvent& e) { out.append(e.chunk); });
  void (*during)(int) = nullptr;
  child->on<SpawnEvent>([&](const SpawnEvent&) {
    struct sigaction now {};
    ::sigaction(SIGCHLD, nullptr, &now);
    during = now.sa_handler;
  });
  run();
  CHECK(out == "65534 65534\n");
  // libuv installs its SIGCHLD handler for uv_spawn; the clone launcher needs none.
  if (uv_launcher()) {
    CHECK(during != before.sa_handler);
  } else {
    CHECK(during == before.sa_handler);
  }
}

TEST_CASE_METHOD(LoopFixture, "resource usage: CPU time of a child that burns a known amount",
                 "[ownership][usage]") {
  auto child = spawn_helper({"burn", "300"});
  std::optional<childproc::ResourceUsage> at_spawn, at_exit;
  child->on<SpawnEvent>([&](const SpawnEvent&) { at_spawn = child->resource_usage(); });
  child->on<ExitEvent>([&](const ExitEvent&) { at_exit = child->resource_usage(); });
  run();
  CHECK_FALSE(at_spawn);
  if (uv_launcher()) {
    CHECK_FALSE(at_exit);  // libuv reaps without asking the kernel for usage
    return;
  }
  REQUIRE(at_exit);
  const auto cpu = at_exit->user_time + at_exit->system_time;
  CHECK(cpu >= 290ms);
  CHECK(cpu < 10s);
  CHECK(at_exit->user_time > at_exit->system_time);
  CHECK(at_exit->minor_faults > 0);
  CHECK(at_exit->voluntary_context_switches + at_exit->involuntary_context_switches >= 0);
  CHECK(child->resource_usage()->user_time == at_exit->user_time);
}

TEST_CASE_METHOD(LoopFixture,
                 "resource usage: the peak RSS is the child's, or none, never the "
                 "parent's",
                 "[ownership][usage]") {
  if (uv_launcher()) {
    WARN("skipped on the uv_spawn launcher: no resource usage there");
    return;
  }
  // A child that touches 512 MiB: far above this process's peak (even under
  // AddressSanitizer), so the figure is its own.
  auto big = spawn_helper({"touch", "512"});
  std::optional<childproc::ResourceUsage> big_usage;
  big->on<ExitEvent>([&](const ExitEvent&) { big_usage = big->resource_usage(); });
  run();
  REQUIRE(big_usage);
  REQUIRE(big_usage->max_rss_kib);
  CHECK(*big_usage->max_rss_kib >= 512 * 1024);
  CHECK(*big_usage->max_rss_kib < 512 * 1024 + 128 * 1024);

  // A parent with a 384 MiB peak and a child that touches nothing: the kernel charges
  // the child the parent's peak, which must not be reported as the child's.
  std::vector<char> ballast(384u << 20);
  for (std::size_t i = 0; i < ballast.size(); i += 4096)
    ballast[i] = 1;
  auto small = spawn_helper({"exit", "0"});
  std::optional<childproc::ResourceUsage> small_usage;
  small->on<ExitEvent>([&](const ExitEvent&) { small_usage = small->resource_usage(); });
  run();
  REQUIRE(small_usage);
  CHECK_FALSE(small_usage->max_rss_kib);
}

TEST_CASE("resource usage in spawn_sync's result", "[ownership][usage]") {
  auto r = childproc::spawn_sync(kHelper, {"burn", "100"});
  CHECK(r.status == 0);
  if (uv_launcher()) {
    CHECK_FALSE(r.usage);
    return;
  }
  REQUIRE(r.usage);
  CHECK(r.usage->user_time + r.usage->system_time >= 90ms);
  auto failed = childproc::spawn_sync("/nonexistent/program");
  CHECK_FALSE(failed.usage);
}

namespace {

// `--mode closed-stderr`: this process's fd 2 is closed, as in some daemons. A child
// given /dev/null for fd 2 (Stdio::ignore) must find it open: /dev/null then lands on
// fd 2 itself. The helper writes to fd 2 (exit 3 on EBADF). The loop is made first:
// libuv refuses to own fds 0-2.
const Mode closed_stderr_mode("closed-stderr", [](const std::vector<std::string>&) -> int {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ::close(2);
  int rc = 10;
  childproc::SpawnOptions o;
  o.stdio = {Stdio::ignore(), Stdio::ignore(), Stdio::ignore()};
  auto child = childproc::spawn(&loop, kHelper, {"echo-fd", "2", "to fd 2"}, o);
  child->on<ExitEvent>([&](const ExitEvent& e) { rc = e.code.value_or(20); });
  child.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
});

}  // namespace

TEST_CASE("a host with fd 2 closed: the child's /dev/null slot 2 is open", "[ownership]") {
  auto r = childproc::spawn_sync(self_exe(), {"--mode", "closed-stderr"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
}
