// What exec()/exec_file() and their sync variants share: options and the command text.
#pragma once

#include <childproc/exec.hpp>
#include <childproc/options.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace childproc::detail {

/// spawn()'s options for an exec, from ExecOptions or ExecSyncOptions (which repeats its
/// fields): `shell_default` is true for exec (which always uses a shell, /bin/sh unless
/// a path is given) and false for exec_file.
template <typename O>
SpawnOptions exec_spawn_options(const O& o, bool shell_default) {
  SpawnOptions so;
  so.cwd = o.cwd;
  so.env = o.env;
  so.uid = o.uid;
  so.gid = o.gid;
  so.shell = o.shell.value_or(shell_default);
  if (shell_default && std::holds_alternative<bool>(so.shell)) so.shell = true;
  so.timeout = o.timeout;
  so.kill_signal = o.kill_signal;
  so.force_kill_after = o.force_kill_after;
  so.close_timeout = o.close_timeout;
  so.stop_token = o.stop_token;
  so.kill_tree = o.kill_tree;
  so.die_with_parent = o.die_with_parent;
  if constexpr (requires { o.background_launch; }) so.background_launch = o.background_launch;
  if (o.pty) so.stdio = {Stdio::pty(), Stdio::pty(), Stdio::pty()};
  so.terminal_size = o.terminal_size;
  return so;
}

/// Node's `cmd` for exec_file: the file and its arguments joined by spaces.
inline std::string join_command(std::string_view file, const std::vector<std::string>& args) {
  std::string cmd(file);
  for (const auto& a : args)
    cmd += " " + a;
  return cmd;
}

}  // namespace childproc::detail
