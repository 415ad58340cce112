// spawn() and ChildProcess: Node's child_process.spawn for a libuv loop.
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/error.hpp>
#include <childproc/event_emitter.hpp>
#include <childproc/ipc.hpp>
#include <childproc/options.hpp>
#include <childproc/resource_usage.hpp>
#include <childproc/signals.hpp>
#include <childproc/stream.hpp>

#include <chrono>
#include <coroutine>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace childproc {

struct SpawnPlan;
struct SpawnAccess;
namespace detail {
struct ChildAccess;
class ProcessWatch;
class Cgroup;
struct PipeEnds;
struct LaunchPlan;
struct BackgroundLaunch;
}  // namespace detail

/// How kill_tree reaches a child's tree (ChildProcess::tree_mechanism()).
enum class TreeMechanism {
  none,           ///< kill_tree not set (or the spawn failed): signals reach the child alone
  process_group,  ///< the child leads a new process group (a session when detached):
                  ///< descendants that leave it (setsid, setpgid) are not reached
  cgroup,         ///< a cgroup v2 of the child's own: every descendant; SIGKILL is atomic
};

/// Why childproc signalled a child (ChildProcess::kill_reason()); the first reason wins.
enum class KillReason {
  none,        ///< childproc sent no signal (the child may still have died of one)
  kill,        ///< kill() or kill_group() with a real signal
  terminate,   ///< terminate(), or a ChildGuard going out of scope
  timeout,     ///< the `timeout` option expired
  max_buffer,  ///< exec's output went over `max_buffer`
  stop,        ///< the stop_token was stopped (JobQueue::stop() included)
};

class ExitAwaiter;
class CloseAwaiter;

/// The child started (emitted from the loop, before any data or exit).
struct SpawnEvent {};
/// The child exited or was killed: exactly one of `code` and `signal` is set. Its
/// stdio may still be open (a grandchild can hold it); wait for CloseEvent for that.
struct ExitEvent {
  std::optional<int> code;
  std::optional<int> signal;
};

/// A running (or finished) child, Node's ChildProcess. Events, in order: SpawnEvent,
/// ExitEvent, CloseEvent (after exit and after every readable stdio stream closed);
/// ErrorEvent may come at any point. A failed spawn gives ErrorEvent then CloseEvent
/// with code -errno, and no SpawnEvent or ExitEvent.
///
/// With an IPC channel (Stdio::ipc(), fork()): MessageEvent for each message, between
/// SpawnEvent and DisconnectEvent; DisconnectEvent once the channel is closed, which
/// CloseEvent also waits for. Messages the child sent before it exited, and the
/// disconnect its exit causes, come before ExitEvent.
///
/// It keeps itself alive until CloseEvent has been emitted and its libuv handles are
/// closed, so dropping every shared_ptr right after spawn() is safe. All calls from
/// the loop's thread.
class ChildProcess final : public EventEmitter<SpawnEvent, ExitEvent, CloseEvent, ErrorEvent,
                                               MessageEvent, DisconnectEvent>,
                           public std::enable_shared_from_this<ChildProcess> {
public:
  CHILDPROC_API ~ChildProcess();

  /// The process id; empty when the spawn failed.
  std::optional<int> pid() const noexcept { return pid_; }
  /// The exit code once exited normally (-errno after a failed spawn), else empty.
  std::optional<int> exit_code() const noexcept { return exit_code_; }
  /// The signal that ended the child, else empty.
  std::optional<int> signal_code() const noexcept { return signal_code_; }
  /// True once kill() (or timeout/cancellation) delivered a signal to the child.
  bool killed() const noexcept { return killed_; }
  /// True when `timeout` expired and the child was sent `kill_signal`.
  bool timed_out() const noexcept { return timed_out_; }
  /// Why childproc signalled the child, if it did: set when the signal is sent, so at
  /// ExitEvent and CloseEvent it says whether the death was childproc's doing.
  KillReason kill_reason() const noexcept { return kill_reason_; }

  /// `co_await child->exited()` gives the ExitEvent, at once if it already came. After
  /// a failed spawn (no ExitEvent) it completes at CloseEvent with `code` = -errno.
  /// Destroying the awaiting coroutine removes its listener; the child runs on.
  CHILDPROC_API ExitAwaiter exited();
  /// `co_await child->closed()` waits for CloseEvent (at once if it already came) and
  /// gives it.
  CHILDPROC_API CloseAwaiter closed();
  /// The program run (the shell for shell commands).
  const std::string& spawnfile() const noexcept { return file_; }
  /// The full argv, argv[0] included.
  const std::vector<std::string>& spawnargs() const noexcept { return args_; }

  /// The parent's end of fd 0, 1, 2 (null where that slot is not a pipe or pty). After a
  /// failed spawn they are streams that are already closed: writes fail with EPIPE.
  const std::shared_ptr<Stream>& std_in() const noexcept { return stdio(0); }
  const std::shared_ptr<Stream>& std_out() const noexcept { return stdio(1); }
  const std::shared_ptr<Stream>& std_err() const noexcept { return stdio(2); }
  /// The parent's end of fd `i`; null where it is not a pipe or a pty, or out of range.
  /// Every Stdio::pty() slot gives the same stream, the terminal().
  CHILDPROC_API const std::shared_ptr<Stream>& stdio(std::size_t i) const noexcept;

  /// The pseudo-terminal (Stdio::pty()): one duplex stream, what the child's terminal
  /// shows to read (EndEvent once every process holding the terminal closed it) and
  /// what is typed into it to write. Null without a pty slot.
  CHILDPROC_API const std::shared_ptr<Stream>& terminal() const noexcept;
  /// Sets the terminal's size; when it changes, the kernel sends SIGWINCH to the
  /// terminal's foreground process group. False once the terminal is closed. Throws
  /// std::logic_error for a child without a pty slot.
  CHILDPROC_API bool resize_terminal(unsigned short columns, unsigned short rows);

  /// Sends `signal` (default SIGTERM) to the child. False, and nothing sent, when
  /// there is no live child (spawn failed, or already exited). With kill_tree the
  /// signal goes to the whole tree, until CloseEvent (descendants may outlive the
  /// child); signal 0 still asks about the child alone.
  CHILDPROC_API bool kill(Signal signal = Signal());

  /// Sends `signal` to the child's whole process group. The child must have been
  /// spawned `detached` (it then leads its own group); otherwise throws
  /// std::logic_error. Works until CloseEvent, so grandchildren that outlive the child
  /// and hold its pipes can still be reached. False when nothing was signalled.
  CHILDPROC_API bool kill_group(Signal signal = Signal());

  /// Sends the spawn option `kill_signal`, then SIGKILL after `force_kill_after`
  /// (default: the spawn option of that name) if the child is still alive; a zero
  /// delay sends only `kill_signal`. False when there is no live child.
  CHILDPROC_API bool terminate(
      std::optional<std::chrono::milliseconds> force_kill_after = std::nullopt);

  /// How kill_tree reaches the tree: none without kill_tree.
  TreeMechanism tree_mechanism() const noexcept { return tree_; }

  /// What the child cost, once it has exited: CPU times, faults, context switches and
  /// (where provably the child's) its peak RSS. Empty before the exit, after a failed
  /// spawn, on the uv_spawn launcher (libuv reaps without asking), and when another
  /// reaper in this process took the child first.
  CHILDPROC_API std::optional<ResourceUsage> resource_usage() const;

  /// Keep the loop alive for this child (the default) / let the loop end without
  /// waiting for it. unref() also releases the child's stdio streams and IPC channel,
  /// unlike Node.
  CHILDPROC_API void ref() noexcept;
  CHILDPROC_API void unref() noexcept;

  /// Sends one message over the IPC channel: `json` must be exactly one JSON value
  /// (see check_message()). Returns false when refused (the error goes to `cb`, else
  /// to an ErrorEvent, from the loop; nothing is written) or when 128 KiB or more is
  /// queued (the message is queued: slow down until callbacks come). Throws
  /// std::logic_error when the child was spawned without an IPC slot.
  CHILDPROC_API bool send(std::string_view json, Channel::SendCallback cb = {});
  /// Closes the IPC channel after writing what is queued: DisconnectEvent here, and
  /// 'disconnect' in the child. ErrorEvent (errc::disconnected) when already closed.
  /// Throws std::logic_error without an IPC slot.
  CHILDPROC_API void disconnect();
  /// True while the IPC channel is open; false without one.
  bool connected() const noexcept { return channel_ && channel_->connected(); }
  /// Node's `subprocess.channel.ref()/unref()`: whether the open channel alone keeps
  /// the loop alive (by default it does until disconnected). No-op without a channel.
  CHILDPROC_API void ref_channel() noexcept;
  CHILDPROC_API void unref_channel() noexcept;

  uv_loop_t* loop() const noexcept { return loop_; }

private:
  friend struct SpawnAccess;
  friend struct detail::ChildAccess;
  friend class ExitAwaiter;
  friend class CloseAwaiter;
  // The constructor is public for make_shared (one allocation with the control block),
  // yet only the library can name its first argument.
  class Key {
    friend struct SpawnAccess;
    Key() = default;
  };

public:
  ChildProcess(Key, uv_loop_t* loop);

private:
  void start(const SpawnPlan& plan);
  int plumb_stdio(const SpawnPlan& plan, std::vector<detail::PipeEnds>& ends,
                  std::vector<uv_stdio_container_t>& containers);
  int launch(const SpawnPlan& plan, const std::vector<uv_stdio_container_t>& containers);
  detail::LaunchPlan launch_plan(const SpawnPlan& plan,
                                 const std::vector<uv_stdio_container_t>& containers,
                                 std::vector<char*>& argv, std::vector<char*>& envp,
                                 std::string& path);
  int launched(int err);
  void refuse_cgroup(detail::LaunchPlan& what);
  void give_up_tree() noexcept;
  bool start_background(const SpawnPlan& plan, std::vector<detail::PipeEnds>& ends,
                        std::vector<uv_stdio_container_t>& containers);
  void on_launched(detail::BackgroundLaunch& job);
  static void on_watch_exit(void* owner, int64_t status, int term_signal, int error);
  static void on_watch_closed(void* owner);
  void announce();
  void release_user_streams(const SpawnPlan& plan, int err);
  void fail(const SpawnPlan& plan, int err, std::vector<detail::PipeEnds>& ends);
  void set_spawn_error(const SpawnPlan& plan, int err);
  void attach(const SpawnPlan& plan, const std::vector<detail::PipeEnds>& ends);
  void attach_streams(const SpawnPlan& plan, const std::vector<detail::PipeEnds>& ends);
  void arm(const SpawnPlan& plan);
  void emit_spawn();
  void attach_channel(int fd);
  void on_exit(int64_t status, int term_signal, int error);
  bool can_signal() const noexcept;
  enum class TimerMode { none, timeout, force_kill };
  void on_timeout();
  bool send_signal(Signal signal, KillReason reason);
  bool terminate_for(KillReason reason, std::optional<std::chrono::milliseconds> delay);
  void on_timer();
  void arm_timer(uv_timer_t& timer, bool& used, std::chrono::milliseconds delay, uv_timer_cb cb);
  void start_timer(TimerMode mode, std::chrono::milliseconds delay);
  void stop_timer() noexcept;
  void on_close_wait();
  void release_stop() noexcept;
  void on_abort();
  void report_error(const Error& error);
  Channel& need_channel(const char* what) const;
  void maybe_close();
  void close_handle(uv_handle_t* handle);
  void release_if_done();

  uv_loop_t* loop_;
  std::unique_ptr<detail::ProcessWatch> watch_;  // the launcher's exit watch
  std::unique_ptr<detail::Cgroup> cgroup_;       // kill_tree's, where one could be made
  TreeMechanism tree_ = TreeMechanism::none;
  bool guarded_ = false;  // the guardian kills the tree if this process dies
  struct Handles;
  Handles& handles();
  uv_timer_t defer_{};
  std::unique_ptr<Handles> handles_;  // timers and the stop's async handle, once needed
  bool timer_used_ = false;
  bool close_wait_used_ = false;
  TimerMode timer_mode_ = TimerMode::none;
  uint64_t timeout_deadline_ = 0;  // loop time the timeout expires at; 0: none pending
  std::chrono::milliseconds force_kill_after_{0};
  std::chrono::milliseconds close_timeout_{0};
  bool detached_ = false;
  std::optional<int> pty_slot_;  // the lowest Stdio::pty() slot, if any
  bool async_used_ = false;
  std::unique_ptr<std::stop_callback<std::function<void()>>> stop_cb_;
  std::function<void()> before_timeout_kill_;  // exec stops reading first, as Node does
  std::shared_ptr<void> attachment_;           // exec's state: lives exactly as long as the child

  std::string file_;
  std::vector<std::string> args_;
  std::vector<std::shared_ptr<Stream>> stdio_;
  std::shared_ptr<Channel> channel_;  // the parent's end of the IPC slot, if any
  std::optional<int> pid_;
  std::optional<int> exit_code_;
  std::optional<int> signal_code_;
  std::unique_ptr<Error> spawn_error_;  // set when the spawn failed
  Signal kill_signal_;
  bool killed_ = false;
  bool timed_out_ = false;
  KillReason kill_reason_ = KillReason::none;
  bool launching_ = false;          // background_launch: the clone has not come back yet
  bool pending_terminate_ = false;  // ... and terminate() was asked for meanwhile
  int pending_signal_ = 0;          // ... and this signal is to be sent once it has
  std::optional<std::chrono::milliseconds> pending_delay_;  // ... terminate()'s argument
  KillReason pending_reason_ = KillReason::none;
  bool aborted_ = false;
  bool spawn_emitted_ = false;
  bool exited_ = false;
  bool close_emitted_ = false;
  bool refed_ = true;
  int closes_needed_ = 1;
  int closes_got_ = 0;
  int open_handles_ = 0;
  std::shared_ptr<ChildProcess> self_;  // released after CloseEvent and every handle's close
};

/// What `child->exited()` returns: an awaiter (C++20 coroutines) for the ExitEvent.
/// Works in any coroutine type; not copyable or movable (it is awaited where made).
class CHILDPROC_API ExitAwaiter {
public:
  explicit ExitAwaiter(std::shared_ptr<ChildProcess> child) noexcept : child_(std::move(child)) {}
  ExitAwaiter(const ExitAwaiter&) = delete;
  ExitAwaiter& operator=(const ExitAwaiter&) = delete;
  ~ExitAwaiter();

  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> waiter);
  ExitEvent await_resume() const noexcept;

private:
  void fire() noexcept;
  std::shared_ptr<ChildProcess> child_;
  std::coroutine_handle<> waiter_;
  ListenerId exit_id_ = 0;
  ListenerId close_id_ = 0;
};

/// What `child->closed()` returns: an awaiter for the CloseEvent.
class CHILDPROC_API CloseAwaiter {
public:
  explicit CloseAwaiter(std::shared_ptr<ChildProcess> child) noexcept : child_(std::move(child)) {}
  CloseAwaiter(const CloseAwaiter&) = delete;
  CloseAwaiter& operator=(const CloseAwaiter&) = delete;
  ~CloseAwaiter();

  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> waiter);
  CloseEvent await_resume() const noexcept;

private:
  std::shared_ptr<ChildProcess> child_;
  std::coroutine_handle<> waiter_;
  ListenerId close_id_ = 0;
};

/// Owns a child for a scope, for harnesses and tests: a child still running when the
/// guard is destroyed (or move-assigned over) is terminate()d with `grace` before
/// SIGKILL; a zero grace sends only `kill_signal`. The SIGKILL comes from the child's
/// loop, so that loop must run again for it.
class CHILDPROC_API ChildGuard {
public:
  explicit ChildGuard(std::shared_ptr<ChildProcess> child,
                      std::chrono::milliseconds grace = std::chrono::seconds(1)) noexcept
      : child_(std::move(child)), grace_(grace) {}
  ChildGuard(ChildGuard&&) noexcept = default;
  ChildGuard& operator=(ChildGuard&& other) noexcept;
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard();

  ChildProcess* operator->() const noexcept { return child_.get(); }
  ChildProcess& operator*() const noexcept { return *child_; }
  const std::shared_ptr<ChildProcess>& get() const noexcept { return child_; }
  /// Gives up ownership: the child is no longer terminated by this guard.
  std::shared_ptr<ChildProcess> release() noexcept { return std::move(child_); }

private:
  std::shared_ptr<ChildProcess> child_;
  std::chrono::milliseconds grace_;
};

/// Raises this process's soft RLIMIT_NOFILE to its hard limit, as Node does at start-up
/// (each piped child holds about four fds in the parent; childproc never changes the
/// limit by itself). Returns the new soft limit, or -errno.
CHILDPROC_API long raise_fd_limit() noexcept;

/// Starts `file` with `args` (argv[1...]) on `loop`. Throws `InvalidArgument` (or a
/// subclass) for arguments that are wrong before anything starts: an empty file, a
/// NUL byte in a string, a negative timeout, a bad fd. Failures of the OS (ENOENT,
/// EACCES, a bad cwd, EMFILE, EPERM) arrive as ErrorEvent then CloseEvent.
CHILDPROC_API std::shared_ptr<ChildProcess> spawn(uv_loop_t* loop, std::string_view file,
                                                  const std::vector<std::string>& args = {},
                                                  const SpawnOptions& options = {});
/// As above, on uv_default_loop().
CHILDPROC_API std::shared_ptr<ChildProcess> spawn(std::string_view file,
                                                  const std::vector<std::string>& args = {},
                                                  const SpawnOptions& options = {});

}  // namespace childproc
