#include <childproc/job_queue.hpp>

#include <algorithm>
#include <stdexcept>

namespace childproc {

namespace {

detail::JobRunner run_job(Task<void> job) {
  try {
    co_await job;
  } catch (...) {
    detail::report_listener_exception();
  }
}

}  // namespace

JobQueue::JobQueue(uv_loop_t* loop, JobQueueOptions options)
    : loop_(loop), concurrency_(options.concurrency) {
  if (loop == nullptr) throw std::invalid_argument("childproc::JobQueue: null loop");
  if (concurrency_ == 0) throw std::invalid_argument("childproc::JobQueue: concurrency 0");
}

JobQueue::~JobQueue() {
  stop();
  // Destroying a running job's coroutine where it waits lets go of what it waits on
  // (an exec_async child is terminated). Coroutines still awaiting drained() are not
  // resumed: the queue they wait for is gone.
  for (auto h : std::exchange(running_, {}))
    h.destroy();
  drained_waiters_.clear();
}

void JobQueue::push(Task<void> job) {
  if (stopped()) throw std::logic_error("childproc::JobQueue: push() after stop()");
  if (!job.valid()) throw std::logic_error("childproc::JobQueue: an empty (moved-from) task");
  waiting_.push_back(std::move(job));
  pump();
}

void JobQueue::pump() {
  // Jobs that finish at once come back through finished(); this loop, not a recursion
  // per job, starts the next ones.
  if (pumping_) return;
  pumping_ = true;
  while (running_.size() < concurrency_ && !waiting_.empty()) {
    Task<void> job = std::move(waiting_.front());
    waiting_.pop_front();
    detail::JobRunner runner = run_job(std::move(job));
    runner.h.promise().queue = this;
    running_.push_back(runner.h);
    runner.h.resume();
  }
  pumping_ = false;
  if (idle()) wake_drained();
}

void JobQueue::finished(std::coroutine_handle<> job) noexcept {
  running_.erase(std::find(running_.begin(), running_.end(), job));
  job.destroy();
  if (pumping_) return;  // pump() goes on from here
  try {
    pump();
  } catch (...) {  // pump() allocates coroutine frames
    detail::report_listener_exception();
  }
}

void JobQueue::wake_drained() noexcept {
  for (auto h : std::exchange(drained_waiters_, {}))
    h.resume();
}

void JobQueue::stop() {
  stop_.request_stop();
  waiting_.clear();
  if (idle() && !pumping_) wake_drained();
}

JobQueue::DrainedAwaiter::~DrainedAwaiter() {
  if (!waiter_) return;
  auto& w = queue_.drained_waiters_;
  std::erase(w, waiter_);
}

void JobQueue::DrainedAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  waiter_ = waiter;
  queue_.drained_waiters_.push_back(waiter);
}

}  // namespace childproc
