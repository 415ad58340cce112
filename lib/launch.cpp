// The clone launcher: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD), exit signal 0.
//
// The child shares the parent's memory until it execs (the parent thread is suspended
// meanwhile), so it must not touch anything another thread could hold: no malloc, no
// locks, no glibc wrapper that keeps process-wide state. It runs raw syscalls only, on a
// stack of its own, with every buffer it needs prepared by the parent. glibc's setuid()
// in particular broadcasts to every thread of "its" process, which for a CLONE_VM child
// would be the parent's threads.
#include "launch.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

extern char** environ;

namespace childproc::detail {
namespace {

#ifndef CLONE_PIDFD
constexpr int CLONE_PIDFD = 0x00001000;
#endif
#ifndef P_PIDFD
constexpr idtype_t P_PIDFD = static_cast<idtype_t>(3);
#endif
// pidfd_send_signal(2) flag, Linux 6.9: the process group whose id is the pidfd's pid.
constexpr unsigned kSignalProcessGroup = 1U << 2;

// Linux 6.15's PIDFD_GET_INFO: the exit status stays readable through the pidfd after
// someone else reaped the child. Declared here: glibc 2.36's headers predate it.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t spare;
};
constexpr uint64_t kPidfdInfoExit = 1U << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);

// The kernel's signal set is 64 bits on every architecture we build for.
constexpr long kKernelSigsetSize = 8;

// Everything the child runs before exec: no sanitizer instrumentation, whose runtime
// keeps per-thread state that belongs to the parent's thread.
#define CHILD_SIDE __attribute__((no_sanitize("address", "undefined")))

CHILD_SIDE long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) noexcept {
  return ::syscall(n, a, b, c, d, e);
}
template <typename T>
CHILD_SIDE long arg(T* p) noexcept {
  return reinterpret_cast<long>(p);
}

struct ChildArgs {
  const LaunchPlan* plan;
  char* const* envp;  // the plan's, or this process's, taken before the clone
  int slots;
  int* source;     // per slot: the fd to dup2 onto it, -1 for none
  char* path_buf;  // room for the longest PATH entry + '/' + file + NUL
  char** sh_argv;  // room for "/bin/sh", the path, argv[1...], null (ENOEXEC)
  long parent_pid;
  volatile int err;           // set by the child when it fails before exec
  volatile bool cgroup_step;  // ... and whether joining the cgroup was what failed
};

[[noreturn]] CHILD_SIDE void child_fail(ChildArgs* a, int err) noexcept {
  a->err = err;
  for (;;)
    sys(SYS_exit, 127);
}

// execve, and for a file the kernel cannot run (ENOEXEC) /bin/sh with it, as execvp.
CHILD_SIDE int try_exec(ChildArgs* a, const char* path) noexcept {
  char* const* envp = a->envp;
  sys(SYS_execve, arg(path), arg(a->plan->argv), arg(envp));
  if (errno != ENOEXEC) return errno;
  a->sh_argv[0] = const_cast<char*>("/bin/sh");
  a->sh_argv[1] = const_cast<char*>(path);
  int i = 1;
  for (; a->plan->argv[i] != nullptr; ++i)
    a->sh_argv[i + 1] = a->plan->argv[i];
  a->sh_argv[i + 1] = nullptr;
  sys(SYS_execve, arg("/bin/sh"), arg(a->sh_argv), arg(envp));
  return errno;
}

// execvp's search, in the child after chdir: an empty entry is the working directory,
// EACCES is remembered while later entries are tried, and errors that say "not here"
// move on to the next entry.
CHILD_SIDE int exec_search(ChildArgs* a) noexcept {
  const char* file = a->plan->file;
  std::size_t file_len = 0;
  bool has_slash = false;
  for (; file[file_len] != '\0'; ++file_len)
    has_slash = has_slash || file[file_len] == '/';
  if (has_slash) return try_exec(a, file);
  bool denied = false;
  const char* p = a->plan->path_env;
  for (;;) {
    const char* end = p;
    while (*end != '\0' && *end != ':')
      ++end;
    char* out = a->path_buf;
    for (const char* q = p; q != end; ++q)
      *out++ = *q;
    if (end != p) *out++ = '/';
    for (std::size_t i = 0; i <= file_len; ++i)
      *out++ = file[i];
    const int err = try_exec(a, a->path_buf);
    switch (err) {
      case EACCES:
        denied = true;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        break;
      default:
        return err;
    }
    if (*end == '\0') break;
    p = end + 1;
  }
  return denied ? EACCES : ENOENT;
}

CHILD_SIDE void reset_signals() noexcept {
  // Handlers would run on the parent's memory: every handled signal goes back to its
  // default, as do all classic signals (libuv's child does the same); realtime signals
  // the parent ignores stay ignored, as across any exec.
  unsigned long dfl[4] = {};  // SIG_DFL, no flags, empty mask, on every layout
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    unsigned long old[4] = {};
    if (sig < 32) {
      sys(SYS_rt_sigaction, sig, arg(dfl), 0, kKernelSigsetSize);
      continue;
    }
    if (sys(SYS_rt_sigaction, sig, 0, arg(old), kKernelSigsetSize) != 0) continue;
    const auto handler = reinterpret_cast<void (*)(int)>(old[0]);
    if (handler != SIG_DFL && handler != SIG_IGN)
      sys(SYS_rt_sigaction, sig, arg(dfl), 0, kKernelSigsetSize);
  }
}

CHILD_SIDE int set_ids(const LaunchPlan& plan) noexcept {
#if defined(SYS_setgid32)
  constexpr long kSetgroups = SYS_setgroups32, kSetgid = SYS_setgid32, kSetuid = SYS_setuid32;
#else
  constexpr long kSetgroups = SYS_setgroups, kSetgid = SYS_setgid, kSetuid = SYS_setuid;
#endif
  if (!plan.uid && !plan.gid) return 0;
  sys(kSetgroups, 0, 0);  // as libuv: dropping supplementary groups may be refused
  if (plan.gid && sys(kSetgid, *plan.gid) != 0) return errno;
  if (plan.uid && sys(kSetuid, *plan.uid) != 0) return errno;
  return 0;
}

// The fd plan, as libuv's child does it: sources that an earlier dup2 would overwrite
// are lifted above the slots first; a slot's own fd loses CLOEXEC; fds 0-2 are made
// blocking, and missing ones are /dev/null.
CHILD_SIDE int plumb(ChildArgs* a) noexcept {
  const int n = a->slots;
  for (int i = 0; i < n; ++i) {
    const int s = a->source[i];
    if (s < 0 || s >= i) continue;
    const long lifted = sys(SYS_fcntl, s, F_DUPFD_CLOEXEC, n);
    if (lifted < 0) return errno;
    a->source[i] = static_cast<int>(lifted);
  }
  for (int i = 0; i < n; ++i) {
    int s = a->source[i];
    long opened = -1;
    if (s < 0) {
      if (i >= 3) continue;
      opened =
          sys(SYS_openat, AT_FDCWD, arg("/dev/null"), (i == 0 ? O_RDONLY : O_RDWR) | O_CLOEXEC);
      if (opened < 0) return errno;
      s = static_cast<int>(opened);
    }
    if (s == i) {
      if (sys(SYS_fcntl, i, F_SETFD, 0) != 0) return errno;
    } else if (sys(SYS_dup3, s, i, 0) < 0) {
      return errno;
    }
    if (i <= 2 && opened < 0) {
      const long fl = sys(SYS_fcntl, i, F_GETFL);
      if (fl >= 0 && (fl & O_NONBLOCK) != 0) sys(SYS_fcntl, i, F_SETFL, fl & ~O_NONBLOCK);
    }
    // /dev/null may have landed on the slot itself (the parent had that fd closed).
    if (opened >= 0 && opened != i) sys(SYS_close, opened);
  }
  return 0;
}

// Runs in the child, on its own stack, sharing the parent's memory until execve.
CHILD_SIDE int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  const LaunchPlan& plan = *a->plan;
  reset_signals();
  if (plan.new_session()) {
    if (sys(SYS_setsid) < 0) child_fail(a, errno);
    // Its own fd number: the child has a copy of the parent's fd table.
    if (plan.controlling_tty >= 0 && sys(SYS_ioctl, plan.controlling_tty, TIOCSCTTY, 0) != 0)
      child_fail(a, errno);
  } else if (plan.new_group) {
    if (sys(SYS_setpgid, 0, 0) != 0) child_fail(a, errno);
  }
  // Before the ids change: an unprivileged child could not move itself any more.
  if (plan.cgroup_procs >= 0 && sys(SYS_write, plan.cgroup_procs, arg("0"), 1) != 1) {
    a->cgroup_step = true;
    child_fail(a, errno);
  }
  if (int err = plumb(a); err != 0) child_fail(a, err);
  if (plan.cwd != nullptr && sys(SYS_chdir, arg(plan.cwd)) != 0) child_fail(a, errno);
  if (int err = set_ids(plan); err != 0) child_fail(a, err);
  // After the ids: the kernel clears the death signal when they change. The parent may
  // have died before the prctl; then the re-parented child must not go on.
  if (plan.die_with_parent) {
    if (sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(a, errno);
    if (sys(SYS_getppid) != a->parent_pid) child_fail(a, ESRCH);
  }
  const unsigned long none = 0;
  sys(SYS_rt_sigprocmask, SIG_SETMASK, arg(&none), 0, kKernelSigsetSize);
  child_fail(a, exec_search(a));
}

// One stack per thread for its children: a child runs on it only while its parent
// thread is suspended in clone(), so concurrent spawns never share one.
constexpr std::size_t kChildStack = 64 * 1024;
char* child_stack() {
  thread_local std::unique_ptr<char[]> stack(new char[kChildStack]);
  return stack.get();
}

// Blocks every signal, glibc's internal ones included, for the life of the object: no
// handler may run in the child before it reset them, nor in the parent on a stack the
// child is using.
class AllSignalsBlocked {
public:
  AllSignalsBlocked() noexcept {
    const unsigned long all = ~0UL;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, arg(&all), arg(&saved_), kKernelSigsetSize);
  }
  ~AllSignalsBlocked() { sys(SYS_rt_sigprocmask, SIG_SETMASK, arg(&saved_), 0, kKernelSigsetSize); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

private:
  unsigned long saved_ = 0;
};

// waitid on the pidfd with the kernel's rusage argument (glibc's waitid has none).
// __WALL: a child that failed before exec still has exit signal 0.
int pidfd_wait(int pidfd, int options, siginfo_t* info, rusage* usage) noexcept {
  long r;
  do {
    r = sys(SYS_waitid, P_PIDFD, pidfd, arg(info), options | __WALL, arg(usage));
  } while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

}  // namespace

namespace {
long own_peak_rss_kib() noexcept {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return LONG_MAX;
  long kib = LONG_MAX;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}
}  // namespace

bool above_own_peak(long kib) noexcept {
  // The peak only grows, so a past reading is a lower bound; getrusage's own maxrss is
  // an upper one (it also holds what this process inherited at its exec). Reading the
  // status file costs more than a whole exec's bookkeeping: only between the two.
  static std::atomic<long> known{0};
  if (kib <= known.load(std::memory_order_relaxed)) return false;
  rusage self{};
  if (::getrusage(RUSAGE_SELF, &self) == 0 && kib > self.ru_maxrss) return true;
  const long now = own_peak_rss_kib();
  if (now != LONG_MAX) {
    long seen = known.load(std::memory_order_relaxed);
    while (now > seen && !known.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  return kib > now;
}

bool clone_launcher_available() noexcept {
  static const bool available = [] {
#if !(defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) || defined(__arm__) || \
      defined(__riscv))
    return false;  // reset_signals() knows these kernels' sigaction layout only
#endif
    const char* choice = std::getenv("CHILDPROC_LAUNCHER");
    if (choice != nullptr && std::string_view(choice) == "uv") return false;
    const long fd = sys(SYS_pidfd_open, ::getpid(), 0);
    if (fd < 0) return false;  // no pidfds (before 5.3)
    // We are not our own child: ECHILD where waitid knows P_PIDFD (5.4+), else EINVAL.
    siginfo_t info{};
    const int r = pidfd_wait(static_cast<int>(fd), WEXITED | WNOHANG, &info, nullptr);
    ::close(static_cast<int>(fd));
    return r == -ECHILD;
  }();
  return available;
}

int clone_child(const LaunchPlan& plan, int& pid_out, int& pidfd_out) {
  const auto& stdio = *plan.stdio;
  const std::size_t n = stdio.size();
  std::unique_ptr<int[]> source(new int[n]);
  for (std::size_t i = 0; i < n; ++i)
    source[i] = (stdio[i].flags & UV_INHERIT_FD) != 0 ? stdio[i].data.fd : -1;
  std::size_t argc = 0;
  while (plan.argv[argc] != nullptr)
    ++argc;
  const std::size_t path_room = std::strlen(plan.path_env) + std::strlen(plan.file) + 2;
  std::unique_ptr<char[]> path_buf(new char[path_room]);
  std::unique_ptr<char*[]> sh_argv(new char*[argc + 2]);
  const long parent_pid = plan.die_with_parent ? ::getpid() : 0;
  ChildArgs args{&plan,
                 plan.envp != nullptr ? plan.envp : environ,
                 static_cast<int>(n),
                 source.get(),
                 path_buf.get(),
                 sh_argv.get(),
                 parent_pid,
                 0,
                 false};

  int pidfd = -1;
  int pid;
  {
    AllSignalsBlocked blocked;
    char* stack = child_stack();
    // The low byte of the flags is the exit signal: 0, so a child that dies before exec
    // raises no SIGCHLD and is invisible to waitpid(-1) without __WALL. (execve resets it
    // to SIGCHLD: see the guide's launch section.)
    pid = ::clone(child_main, stack + kChildStack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &args,
                  &pidfd);
  }
  if (pid < 0) return -errno;
  if (args.err != 0) {
    // The child failed before exec and has exited (or is exiting): reap it now.
    siginfo_t info{};
    pidfd_wait(pidfd, WEXITED, &info, nullptr);
    ::close(pidfd);
    return args.cgroup_step ? kCgroupJoinRefused : -args.err;
  }
  pid_out = pid;
  pidfd_out = pidfd;
  return 0;
}

int ProcessWatch::start_clone(uv_loop_t* loop, const LaunchPlan& plan) {
  int pid = 0;
  int pidfd = -1;
  if (const int err = clone_child(plan, pid, pidfd); err != 0) return err;
  return watch_clone(loop, pid, pidfd);
}

int ProcessWatch::adopt(uv_loop_t* loop, int pid, int pidfd, void* owner, ExitFn on_exit,
                        ClosedFn on_closed) {
  owner_ = owner;
  on_exit_ = on_exit;
  on_closed_ = on_closed;
  return watch_clone(loop, pid, pidfd);
}

int ProcessWatch::watch_clone(uv_loop_t* loop, int pid, int pidfd) {
  use_pidfd_ = true;
  pid_ = pid;
  pidfd_ = pidfd;
  int err = uv_poll_init(loop, &poll_, pidfd_);
  if (err == 0) {
    poll_.data = this;
    handle_open_ = true;
    err = uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* h, int, int) {
      static_cast<ProcessWatch*>(h->data)->on_pidfd();
    });
  }
  if (err != 0) {
    // No way to watch it (ENOSPC: epoll's watch limit, ENOMEM): it must not run on
    // unwatched. It has not exec'd anything we report as started.
    sys(SYS_pidfd_send_signal, pidfd_, SIGKILL, 0, 0);
    siginfo_t info{};
    pidfd_wait(pidfd_, WEXITED, &info, nullptr);
    exited_ = reaped_ = true;
    if (!handle_open_) {
      ::close(pidfd_);
      pidfd_ = -1;
    }
  }
  return err;
}

void ProcessWatch::on_pidfd() {
  // The status is read without reaping: the zombie keeps the pid (and the process
  // group it leads) from being reused until close().
  siginfo_t info{};
  rusage ru{};
  int err = pidfd_wait(pidfd_, WEXITED | WNOHANG | WNOWAIT, &info, &ru);
  if (err == 0 && info.si_pid == 0) return;  // not exited after all
  if (err == 0) {
    close_handle();
    try {
      usage_ = std::make_unique<rusage>(ru);
    } catch (const std::bad_alloc&) {
      // Out of memory: the exit still counts; only the usage is unknown.
    }
    if (info.si_code == CLD_EXITED) {
      report_exit(info.si_status, 0, 0);
    } else {
      report_exit(0, info.si_status, 0);
    }
    return;
  }
  // Someone else reaped our child (SIGCHLD set to SIG_IGN, a waitpid(-1) elsewhere).
  // Since Linux 6.15 the pidfd still knows how it ended.
  reaped_ = true;
  PidfdInfo pi{};
  pi.mask = kPidfdInfoExit;
  const bool has_info = ::ioctl(pidfd_, kPidfdGetInfo, &pi) == 0;
  if (has_info && (pi.mask & kPidfdInfoExit) != 0) {
    close_handle();
    const int status = pi.exit_code;
    if (WIFEXITED(status)) {
      report_exit(WEXITSTATUS(status), 0, 0);
    } else {
      report_exit(0, WTERMSIG(status), 0);
    }
    return;
  }
  // The other reaper may be between taking the zombie and the kernel storing its
  // status (microseconds): the pidfd stays readable, so look again on the next loop
  // iterations, for at most 50 ms (6.13 and 6.14 have the ioctl but never store it).
  const uint64_t now = uv_now(poll_.loop) + 1;
  if (stolen_since_ == 0) stolen_since_ = now;
  if (has_info && now - stolen_since_ < 50) return;
  close_handle();
  report_exit(err, 0, err);
}

void ProcessWatch::poll_exit() {
  if (use_pidfd_ && handle_open_ && !exited_ && !reaped_) on_pidfd();
}

int ProcessWatch::kill(int signum) noexcept {
  if (!use_pidfd_) return uv_kill(pid_, signum);
  if (sys(SYS_pidfd_send_signal, pidfd_, signum, 0, 0) == 0) return 0;
  return -errno;
}

int ProcessWatch::kill_group(int signum) noexcept {
  if (use_pidfd_) {
    if (sys(SYS_pidfd_send_signal, pidfd_, signum, 0, kSignalProcessGroup) == 0) return 0;
    if (errno != EINVAL) return -errno;  // EINVAL: a kernel before 6.9
    // Without the flag, -pid is exact only while our child still holds the pid.
    siginfo_t info{};
    if (reaped_ || pidfd_wait(pidfd_, WEXITED | WNOHANG | WNOWAIT, &info, nullptr) != 0)
      return UV_ESRCH;
  }
  return uv_kill(-pid_, signum);
}

void ProcessWatch::report_exit(int64_t exit_status, int term_signal, int error) {
  exited_ = true;
  on_exit_(owner_, exit_status, term_signal, error);
}

int ProcessWatch::start(uv_loop_t* loop, const LaunchPlan& plan, void* owner, ExitFn on_exit,
                        ClosedFn on_closed) {
  owner_ = owner;
  on_exit_ = on_exit;
  on_closed_ = on_closed;
  return clone_launcher_available() ? start_clone(loop, plan) : start_uv(loop, plan);
}

uv_handle_t* ProcessWatch::handle() noexcept {
  return use_pidfd_ ? reinterpret_cast<uv_handle_t*>(&poll_)
                    : reinterpret_cast<uv_handle_t*>(&process_);
}

void ProcessWatch::ref() noexcept {
  if (handle_open_ && !uv_is_closing(handle())) uv_ref(handle());
}

void ProcessWatch::unref() noexcept {
  if (handle_open_ && !uv_is_closing(handle())) uv_unref(handle());
}

void ProcessWatch::close_handle() noexcept {
  if (!handle_open_ || uv_is_closing(handle())) return;
  // Closed rather than stopped once it has nothing more to say: a stop and a later
  // close would each cost the loop an epoll_ctl, the second one failing.
  uv_close(handle(), [](uv_handle_t* h) {
    auto* self = static_cast<ProcessWatch*>(h->data);
    self->handle_open_ = false;
    if (self->closing_ && self->pidfd_ >= 0) {
      ::close(self->pidfd_);  // the poll no longer watches it
      self->pidfd_ = -1;
    }
    self->on_closed_(self->owner_);
  });
}

void ProcessWatch::close() noexcept {
  if (closing_) return;
  closing_ = true;
  if (use_pidfd_ && !reaped_) {
    siginfo_t info{};
    rusage ru{};
    // Not yet exited means the ChildProcess is going away with its child running (only
    // at loop teardown): the child is left alone, unreaped, as uv_spawn's would be.
    if (exited_ && pidfd_wait(pidfd_, WEXITED | WNOHANG, &info, &ru) == 0) reaped_ = true;
  }
  if (handle_open_) {
    close_handle();  // the pidfd is closed with it
  } else if (pidfd_ >= 0) {
    ::close(pidfd_);
    pidfd_ = -1;
  }
}

ProcessWatch::~ProcessWatch() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

}  // namespace childproc::detail
