// The launch step behind one seam. What to start is a LaunchPlan; how is one of two
// launchers, each watched by a ProcessWatch:
// - clone (Linux, default): clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) with exit signal 0,
//   the child set up with raw syscalls, the exit watched through the pidfd on the loop
//   (lib/launch.cpp);
// - uv: libuv's uv_spawn (fork + exec), for kernels without CLONE_PIDFD and for
//   CHILDPROC_LAUNCHER=uv (lib/launch_uv.cpp).
#pragma once

#include <uv.h>

#include <sys/resource.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace childproc::detail {

/// Everything the launchers need, as C strings owned by the caller.
struct LaunchPlan {
  const char* file;      // a path, or a name searched in `path_env` after `cwd` applies
  char* const* argv;     // argv[0] included, null-terminated
  char* const* envp;     // null: this process's environment
  const char* cwd;       // null: the parent's
  const char* path_env;  // the child's PATH (the default search path when it has none)
  const std::vector<uv_stdio_container_t>* stdio;  // UV_IGNORE or UV_INHERIT_FD entries
  std::optional<int> uid;
  std::optional<int> gid;
  bool detached = false;         // setsid()
  bool new_group = false;        // setpgid(0, 0): kill_tree without a cgroup
  bool die_with_parent = false;  // PR_SET_PDEATHSIG(SIGKILL), then the getppid() re-check
  int cgroup_procs = -1;         // cgroup.procs of the child's own cgroup: joined before exec
  int controlling_tty = -1;      // a pty's slave (parent's fd): setsid(), then TIOCSCTTY

  /// The child starts a session of its own.
  bool new_session() const noexcept { return detached || controlling_tty >= 0; }
};

/// True when the clone launcher is usable: the kernel has CLONE_PIDFD and
/// waitid(P_PIDFD) (5.4+), the architecture's signal ABI is one the child side knows,
/// and CHILDPROC_LAUNCHER is not "uv" (read once).
bool clone_launcher_available() noexcept;

/// The clone launcher's first half, which touches no loop and so runs on any thread:
/// starts the child and gives its pid and pidfd, or returns -errno (or
/// kCgroupJoinRefused). ProcessWatch::adopt() then watches it on the loop's thread.
/// Throws std::bad_alloc only.
int clone_child(const LaunchPlan& plan, int& pid, int& pidfd);

/// start()'s answer when the child could not join `cgroup_procs` (a threaded cgroup, a
/// policy): not an errno, so the caller can start it again without the cgroup.
constexpr int kCgroupJoinRefused = -100000;

/// True when `kib` is above this process's peak resident set (VmHWM), which is what a
/// child's ru_maxrss starts from: it inherits the parent's peak at exec. Reads
/// /proc/self/status only when getrusage and the last reading cannot decide.
bool above_own_peak(long kib) noexcept;

/// One child's exit, whichever launcher started it. Owned by the ChildProcess; its one
/// libuv handle reports through the two callbacks given to start(). Where start()
/// opened the handle (always on success), ClosedFn comes exactly once: at the exit on
/// the clone launcher (the pidfd stays open until close()), after close() on the uv one.
class ProcessWatch {
public:
  using ExitFn = void (*)(void* owner, int64_t exit_status, int term_signal, int error);
  using ClosedFn = void (*)(void* owner);

  ProcessWatch() = default;
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;
  ~ProcessWatch();

  /// Starts the child. 0 and a pid, or a libuv error (ENOENT, EACCES, a bad cwd, ...) as
  /// uv_spawn reports them. handle_open() says whether ClosedFn is still to come.
  int start(uv_loop_t* loop, const LaunchPlan& plan, void* owner, ExitFn on_exit,
            ClosedFn on_closed);
  /// Watches a child that clone_child() started, as start() would have. On failure the
  /// child is killed and reaped; handle_open() says whether ClosedFn is still to come.
  int adopt(uv_loop_t* loop, int pid, int pidfd, void* owner, ExitFn on_exit, ClosedFn on_closed);
  int pid() const noexcept { return pid_; }
  /// True once the exit was seen (ExitFn ran).
  bool exited() const noexcept { return exited_; }
  /// Looks now whether the child has exited, without waiting for the loop to say so;
  /// if it has, ExitFn runs before this returns. The uv launcher cannot look: nothing.
  void poll_exit();
  /// Signals the child alone; 0, or a libuv error (ESRCH once it cannot be reached).
  int kill(int signum) noexcept;
  /// Signals the process group the child leads. Through the pidfd where the kernel
  /// can (6.9+): exact even after the child was reaped. Else kill(-pid) while the pid is
  /// still held by our unreaped child. 0, or a libuv error.
  int kill_group(int signum) noexcept;
  /// The kernel's resource usage of the exited child (itself and its reaped
  /// descendants), when this launcher could read it.
  const rusage* usage() const noexcept { return usage_.get(); }
  void ref() noexcept;
  void unref() noexcept;
  /// True while the handle is open: ClosedFn is still to come.
  bool handle_open() const noexcept { return handle_open_; }
  /// Reaps the child if it is still unreaped (the clone launcher holds the zombie until
  /// here, so its pid cannot be reused), then closes the handle if it is still open
  /// (ClosedFn follows) and the pidfd.
  void close() noexcept;

private:
  int start_clone(uv_loop_t* loop, const LaunchPlan& plan);
  int watch_clone(uv_loop_t* loop, int pid, int pidfd);
  int start_uv(uv_loop_t* loop, const LaunchPlan& plan);
  void on_pidfd();
  void report_exit(int64_t exit_status, int term_signal, int error);
  void close_handle() noexcept;
  uv_handle_t* handle() noexcept;

  union {
    uv_process_t process_;  // the uv launcher
    uv_poll_t poll_;        // the clone launcher: readable when the pidfd's child exits
  };
  bool use_pidfd_ = false;
  bool handle_open_ = false;
  bool exited_ = false;
  bool reaped_ = false;
  bool closing_ = false;       // close() was called
  uint64_t stolen_since_ = 0;  // loop time (+1) when another reaper was first seen
  int pid_ = 0;
  int pidfd_ = -1;
  std::unique_ptr<rusage> usage_;  // allocated at the exit: a live child does not pay for it
  void* owner_ = nullptr;
  ExitFn on_exit_ = nullptr;
  ClosedFn on_closed_ = nullptr;
};

}  // namespace childproc::detail
