// The launch step behind one seam: libuv's uv_spawn (fork + exec; its cost grows
// with the parent's memory) or posix_spawn (clone(CLONE_VM|CLONE_VFORK) + exec, flat)
// with the exit watched through a pidfd on the loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

namespace childproc::detail {

/// True when this process may use the posix_spawn launcher: the kernel has pidfds
/// and CHILDPROC_LAUNCHER is not "uv" (read once).
bool posix_launcher_available() noexcept;

struct PosixLaunch {
  const char* file;  // as given: a path, or a name looked up in `path_env`
  char* const* argv;
  char* const* envp;     // null: this process's environment
  const char* cwd;       // null: the parent's
  const char* path_env;  // the child's PATH
  bool detached;
  const std::vector<uv_stdio_container_t>* stdio;  // UV_IGNORE or UV_INHERIT_FD entries
};

/// Starts the child. Returns 0 with its pid and a pidfd (CLOEXEC), or a libuv error
/// code exactly as uv_spawn would report it (ENOENT, EACCES, a bad cwd ...).
int posix_launch(const PosixLaunch& what, int* pid, int* pidfd);

/// After the pidfd turned readable: reaps the child. Returns 1 with its status, 0
/// when it has not exited after all, or a libuv error.
int pidfd_reap(int pidfd, int64_t* exit_status, int* term_signal);

/// Sends `signum` through the pidfd (no pid-reuse race). Returns 0 or a libuv error.
int pidfd_kill(int pidfd, int signum);

}  // namespace childproc::detail
