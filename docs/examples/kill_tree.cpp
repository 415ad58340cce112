// A harness step with a deadline: run a shell command that may start background work,
// and when the deadline passes kill everything it started, not only the shell.
//
//   kill_tree ['<command>' [timeout-ms]]
//
// Prints how the tree was reached, how the command ended, its output, and what it cost.
#include <childproc/childproc.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace cp = childproc;

int main(int argc, char* argv[]) {
  const std::string command = argc > 1 ? argv[1] : "sleep 30 & echo started $!; wait";
  cp::ExecOptions options;
  options.timeout = std::chrono::milliseconds(argc > 2 ? std::atol(argv[2]) : 500);
  options.kill_tree = true;        // the timeout kills the shell's whole tree
  options.die_with_parent = true;  // and so does our own death, however it comes

  std::shared_ptr<cp::ChildProcess> child;
  child = cp::exec(command, options, [&](const cp::ExecError& error, std::string out, std::string) {
    std::cout << "tree: "
              << (child->tree_mechanism() == cp::TreeMechanism::cgroup ? "cgroup" : "process group")
              << '\n';
    if (error.code == cp::errc::timed_out) {
      std::cout << "timed out: the tree was sent " << cp::signal_name(options.kill_signal.number())
                << '\n';
    } else if (error) {
      std::cout << "failed: " << error.message() << '\n';
    } else {
      std::cout << "done\n";
    }
    std::cout << "stdout: " << out;
    if (auto usage = child->resource_usage()) {
      std::cout << "cpu: " << (usage->user_time + usage->system_time).count() << " us\n";
    }
    child.reset();
  });
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
