// What an exited child cost, as the kernel accounted it when it was reaped.
#pragma once

#include <childproc/version.hpp>

#include <chrono>
#include <optional>

namespace childproc {

/// A child's resource usage: the child itself and every descendant it waited for.
struct ResourceUsage {
  /// CPU time in user mode and in the kernel.
  std::chrono::microseconds user_time{0};
  std::chrono::microseconds system_time{0};
  /// Peak resident set size in KiB. Empty when the kernel's figure may be this
  /// process's rather than the child's: a child started with CLONE_VM (or fork) is
  /// charged the parent's peak as its own at exec, so a figure not above this process's
  /// own peak proves nothing about the child (see the guide, "Resource usage").
  std::optional<long> max_rss_kib;
  /// Page faults served without I/O (minor) and with I/O (major).
  long minor_faults = 0;
  long major_faults = 0;
  /// Context switches the child gave up the CPU for (voluntary) or was preempted in.
  long voluntary_context_switches = 0;
  long involuntary_context_switches = 0;
};

}  // namespace childproc
