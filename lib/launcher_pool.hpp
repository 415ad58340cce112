// The launcher threads of SpawnOptions::background_launch: each takes a job, runs its
// clone (the thread, not the loop's, is suspended until the child has exec'd) and hands
// the result back to the job's loop.
#pragma once

namespace childproc::detail {

/// One background launch. run() executes on a launcher thread and must not throw or
/// touch the loop except through uv_async_send.
struct LaunchJob {
  virtual ~LaunchJob() = default;
  virtual void run() noexcept = 0;
};

/// Queues `job` for a launcher thread (started on first use; they live as long as the
/// process, with every signal blocked). The job must stay alive until it has run.
/// Throws std::system_error when no thread can be started.
void run_in_launcher(LaunchJob* job);

}  // namespace childproc::detail
