// Section 5 (IPC), the C++ parent's side: childproc::fork() of node_bench.js's echo, or
// childproc::spawn() of bench-ipc-echo with Stdio::ipc(). One child per sample, driven
// through four phases on the caller's loop:
//   ping-pong warm-up, ping-pong (timed), throughput warm-up, throughput (timed)
// then disconnect() and a wait for CloseEvent (exit code 0). node_bench.js's `ipc`
// command runs the same phases with Node's fork() and send().
//
// ipc_raw(): the floor row, the same phases with no library at all: a socketpair,
// posix_spawn of `bench-ipc-echo --raw`, poll/read/write on the bytes.
#include "bench.hpp"

#include <childproc/childproc.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

extern char** environ;

namespace bench {

std::string ipc_payload(std::size_t bytes) {
  // The same characters as node_bench.js's ipcPayload(): no byte needs escaping, so
  // the JSON text is the quotes and these.
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  constexpr std::size_t k = sizeof kAlphabet - 1;
  std::string s = "\"";
  for (std::size_t i = 0; i + 2 < bytes; ++i)
    s += kAlphabet[i % k];
  s += '"';
  return s;
}

namespace {

class Driver {
public:
  Driver(std::shared_ptr<childproc::ChildProcess> child, const IpcCounts& counts, IpcTimes& out)
      : child_(std::move(child)), msg_(ipc_payload(counts.bytes)) {
    phases_ = {{true, counts.warm_pingpong, nullptr},
               {true, counts.pingpong, &out.pingpong_s},
               {false, counts.warm_throughput, nullptr},
               {false, counts.throughput, &out.throughput_s}};
    child_->on<childproc::MessageEvent>(
        [this](const childproc::MessageEvent& m) { on_message(m); });
    child_->on<childproc::ErrorEvent>(
        [](const childproc::ErrorEvent& e) { die("ipc: " + e.error.message()); });
    child_->on<childproc::CloseEvent>([this](const childproc::CloseEvent& e) {
      closed_ = true;
      if (e.code != 0) die("ipc: the echo child did not exit 0");
      if (phase_ != phases_.size()) die("ipc: the echo child closed early");
    });
  }

  void start() { start_phase(); }
  bool closed() const { return closed_; }

private:
  struct Phase {
    bool pingpong;
    std::size_t n;
    double* seconds;  // null: a warm-up
  };

  void start_phase() {
    if (phase_ == phases_.size()) {
      child_->disconnect();
      return;
    }
    sent_ = written_ = got_ = 0;
    blocked_ = false;
    t0_ = Clock::now();
    if (phases_[phase_].pingpong) {
      ++sent_;
      child_->send(msg_);
    } else {
      pump();
    }
  }

  /// Sends until the phase's messages are all queued or send() says the queue is full
  /// (128 KiB); then waits until every callback so far has come (written_ == sent_).
  void pump() {
    const std::size_t n = phases_[phase_].n;
    while (sent_ < n) {
      ++sent_;
      if (!child_->send(msg_, [this](std::error_code ec) { on_written(ec); })) {
        blocked_ = true;
        return;
      }
    }
  }

  void on_written(std::error_code ec) {
    if (ec) die("ipc: send: " + ec.message());
    ++written_;
    if (blocked_ && written_ == sent_) {
      blocked_ = false;
      pump();
    }
    maybe_finish();
  }

  void on_message(const childproc::MessageEvent& m) {
    if (m.json != msg_) die("ipc: the echo is not the message sent");
    const Phase& p = phases_[phase_];
    if (++got_ == p.n) t1_ = Clock::now();
    if (p.pingpong) {
      if (got_ < p.n) {
        ++sent_;
        child_->send(msg_);
        return;
      }
      written_ = sent_;  // no callbacks asked for
    }
    maybe_finish();
  }

  /// The phase ends with its last echo, but the next starts only once every send
  /// callback has come too (one may follow the echo), so the counts stay the phase's.
  void maybe_finish() {
    const Phase& p = phases_[phase_];
    if (got_ < p.n || written_ < sent_) return;
    if (p.seconds != nullptr) *p.seconds = us_between(t0_, t1_) / 1e6;
    ++phase_;
    start_phase();
  }

  std::shared_ptr<childproc::ChildProcess> child_;
  std::string msg_;
  std::vector<Phase> phases_;
  std::size_t phase_ = 0;
  std::size_t sent_ = 0, written_ = 0, got_ = 0;
  bool blocked_ = false;
  bool closed_ = false;
  Clock::time_point t0_, t1_;
};

// ---- the floor: raw bytes over a socketpair

void wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) die("ipc raw: poll: " + std::string(std::strerror(errno)));
  }
}

/// Ping-pong: one line out, then poll and read until the whole echo is back.
void raw_pingpong(int fd, const std::string& line, std::size_t n) {
  static char buf[64 * 1024];
  for (std::size_t i = 0; i < n; ++i) {
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      die("ipc raw: short write");
    for (std::size_t got = 0; got < line.size();) {
      wait_readable(fd);
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) {
        got += static_cast<std::size_t>(r);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        die("ipc raw: read failed");
      }
    }
  }
}

/// Throughput: n lines written as fast as the socket takes them (poll for POLLOUT),
/// echoes read meanwhile, until n lines' bytes are back.
void raw_throughput(int fd, const std::string& line, std::size_t n) {
  constexpr std::size_t kLines = 128;  // one 128 KiB block of lines, written round and round
  std::string block;
  for (std::size_t i = 0; i < kLines; ++i)
    block += line;
  static char buf[64 * 1024];
  const std::size_t total = n * line.size();
  std::size_t sent = 0;
  std::size_t got = 0;
  while (got < total) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < total ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      die("ipc raw: poll: " + std::string(std::strerror(errno)));
    }
    if ((p.revents & POLLOUT) != 0) {
      const std::size_t at = sent % block.size();
      const std::size_t len = std::min(total - sent, block.size() - at);
      const ssize_t w = ::write(fd, block.data() + at, len);
      if (w > 0) sent += static_cast<std::size_t>(w);
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) {
        got += static_cast<std::size_t>(r);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        die("ipc raw: read failed");
      }
    }
  }
}

}  // namespace

IpcTimes ipc_raw(const std::string& echo, const IpcCounts& counts) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("ipc raw: socketpair: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char* argv[] = {const_cast<char*>(echo.c_str()), const_cast<char*>("--raw"), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, echo.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sv[1]);
  if (rc != 0) die("ipc raw: posix_spawn: " + std::string(std::strerror(rc)));
  const int fd = sv[0];
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string line = ipc_payload(counts.bytes) + "\n";

  IpcTimes t;
  raw_pingpong(fd, line, counts.warm_pingpong);
  auto t0 = Clock::now();
  raw_pingpong(fd, line, counts.pingpong);
  t.pingpong_s = us_between(t0, Clock::now()) / 1e6;
  raw_throughput(fd, line, counts.warm_throughput);
  t0 = Clock::now();
  raw_throughput(fd, line, counts.throughput);
  t.throughput_s = us_between(t0, Clock::now()) / 1e6;

  ::close(fd);  // the child reads EOF and exits 0
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) die("ipc raw: waitpid: " + std::string(std::strerror(errno)));
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("ipc raw: the echo child failed");
  return t;
}

IpcTimes ipc_cpp_parent(uv_loop_t* loop, const IpcChild& who, const IpcCounts& counts) {
  if (counts.bytes < 2 || counts.warm_pingpong == 0 || counts.pingpong == 0 ||
      counts.warm_throughput == 0 || counts.throughput == 0)
    die("ipc: every count must be positive");
  std::shared_ptr<childproc::ChildProcess> child;
  if (who.node.empty()) {
    childproc::SpawnOptions o;
    const auto io = childproc::Stdio::inherit();
    o.stdio = {io, io, io, childproc::Stdio::ipc()};  // as fork()'s default
    child = childproc::spawn(loop, who.echo, {}, o);
  } else {
    childproc::ForkOptions o;
    o.exec_path = who.node;
    child = childproc::fork(loop, who.echo, {"ipc-echo"}, o);
  }
  IpcTimes times;
  Driver driver(child, counts, times);
  driver.start();
  uv_run(loop, UV_RUN_DEFAULT);
  if (!driver.closed()) die("ipc: the loop ended before the echo child closed");
  return times;
}

}  // namespace bench
