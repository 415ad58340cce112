// The uv launcher: libuv's uv_spawn (fork + exec), the fallback for kernels without
// CLONE_PIDFD and for CHILDPROC_LAUNCHER=uv.
//
// uv_spawn has no hook for what kill_tree, die_with_parent and a pty need in the child
// before exec (a new process group, joining a cgroup, the death signal, a controlling
// terminal). libuv 1.44 forks with glibc's fork(), which runs pthread_atfork child
// handlers: one handler, registered on the first such spawn, does those steps in the
// forked child. It acts only when the forking thread is inside our uv_spawn call (a
// thread-local plan), so forks of the host are untouched.
#include "fd_floor.hpp"
#include "launch.hpp"

#include <grp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <mutex>
#include <string>

namespace childproc::detail {
namespace {

thread_local const LaunchPlan* t_fork_plan = nullptr;
thread_local pid_t t_fork_parent = 0;

bool needs_hook(const LaunchPlan& plan) noexcept {
  return (plan.new_group && !plan.new_session()) || plan.controlling_tty >= 0 ||
         plan.cgroup_procs >= 0 || plan.die_with_parent;
}

// In the forked child, before libuv's own set-up. A step that fails ends the child
// with 127, as a failed exec would: it must not run outside what was asked.
void after_fork_in_child() {
  const LaunchPlan* plan = t_fork_plan;
  if (plan == nullptr) return;
  if (plan->new_group && !plan->new_session() && ::setpgid(0, 0) != 0) ::_exit(127);
  // libuv has no step for a controlling terminal: the session is made here (libuv's
  // own setsid() for UV_PROCESS_DETACHED would then fail, so it is not asked for).
  if (plan->controlling_tty >= 0 &&
      (::setsid() < 0 || ::ioctl(plan->controlling_tty, TIOCSCTTY, 0) != 0))
    ::_exit(127);
  if (plan->cgroup_procs >= 0 && ::write(plan->cgroup_procs, "0", 1) != 1) ::_exit(127);
  if (plan->die_with_parent) {
    // libuv changes the ids later, which would clear the death signal: change them
    // first (libuv's own calls then change nothing, and report any refusal).
    if (plan->uid || plan->gid) {
      (void)::setgroups(0, nullptr);
      if (plan->gid) (void)::setgid(static_cast<gid_t>(*plan->gid));
      if (plan->uid) (void)::setuid(static_cast<uid_t>(*plan->uid));
    }
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != t_fork_parent) ::_exit(127);
  }
}

// execvp's own default when the environment has no PATH is "/bin:/usr/bin"; we
// promise "/usr/bin:/bin", so such a lookup is done here.
std::string default_path_lookup(const char* file) {
  if (std::strchr(file, '/') != nullptr) return file;
  for (const char* dir : {"/usr/bin/", "/bin/"}) {
    std::string candidate = std::string(dir) + file;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return file;
}

bool env_has_path(char* const* envp) noexcept {
  for (; *envp != nullptr; ++envp) {
    if (std::strncmp(*envp, "PATH=", 5) == 0) return true;
  }
  return false;
}

}  // namespace

int ProcessWatch::start_uv(uv_loop_t* loop, const LaunchPlan& plan) {
  std::string file = plan.file;
  if (plan.envp != nullptr && !env_has_path(plan.envp)) file = default_path_lookup(plan.file);

  uv_process_options_t opts{};
  opts.exit_cb = [](uv_process_t* p, int64_t status, int term_signal) {
    static_cast<ProcessWatch*>(p->data)->report_exit(status, term_signal, 0);
  };
  opts.file = file.c_str();
  opts.args = const_cast<char**>(plan.argv);
  opts.env = const_cast<char**>(plan.envp);
  opts.cwd = plan.cwd;
  if (plan.detached && plan.controlling_tty < 0) opts.flags |= UV_PROCESS_DETACHED;
  if (plan.uid) {
    opts.flags |= UV_PROCESS_SETUID;
    opts.uid = static_cast<uv_uid_t>(*plan.uid);
  }
  if (plan.gid) {
    opts.flags |= UV_PROCESS_SETGID;
    opts.gid = static_cast<uv_gid_t>(*plan.gid);
  }
  opts.stdio_count = static_cast<int>(plan.stdio->size());
  opts.stdio = const_cast<uv_stdio_container_t*>(plan.stdio->data());

  if (needs_hook(plan)) {
    static std::once_flag registered;
    std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, after_fork_in_child); });
    t_fork_plan = &plan;
    t_fork_parent = ::getpid();
  }
  process_ = uv_process_t{};
  process_.data = this;
  // uv_spawn's pipe for exec errors is closed with uv__close, which aborts on fds 0-2.
  const StdFdFloor floor;
  const int err = uv_spawn(loop, &process_, &opts);
  t_fork_plan = nullptr;
  // uv_spawn initialises the handle even when it fails, so it is always closed.
  handle_open_ = true;
  if (err == 0) pid_ = process_.pid;
  return err;
}

}  // namespace childproc::detail
