#include "launcher_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <new>
#include <thread>

namespace childproc::detail {
namespace {

// Two threads per core, at least two: a launcher is mostly waiting for its child's
// exec, and a second one keeps a slow exec from holding up the next.
unsigned thread_count() {
  return std::clamp(2 * std::thread::hardware_concurrency(), 2U, 8U);
}

class Pool {
public:
  void post(LaunchJob* job) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_ == 0) start_threads();
    queue_.push_back(job);
    ready_.notify_one();
  }

  // After fork() the child has none of the threads: start afresh if it spawns.
  void forget_threads() noexcept {
    new (&mutex_) std::mutex();
    new (&ready_) std::condition_variable();
    started_ = 0;
    queue_.clear();
  }

private:
  void start_threads() {
    // Every signal blocked in the threads: a process-directed signal goes to a thread
    // of the user's, never to a launcher (the mask is restored here afterwards).
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      for (unsigned i = thread_count(); i > 0; --i) {
        std::thread([this] { work(); }).detach();
        ++started_;
      }
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      if (started_ == 0) throw;
      return;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  [[noreturn]] void work() {
    for (;;) {
      LaunchJob* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty(); });
        job = queue_.front();
        queue_.pop_front();
      }
      job->run();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<LaunchJob*> queue_;
  unsigned started_ = 0;
};

// Never destroyed: the threads wait on it until the process ends.
Pool& pool() {
  static Pool* p = [] {
    auto* made = new Pool;
    pthread_atfork(nullptr, nullptr, [] { pool().forget_threads(); });
    return made;
  }();
  return *p;
}

}  // namespace

void run_in_launcher(LaunchJob* job) {
  pool().post(job);
}

}  // namespace childproc::detail
