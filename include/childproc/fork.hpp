// fork(): Node's child_process.fork, starting a Node program with an IPC channel.
#pragma once

#include <childproc/version.hpp>

#include <childproc/child_process.hpp>
#include <childproc/options.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace childproc {

/// fork()'s options: spawn()'s (each as in SpawnOptions) except `shell` (fork runs node
/// directly), plus Node's fork-only ones. `stdio`, when given, must hold exactly one
/// Stdio::ipc(). Not derived from SpawnOptions, so designated initialisers work.
struct ForkOptions {
  std::optional<std::string> cwd{};
  std::optional<Env> env{};
  std::optional<std::string> argv0{};
  /// Empty: as `silent` says, with the IPC channel on fd 3.
  std::vector<Stdio> stdio{};
  bool detached = false;
  std::optional<int> uid{};
  std::optional<int> gid{};
  std::chrono::milliseconds timeout{0};
  Signal kill_signal{};
  std::chrono::milliseconds force_kill_after{0};
  std::chrono::milliseconds close_timeout{0};
  std::string serialization = "json";
  std::size_t max_message = kDefaultMaxMessage;
  std::stop_token stop_token{};
  bool kill_tree = false;
  bool die_with_parent = false;
  /// As SpawnOptions: the size of a Stdio::pty() terminal (default 80x24).
  std::optional<TerminalSize> terminal_size{};
  /// The Node binary: looked up in PATH unless it holds a '/'. Empty: "node".
  std::string exec_path = "node";
  /// Arguments for node itself, before the module ("--max-old-space-size=64").
  std::vector<std::string> exec_argv{};
  /// false: the child shares this process's stdin/stdout/stderr. true: three pipes,
  /// read through `std_in()`, `std_out()`, `std_err()`.
  bool silent = false;
};

/// Runs `exec_path exec_argv... module args...` with an IPC channel on fd 3, so the
/// child's `process.send()` and `process.on('message')` talk to this ChildProcess's
/// send() and MessageEvent. Throws InvalidArgument for options fork() cannot honour.
CHILDPROC_API std::shared_ptr<ChildProcess> fork(uv_loop_t* loop, std::string_view module,
                                                 const std::vector<std::string>& args = {},
                                                 const ForkOptions& options = {});

}  // namespace childproc
