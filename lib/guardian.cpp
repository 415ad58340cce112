#include "guardian.hpp"

#include "cgroup.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>

namespace childproc::detail {
namespace {

// $1: the cgroup directory childproc makes cgroups in (may be empty), $2: this pid.
// Registered groups arrive as "+ PGID" and leave as "- PGID" on fd 0 (a variable per
// group, so each message costs the same however many are registered); EOF means the
// host is gone. Signals a terminal or a group kill could send are ignored.
constexpr const char* kScript = R"SH((
trap '' HUP INT QUIT TERM PIPE
ids=
while read -r op g; do
  case $op in
    +) eval "[ -n \"\${g_$g-}\" ]" || ids="$ids $g"; eval "g_$g=1" ;;
    -) unset "g_$g" ;;
  esac
done
for x in $ids; do eval "[ -n \"\${g_$x-}\" ]" && kill -s KILL -- "-$x" && unset "g_$x"; done
for d in "$1"/childproc-"$2"-*-d; do [ -d "$d" ] && echo 1 > "$d/cgroup.kill"; done
) 0<&3 3<&- >/dev/null 2>&1 &)SH";

int g_fd = -1;  // the write end; this process holds it until it dies

int start() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, p[0], 3);
  for (int fd = 0; fd < 3; ++fd)
    posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
  // It may outlive us for a moment only, but must not hold a socket of ours meanwhile.
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const std::string base = Cgroup::base_dir();
  const std::string self = std::to_string(::getpid());
  const char* argv[] = {"sh", "-c", kScript, "sh", base.c_str(), self.c_str(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char**>(argv), nullptr);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(p[0]);
  if (rc != 0) {
    ::close(p[1]);
    return -1;
  }
  // The outer shell exits as soon as the guardian runs in the background: reap it
  // here (a host that ignores SIGCHLD or reaps everything may have done so: ECHILD).
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  // A guardian slow to read must never block a loop: what the pipe has no room for
  // waits in `g_pending` for the next message.
  ::fcntl(p[1], F_SETFL, O_NONBLOCK);
  return p[1];
}

std::mutex g_mutex;     // loops on several threads may register groups
std::string g_pending;  // messages not written yet, in order: none is ever dropped

void send(char op, int pgid) noexcept {
  if (g_fd < 0) return;
  char line[32];
  const int n = std::snprintf(line, sizeof line, "%c %d\n", op, pgid);
  std::lock_guard<std::mutex> lock(g_mutex);
  try {
    g_pending.append(line, static_cast<std::size_t>(n));
  } catch (...) {
    return;
  }
  while (!g_pending.empty()) {
    const ssize_t w = ::write(g_fd, g_pending.data(), g_pending.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    g_pending.erase(0, static_cast<std::size_t>(w));
  }
}

}  // namespace

bool guardian_ready() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] { g_fd = start(); });
  } catch (...) {
  }
  return g_fd >= 0;
}

void guardian_watch_group(int pgid) noexcept {
  send('+', pgid);
}

void guardian_forget_group(int pgid) noexcept {
  send('-', pgid);
}

}  // namespace childproc::detail
