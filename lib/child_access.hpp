// What exec and the sync variants may do to a ChildProcess that users may not.
#pragma once

#include <childproc/child_process.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace childproc::detail {

struct ChildAccess {
  /// Runs `fn` when the timeout fires, before the kill: exec and spawn_sync stop
  /// reading there, as Node's exec and spawnSync do. With it the timeout also runs
  /// past the child's exit, until CloseEvent, so a grandchild holding the pipes
  /// cannot stretch the call past it (then only `fn` runs: there is no one to kill).
  static void before_timeout_kill(ChildProcess& c, std::function<void()> fn) {
    c.before_timeout_kill_ = std::move(fn);
  }
  /// Keeps `state` alive as long as the child: its streams read into it, so it must
  /// not depend on listeners the user could remove.
  static void attach(ChildProcess& c, std::shared_ptr<void> state) {
    c.attachment_ = std::move(state);
  }
  /// terminate() with the reason childproc had (exec's max_buffer).
  static bool terminate_for(ChildProcess& c, KillReason reason) {
    return c.terminate_for(reason, std::nullopt);
  }
};

/// spawn()'s argument checks without a loop: throws as spawn() would, else returns
/// what it would run (spawnfile, and spawnargs after argv[0]).
std::pair<std::string, std::vector<std::string>> checked_command(
    std::string_view file, const std::vector<std::string>& args, const SpawnOptions& options);

}  // namespace childproc::detail
