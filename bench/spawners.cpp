// One sequential spawn+wait of a child that writes nothing, five ways. Each returns
// the wall time from just before the launch until the child has been reaped and every
// fd and handle of it is closed, and the time spent inside the launching call.
#include "bench.hpp"
#include "raw_uv.hpp"

#include <childproc/childproc.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

extern char** environ;

namespace bench {

namespace {

void run_loop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace

int wait_child(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) die("waitpid: " + std::string(std::strerror(errno)));
  }
  return st;
}

void expect_exit0(int st, const char* what) {
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die(std::string(what) + ": child did not exit 0");
}

SpawnSample childproc_spawn_once(uv_loop_t* loop, const char* file, bool background, bool pty) {
  SpawnSample s;
  std::optional<int> code;
  bool closed = false;
  childproc::SpawnOptions o;
  o.background_launch = background;
  if (pty) o.stdio = {childproc::Stdio::pty(), childproc::Stdio::pty(), childproc::Stdio::pty()};
  const auto t0 = Clock::now();
  auto child = childproc::spawn(loop, file, {}, o);
  const auto t1 = Clock::now();
  child->on<childproc::CloseEvent>([&](const childproc::CloseEvent& e) {
    closed = true;
    code = e.code;
  });
  child.reset();  // fire and forget: the child keeps itself alive until closed
  run_loop(loop);
  const auto t2 = Clock::now();
  if (!closed || code != 0) die("childproc spawn: the child did not close with code 0");
  s.total_us = us_between(t0, t2);
  s.blocked_us = us_between(t0, t1);
  return s;
}

SpawnSample childproc_exec_file_once(uv_loop_t* loop, const char* file) {
  SpawnSample s;
  bool called = false;
  bool failed = false;
  const auto t0 = Clock::now();
  childproc::exec_file(loop, file, {},
                       [&](const childproc::ExecError& error, std::string, std::string) {
                         called = true;
                         failed = static_cast<bool>(error);
                       });
  const auto t1 = Clock::now();
  run_loop(loop);
  const auto t2 = Clock::now();
  if (!called || failed) die("childproc exec_file: the callback did not report success");
  s.total_us = us_between(t0, t2);
  s.blocked_us = us_between(t0, t1);
  return s;
}

SpawnSample raw_uv_spawn_once(uv_loop_t* loop, const char* file) {
  SpawnSample s;
  RawChild c;
  char* args[] = {const_cast<char*>(file), nullptr};
  const auto t0 = Clock::now();
  const int err = raw_start(loop, c, args, &s.blocked_us);
  run_loop(loop);
  const auto t2 = Clock::now();
  if (err != 0) die(std::string("uv_spawn: ") + uv_strerror(err));
  if (!raw_ok(c) || c.open_handles != 0) die("raw uv_spawn: the child did not exit 0");
  s.total_us = us_between(t0, t2);
  return s;
}

int posix_spawn_pipes(char* const argv[], std::string* out, double* spawn_us) {
  int in[2];
  int o[2];
  int err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(o, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    die("pipe2: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = -1;
  const auto t1 = Clock::now();
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv, environ);
  if (spawn_us != nullptr) *spawn_us = us_between(t1, Clock::now());
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(o[1]);
  ::close(err[1]);
  ::close(in[1]);  // the child gets EOF on stdin
  if (rc != 0) die("posix_spawn: " + std::string(std::strerror(rc)));
  // Read stdout and stderr to EOF, as the loop-based rows do.
  pollfd fds[2] = {{o[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll: " + std::string(std::strerror(errno)));
    }
    for (auto& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      const ssize_t n = ::read(p.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(p.fd);
        p.fd = -1;
        --open;
      } else if (out != nullptr && &p == &fds[0]) {
        out->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  return wait_child(pid);
}

SpawnSample posix_spawn_pipes_once(const char* file) {
  SpawnSample s;
  char* argv[] = {const_cast<char*>(file), nullptr};
  const auto t0 = Clock::now();
  const int st = posix_spawn_pipes(argv, nullptr, &s.blocked_us);
  s.total_us = us_between(t0, Clock::now());
  expect_exit0(st, "posix_spawn");
  return s;
}

SpawnSample posix_spawn_plain_once(const char* file) {
  SpawnSample s;
  char* argv[] = {const_cast<char*>(file), nullptr};
  pid_t pid = -1;
  const auto t0 = Clock::now();
  const int rc = ::posix_spawn(&pid, file, nullptr, nullptr, argv, environ);
  const auto t1 = Clock::now();
  if (rc != 0) die("posix_spawn: " + std::string(std::strerror(rc)));
  const int st = wait_child(pid);
  const auto t2 = Clock::now();
  expect_exit0(st, "posix_spawn");
  s.total_us = us_between(t0, t2);
  s.blocked_us = us_between(t0, t1);
  return s;
}

}  // namespace bench
