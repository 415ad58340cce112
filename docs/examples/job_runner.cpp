// A job runner on one loop: 50 shell commands, at most 4 at a time, each with a
// timeout; every output line prefixed with its job, then a summary. Jobs finish in any
// order; the report is printed in job order, so the output is always the same.
#include <childproc/childproc.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace cp = childproc;
using namespace std::chrono_literals;

int main() {
  uv_loop_t* loop = uv_default_loop();
  std::vector<std::string> commands;
  for (int i = 1; i <= 50; ++i) {
    commands.push_back(i % 10 == 0 ? "echo job " + std::to_string(i) + " fails >&2; exit 3"
                       : i == 25   ? "echo job 25 hangs; exec sleep 30"
                                   : "echo job " + std::to_string(i) + "; echo done");
  }
  std::vector<cp::ExecResult> results(commands.size());

  cp::JobQueue queue(loop, {.concurrency = 4});
  for (std::size_t i = 0; i < commands.size(); ++i) {
    queue.push([&, i](std::stop_token stop) -> cp::Task<void> {
      // Named, not braced inside the co_await: g++ 12 mishandles that (README, Gotchas).
      const cp::ExecOptions options{.timeout = 1s, .stop_token = stop, .all = true};
      results[i] = co_await cp::exec_async(loop, commands[i], options);
    });
  }
  cp::run(loop, [](cp::JobQueue& q) -> cp::Task<void> { co_await q.drained(); }(queue));

  int ok = 0, failed = 0, timed_out = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const cp::ExecResult& r = results[i];
    std::size_t start = 0;
    for (std::size_t nl; (nl = r.all.find('\n', start)) != std::string::npos; start = nl + 1)
      std::cout << "[" << i + 1 << "] " << r.all.substr(start, nl - start) << '\n';
    if (r.kill_reason == cp::KillReason::timeout) {
      ++timed_out;
    } else if (r.error) {
      ++failed;
    } else {
      ++ok;
    }
  }
  std::cout << ok << " ok, " << failed << " failed, " << timed_out << " timed out\n";
  uv_run(loop, UV_RUN_DEFAULT);  // let the last children close
  return failed + timed_out == 0 ? 0 : 1;
}
