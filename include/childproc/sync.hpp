// spawn_sync(), exec_sync(), exec_file_sync(): run a child to completion and return.
// Each call runs the async machinery on a private uv_loop_t: it never touches the
// caller's loop, may be called from a loop callback or from several threads at once,
// and leaves no handle, fd or child behind.
#pragma once

#include <childproc/version.hpp>

#include <childproc/error.hpp>
#include <childproc/exec.hpp>
#include <childproc/options.hpp>
#include <childproc/resource_usage.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace childproc {

/// spawn_sync()'s options: spawn()'s (each as in SpawnOptions), less the IPC ones, plus
/// what a blocking call needs. A struct of its own, not derived from SpawnOptions, so
/// designated initialisers work: `spawn_sync("sort", {}, {.input = "b\na\n"})`.
struct SpawnSyncOptions {
  std::optional<std::string> cwd{};
  std::optional<Env> env{};
  std::optional<std::string> argv0{};
  /// Missing entries of 0-2 are pipes; Stdio::ipc() is refused (ERR_IPC_SYNC_FORK).
  std::vector<Stdio> stdio{};
  bool detached = false;
  std::optional<int> uid{};
  std::optional<int> gid{};
  std::variant<bool, std::string> shell = false;
  /// Bounds the whole call: ETIMEDOUT in the result.
  std::chrono::milliseconds timeout{0};
  Signal kill_signal{};
  std::chrono::milliseconds force_kill_after{0};
  std::chrono::milliseconds close_timeout{0};
  /// Requesting stop (from another thread) ends the call with errc::aborted.
  std::stop_token stop_token{};
  bool kill_tree = false;
  bool die_with_parent = false;
  /// As SpawnOptions: the size of a Stdio::pty() terminal (default 80x24).
  std::optional<TerminalSize> terminal_size{};
  /// Written to the child's stdin, which is then closed. Needs stdin to be a pipe or
  /// a pty (whose end is the terminal's end-of-file character, Ctrl-D). Without it a
  /// piped stdin is closed at once (the child reads EOF).
  std::optional<std::string> input{};
  /// Bytes kept per output stream. Past it the child is terminated, exactly
  /// `max_buffer` bytes are kept and `error` is ENOBUFS (Node counts a total and does
  /// not truncate).
  std::size_t max_buffer = 1024 * 1024;
};

/// What spawn_sync() saw.
struct SpawnSyncResult {
  /// The child's pid; empty when it never started.
  std::optional<int> pid;
  /// One entry per stdio slot: the bytes read from a readable pipe (stdout, stderr,
  /// fd 3+); empty for stdin and non-pipe slots, and for every slot after a failed
  /// spawn. A pty's bytes (what the terminal showed, echoed input included) are in
  /// the first of slots 1, 2, 0 that is a pty; its other slots are empty.
  std::vector<std::optional<std::string>> output;
  /// stdout's and stderr's bytes (empty strings where those slots are not pipes).
  std::string out;
  std::string err;
  /// The exit code, when the child exited.
  std::optional<int> status;
  /// The signal that ended the child, when one did.
  std::optional<int> signal;
  /// What went wrong, with syscall "spawnSync <file>": the spawn error (ENOENT,
  /// EACCES, ...), ETIMEDOUT after `timeout`, ENOBUFS after `max_buffer`, or the
  /// cancellation (errc::aborted). A non-zero exit is not an error here.
  std::optional<Error> error;
  /// What the child cost, when the launcher could read it (ChildProcess::resource_usage()).
  std::optional<ResourceUsage> usage;
};

/// Runs `file` with `args` and waits for it to close. Throws InvalidArgument for the
/// argument errors of spawn() and for `input` with a stdin that is not a pipe;
/// everything else is in the result.
CHILDPROC_API SpawnSyncResult spawn_sync(std::string_view file,
                                         const std::vector<std::string>& args = {},
                                         const SpawnSyncOptions& options = {});

/// exec_sync()'s and exec_file_sync()'s options: exec's (each as in ExecOptions), plus
/// `input` and `stdio`. Not derived from ExecOptions, so designated initialisers work.
struct ExecSyncOptions {
  std::optional<std::string> cwd{};
  std::optional<Env> env{};
  std::optional<int> uid{};
  std::optional<int> gid{};
  /// Empty: exec_sync's /bin/sh, exec_file_sync's no shell.
  std::optional<std::variant<bool, std::string>> shell{};
  /// Bounds the whole call: ExecSyncError with ETIMEDOUT.
  std::chrono::milliseconds timeout{0};
  Signal kill_signal{};
  std::chrono::milliseconds force_kill_after{0};
  std::chrono::milliseconds close_timeout{0};
  /// Bytes kept per stream; past it the child is killed and the call throws (ENOBUFS).
  std::size_t max_buffer = 1024 * 1024;
  std::stop_token stop_token{};
  bool kill_tree = false;
  bool die_with_parent = false;
  /// As ExecOptions: run the child in a pseudo-terminal (stdin, stdout and stderr) and
  /// return what it showed. Replaces `stdio`.
  bool pty = false;
  /// The terminal's size with `pty` (default 80x24).
  std::optional<TerminalSize> terminal_size{};
  /// Written to the child's stdin, which is then closed (with `pty`: typed, then
  /// Ctrl-D).
  std::optional<std::string> input{};
  /// As SpawnOptions. When empty (the default) stdout and stderr are captured, and
  /// the child's stderr is also written to this process's stderr, as Node does.
  std::vector<Stdio> stdio{};
};

/// Thrown by exec_sync() and exec_file_sync() when the child could not run, exited
/// non-zero or was killed. what(): "Command failed: <cmd>" plus "\n<stderr>" when
/// stderr is not empty, or the error's own message when the child never finished
/// normally ("spawnSync /bin/sh ENOENT", "spawnSync /bin/sh ETIMEDOUT").
class CHILDPROC_API ExecSyncError : public std::runtime_error {
public:
  ExecSyncError(const std::string& message, std::string command, SpawnSyncResult run)
      : std::runtime_error(message), cmd(std::move(command)), result(std::move(run)) {}
  ~ExecSyncError() override;

  /// The command as given (exec_file_sync: file and args joined by spaces).
  std::string cmd;
  /// Everything the run produced: pid, output, out, err, status, signal, error.
  SpawnSyncResult result;
};

/// Runs `command` through the shell, waits, and returns its stdout.
CHILDPROC_API std::string exec_sync(std::string_view command, const ExecSyncOptions& options = {});
/// Runs `file` with `args` (no shell unless options.shell), waits, returns its stdout.
CHILDPROC_API std::string exec_file_sync(std::string_view file,
                                         const std::vector<std::string>& args = {},
                                         const ExecSyncOptions& options = {});

}  // namespace childproc
