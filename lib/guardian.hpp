// die_with_parent + kill_tree: PR_SET_PDEATHSIG kills only the child itself, so its
// descendants need someone who outlives this process. The guardian is a /bin/sh of its
// own session, started on first need and re-parented away from this process, reading a
// pipe whose only writer is this process: at EOF (this process died, by any means) it
// SIGKILLs the trees still registered.
#pragma once

namespace childproc::detail {

/// Starts the guardian once; false when it could not be started (then the trees of
/// die_with_parent children are not killed with this process, only the children).
bool guardian_ready() noexcept;
/// Registers / forgets a process group the guardian kills (the process_group mechanism).
/// A cgroup needs no message: the guardian kills every cgroup this process made for a
/// die_with_parent child (named with Cgroup::kDieSuffix).
void guardian_watch_group(int pgid) noexcept;
void guardian_forget_group(int pgid) noexcept;

}  // namespace childproc::detail
