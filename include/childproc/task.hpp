// Task<T>: a lazy C++20 coroutine for a libuv loop, with run(), start() and when_all().
// Every awaitable of childproc (exec_async, ChildProcess::exited(), Stream::read_line(),
// ...) resumes its coroutine from the loop, on the loop's thread, and works inside any
// coroutine type, not only Task.
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/event_emitter.hpp>

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace childproc {

template <typename T = void>
class Task;

namespace detail {

struct TaskPromiseBase {
  // Who resumes when this task finishes: its awaiter, or nobody (run(), start()).
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr error;

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    // Symmetric transfer: a chain of tasks finishing one after another does not grow
    // the stack.
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      return h.promise().continuation;
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <typename T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;  // T need not be default-constructible

  Task<T> get_return_object() noexcept;
  template <typename U = T>
  requires std::convertible_to<U&&, T>
  void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

/// A coroutine that starts when awaited (or given to run() / start()) and gives a `T`.
/// An exception thrown in it reaches whoever awaits it. Move-only; destroying a Task
/// that has not finished destroys its coroutine where it is suspended: each childproc
/// awaitable it was waiting on then lets go (an exec's child is terminated, listeners
/// are removed), so nothing leaks, dangles or hangs.
template <typename T>
class [[nodiscard]] Task {
public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  /// False for a default-constructed or moved-from Task.
  bool valid() const noexcept { return static_cast<bool>(h_); }
  /// True once the coroutine has finished (returned or thrown).
  bool done() const noexcept { return h_ && h_.done(); }

  /// Awaiting runs the task (once) and gives its value or rethrows its exception.
  auto operator co_await() const& { return Awaiter{checked()}; }
  auto operator co_await() const&& { return Awaiter{checked()}; }

  /// The coroutine itself, for run(), start() and adapters to other coroutine types.
  std::coroutine_handle<promise_type> handle() const noexcept { return h_; }

private:
  struct Awaiter {
    std::coroutine_handle<promise_type> h;
    bool await_ready() const noexcept { return h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) const noexcept {
      h.promise().continuation = awaiting;
      return h;
    }
    T await_resume() const { return h.promise().take(); }
  };

  std::coroutine_handle<promise_type> checked() const {
    if (!h_) throw std::logic_error("childproc::Task: awaiting an empty (moved-from) task");
    return h_;
  }

  void reset() noexcept {
    if (h_) std::exchange(h_, {}).destroy();
  }

  std::coroutine_handle<promise_type> h_;
};

namespace detail {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

// A fire-and-forget coroutine: runs at once, frees itself at the end.
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { report_listener_exception(); }
  };
};

inline Detached run_detached(Task<void> task) {
  try {
    co_await std::move(task);
  } catch (...) {
    report_listener_exception();
  }
}

// when_all's state, in its frame: the +1 in `remaining` is the starter's own count, so
// no task that finishes while the others are still being started resumes the waiter.
struct WhenAllState {
  std::size_t remaining = 0;
  std::coroutine_handle<> waiter;
  std::exception_ptr first_error;
};

// Runs one task of a when_all; stays suspended at its end so that when_all destroys it,
// never while it runs. The last one to finish resumes the waiter.
struct WhenAllChild {
  struct promise_type {
    WhenAllState* state = nullptr;
    WhenAllChild get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct Final {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(
          std::coroutine_handle<promise_type> self) const noexcept {
        WhenAllState& s = *self.promise().state;
        if (--s.remaining == 0) return s.waiter;
        return std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    Final final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept {
      if (!state->first_error) state->first_error = std::current_exception();
    }
  };
  std::coroutine_handle<promise_type> h;
};

template <typename T>
WhenAllChild when_all_child(Task<T>& task, std::optional<T>& slot) {
  slot.emplace(co_await task);
}

inline WhenAllChild when_all_child(Task<void>& task) {
  co_await task;
}

// Starts every child; owns their frames, so destroying a suspended when_all destroys
// the tasks it waits for.
class WhenAllStarter {
public:
  WhenAllStarter(WhenAllState& state, std::vector<WhenAllChild> children) noexcept
      : state_(state), children_(std::move(children)) {}
  WhenAllStarter(const WhenAllStarter&) = delete;
  WhenAllStarter& operator=(const WhenAllStarter&) = delete;
  ~WhenAllStarter() {
    for (auto& c : children_)
      c.h.destroy();
  }

  bool await_ready() const noexcept { return children_.empty(); }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    state_.waiter = waiter;
    state_.remaining = children_.size() + 1;
    for (auto& c : children_) {
      c.h.promise().state = &state_;
      c.h.resume();
    }
    return --state_.remaining != 0;
  }
  void await_resume() const noexcept {}

private:
  WhenAllState& state_;
  std::vector<WhenAllChild> children_;
};

}  // namespace detail

/// Starts `task` on `loop` and runs the loop until the task has finished; returns its
/// value or rethrows its exception. Handles that outlive the task stay on the loop (a
/// child whose CloseEvent is still to come): run the loop again to finish them. Throws
/// std::logic_error if the loop runs out of work first (the task awaits something that
/// no handle of this loop will ever complete).
template <typename T>
T run(uv_loop_t* loop, Task<T> task) {
  auto h = task.handle();
  if (!h) throw std::logic_error("childproc::run: an empty (moved-from) task");
  if (!h.done()) h.resume();
  while (!h.done()) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !h.done()) {
      throw std::logic_error(
          "childproc::run: the loop has no more work, but the task has not finished");
    }
  }
  return h.promise().take();
}

/// Starts `task`, detached, on `loop`: it runs now until it first waits, then from the
/// loop. An exception that escapes it goes to the UnhandledHandler (event_emitter.hpp).
/// Its coroutine frees itself when it finishes; one still waiting when the loop is
/// abandoned is never freed.
inline void start(uv_loop_t* loop, Task<void> task) {
  if (loop == nullptr) throw std::invalid_argument("childproc::start: null loop");
  if (!task.valid()) throw std::logic_error("childproc::start: an empty (moved-from) task");
  detail::run_detached(std::move(task));
}

/// Runs every task at once and gives their results in the order of `tasks`, once all
/// have finished. If any threw, the first exception to be thrown is rethrown (after all
/// have finished).
template <typename T>
Task<std::vector<T>> when_all(std::vector<Task<T>> tasks) {
  std::vector<std::optional<T>> slots(tasks.size());
  detail::WhenAllState state;
  {
    std::vector<detail::WhenAllChild> children;
    children.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i)
      children.push_back(detail::when_all_child(tasks[i], slots[i]));
    co_await detail::WhenAllStarter(state, std::move(children));
  }
  if (state.first_error) std::rethrow_exception(state.first_error);
  std::vector<T> results;
  results.reserve(slots.size());
  for (auto& s : slots)
    results.push_back(std::move(*s));
  co_return results;
}

/// when_all() for tasks that give nothing.
inline Task<void> when_all(std::vector<Task<void>> tasks) {
  detail::WhenAllState state;
  {
    std::vector<detail::WhenAllChild> children;
    children.reserve(tasks.size());
    for (auto& t : tasks)
      children.push_back(detail::when_all_child(t));
    co_await detail::WhenAllStarter(state, std::move(children));
  }
  if (state.first_error) std::rethrow_exception(state.first_error);
}

}  // namespace childproc
