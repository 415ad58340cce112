// SpawnSyncOptions and ForkOptions repeat the fields of SpawnOptions rather than derive
// from it, so users can fill them with designated initialisers; these copy the shared
// fields across (ExecSyncOptions' go through exec_spawn_options, exec_common.hpp). A
// field named here that one of the structs lacks is a compile error.
#pragma once

#include <childproc/fork.hpp>
#include <childproc/options.hpp>
#include <childproc/sync.hpp>

namespace childproc::detail {

/// The fields every spawn-like options struct has.
template <typename O>
SpawnOptions common_spawn_fields(const O& o) {
  SpawnOptions so;
  so.cwd = o.cwd;
  so.env = o.env;
  so.argv0 = o.argv0;
  so.stdio = o.stdio;
  so.detached = o.detached;
  so.uid = o.uid;
  so.gid = o.gid;
  so.timeout = o.timeout;
  so.kill_signal = o.kill_signal;
  so.force_kill_after = o.force_kill_after;
  so.close_timeout = o.close_timeout;
  so.stop_token = o.stop_token;
  so.kill_tree = o.kill_tree;
  so.die_with_parent = o.die_with_parent;
  so.terminal_size = o.terminal_size;
  return so;
}

inline SpawnOptions spawn_options_of(const SpawnSyncOptions& o) {
  SpawnOptions so = common_spawn_fields(o);
  so.shell = o.shell;
  return so;
}

inline SpawnOptions spawn_options_of(const ForkOptions& o) {
  SpawnOptions so = common_spawn_fields(o);
  so.serialization = o.serialization;
  so.max_message = o.max_message;
  return so;
}

}  // namespace childproc::detail
