// kill_tree and die_with_parent: every process a child starts goes when childproc kills
// the child, and children go when their parent dies.
#include "support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

using namespace cptest;
using childproc::CloseEvent;
using childproc::ExecError;
using childproc::ExitEvent;
using childproc::SpawnEvent;
using childproc::TreeMechanism;

namespace {

std::vector<pid_t> pids_in(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  long pid;
  while (in >> pid)
    pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// Checks that every pid dies soon (on the pidfd event); kills and reports survivors.
void check_all_dead(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    INFO("pid " << pid);
    const bool dead = wait_dead(pid, 10s);
    CHECK(dead);
    if (!dead) ::kill(pid, SIGKILL);
  }
}

// The cgroups this process made for its children (childproc-<pid>-<n>) that still exist.
int own_cgroups() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, line;
  std::string root;
  while (mounts >> dev >> dir >> type && std::getline(mounts, line)) {
    if (type == "cgroup2" && root.empty()) root = dir;  // the first, as the library
  }
  std::ifstream self("/proc/self/cgroup");
  std::string base;
  while (std::getline(self, line)) {
    if (line.compare(0, 3, "0::") == 0) base = root + line.substr(3);
  }
  if (root.empty() || !std::filesystem::is_directory(base)) return 0;
  const std::string prefix = "childproc-" + std::to_string(::getpid()) + "-";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(base))
    n += e.path().filename().string().compare(0, prefix.size(), prefix) == 0;
  return n;
}

// Runs the body once per mechanism: the best one here, then the process group forced.
template <typename Body>
void for_each_mechanism(Body body) {
  for (const bool forced_group : {false, true}) {
    if (forced_group) ::setenv("CHILDPROC_KILL_TREE", "process_group", 1);
    body(forced_group);
    ::unsetenv("CHILDPROC_KILL_TREE");
  }
}

// Runs `command` through /bin/sh with kill_tree (and `o`'s other options), tracked, its
// stdout appended to `out`; `on_out` runs after each chunk.
std::shared_ptr<childproc::ChildProcess> spawn_tree(LoopFixture& f, const std::string& command,
                                                    std::string& out,
                                                    std::function<void()> on_out = {},
                                                    childproc::SpawnOptions o = {}) {
  o.kill_tree = true;
  o.shell = true;
  auto child = f.track(childproc::spawn(f.loop(), command, {}, o));
  child->std_out()->on<childproc::DataEvent>([&out, on_out](const childproc::DataEvent& e) {
    out.append(e.chunk);
    if (on_out) on_out();
  });
  return child;
}

const std::string kShellTree = kHelper + " sleep 30000 & echo $!; " + kHelper +
                               " sleep 30000 & echo $!; " + kHelper + " sleep 30000; echo never";

}  // namespace

TEST_CASE_METHOD(LoopFixture,
                 "tree_mechanism: none without kill_tree, a cgroup where one can be "
                 "made, else a process group",
                 "[tree]") {
  auto plain = spawn_helper({"exit", "0"});
  CHECK(plain->tree_mechanism() == TreeMechanism::none);
  childproc::SpawnOptions o;
  o.kill_tree = true;
  auto tree = spawn_helper({"exit", "0"}, o);
  CHECK(tree->tree_mechanism() != TreeMechanism::none);
  if (tree->tree_mechanism() == TreeMechanism::cgroup) {
    CHECK(own_cgroups() == 1);
  } else {
    WARN("no writable cgroup2 here: kill_tree uses a process group");
  }
  ::setenv("CHILDPROC_KILL_TREE", "process_group", 1);
  auto group = spawn_helper({"sleep", "20000"}, o);
  ::unsetenv("CHILDPROC_KILL_TREE");
  CHECK(group->tree_mechanism() == TreeMechanism::process_group);
  pid_t pgid = 0, sid = 0;
  group->on<SpawnEvent>([&](const SpawnEvent&) {
    pgid = ::getpgid(*group->pid());
    sid = ::getsid(*group->pid());
    group->kill(SIGKILL);
  });
  run();
  CHECK(own_cgroups() == 0);     // removed when the ChildProcess closed
  CHECK(pgid == *group->pid());  // it leads a group of its own...
  CHECK(sid == ::getsid(0));     // ...in our session (detached makes a new one)
  auto failed = track(childproc::spawn(loop(), "/nonexistent/x", {}, o));
  failed->on<childproc::ErrorEvent>([](const childproc::ErrorEvent&) {});
  CHECK(failed->tree_mechanism() == TreeMechanism::none);
  run();
  CHECK(own_cgroups() == 0);
}

TEST_CASE_METHOD(LoopFixture,
                 "exec of a shell with background children, timeout and kill_tree "
                 "leaves no process of the tree",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    childproc::ExecOptions o;
    o.timeout = 2s;  // an upper bound on the shell starting its two children
    o.kill_tree = true;
    std::string got;
    ExecError error;
    auto child = track(childproc::exec(loop(), kShellTree, o,
                                       [&](const ExecError& e, std::string out, std::string) {
                                         error = e;
                                         got = out;
                                       }));
    track(child);
    run();
    CHECK(error.code == childproc::errc::timed_out);
    CHECK(error.killed);
    const auto pids = pids_in(got);
    CHECK(pids.size() == 2);
    check_all_dead(pids);
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "kill_tree after the shell exited: the timeout still reaches "
                 "background children that hold the pipes",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    childproc::ExecOptions o;
    o.timeout = 1s;  // an upper bound on the shell's exit; the timeout must come after it
    o.kill_tree = true;
    std::string got;
    ExecError error;
    std::vector<std::string> order;
    auto child = track(childproc::exec(loop(), kHelper + " sleep 30000 & echo $!", o,
                                       [&](const ExecError& e, std::string out, std::string) {
                                         error = e;
                                         got = out;
                                         order.push_back("callback");
                                       }));
    child->on<ExitEvent>([&](const ExitEvent& e) { order.push_back("exit " + str(e.code)); });
    track(child);
    run();
    CHECK(order == std::vector<std::string>{"exit 0", "callback"});
    CHECK(error.code == childproc::errc::timed_out);
    check_all_dead(pids_in(got));
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "kill() with kill_tree works until CloseEvent, and close comes "
                 "once the tree is gone",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    childproc::SpawnOptions o;
    o.kill_tree = true;
    auto child = spawn_helper({"hold-stdout", "30000", "hello"}, o);
    std::string err_text;
    child->std_err()->on<childproc::DataEvent>(
        [&](const childproc::DataEvent& e) { err_text.append(e.chunk); });
    std::vector<std::string> events;
    bool killed_after_exit = false;
    child->on<ExitEvent>([&](const ExitEvent& e) {
      events.push_back("exit " + str(e.code));
      killed_after_exit = child->kill(SIGKILL);
    });
    child->on<CloseEvent>([&](const CloseEvent& e) {
      events.push_back("close " + str(e.code));
      CHECK_FALSE(child->kill(SIGKILL));  // after close: nothing is signalled
    });
    run();
    CHECK(killed_after_exit);
    CHECK(child->killed());
    CHECK(events == std::vector<std::string>{"exit 0", "close 0"});
    check_all_dead(pids_in(err_text));
  });
  // Without kill_tree, kill() after exit sends nothing, as before.
  childproc::SpawnOptions wait_less;
  wait_less.close_timeout = 100ms;
  auto plain = spawn_helper({"hold-stdout", "30000", "hello"}, wait_less);
  std::string err_text;
  plain->std_err()->on<childproc::DataEvent>(
      [&](const childproc::DataEvent& e) { err_text.append(e.chunk); });
  bool sent = true;
  plain->on<ExitEvent>([&](const ExitEvent&) { sent = plain->kill(SIGKILL); });
  run();
  CHECK_FALSE(sent);
  REQUIRE(pids_in(err_text).size() == 1);
  for (pid_t pid : pids_in(err_text))
    ::kill(pid, SIGKILL);
  check_all_dead(pids_in(err_text));
}

TEST_CASE_METHOD(LoopFixture,
                 "a setsid grandchild: the cgroup reaches it, a process group "
                 "cannot",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    childproc::SpawnOptions o;
    o.kill_tree = true;
    o.close_timeout = 200ms;
    auto child = spawn_helper({"escape", "30000"}, o);
    const TreeMechanism mechanism = child->tree_mechanism();
    std::string out;
    child->std_out()->on<childproc::DataEvent>(
        [&](const childproc::DataEvent& e) { out.append(e.chunk); });
    child->on<ExitEvent>([&](const ExitEvent&) { child->kill(SIGTERM); });
    run();
    const auto pids = pids_in(out);
    REQUIRE(pids.size() == 1);
    if (mechanism == TreeMechanism::cgroup) {
      check_all_dead(pids);
    } else {
      INFO((forced_group ? "process group (forced)" : "process group"));
      CHECK_FALSE(process_dead(pids[0]));  // documented: it left the group
      ::kill(pids[0], SIGKILL);
      check_all_dead(pids);
    }
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "terminate(), max_buffer, stop_token and ChildGuard reach the "
                 "whole tree",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    std::vector<pid_t> all;
    // terminate() (SIGTERM, then SIGKILL after 200 ms).
    std::string t_out;
    std::shared_ptr<childproc::ChildProcess> t;
    t = spawn_tree(*this, kShellTree, t_out, [&] {
      if (pids_in(t_out).size() == 2) t->terminate(200ms);
    });

    // exec's max_buffer.
    childproc::ExecOptions eo;
    eo.kill_tree = true;
    eo.max_buffer = 1000;
    std::string m_out;
    track(childproc::exec(loop(),
                          kHelper + " sleep 30000 & echo $!; " + kHelper + " out 100000; wait", eo,
                          [&](const ExecError& e, std::string out, std::string) {
                            CHECK(e.code == childproc::errc::max_buffer_exceeded);
                            m_out = out;
                          }));

    // stop_token.
    std::stop_source stop;
    std::string c_pids;
    childproc::SpawnOptions with_stop;
    with_stop.stop_token = stop.get_token();
    auto c = spawn_tree(
        *this, kShellTree, c_pids,
        [&] {
          if (pids_in(c_pids).size() == 2) stop.request_stop();
        },
        with_stop);
    c->on<childproc::ErrorEvent>([](const childproc::ErrorEvent&) {});

    // ChildGuard: the listener holds the last guard, and drops it.
    std::string g_pids;
    std::shared_ptr<childproc::ChildGuard> guard;
    guard = std::make_shared<childproc::ChildGuard>(spawn_tree(*this, kShellTree, g_pids,
                                                               [&] {
                                                                 if (pids_in(g_pids).size() == 2)
                                                                   guard.reset();
                                                               }),
                                                    200ms);
    run();

    // Each tree had both background children when it was killed (m: the one before
    // the output).
    CHECK(pids_in(t_out).size() == 2);
    CHECK(pids_in(m_out).size() == 1);
    CHECK(pids_in(c_pids).size() == 2);
    CHECK(pids_in(g_pids).size() == 2);
    for (const std::string* text : {&t_out, &m_out, &c_pids, &g_pids}) {
      auto pids = pids_in(*text);
      CHECK(pids.size() >= 1);
      all.insert(all.end(), pids.begin(), pids.end());
    }
    check_all_dead(all);
  });
}

namespace {

// `--mode die-parent`: spawns children with die_with_parent, prints their pids (and,
// for the shell, its background child's), then runs its loop until it is SIGKILLed.
const Mode die_parent_mode("die-parent", [](const std::vector<std::string>& args) -> int {
  uv_loop_t* loop = uv_default_loop();
  childproc::SpawnOptions o;
  o.die_with_parent = true;
  o.kill_tree = !args.empty() && args[0] == "tree";
  // Nothing of the test's pipes may reach the children: the test waits for them to close.
  o.stdio = {childproc::Stdio::ignore(), childproc::Stdio::ignore(), childproc::Stdio::ignore()};
  auto direct = childproc::spawn(loop, kHelper, {"sleep", "30000"}, o);
  o.shell = true;
  o.stdio = {childproc::Stdio::ignore(), childproc::Stdio::pipe(), childproc::Stdio::ignore()};
  auto shell = childproc::spawn(
      loop, kHelper + " sleep 30000 & echo $!; exec " + kHelper + " sleep 30000", {}, o);
  std::string line;
  shell->std_out()->on<childproc::DataEvent>([&](const childproc::DataEvent& e) {
    line.append(e.chunk);
    if (line.find('\n') == std::string::npos) return;
    std::printf("%d %d %s", direct->pid().value_or(0), shell->pid().value_or(0), line.c_str());
    std::fflush(stdout);
  });
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
});

}  // namespace

TEST_CASE_METHOD(LoopFixture, "die_with_parent: a SIGKILLed parent's children die", "[tree][die]") {
  for_each_mechanism([&](bool forced_group) {
    for (const char* how : {"plain", "tree"}) {
      INFO(how << (forced_group ? ", process group" : ", best mechanism"));
      auto parent = track(childproc::spawn(loop(), self_exe(), {"--mode", "die-parent", how}));
      track(parent);
      std::string out;
      parent->std_out()->on<childproc::DataEvent>([&](const childproc::DataEvent& e) {
        out.append(e.chunk);
        if (pids_in(out).size() == 3) parent->kill(SIGKILL);
      });
      run();
      const auto pids = pids_in(out);
      REQUIRE(pids.size() == 3);  // the direct child, the shell, the shell's background child
      if (std::string(how) == "tree") {
        check_all_dead(pids);
      } else {
        check_all_dead({pids[0], pids[1]});
        // Without kill_tree only the children themselves die: the shell's background child
        // was never the parent's child.
        CHECK_FALSE(process_dead(pids[2]));
        ::kill(pids[2], SIGKILL);
        check_all_dead({pids[2]});
      }
    }
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "kill_tree with close_timeout: the timeout still fires while a "
                 "background child holds the pipes",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    childproc::ExecOptions o;
    o.timeout = 1s;
    o.close_timeout = 20s;  // would end the wait only long after the timeout
    o.kill_tree = true;
    ExecError error;
    std::string got;
    track(childproc::exec(loop(), kHelper + " sleep 30000 & echo $!", o,
                          [&](const ExecError& e, std::string out, std::string) {
                            error = e;
                            got = out;
                          }));
    run(15s);
    CHECK(error.code == childproc::errc::timed_out);
    check_all_dead(pids_in(got));
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "kill_tree: terminate() after the timeout fired still escalates "
                 "to SIGKILL for a descendant that ignores SIGTERM",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    childproc::SpawnOptions o;
    o.timeout = 500ms;  // fires once the shell waits; SIGTERM ends the shell only
    std::string out;
    auto child = spawn_tree(*this, kHelper + " term-proof 30000 keep & wait", out, {}, o);
    child->on<ExitEvent>([&](const ExitEvent&) { child->terminate(200ms); });
    run(15s);
    CHECK(child->timed_out());
    check_all_dead(pids_in(out));
  });
}

TEST_CASE_METHOD(LoopFixture,
                 "kill_tree: a SIGKILL escalation still pending at CloseEvent "
                 "reaches descendants that hold no pipe",
                 "[tree]") {
  for_each_mechanism([&](bool forced_group) {
    INFO((forced_group ? "process group" : "best mechanism"));
    std::string out;
    std::shared_ptr<childproc::ChildProcess> child;
    child = spawn_tree(*this, kHelper + " term-proof 30000 drop & wait", out, [&] {
      // The descendant ignores SIGTERM and holds no pipe now: the shell dies of the
      // SIGTERM, CloseEvent comes at once, long before the SIGKILL is due.
      if (!pids_in(out).empty()) child->terminate(20s);
    });
    run(15s);
    REQUIRE(pids_in(out).size() == 1);
    check_all_dead(pids_in(out));
  });
}
