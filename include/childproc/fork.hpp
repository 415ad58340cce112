// fork(): Node's child_process.fork, starting a Node program with an IPC channel.
#pragma once

#include <childproc/version.hpp>

#include <childproc/child_process.hpp>
#include <childproc/options.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace childproc {

/// fork()'s options: spawn's, plus Node's fork-only ones. `stdio`, when given, must
/// hold exactly one Stdio::ipc(); `shell` must stay false.
struct ForkOptions : SpawnOptions {
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
std::shared_ptr<ChildProcess> fork(uv_loop_t* loop, std::string_view module,
                                   const std::vector<std::string>& args = {},
                                   const ForkOptions& options = {});

}  // namespace childproc
