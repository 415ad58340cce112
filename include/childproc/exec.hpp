// exec() and exec_file(): run a child to completion, buffer its output, call back once.
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/child_process.hpp>
#include <childproc/error.hpp>
#include <childproc/resource_usage.hpp>
#include <childproc/signals.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace childproc {

namespace detail {
struct ExecAccess;
}

/// Options of exec() and exec_file(); all optional.
struct ExecOptions {
  std::optional<std::string> cwd{};
  /// Replaces the environment when set.
  std::optional<Env> env{};
  std::optional<int> uid{};
  std::optional<int> gid{};
  /// Empty: the call's default (exec: /bin/sh, exec_file: no shell). As SpawnOptions.
  std::optional<std::variant<bool, std::string>> shell{};
  /// Kill with `kill_signal` after this long (0: never). It bounds the whole call, as
  /// Node's: if the child has exited but a grandchild still holds its pipes, the
  /// parent's ends are closed then and the callback comes (an exit 0 is a success).
  std::chrono::milliseconds timeout{0};
  Signal kill_signal{};
  /// As SpawnOptions: SIGKILL this long after childproc sent `kill_signal` (0: never).
  std::chrono::milliseconds force_kill_after{0};
  /// As SpawnOptions: after exit, wait at most this long for the pipes (0: forever).
  std::chrono::milliseconds close_timeout{0};
  /// Bytes kept per stream (stdout and stderr each). Past it the child is killed with
  /// `kill_signal`, exactly `max_buffer` bytes are kept, and the error is
  /// errc::max_buffer_exceeded. Node's default since v12: 1 MiB.
  std::size_t max_buffer = 1024 * 1024;
  /// Requesting stop kills the child; the callback runs at once with errc::aborted.
  std::stop_token stop_token{};
  /// As SpawnOptions: the kills above reach the child's whole tree.
  bool kill_tree = false;
  /// As SpawnOptions: SIGKILL for the child when the spawning thread ends.
  bool die_with_parent = false;
  /// SpawnOptions::background_launch: the launch happens on a launcher thread.
  bool background_launch = false;
  /// Also collect stdout and stderr interleaved, in the order they arrived, into
  /// ExecResult::all (exec_async, and exec() with an ExecResultCallback), as execa's
  /// `all`. What max_buffer kept of each stream, so at most twice max_buffer.
  bool all = false;
  /// Run the child in a pseudo-terminal (stdin, stdout and stderr all on it), so it
  /// behaves as in a terminal (colours, line-buffered output, one `ls` entry per
  /// column) and collect what the terminal showed into `out` (`err` stays empty).
  /// Output lines end in "\r\n", as a terminal receives them.
  bool pty = false;
  /// The terminal's size with `pty` (default 80x24).
  std::optional<TerminalSize> terminal_size{};
};

/// What went wrong in an exec; empty (false) on success. Node's exec error object.
class CHILDPROC_API ExecError {
public:
  /// The child's exit code, when it exited. Non-zero for errc::command_failed; with
  /// another error it is whatever the child returned, 0 included (a child that had
  /// exited before `max_buffer` stopped the call, or before a `timeout` with
  /// `kill_tree` signalled its tree).
  std::optional<int> exit_code;
  /// The signal that ended the child, when one did.
  std::optional<int> signal;
  /// True when childproc set out to kill the child (timeout, max_buffer, cancel), as
  /// Node's `killed`: also when the child had already exited by then.
  bool killed = false;
  /// The command: exec's string, or exec_file's file and args joined by spaces.
  std::string cmd;
  /// errc::command_failed, max_buffer_exceeded, timed_out, aborted, or the spawn errno
  /// (compare with std::errc::no_such_file_or_directory, ...).
  std::error_code code;
  /// For spawn errors: "spawn <file>" and the file, as in Node's error.
  std::string syscall;
  std::string path;

  /// Node's message: "Command failed: <cmd>\n<stderr>", "spawn ls ENOENT",
  /// "stdout maxBuffer length exceeded", "The operation was aborted".
  const std::string& message() const noexcept { return message_; }
  /// The signal's name ("SIGTERM"), or empty.
  std::string_view signal_name() const noexcept;
  /// True when there is an error.
  explicit operator bool() const noexcept { return static_cast<bool>(code); }

private:
  friend struct detail::ExecAccess;
  std::string message_;
};

/// Called exactly once: on close, or at once on a spawn error or cancellation.
using ExecCallback = std::function<void(const ExecError& error, std::string out, std::string err)>;

/// Everything an exec gives: the error (false on success), the output, and with
/// ExecOptions::all both streams interleaved.
struct ExecResult {
  ExecError error;
  std::string out;
  std::string err;
  /// stdout and stderr in arrival order; empty unless ExecOptions::all.
  std::string all;
  /// Why childproc signalled the child, if it did (ChildProcess::kill_reason()).
  KillReason kill_reason = KillReason::none;
  /// What the child cost, where the launcher could read it (ChildProcess::resource_usage()).
  std::optional<ResourceUsage> usage;
};

/// As ExecCallback, with the whole result in one value.
using ExecResultCallback = std::function<void(ExecResult result)>;

/// Runs `command` through the shell (`/bin/sh -c`, or options.shell) and buffers its
/// output. Returns the ChildProcess; its events still fire. Throws InvalidArgument
/// for an empty command and the other argument errors of spawn().
CHILDPROC_API std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                                 const ExecOptions& options, ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                                 ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec(std::string_view command,
                                                 const ExecOptions& options, ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec(std::string_view command, ExecCallback callback);

/// As above, calling back with an ExecResult (`all` included when asked for).
CHILDPROC_API std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                                 const ExecOptions& options,
                                                 ExecResultCallback callback);

/// Runs `file` with `args` directly (no shell unless options.shell) and buffers its
/// output, as exec().
CHILDPROC_API std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                                      const std::vector<std::string>& args,
                                                      const ExecOptions& options,
                                                      ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                                      const std::vector<std::string>& args,
                                                      ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec_file(std::string_view file,
                                                      const std::vector<std::string>& args,
                                                      const ExecOptions& options,
                                                      ExecCallback callback);
CHILDPROC_API std::shared_ptr<ChildProcess> exec_file(std::string_view file,
                                                      const std::vector<std::string>& args,
                                                      ExecCallback callback);

/// As above, calling back with an ExecResult.
CHILDPROC_API std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                                      const std::vector<std::string>& args,
                                                      const ExecOptions& options,
                                                      ExecResultCallback callback);

/// What exec_async() and exec_file_async() return: an awaiter (C++20 coroutines) that
/// starts the child when awaited and gives its ExecResult once it closed. Argument
/// errors are thrown from the co_await. Destroying the awaiting coroutine before the
/// result terminates the child (kill_signal, then force_kill_after, the tree with
/// kill_tree); the result is then dropped. Works in any coroutine type; awaited once,
/// where it was made (not copyable or movable).
class CHILDPROC_API ExecAwaiter {
public:
  ExecAwaiter(uv_loop_t* loop, std::string file, std::vector<std::string> args, ExecOptions options,
              bool shell) noexcept;
  ExecAwaiter(const ExecAwaiter&) = delete;
  ExecAwaiter& operator=(const ExecAwaiter&) = delete;
  ~ExecAwaiter();

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> waiter);
  ExecResult await_resume();

private:
  struct State;
  uv_loop_t* loop_;
  std::string file_;
  std::vector<std::string> args_;
  ExecOptions options_;
  bool shell_;
  std::shared_ptr<State> state_;
};

/// `co_await exec_async(loop, "ls -l")`: exec() as a coroutine. Its ExecResult holds the
/// error (false on success), stdout, stderr and, with `all`, both interleaved.
CHILDPROC_API ExecAwaiter exec_async(uv_loop_t* loop, std::string_view command,
                                     ExecOptions options = {});
/// `co_await exec_file_async(loop, "ls", {"-l"})`: exec_file() as a coroutine.
CHILDPROC_API ExecAwaiter exec_file_async(uv_loop_t* loop, std::string_view file,
                                          std::vector<std::string> args = {},
                                          ExecOptions options = {});

}  // namespace childproc
