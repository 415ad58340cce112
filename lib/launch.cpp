#include "launch.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>

extern char** environ;

namespace childproc::detail {
namespace {

// glibc 2.36's <sys/pidfd.h> declares these without extern "C" (fixed in 2.37), so C++
// cannot link its wrappers: call the kernel directly.
int sys_pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
int sys_pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// execvp's search, done before the spawn because posix_spawnp would search the
// parent's PATH, not the child's: the first executable regular file wins; EACCES if
// only non-executable candidates were seen, else ENOENT.
int resolve(const char* file, const char* path_env, std::string& out) {
  std::string_view name(file);
  if (name.find('/') != std::string_view::npos) {
    out = name;
    return 0;
  }
  std::string_view path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  bool denied = false;
  while (true) {
    const std::size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    std::string candidate =
        dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0) {
        out = std::move(candidate);
        return 0;
      }
      denied = true;
    }
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return denied ? UV_EACCES : UV_ENOENT;
}

class SpawnSetup {
public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : temps)
      ::close(fd);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  std::vector<int> temps;
};

}  // namespace

bool posix_launcher_available() noexcept {
  static const bool available = [] {
    const char* choice = std::getenv("CHILDPROC_LAUNCHER");
    if (choice != nullptr && std::string_view(choice) == "uv") return false;
    const int fd = sys_pidfd_open(::getpid());
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }();
  return available;
}

int posix_launch(const PosixLaunch& what, int* pid_out, int* pidfd_out) {
  std::string path;
  if (int err = resolve(what.file, what.path_env, path); err != 0) return err;

  SpawnSetup s;
  const auto& stdio = *what.stdio;
  const int n = static_cast<int>(stdio.size());
  std::vector<int> source(stdio.size(), -1);
  for (int i = 0; i < n; ++i) {
    if (stdio[i].flags & UV_INHERIT_FD) source[i] = stdio[i].data.fd;
  }
  // A source fd numbered below n could be overwritten by an earlier dup2 onto that
  // number: lift such sources above the slots first (libuv does this in the child).
  for (int i = 0; i < n; ++i) {
    if (source[i] >= 0 && source[i] < n && source[i] != i) {
      const int lifted = ::fcntl(source[i], F_DUPFD_CLOEXEC, n);
      if (lifted < 0) return -errno;
      s.temps.push_back(lifted);
      source[i] = lifted;
    }
  }
  int rc = 0;
  for (int i = 0; i < n && rc == 0; ++i) {
    if (source[i] >= 0) {
      // With source == i, glibc clears FD_CLOEXEC, which is what inheriting means.
      rc = posix_spawn_file_actions_adddup2(&s.actions, source[i], i);
    } else if (i < 3) {
      rc = posix_spawn_file_actions_addopen(&s.actions, i, "/dev/null", i == 0 ? O_RDONLY : O_RDWR,
                                            0);
    }
  }
  if (rc == 0 && what.cwd != nullptr)
    rc = posix_spawn_file_actions_addchdir_np(&s.actions, what.cwd);
  if (rc != 0) return -rc;

  // As libuv's child: default dispositions for the classic signals, nothing blocked.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &defaults);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (what.detached) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&s.attr, flags);

  pid_t pid = -1;
  rc = ::posix_spawn(&pid, path.c_str(), &s.actions, &s.attr, what.argv,
                     what.envp != nullptr ? what.envp : environ);
  if (rc != 0) return -rc;

  const int pidfd = sys_pidfd_open(pid);
  if (pidfd < 0) {
    // Cannot happen once pidfds were probed; if it does, do not leave a child behind.
    const int err = -errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return err;
  }
  *pid_out = pid;
  *pidfd_out = pidfd;
  return 0;
}

int pidfd_reap(int pidfd, int64_t* exit_status, int* term_signal) {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                 WEXITED | WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  if (info.si_pid == 0) return 0;
  if (info.si_code == CLD_EXITED) {
    *exit_status = info.si_status;
    *term_signal = 0;
  } else {
    *exit_status = 0;
    *term_signal = info.si_status;
  }
  return 1;
}

int pidfd_kill(int pidfd, int signum) {
  return sys_pidfd_send_signal(pidfd, signum) == 0 ? 0 : -errno;
}

}  // namespace childproc::detail
