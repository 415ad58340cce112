// JobQueue: run coroutine jobs on a loop, at most N at a time; wait for all; stop all.
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/task.hpp>

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

namespace childproc {

/// JobQueue's options.
struct JobQueueOptions {
  /// Jobs running at once (at least 1).
  std::size_t concurrency = 4;
};

class JobQueue;

namespace detail {
// One running job: a coroutine the queue owns and destroys when it has finished.
struct JobRunner {
  struct promise_type {
    JobQueue* queue = nullptr;
    JobRunner get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct Final {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> self) const noexcept;
      void await_resume() const noexcept {}
    };
    Final final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { report_listener_exception(); }
  };
  std::coroutine_handle<promise_type> h;
};

template <typename T>
Task<void> discard_result(Task<T> task) {
  co_await task;
}

// Calls the job's callable only when the job starts, with the queue's stop_token if it
// takes one.
template <typename F>
Task<void> call_job(F fn, std::stop_token token) {
  if constexpr (std::invocable<F&, std::stop_token>) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, std::stop_token>>) {
      fn(token);
    } else {
      co_await fn(token);
    }
  } else if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    fn();
  } else {
    co_await fn();
  }
}
}  // namespace detail

/// Runs jobs (coroutines) on one loop, at most `concurrency` at a time, in the order
/// pushed. A job's exception goes to the UnhandledHandler; its result is dropped (use
/// when_all() for results). All calls from the loop's thread.
///
/// stop() reaches a running job through the queue's stop_token: a job made by a callable
/// that takes a `std::stop_token` gets it, and passes it as the `stop_token` option of
/// what it starts, so its children are sent `kill_signal` (their whole tree with
/// `kill_tree`). Destroying the queue stops it and destroys the jobs still running
/// where they wait (an exec_async child is then terminated): no child is left behind.
class CHILDPROC_API JobQueue {
public:
  JobQueue(uv_loop_t* loop, JobQueueOptions options = {});
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;
  ~JobQueue();

  /// Queues a task; it starts once fewer than `concurrency` jobs run. Throws
  /// std::logic_error after stop().
  void push(Task<void> job);
  template <typename T>
  void push(Task<T> job) {
    push(detail::discard_result(std::move(job)));
  }
  /// Queues a callable that makes the job when it starts: `fn(std::stop_token)` or
  /// `fn()`, returning a Task, any other awaitable (exec_async(...)), or nothing.
  template <typename F>
  requires(std::invocable<F&, std::stop_token> || std::invocable<F&>) void push(F fn) {
    push(detail::call_job(std::move(fn), stop_.get_token()));
  }

  /// Awaiter for the moment no job waits or runs (at once if none does).
  class CHILDPROC_API DrainedAwaiter {
  public:
    explicit DrainedAwaiter(JobQueue& queue) noexcept : queue_(queue) {}
    DrainedAwaiter(const DrainedAwaiter&) = delete;
    DrainedAwaiter& operator=(const DrainedAwaiter&) = delete;
    ~DrainedAwaiter();
    bool await_ready() const noexcept { return queue_.idle(); }
    void await_suspend(std::coroutine_handle<> waiter);
    void await_resume() const noexcept {}

  private:
    JobQueue& queue_;
    std::coroutine_handle<> waiter_;
  };
  /// `co_await queue.drained()`: every job pushed so far has finished.
  DrainedAwaiter drained() noexcept { return DrainedAwaiter(*this); }

  /// Drops the jobs that have not started (never run), and stops the running ones
  /// through the stop_token. Further push() calls throw.
  void stop();
  bool stopped() const noexcept { return stop_.stop_requested(); }
  /// The token stop() stops: hand it to what a job starts.
  std::stop_token stop_token() const noexcept { return stop_.get_token(); }

  std::size_t running() const noexcept { return running_.size(); }
  std::size_t waiting() const noexcept { return waiting_.size(); }
  uv_loop_t* loop() const noexcept { return loop_; }

private:
  friend struct detail::JobRunner::promise_type::Final;
  bool idle() const noexcept { return running_.empty() && waiting_.empty(); }
  void pump();
  void finished(std::coroutine_handle<> job) noexcept;
  void wake_drained() noexcept;

  uv_loop_t* loop_;
  std::size_t concurrency_;
  std::deque<Task<void>> waiting_;
  std::vector<std::coroutine_handle<>> running_;
  std::vector<std::coroutine_handle<>> drained_waiters_;
  std::stop_source stop_;
  bool pumping_ = false;
};

// The job is suspended at its end: the queue may destroy it here.
inline void detail::JobRunner::promise_type::Final::await_suspend(
    std::coroutine_handle<promise_type> self) const noexcept {
  self.promise().queue->finished(self);
}

}  // namespace childproc
