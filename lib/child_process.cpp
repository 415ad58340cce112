#include "arguments.hpp"
#include "cgroup.hpp"
#include "channel_access.hpp"
#include "child_access.hpp"
#include "guardian.hpp"
#include "launch.hpp"
#include "launcher_pool.hpp"
#include "stream_access.hpp"

#include <childproc/child_process.hpp>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <stdexcept>

#include <string>
#include <utility>

extern char** environ;

namespace childproc {

namespace detail {
struct PipeEnds {
  int parent = -1;
  int child = -1;
  bool readable = false;
  bool writable = false;
  bool socket = false;
  bool tty = false;  // a pty: `parent` its master, `child` its slave
  std::size_t pipe_pages = 0;
};
}  // namespace detail

// Everything spawn() decided before touching the OS: validated, shell applied.
struct SpawnPlan {
  std::string file;               // what is executed
  std::vector<std::string> args;  // argv, argv[0] included
  std::optional<std::string> cwd;
  std::optional<std::vector<std::string>> env;  // "NAME=value"
  std::vector<Stdio> stdio;
  std::optional<int> uid;
  std::optional<int> gid;
  bool detached = false;
  bool kill_tree = false;
  bool die_with_parent = false;
  std::chrono::milliseconds timeout{0};
  std::chrono::milliseconds force_kill_after{0};
  std::chrono::milliseconds close_timeout{0};
  Signal kill_signal;
  std::stop_token stop_token;
  std::size_t max_message = kDefaultMaxMessage;
  bool background_launch = false;
  std::optional<int> pty_slot;  // the lowest Stdio::pty() slot
  TerminalSize terminal_size;
};

namespace detail {
// One launch on a launcher thread (SpawnOptions::background_launch): owns everything the
// LaunchPlan points into, and brings the result back to the loop through `async`.
struct BackgroundLaunch final : LaunchJob {
  ChildProcess* child = nullptr;
  SpawnPlan plan;
  std::vector<PipeEnds> ends;  // the child's ends: closed by the launcher thread
  std::vector<uv_stdio_container_t> containers;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string path_env;
  LaunchPlan what{};
  uv_async_t async{};
  int err = 0;
  int pid = 0;
  int pidfd = -1;

  void run() noexcept override {
    try {
      err = clone_child(what, pid, pidfd);
    } catch (...) {
      err = UV_ENOMEM;
    }
    if (err != kCgroupJoinRefused) close_child_ends();  // else tried again without the cgroup
    uv_async_send(&async);
  }

  void close_child_ends() noexcept {
    for (auto& e : ends) {
      if (e.child >= 0) ::close(std::exchange(e.child, -1));
    }
  }
};
}  // namespace detail

struct SpawnAccess {
  static std::shared_ptr<ChildProcess> make(uv_loop_t* loop) {
    return std::make_shared<ChildProcess>(ChildProcess::Key(), loop);
  }
  static void start(ChildProcess& c, const SpawnPlan& plan) { c.start(plan); }
};

namespace {

using detail::check_argument;
using detail::check_path;
using detail::check_property;
using detail::inspect;

void check_duration(std::chrono::milliseconds d, const char* name) {
  if (d.count() < 0) throw OutOfRange(name, "an unsigned integer", std::to_string(d.count()));
}

SpawnPlan plan_spawn(uv_loop_t* loop, std::string_view file, const std::vector<std::string>& args,
                     const SpawnOptions& options) {
  if (file.empty()) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The argument 'file' cannot be empty. Received ''");
  }
  check_argument(file, "file");
  for (std::size_t i = 0; i < args.size(); ++i)
    check_argument(args[i], "args[" + std::to_string(i) + "]");
  if (options.cwd) check_path(*options.cwd, "property", "options.cwd");
  if (options.argv0) check_property(*options.argv0, "options.argv0");
  check_duration(options.timeout, "timeout");
  check_duration(options.force_kill_after, "options.force_kill_after");
  check_duration(options.close_timeout, "options.close_timeout");
  // Signal 0 kills nothing: a timeout or a cancellation would leave the child running.
  if (options.kill_signal.number() == 0) throw UnknownSignal("0");
  if (options.uid && *options.uid < 0)
    throw OutOfRange("options.uid", ">= 0", std::to_string(*options.uid));
  if (options.gid && *options.gid < 0)
    throw OutOfRange("options.gid", ">= 0", std::to_string(*options.gid));

  SpawnPlan plan;
  plan.file = std::string(file);
  std::vector<std::string> rest = args;
  std::string shell;
  if (const auto* b = std::get_if<bool>(&options.shell)) {
    if (*b) shell = "/bin/sh";
  } else {
    shell = std::get<std::string>(options.shell);
    check_property(shell, "options.shell");
  }
  if (!shell.empty()) {
    std::string command = plan.file;
    for (const auto& a : args)
      command += " " + a;
    plan.file = shell;
    rest = {"-c", std::move(command)};
  }
  plan.args.reserve(rest.size() + 1);
  plan.args.push_back(options.argv0 ? *options.argv0 : plan.file);
  for (auto& a : rest)
    plan.args.push_back(std::move(a));

  std::optional<std::size_t> ipc_slot;
  for (std::size_t i = 0; i < options.stdio.size(); ++i) {
    if (options.stdio[i].kind() != Stdio::Kind::ipc) continue;
    if (ipc_slot)
      throw InvalidArgument("ERR_IPC_ONE_PIPE", "Child process can have only one IPC pipe");
    ipc_slot = i;
  }
  if (options.serialization != "json") {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The property 'options.serialization' must be 'json' (childproc does "
                          "not speak Node's 'advanced' serialization). Received " +
                              inspect(options.serialization));
  }

  std::optional<int> pty_slot;
  for (std::size_t i = 0; i < options.stdio.size(); ++i) {
    if (options.stdio[i].kind() != Stdio::Kind::pty) continue;
    if (i >= 3) {
      throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                            "The property 'options.stdio[" + std::to_string(i) +
                                "]' is a pty, which only fds 0-2 can be. Received pty");
    }
    if (!pty_slot) pty_slot = static_cast<int>(i);
  }
  // A terminal emulator tells its programs what it is; without TERM many of them
  // (colours, curses) assume the least.
  const bool add_term =
      pty_slot && (options.env ? options.env->count("TERM") == 0 : std::getenv("TERM") == nullptr);

  if (options.env || ipc_slot || add_term) {
    std::vector<std::string> env;
    if (!options.env) {
      for (char** e = environ; *e != nullptr; ++e)
        env.emplace_back(*e);
    }
    for (const auto& [name, value] : options.env ? *options.env : Env{}) {
      if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
        // Node names the key raw; a NUL in it is shown escaped, since what() is a C
        // string that would end there.
        std::string key;
        for (char ch : name)
          key += ch == '\0' ? std::string("\\x00") : std::string(1, ch);
        check_property(name, "options.env['" + key + "']");
        check_property(value, "options.env['" + key + "']");
      }
      if (name.find('=') != std::string::npos || name.empty()) {
        throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                              "The property 'options.env' must not have an empty name or a name "
                              "with '='. Received " +
                                  inspect(name));
      }
      env.push_back(name + "=" + value);
    }
    if (ipc_slot) {
      // The child learns of its channel from these two, as a Node child does; stale
      // copies inherited from this process's own parent must not reach it.
      std::erase_if(env, [](const std::string& e) {
        return e.compare(0, 16, "NODE_CHANNEL_FD=") == 0 ||
               e.compare(0, 32, "NODE_CHANNEL_SERIALIZATION_MODE=") == 0;
      });
      env.push_back("NODE_CHANNEL_FD=" + std::to_string(*ipc_slot));
      env.push_back("NODE_CHANNEL_SERIALIZATION_MODE=json");
    }
    if (add_term) env.emplace_back("TERM=xterm-256color");
    plan.env = std::move(env);
  }

  plan.stdio = options.stdio;
  while (plan.stdio.size() < 3)
    plan.stdio.push_back(Stdio::pipe());
  for (std::size_t i = 0; i < plan.stdio.size(); ++i) {
    const Stdio& s = plan.stdio[i];
    const std::string name = "options.stdio[" + std::to_string(i) + "]";
    if (s.kind() == Stdio::Kind::fd && s.fd_number() < 0) {
      throw OutOfRange(name, ">= 0", std::to_string(s.fd_number()));
    }
    if (s.kind() == Stdio::Kind::stream) {
      if (!s.stream()) {
        throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                              "The property '" + name + "' must be a stream. Received null");
      }
      if (s.stream()->loop() != loop) {
        throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                              "The property '" + name + "' is a stream of another loop");
      }
      if (s.stream()->closed()) {
        throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                              "The property '" + name + "' is a stream that is already closed");
      }
    }
  }
  // As Node's spawn and exec: an empty cwd is no cwd (the parent's).
  if (options.cwd && !options.cwd->empty()) plan.cwd = options.cwd;
  plan.detached = options.detached;
  plan.uid = options.uid;
  plan.gid = options.gid;
  plan.kill_tree = options.kill_tree;
  plan.die_with_parent = options.die_with_parent;
  plan.timeout = options.timeout;
  plan.force_kill_after = options.force_kill_after;
  plan.close_timeout = options.close_timeout;
  plan.kill_signal = options.kill_signal;
  plan.stop_token = options.stop_token;
  plan.max_message = options.max_message;
  plan.background_launch = options.background_launch;
  plan.pty_slot = pty_slot;
  if (options.terminal_size) plan.terminal_size = *options.terminal_size;
  return plan;
}

int set_blocking(int fd, bool blocking) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return -errno;
  fl = blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
  return ::fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

// The child's end stays blocking: children expect blocking stdio, and a real pipe
// (not a socketpair) lets them open /dev/stdin and /dev/stdout as a shell's child can.
// Slots 3 and up, and the IPC slot wherever it is, are sockets.
int make_pipe(std::size_t index, bool socket, detail::PipeEnds& ends) {
  int p[2];
  if (socket) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0) return -errno;
    ends = {p[0], p[1], true, true, true};
  } else {
    if (::pipe2(p, O_CLOEXEC) != 0) return -errno;
    ends = index == 0 ? detail::PipeEnds{p[1], p[0], false, true, false}
                      : detail::PipeEnds{p[0], p[1], true, false, false};
    if (index != 0) ends.pipe_pages = detail::StreamAccess::enlarge_pipe(p[0]);
  }
  return 0;  // the parent's end becomes non-blocking in uv_poll_init, once
}

// A pseudo-terminal pair, both ends CLOEXEC (another thread may be spawning), sized.
// The kernel's default termios is the sane one a terminal starts with: canonical
// input, echo, signals from Ctrl-C/Ctrl-Z/Ctrl-\, "\n" out as "\r\n".
int make_pty(const TerminalSize& size, detail::PipeEnds& ends) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -errno;
  int slave = -1;
  if (::grantpt(master) == 0 && ::unlockpt(master) == 0) {
#ifdef TIOCGPTPEER
    slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
#endif
    char name[128];
    if (slave < 0 && ::ptsname_r(master, name, sizeof name) == 0)  // before Linux 4.13
      slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  winsize ws{};
  ws.ws_col = size.columns;
  ws.ws_row = size.rows;
  if (slave < 0 || ::ioctl(master, TIOCSWINSZ, &ws) != 0) {
    const int err = errno != 0 ? -errno : UV_EIO;
    if (slave >= 0) ::close(slave);
    ::close(master);
    return err;
  }
  ends = {master, slave, true, true, false, true};
  return 0;
}

bool cwd_is_bad(const std::string& cwd) {
  struct stat st {};
  return ::stat(cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(cwd.c_str(), X_OK) != 0;
}

}  // namespace

// The handles only some children need, allocated by the first that does.
struct ChildProcess::Handles {
  uv_timer_t timer{};       // timeout, then force_kill_after
  uv_timer_t close_wait{};  // close_timeout, from the exit on
  uv_async_t async{};       // carries a stop_token's stop to the loop
};

ChildProcess::Handles& ChildProcess::handles() {
  if (!handles_) handles_ = std::make_unique<Handles>();
  return *handles_;
}

ChildProcess::ChildProcess(Key, uv_loop_t* loop) : loop_(loop) {}

ChildProcess::~ChildProcess() = default;

const std::shared_ptr<Stream>& ChildProcess::stdio(std::size_t i) const noexcept {
  static const std::shared_ptr<Stream> none;
  return i < stdio_.size() ? stdio_[i] : none;
}

void ChildProcess::start(const SpawnPlan& plan) {
  file_ = plan.file;
  args_ = plan.args;
  kill_signal_ = plan.kill_signal;
  force_kill_after_ = plan.force_kill_after;
  close_timeout_ = plan.close_timeout;
  // A pty's child leads a session, so its own process group too.
  detached_ = plan.detached || plan.pty_slot.has_value();
  pty_slot_ = plan.pty_slot;
  self_ = shared_from_this();

  uv_timer_init(loop_, &defer_);
  defer_.data = this;
  ++open_handles_;

  std::vector<detail::PipeEnds> ends(plan.stdio.size());
  std::vector<uv_stdio_container_t> containers(plan.stdio.size());
  int err = plumb_stdio(plan, ends, containers);
  if (err == 0 && plan.background_launch && start_background(plan, ends, containers)) return;
  if (err == 0) err = launch(plan, containers);
  for (auto& e : ends) {
    if (e.child >= 0) ::close(e.child);
  }
  release_user_streams(plan, err);
  if (err != 0) {
    fail(plan, err, ends);
  } else {
    attach(plan, ends);
  }

  uv_timer_start(
      &defer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<ChildProcess*>(t->data);
        auto keep = self->shared_from_this();
        self->announce();
      },
      0, 0);
}

// SpawnEvent, or a failed spawn's ErrorEvent and close: from the loop, never from
// inside spawn().
void ChildProcess::announce() {
  if (spawn_error_) {
    exit_code_ = spawn_error_->code.value();
    report_error(*spawn_error_);
    maybe_close();
  } else {
    emit_spawn();
  }
}

// Streams given as a child's stdio (Stdio::stream): the child has them now, or, when
// the spawn failed, they go back to the non-blocking mode the parent's loop needs.
void ChildProcess::release_user_streams(const SpawnPlan& plan, int err) {
  for (const Stdio& s : plan.stdio) {
    if (s.kind() != Stdio::Kind::stream) continue;
    if (err == 0) {
      s.stream()->destroy();  // the child has the pipe now; the parent lets go of it
    } else {
      set_blocking(s.stream()->fd(), false);
      detail::StreamAccess::give(*s.stream(), false);
    }
  }
}

// SpawnOptions::background_launch: the clone runs on a launcher thread, and the streams
// exist from now on, so the caller can write to stdin at once. False (nothing changed)
// where that cannot be: the uv_spawn launcher (it needs the loop), an IPC slot, no
// thread or async handle to be had; then the launch happens here, as without the option.
bool ChildProcess::start_background(const SpawnPlan& plan, std::vector<detail::PipeEnds>& ends,
                                    std::vector<uv_stdio_container_t>& containers) {
  if (!detail::clone_launcher_available()) return false;
  for (const Stdio& s : plan.stdio) {
    if (s.kind() == Stdio::Kind::ipc) return false;
  }
  auto job = std::make_unique<detail::BackgroundLaunch>();
  job->child = this;
  job->plan = plan;
  job->ends = ends;
  job->containers = containers;
  job->what = launch_plan(job->plan, job->containers, job->argv, job->envp, job->path_env);
  if (uv_async_init(loop_, &job->async, [](uv_async_t* a) {
        auto* j = static_cast<detail::BackgroundLaunch*>(a->data);
        j->child->on_launched(*j);
      }) != 0) {
    give_up_tree();
    return false;
  }
  job->async.data = job.get();
  watch_ = std::make_unique<detail::ProcessWatch>();
  try {
    detail::run_in_launcher(job.get());
  } catch (...) {
    watch_.reset();
    give_up_tree();
    uv_close(reinterpret_cast<uv_handle_t*>(&job.release()->async),
             [](uv_handle_t* h) { delete static_cast<detail::BackgroundLaunch*>(h->data); });
    return false;
  }
  job.release();  // deleted when its async handle has closed, after on_launched()
  launching_ = true;
  // A stream given as stdio belongs to the child from now on: its own owner must not
  // start reading it (that child's SpawnEvent may come before this launch is done).
  for (const Stdio& s : plan.stdio) {
    if (s.kind() == Stdio::Kind::stream) detail::StreamAccess::give(*s.stream(), true);
  }
  attach_streams(plan, ends);
  // Writes wait in the queue until the child is known to run: if the launch fails they
  // are cancelled (ECANCELED), never reported written into a pipe nobody reads.
  for (auto& s : stdio_) {
    if (s && s->writable()) detail::StreamAccess::hold_writes(*s, true);
  }
  return true;
}

// On the loop's thread, when the launcher thread is done with `job`.
void ChildProcess::on_launched(detail::BackgroundLaunch& job) {
  auto keep = shared_from_this();
  if (job.err == detail::kCgroupJoinRefused) {
    refuse_cgroup(job.what);
    try {
      detail::run_in_launcher(&job);
      return;
    } catch (...) {
      job.err = UV_EAGAIN;
      job.close_child_ends();
    }
  }
  launching_ = false;
  int err = job.err;
  if (err == 0)
    err = watch_->adopt(loop_, job.pid, job.pidfd, this, on_watch_exit, on_watch_closed);
  err = launched(err);
  release_user_streams(job.plan, err);
  if (err != 0) {
    set_spawn_error(job.plan, err);
    for (auto& s : stdio_) {
      if (s) s->destroy();  // their closes, then the error's, make CloseEvent
    }
  } else {
    pid_ = watch_->pid();
    arm(job.plan);
    if (!refed_) watch_->unref();
    for (auto& s : stdio_) {
      if (s) detail::StreamAccess::hold_writes(*s, false);
    }
    if (pending_signal_ != 0) {
      const int signum = std::exchange(pending_signal_, 0);
      if (pending_terminate_) {
        terminate_for(pending_reason_, pending_delay_);
      } else {
        send_signal(Signal(signum), pending_reason_);
      }
    }
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&job.async),
           [](uv_handle_t* h) { delete static_cast<detail::BackgroundLaunch*>(h->data); });
  announce();
}

// The parent's ends of the pipes, and what each child fd is to be.
int ChildProcess::plumb_stdio(const SpawnPlan& plan, std::vector<detail::PipeEnds>& ends,
                              std::vector<uv_stdio_container_t>& containers) {
  for (std::size_t i = 0; i < plan.stdio.size(); ++i) {
    const Stdio& s = plan.stdio[i];
    switch (s.kind()) {
      case Stdio::Kind::pipe:
      case Stdio::Kind::ipc:
        if (int err = make_pipe(i, i >= 3 || s.kind() == Stdio::Kind::ipc, ends[i]); err != 0)
          return err;
        containers[i].flags = UV_INHERIT_FD;
        containers[i].data.fd = ends[i].child;
        break;
      case Stdio::Kind::ignore:
        containers[i].flags = UV_IGNORE;
        break;
      case Stdio::Kind::inherit:
        containers[i].flags = UV_INHERIT_FD;
        containers[i].data.fd = static_cast<int>(i);
        break;
      case Stdio::Kind::fd:
        containers[i].flags = UV_INHERIT_FD;
        containers[i].data.fd = s.fd_number();
        break;
      case Stdio::Kind::pty:
        // One terminal for every pty slot: made at the first, whose end the parent keeps.
        if (static_cast<int>(i) == plan.pty_slot) {
          if (int err = make_pty(plan.terminal_size, ends[i]); err != 0) return err;
        }
        containers[i].flags = UV_INHERIT_FD;
        containers[i].data.fd = ends[static_cast<std::size_t>(*plan.pty_slot)].child;
        break;
      case Stdio::Kind::stream:
        // The two children share one open file description, so its O_NONBLOCK (the
        // parent's setting) would reach the new child too: children get blocking stdio.
        containers[i].flags = UV_INHERIT_FD;
        containers[i].data.fd = s.stream()->fd();
        set_blocking(s.stream()->fd(), true);
        break;
    }
  }
  return 0;
}

// The LaunchPlan for `plan`, pointing into `plan`, this object and the three buffers,
// which must outlive the launch. Makes kill_tree's cgroup.
detail::LaunchPlan ChildProcess::launch_plan(const SpawnPlan& plan,
                                             const std::vector<uv_stdio_container_t>& containers,
                                             std::vector<char*>& argv, std::vector<char*>& envp,
                                             std::string& path) {
  argv.reserve(args_.size() + 1);
  for (const auto& a : args_)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const char* path_env = std::getenv("PATH");
  if (plan.env) {
    envp.reserve(plan.env->size() + 1);
    path_env = nullptr;
    for (const auto& e : *plan.env) {
      envp.push_back(const_cast<char*>(e.c_str()));
      if (e.compare(0, 5, "PATH=") == 0) path_env = e.c_str() + 5;
    }
    envp.push_back(nullptr);
  } else if (plan.background_launch) {
    // The launcher thread must not read `environ` while this thread may change it: a
    // copy of the array (setenv does not free the strings it replaces).
    for (char** e = environ; *e != nullptr; ++e)
      envp.push_back(*e);
    envp.push_back(nullptr);
  }
  path = path_env != nullptr ? path_env : "/usr/bin:/bin";
  // With die_with_parent the kernel kills only the child when we die; the guardian
  // kills the rest of its tree.
  guarded_ = plan.kill_tree && plan.die_with_parent && detail::guardian_ready();
  if (plan.kill_tree) {
    cgroup_ = detail::Cgroup::create(guarded_);
    tree_ = cgroup_ ? TreeMechanism::cgroup : TreeMechanism::process_group;
  }
  return detail::LaunchPlan{
      file_.c_str(),
      argv.data(),
      envp.empty() ? nullptr : envp.data(),
      plan.cwd ? plan.cwd->c_str() : nullptr,
      path.c_str(),
      &containers,
      plan.uid,
      plan.gid,
      plan.detached,
      tree_ == TreeMechanism::process_group,
      plan.die_with_parent,
      cgroup_ ? cgroup_->procs_fd() : -1,
      plan.pty_slot ? containers[static_cast<std::size_t>(*plan.pty_slot)].data.fd : -1};
}

void ChildProcess::on_watch_exit(void* owner, int64_t status, int term_signal, int error) {
  static_cast<ChildProcess*>(owner)->on_exit(status, term_signal, error);
}

void ChildProcess::on_watch_closed(void* owner) {
  auto* self = static_cast<ChildProcess*>(owner);
  --self->open_handles_;
  self->release_if_done();
}

// The cgroup could be made but not joined (a threaded cgroup, a security policy):
// process groups from now on, starting with this child.
void ChildProcess::refuse_cgroup(detail::LaunchPlan& what) {
  detail::Cgroup::disable();
  cgroup_.reset();
  tree_ = TreeMechanism::process_group;
  what.new_group = true;
  what.cgroup_procs = -1;
}

void ChildProcess::give_up_tree() noexcept {
  cgroup_.reset();
  tree_ = TreeMechanism::none;
  guarded_ = false;
}

int ChildProcess::launch(const SpawnPlan& plan,
                         const std::vector<uv_stdio_container_t>& containers) {
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string path;
  detail::LaunchPlan what = launch_plan(plan, containers, argv, envp, path);
  watch_ = std::make_unique<detail::ProcessWatch>();
  auto start = [&] { return watch_->start(loop_, what, this, on_watch_exit, on_watch_closed); };
  int err = start();
  if (err == detail::kCgroupJoinRefused) {
    refuse_cgroup(what);
    err = start();
  }
  return launched(err);
}

// After the launch, successful (err 0) or not: the cgroup's procs fd is done with, the
// watch's handle counted, the tree given up on failure or guarded. Returns `err`.
int ChildProcess::launched(int err) {
  if (cgroup_) cgroup_->close_procs();
  if (watch_->handle_open()) ++open_handles_;  // its ClosedFn is still to come
  if (err != 0) {
    give_up_tree();
  } else if (guarded_ && tree_ == TreeMechanism::process_group) {
    detail::guardian_watch_group(watch_->pid());
  }
  return err;
}

// A spawn that failed: closed streams in place of the pipes, and the error that the
// first loop iteration reports.
void ChildProcess::fail(const SpawnPlan& plan, int err, std::vector<detail::PipeEnds>& ends) {
  const std::size_t n = plan.stdio.size();
  for (auto& e : ends) {
    if (e.parent >= 0) ::close(e.parent);
    detail::StreamAccess::release_pipe_pages(e.pipe_pages);
  }
  stdio_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (plan.stdio[i].kind() == Stdio::Kind::pipe) {
      const bool both = i >= 3;
      stdio_[i] = detail::StreamAccess::create_closed(loop_, i != 0 || both, i == 0 || both);
    } else if (plan.stdio[i].kind() == Stdio::Kind::ipc) {
      channel_ = detail::ChannelAccess::create_closed(loop_);
    } else if (plan.stdio[i].kind() == Stdio::Kind::pty) {
      const auto first = static_cast<std::size_t>(*plan.pty_slot);
      stdio_[i] =
          i == first ? detail::StreamAccess::create_closed(loop_, true, true) : stdio_[first];
    }
  }
  set_spawn_error(plan, err);
}

void ChildProcess::set_spawn_error(const SpawnPlan& plan, int err) {
  spawn_error_ = std::make_unique<Error>();
  spawn_error_->code = uv_error(err);
  spawn_error_->syscall = "spawn " + file_;
  spawn_error_->path = file_;
  spawn_error_->spawnargs.assign(args_.begin() + 1, args_.end());
  if (plan.cwd && (err == UV_ENOENT || err == UV_ENOTDIR || err == UV_EACCES) &&
      cwd_is_bad(*plan.cwd)) {
    spawn_error_->text = spawn_error_->message() + " (cwd " + inspect(*plan.cwd) + ")";
  }
}

// A spawn that succeeded: the parent's ends become streams (and the IPC channel), and
// the timeout and cancellation are armed.
void ChildProcess::attach(const SpawnPlan& plan, const std::vector<detail::PipeEnds>& ends) {
  pid_ = watch_->pid();
  attach_streams(plan, ends);
  arm(plan);
}

void ChildProcess::attach_streams(const SpawnPlan& plan,
                                  const std::vector<detail::PipeEnds>& ends) {
  const std::size_t n = plan.stdio.size();
  stdio_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const detail::PipeEnds& e = ends[i];
    if (e.parent < 0) continue;
    if (plan.stdio[i].kind() == Stdio::Kind::ipc) {
      attach_channel(e.parent);
      if (channel_) channel_->set_max_message(plan.max_message);
      continue;
    }
    // uv_poll_init cannot fail for a fresh pipe; if it somehow did, the fd is
    // closed and the slot stays empty rather than counting a close never coming.
    if (detail::StreamAccess::create(loop_, e.parent, e.readable, e.writable, e.socket,
                                     stdio_[i]) != 0) {
      detail::StreamAccess::release_pipe_pages(e.pipe_pages);
      continue;
    }
    detail::StreamAccess::owns_pipe_pages(*stdio_[i], e.pipe_pages);
    if (e.tty) {
      detail::StreamAccess::mark_terminal(*stdio_[i]);
      detail::StreamAccess::hold_terminal(*stdio_[i]);
    }
    if (e.readable) {
      ++closes_needed_;
      // This object lives until CloseEvent, which waits for this stream's close; a raw
      // pointer fits in std::function's own storage, where a weak_ptr would allocate.
      detail::StreamAccess::on_close(*stdio_[i], [self = this] { self->maybe_close(); });
    }
  }
  // The terminal's other slots are the same stream (counted once for CloseEvent).
  for (std::size_t i = 0; i < n; ++i) {
    if (plan.stdio[i].kind() == Stdio::Kind::pty)
      stdio_[i] = stdio_[static_cast<std::size_t>(*plan.pty_slot)];
  }
}

// The timeout and the stop_token, from the launch on.
void ChildProcess::arm(const SpawnPlan& plan) {
  if (plan.timeout.count() > 0) {
    start_timer(TimerMode::timeout, plan.timeout);
    timeout_deadline_ = uv_now(loop_) + static_cast<uint64_t>(plan.timeout.count());
  }
  if (plan.stop_token.stop_possible()) {
    uv_async_t* async = &handles().async;
    uv_async_init(loop_, async,
                  [](uv_async_t* a) { static_cast<ChildProcess*>(a->data)->on_abort(); });
    async->data = this;
    async_used_ = true;
    ++open_handles_;
    // The async handle only carries the stop to the loop: it must not keep it alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(async));
    stop_cb_ = std::make_unique<std::stop_callback<std::function<void()>>>(
        plan.stop_token, std::function<void()>([async] { uv_async_send(async); }));
  }
}

void ChildProcess::attach_channel(int fd) {
  if (detail::ChannelAccess::create(loop_, fd, /*ref_by_listeners=*/false, channel_) != 0) {
    channel_ = detail::ChannelAccess::create_closed(loop_);
    return;
  }
  // The channel's events all come before its close, which CloseEvent waits for, and
  // this object lives until CloseEvent: `this` is valid in every relay.
  detail::ChannelAccess::relay(
      *channel_, [this](const MessageEvent& m) { emit(m); }, [this] { emit(DisconnectEvent{}); },
      [this](const Error& e) { report_error(e); });
  ++closes_needed_;
  std::weak_ptr<ChildProcess> weak = self_;
  detail::ChannelAccess::on_closed(*channel_, [weak] {
    if (auto c = weak.lock()) c->maybe_close();
  });
  if (!refed_) channel_->unref();
}

void ChildProcess::emit_spawn() {
  if (spawn_emitted_) return;
  spawn_emitted_ = true;
  emit(SpawnEvent{});
  for (auto& s : stdio_) {
    if (s) detail::StreamAccess::start(*s);
  }
  if (channel_) detail::ChannelAccess::start(*channel_);
}

void ChildProcess::on_exit(int64_t status, int term_signal, int error) {
  auto keep = shared_from_this();
  exited_ = true;
  if (term_signal != 0) {
    signal_code_ = term_signal;
  } else {
    exit_code_ = static_cast<int>(status);
  }
  emit_spawn();
  // Another reaper took the child and the kernel kept no status for us (before 6.15):
  // exit and close must still come.
  if (error != 0) report_error(Error{uv_error(error), "waitid", {}, {}, {}});
  // With kill_tree, cancellation still has a tree to reach until CloseEvent.
  if (tree_ == TreeMechanism::none) release_stop();
  // The child's last messages, and the disconnect its exit caused, come before exit.
  if (channel_) detail::ChannelAccess::drain(*channel_);
  // As Node: nothing written to stdin now can reach the child. A terminal stays: it
  // still has output to read, and what is typed may reach a grandchild holding it.
  if (!stdio_.empty() && stdio_[0] && !detail::StreamAccess::is_terminal(*stdio_[0]))
    stdio_[0]->destroy();
  if (const auto& t = terminal(); t && !t->closed()) detail::StreamAccess::release_terminal(*t);
  emit(ExitEvent{exit_code_, signal_code_});
  for (auto& s : stdio_) {
    if (s && s->readable()) detail::StreamAccess::flush(*s);
  }
  const bool pipes_open = closes_got_ + 1 < closes_needed_;
  if (close_timeout_.count() > 0 && pipes_open) {
    arm_timer(handles().close_wait, close_wait_used_, close_timeout_,
              [](uv_timer_t* t) { static_cast<ChildProcess*>(t->data)->on_close_wait(); });
  }
  // With kill_tree a timeout (or the SIGKILL after a terminate()) still has a tree to
  // reach until CloseEvent (maybe_close() settles a pending SIGKILL). exec's and the
  // sync variants' timeout bounds the whole call, as Node's: at expiry it stops
  // waiting for a grandchild that holds the pipes. Otherwise nothing is left to time.
  // A terminate() may have taken the timer for its SIGKILL meanwhile: with nothing left
  // to kill, the timer goes back to the timeout, for the time that remains of it.
  if (tree_ == TreeMechanism::none) {
    if (!before_timeout_kill_ || timeout_deadline_ == 0) {
      stop_timer();
    } else if (timer_mode_ != TimerMode::timeout) {
      uv_update_time(loop_);
      const uint64_t now = uv_now(loop_);
      const uint64_t left = timeout_deadline_ > now ? timeout_deadline_ - now : 0;
      start_timer(TimerMode::timeout, std::chrono::milliseconds(static_cast<int64_t>(left)));
    }
  }
  maybe_close();
}

void ChildProcess::release_stop() noexcept {
  stop_cb_.reset();
  if (async_used_) close_handle(reinterpret_cast<uv_handle_t*>(&handles_->async));
}

bool ChildProcess::can_signal() const noexcept {
  if (!pid_) return false;
  return tree_ != TreeMechanism::none ? !close_emitted_ : !exited_;
}

void ChildProcess::arm_timer(uv_timer_t& timer, bool& used, std::chrono::milliseconds delay,
                             uv_timer_cb cb) {
  if (!used) {
    uv_timer_init(loop_, &timer);
    timer.data = this;
    used = true;
    ++open_handles_;
    if (!refed_) uv_unref(reinterpret_cast<uv_handle_t*>(&timer));
  }
  // The loop's cached time may be stale after a long callback: measure from now.
  uv_update_time(loop_);
  uv_timer_start(&timer, cb, static_cast<uint64_t>(delay.count()), 0);
}

void ChildProcess::start_timer(TimerMode mode, std::chrono::milliseconds delay) {
  timer_mode_ = mode;
  arm_timer(handles().timer, timer_used_, delay,
            [](uv_timer_t* t) { static_cast<ChildProcess*>(t->data)->on_timer(); });
}

void ChildProcess::stop_timer() noexcept {
  timer_mode_ = TimerMode::none;
  if (timer_used_) uv_timer_stop(&handles_->timer);
}

void ChildProcess::on_close_wait() {
  // A grandchild still holds the pipes: stop waiting for it. What was read so far has
  // been delivered; each stream's close now completes the close count.
  auto keep = shared_from_this();
  for (auto& s : stdio_) {
    if (s && !s->closed() && s->readable()) s->destroy();
  }
  if (channel_) detail::ChannelAccess::destroy(*channel_);
}

void ChildProcess::on_timer() {
  const TimerMode mode = std::exchange(timer_mode_, TimerMode::none);
  switch (mode) {
    case TimerMode::timeout:
      timeout_deadline_ = 0;
      on_timeout();
      break;
    case TimerMode::force_kill:
      if (can_signal()) kill(SIGKILL);
      break;
    case TimerMode::none:
      break;
  }
}

bool ChildProcess::terminate(std::optional<std::chrono::milliseconds> force_kill_after) {
  return terminate_for(KillReason::terminate, force_kill_after);
}

bool ChildProcess::terminate_for(KillReason reason,
                                 std::optional<std::chrono::milliseconds> force_kill_after) {
  if (launching_) {
    if (pending_signal_ == 0) {
      pending_terminate_ = true;
      pending_delay_ = force_kill_after;
    }
    return send_signal(kill_signal_, reason);
  }
  if (!send_signal(kill_signal_, reason)) return false;
  const auto delay = force_kill_after.value_or(force_kill_after_);
  if (delay.count() > 0 && can_signal()) start_timer(TimerMode::force_kill, delay);
  return true;
}

bool ChildProcess::kill_group(Signal signal) {
  if (!detached_) {
    throw std::logic_error(
        "kill_group() needs a child spawned with detached = true (its own process group)");
  }
  if (!pid_ || close_emitted_) return false;
  const int err = watch_->kill_group(signal.number());
  if (err == 0) {
    if (signal.number() != 0) {
      killed_ = true;
      if (kill_reason_ == KillReason::none) kill_reason_ = KillReason::kill;
    }
    return true;
  }
  if (err != UV_ESRCH) report_error(Error{uv_error(err), "kill", {}, {}, {}});
  return false;
}

void ChildProcess::on_timeout() {
  auto keep = shared_from_this();
  // A child that exited a moment ago, its exit not read yet, must not be signalled as
  // if it still ran (the zombie would take the signal and it would count as a timeout):
  // its exit comes first.
  if (!exited_ && watch_) watch_->poll_exit();
  if (close_emitted_) return;
  if (before_timeout_kill_) before_timeout_kill_();
  if (can_signal()) timed_out_ = terminate_for(KillReason::timeout, std::nullopt);
}

void ChildProcess::on_abort() {
  if (!can_signal() || aborted_) return;
  if (terminate_for(KillReason::stop, std::nullopt)) {
    aborted_ = true;
    report_error(Error{make_error_code(errc::aborted), {}, {}, {}, "The operation was aborted"});
  }
}

bool ChildProcess::kill(Signal signal) {
  return send_signal(signal, KillReason::kill);
}

bool ChildProcess::send_signal(Signal signal, KillReason reason) {
  const int signum = signal.number();
  if (launching_) {
    // The child is being started on a launcher thread: the first signal waits for it.
    if (signum != 0 && pending_signal_ == 0) {
      pending_signal_ = signum;
      pending_reason_ = reason;
    }
    return true;
  }
  int err;
  if (tree_ != TreeMechanism::none && signum != 0) {
    if (!can_signal()) return false;
    err = tree_ == TreeMechanism::cgroup ? cgroup_->signal(signum) : watch_->kill_group(signum);
  } else {
    if (!pid_ || exited_) return false;
    err = watch_->kill(signum);
  }
  if (err == 0) {
    // Signal 0 only asks whether the child exists; it kills nothing.
    if (signum != 0) {
      killed_ = true;
      if (kill_reason_ == KillReason::none) kill_reason_ = reason;
    }
    return true;
  }
  if (err != UV_ESRCH) report_error(Error{uv_error(err), "kill", {}, {}, {}});
  return false;
}

std::optional<ResourceUsage> ChildProcess::resource_usage() const {
  if (!exited_ || !watch_ || !watch_->usage()) return std::nullopt;
  const rusage& ru = *watch_->usage();
  using std::chrono::microseconds;
  using std::chrono::seconds;
  ResourceUsage u;
  u.user_time = seconds(ru.ru_utime.tv_sec) + microseconds(ru.ru_utime.tv_usec);
  u.system_time = seconds(ru.ru_stime.tv_sec) + microseconds(ru.ru_stime.tv_usec);
  // The kernel charged the child this process's peak at exec (the shared, or copied,
  // address space was "its" old one): only a figure above that peak is the child's.
  if (detail::above_own_peak(ru.ru_maxrss)) u.max_rss_kib = ru.ru_maxrss;
  u.minor_faults = ru.ru_minflt;
  u.major_faults = ru.ru_majflt;
  u.voluntary_context_switches = ru.ru_nvcsw;
  u.involuntary_context_switches = ru.ru_nivcsw;
  return u;
}

void ChildProcess::report_error(const Error& error) {
  if (emit(ErrorEvent{error}) == 0) detail::report_unhandled(error.message());
}

void ChildProcess::maybe_close() {
  if (++closes_got_ != closes_needed_) return;
  // A SIGKILL that terminate() scheduled cannot reach the tree after CloseEvent: what
  // is left of it (descendants holding no pipe) gets it now.
  if (timer_mode_ == TimerMode::force_kill && tree_ != TreeMechanism::none) kill(SIGKILL);
  close_emitted_ = true;
  stop_timer();
  // Closed with the rest, not when it fired: a handle closing then would cost the loop
  // one more turn before the first read.
  close_handle(reinterpret_cast<uv_handle_t*>(&defer_));
  if (timer_used_) close_handle(reinterpret_cast<uv_handle_t*>(&handles_->timer));
  if (close_wait_used_) close_handle(reinterpret_cast<uv_handle_t*>(&handles_->close_wait));
  release_stop();
  if (guarded_ && tree_ == TreeMechanism::process_group) detail::guardian_forget_group(*pid_);
  // The child is reaped only now: until here its pid, and the group it leads, could
  // not be reused by another process.
  if (watch_) watch_->close();
  cgroup_.reset();
  emit(CloseEvent{exit_code_, signal_code_});
  release_if_done();
}

void ChildProcess::ref() noexcept {
  refed_ = true;
  if (watch_) watch_->ref();
  if (timer_used_) uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
  if (close_wait_used_) uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->close_wait));
  for (auto& s : stdio_) {
    if (s) s->ref();
  }
  if (channel_) channel_->ref();
}

void ChildProcess::unref() noexcept {
  refed_ = false;
  if (watch_) watch_->unref();
  if (timer_used_) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
  if (close_wait_used_) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->close_wait));
  for (auto& s : stdio_) {
    if (s) s->unref();
  }
  if (channel_) channel_->unref();
}

const std::shared_ptr<Stream>& ChildProcess::terminal() const noexcept {
  static const std::shared_ptr<Stream> none;
  return pty_slot_ ? stdio(static_cast<std::size_t>(*pty_slot_)) : none;
}

bool ChildProcess::resize_terminal(unsigned short columns, unsigned short rows) {
  if (!pty_slot_) {
    throw std::logic_error("resize_terminal() needs a child spawned with a Stdio::pty() slot");
  }
  const auto& t = terminal();
  if (!t || t->closed()) return false;
  // The kernel sends SIGWINCH to the terminal's foreground process group when the size
  // changes.
  winsize ws{};
  ws.ws_col = columns;
  ws.ws_row = rows;
  return ::ioctl(t->fd(), TIOCSWINSZ, &ws) == 0;
}

Channel& ChildProcess::need_channel(const char* what) const {
  if (!channel_) {
    throw std::logic_error(std::string(what) +
                           "() needs a child spawned with an IPC channel (Stdio::ipc() or fork())");
  }
  return *channel_;
}

bool ChildProcess::send(std::string_view json, Channel::SendCallback cb) {
  return need_channel("send").send(json, std::move(cb));
}

void ChildProcess::disconnect() {
  need_channel("disconnect").disconnect();
}

void ChildProcess::ref_channel() noexcept {
  if (channel_) channel_->ref();
}

void ChildProcess::unref_channel() noexcept {
  if (channel_) channel_->unref();
}

void ChildProcess::close_handle(uv_handle_t* handle) {
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) {
    auto* self = static_cast<ChildProcess*>(h->data);
    --self->open_handles_;
    self->release_if_done();
  });
}

void ChildProcess::release_if_done() {
  if (close_emitted_ && open_handles_ == 0 && self_) {
    // May destroy this object: nothing may touch a member after it.
    auto last = std::move(self_);
  }
}

long raise_fd_limit() noexcept {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return -errno;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return -errno;
  }
  return static_cast<long>(lim.rlim_cur);
}

ChildGuard& ChildGuard::operator=(ChildGuard&& other) noexcept {
  if (this != &other) {
    ChildGuard old(std::move(*this));
    child_ = std::move(other.child_);
    grace_ = other.grace_;
  }
  return *this;
}

ChildGuard::~ChildGuard() {
  if (!child_) return;
  try {
    child_->terminate(grace_);
  } catch (...) {
    detail::report_listener_exception();
  }
}

std::shared_ptr<ChildProcess> spawn(uv_loop_t* loop, std::string_view file,
                                    const std::vector<std::string>& args,
                                    const SpawnOptions& options) {
  SpawnPlan plan = plan_spawn(loop, file, args, options);
  auto child = SpawnAccess::make(loop);
  SpawnAccess::start(*child, plan);
  return child;
}

std::shared_ptr<ChildProcess> spawn(std::string_view file, const std::vector<std::string>& args,
                                    const SpawnOptions& options) {
  return spawn(uv_default_loop(), file, args, options);
}

std::pair<std::string, std::vector<std::string>> detail::checked_command(
    std::string_view file, const std::vector<std::string>& args, const SpawnOptions& options) {
  SpawnPlan plan = plan_spawn(nullptr, file, args, options);
  return {std::move(plan.file), std::vector<std::string>(plan.args.begin() + 1, plan.args.end())};
}

ExitAwaiter ChildProcess::exited() {
  return ExitAwaiter(shared_from_this());
}

CloseAwaiter ChildProcess::closed() {
  return CloseAwaiter(shared_from_this());
}

ExitAwaiter::~ExitAwaiter() {
  // The coroutine was destroyed while it waited: its listeners must not resume it.
  if (exit_id_ != 0) child_->off(exit_id_);
  if (close_id_ != 0) child_->off(close_id_);
}

bool ExitAwaiter::await_ready() const noexcept {
  return child_->exited_ || child_->close_emitted_;
}

void ExitAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  waiter_ = waiter;
  exit_id_ = child_->once<ExitEvent>([this](const ExitEvent&) { fire(); });
  // A failed spawn has no ExitEvent: its CloseEvent ends the wait.
  close_id_ = child_->once<CloseEvent>([this](const CloseEvent&) { fire(); });
}

void ExitAwaiter::fire() noexcept {
  // Both ids are cleared before resuming: the coroutine may destroy this awaiter.
  child_->off(std::exchange(exit_id_, 0));
  child_->off(std::exchange(close_id_, 0));
  std::exchange(waiter_, {}).resume();
}

ExitEvent ExitAwaiter::await_resume() const noexcept {
  return ExitEvent{child_->exit_code_, child_->signal_code_};
}

CloseAwaiter::~CloseAwaiter() {
  if (close_id_ != 0) child_->off(close_id_);
}

bool CloseAwaiter::await_ready() const noexcept {
  return child_->close_emitted_;
}

void CloseAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  waiter_ = waiter;
  close_id_ = child_->once<CloseEvent>([this](const CloseEvent&) {
    close_id_ = 0;
    std::exchange(waiter_, {}).resume();
  });
}

CloseEvent CloseAwaiter::await_resume() const noexcept {
  return CloseEvent{child_->exit_code_, child_->signal_code_};
}

}  // namespace childproc
