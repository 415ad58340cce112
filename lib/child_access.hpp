// What exec and the sync variants may do to a ChildProcess that users may not.
#pragma once

#include <childproc/child_process.hpp>

#include <functional>
#include <utility>

namespace childproc::detail {

struct ChildAccess {
  /// Runs `fn` when the timeout fires, before the kill: exec and spawn_sync stop
  /// reading there, as Node's exec does.
  static void before_timeout_kill(ChildProcess& c, std::function<void()> fn) {
    c.before_timeout_kill_ = std::move(fn);
  }
  /// Keeps `state` alive as long as the child: its streams read into it, so it must
  /// not depend on listeners the user could remove.
  static void attach(ChildProcess& c, std::shared_ptr<void> state) {
    c.attachment_ = std::move(state);
  }
};

}  // namespace childproc::detail
