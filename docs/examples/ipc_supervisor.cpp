// ipc_supervisor: a C++ parent that runs jobs in a Node worker over Node's IPC channel.
//
// fork()s ipc_worker.js, sends it one job at a time as JSON and prints each answer.
// When the worker dies (the 'crash' job makes the first one exit with code 1), the job
// it was running is reported lost and a new worker takes the remaining jobs. At the
// end, disconnect() shuts the last worker down: nothing else keeps it alive, so it
// exits 0. Prints:
//
//   worker 1 started
//   job 1 to worker 1: {"op":"add","args":[1,2,3]}
//   job 1 result: {"id":1,"result":6}
//   job 2 to worker 1: {"op":"upper","text":"hello"}
//   job 2 result: {"id":2,"result":"HELLO"}
//   job 3 to worker 1: {"op":"crash"}
//   worker 1 disconnected
//   worker 1 exited with code 1: job 3 lost
//   worker 2 started
//   job 4 to worker 2: {"op":"add","args":[40,2]}
//   job 4 result: {"id":4,"result":42}
//   no jobs left: disconnecting worker 2
//   worker 2 disconnected
//   worker 2 exited with code 0
//   3 jobs done, 1 lost, 1 restart
//
// Usage: ipc_supervisor [worker.js [node]]
// The defaults are docs/examples/ipc_worker.js (relative to the current directory) and
// `node` from PATH, so from the repository root, after `meson compile -C build`:
//
//   ./build/docs/examples/ipc_supervisor
//
// Exit status 0; 1 when node could not be started or the worker kept dying.
#include <childproc/childproc.hpp>

#include <uv.h>

#include <cstddef>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cp = childproc;

namespace {

class Supervisor {
public:
  Supervisor(uv_loop_t* loop, std::string worker_js, std::string node)
      : loop_(loop), worker_js_(std::move(worker_js)), node_(std::move(node)) {}

  // Runs `jobs` (JSON objects) to the end; false if it had to give up.
  bool run(std::vector<std::string> jobs) {
    jobs_ = std::move(jobs);
    start_worker();
    uv_run(loop_, UV_RUN_DEFAULT);
    std::cout << done_ << " jobs done, " << lost_ << " lost, " << restarts_
              << (restarts_ == 1 ? " restart" : " restarts") << '\n';
    return !failed_ && next_ == jobs_.size() && !in_flight_;
  }

private:
  static constexpr int kMaxRestarts = 3;

  void start_worker() {
    const int n = ++workers_;
    cp::ForkOptions options;
    options.exec_path = node_;
    // The worker shares our stdout and stderr; the channel is its fd 3.
    worker_ = cp::fork(loop_, worker_js_, {}, options);
    cp::ChildProcess* w = worker_.get();
    w->on<cp::ErrorEvent>([this, w](const cp::ErrorEvent& e) {
      std::cerr << "ipc_supervisor: " << e.error.message() << '\n';
      if (!w->pid()) failed_ = true;  // the spawn failed (spawn node ENOENT): no exit comes
    });
    if (!w->pid()) return;
    std::cout << "worker " << n << " started\n";
    w->on<cp::MessageEvent>([this](const cp::MessageEvent& m) { on_result(m.json); });
    w->on<cp::DisconnectEvent>(
        [n](const cp::DisconnectEvent&) { std::cout << "worker " << n << " disconnected\n"; });
    w->on<cp::ExitEvent>([this, n](const cp::ExitEvent& e) { on_exit(n, e); });
    send_next();
  }

  void send_next() {
    if (next_ == jobs_.size()) {
      std::cout << "no jobs left: disconnecting worker " << workers_ << '\n';
      shutting_down_ = true;
      worker_->disconnect();  // the worker sees 'disconnect', then exits by itself
      return;
    }
    in_flight_ = next_++;
    const std::size_t id = *in_flight_ + 1;
    std::cout << "job " << id << " to worker " << workers_ << ": " << jobs_[*in_flight_] << '\n';
    // One message: exactly one JSON value. childproc checks it and sends it as one line.
    worker_->send(R"({"id":)" + std::to_string(id) + R"(,"job":)" + jobs_[*in_flight_] + "}");
  }

  // `json` is the worker's answer as it sent it, e.g. {"id":1,"result":6}. Only one job
  // is out at a time, so it is the answer to that one and needs no parsing here.
  void on_result(const std::string& json) {
    std::cout << "job " << *in_flight_ + 1 << " result: " << json << '\n';
    in_flight_.reset();
    ++done_;
    send_next();
  }

  // A worker's messages, and the disconnect its exit causes, all come before this.
  void on_exit(int n, const cp::ExitEvent& e) {
    std::cout << "worker " << n << " exited with "
              << (e.code ? "code " + std::to_string(*e.code) : cp::signal_name(*e.signal));
    if (shutting_down_) {
      std::cout << '\n';
      return;
    }
    if (in_flight_) {
      // Not retried: a job that kills its worker would kill the next one too.
      std::cout << ": job " << *in_flight_ + 1 << " lost";
      in_flight_.reset();
      ++lost_;
    }
    std::cout << '\n';
    if (restarts_ == kMaxRestarts) {
      std::cerr << "ipc_supervisor: the worker keeps dying, giving up\n";
      failed_ = true;
      return;
    }
    ++restarts_;
    start_worker();
  }

  uv_loop_t* loop_;
  std::string worker_js_;
  std::string node_;
  std::vector<std::string> jobs_;
  std::size_t next_ = 0;                  // the next job to send
  std::optional<std::size_t> in_flight_;  // the job the worker has now
  std::shared_ptr<cp::ChildProcess> worker_;
  int workers_ = 0;
  int restarts_ = 0;
  int done_ = 0;
  int lost_ = 0;
  bool shutting_down_ = false;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string worker_js = argc > 1 ? argv[1] : "docs/examples/ipc_worker.js";
  const std::string node = argc > 2 ? argv[2] : "node";
  if (!std::filesystem::exists(worker_js)) {
    // node would only exit 1 with "Cannot find module", worker after worker.
    std::cerr << "ipc_supervisor: " << worker_js << " not found (run from the repository root, "
              << "or give the worker's path)\n";
    return 1;
  }
  Supervisor supervisor(uv_default_loop(), worker_js, node);
  const bool ok = supervisor.run({
      R"({"op":"add","args":[1,2,3]})",
      R"({"op":"upper","text":"hello"})",
      R"({"op":"crash"})",
      R"({"op":"add","args":[40,2]})",
  });
  return ok ? 0 : 1;
}
