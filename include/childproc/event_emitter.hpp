// A typed EventEmitter: events are plain structs, listeners take `const Event&`.
#pragma once

#include <childproc/version.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace childproc {

/// Identifies one listener; returned by `on`/`once`, taken by `off`.
using ListenerId = std::uint64_t;

/// A listener for event `E`: callable as `fn(const E&)` (whatever it returns is
/// ignored) and copyable, as std::function needs.
template <typename F, typename E>
concept Listener = std::invocable<F&, const E&> && std::copy_constructible<std::decay_t<F>>;

/// `E` is one of `Events...`: an event that an EventEmitter<Events...> emits.
template <typename E, typename... Events>
concept OneOfEvents = (std::is_same_v<E, Events> || ...);

/// Receives what nobody else handled: an ErrorEvent emitted with no listener, and an
/// exception thrown by a listener (listeners run inside libuv callbacks, which an
/// exception must never cross). Process-wide; the default writes one line to stderr.
using UnhandledHandler = std::function<void(std::string_view message)>;

/// Replaces the handler (an empty function restores the default) and returns the
/// previous one. Thread-safe.
CHILDPROC_API UnhandledHandler set_unhandled_handler(UnhandledHandler handler);

namespace detail {
/// Passes `message` to the current UnhandledHandler; never throws.
CHILDPROC_API void report_unhandled(std::string_view message) noexcept;
/// Reports the exception in flight (called from a catch block).
CHILDPROC_API void report_listener_exception() noexcept;

template <typename E>
class ListenerList {
public:
  ListenerId add(ListenerId id, std::function<void(const E&)> fn, bool once) {
    entries_.push_back(std::make_unique<Entry>(Entry{id, once, true, std::move(fn)}));
    ++live_;
    return id;
  }

  bool remove(ListenerId id) noexcept {
    for (auto& e : entries_) {
      if (e->id == id && e->live) {
        kill(*e);
        if (depth_ == 0) compact();
        return true;
      }
    }
    return false;
  }

  void clear() noexcept {
    for (auto& e : entries_) {
      if (e->live) kill(*e);
    }
    if (depth_ == 0) compact();
  }

  std::size_t size() const noexcept { return live_; }

  // Listeners added during an emit are not called by it, and removed ones are only
  // marked dead until the outermost emit returns: an entry is never destroyed while
  // its function may be running. Each entry lives behind a pointer so a listener
  // that adds listeners (growing the vector) does not move a running function.
  std::size_t emit(const E& event) noexcept {
    ++depth_;
    std::size_t called = 0;
    const std::size_t n = entries_.size();
    for (std::size_t i = 0; i < n; ++i) {
      Entry* e = entries_[i].get();
      if (!e->live) continue;
      if (e->once) kill(*e);
      ++called;
      try {
        e->fn(event);
      } catch (...) {
        report_listener_exception();
      }
    }
    if (--depth_ == 0 && dead_ != 0) compact();
    return called;
  }

private:
  struct Entry {
    ListenerId id;
    bool once;
    bool live;
    std::function<void(const E&)> fn;
  };

  void kill(Entry& e) noexcept {
    e.live = false;
    --live_;
    ++dead_;
  }

  void compact() noexcept {
    std::erase_if(entries_, [](const std::unique_ptr<Entry>& e) { return !e->live; });
    dead_ = 0;
  }

  std::vector<std::unique_ptr<Entry>> entries_;
  std::size_t live_ = 0;
  std::size_t dead_ = 0;
  unsigned depth_ = 0;
};
}  // namespace detail

/// Emits the event types `Events...`; `on<E>` with a type outside that list does not
/// compile. Safe when a listener adds or removes listeners, or itself, during an emit.
template <typename... Events>
class EventEmitter {
public:
  EventEmitter() = default;
  EventEmitter(const EventEmitter&) = delete;
  EventEmitter& operator=(const EventEmitter&) = delete;

  /// Calls `fn(const E&)` on every `E` until `off(id)`.
  template <typename E, typename F>
  ListenerId on(F&& fn) {
    return add<E>(std::forward<F>(fn), false);
  }

  /// Calls `fn(const E&)` on the next `E` only.
  template <typename E, typename F>
  ListenerId once(F&& fn) {
    return add<E>(std::forward<F>(fn), true);
  }

  /// Removes a listener; false when `id` is not (or no longer) registered.
  bool off(ListenerId id) noexcept {
    if (!lists_) return false;
    return std::apply([id](auto&... lists) { return (lists.remove(id) || ...); }, *lists_);
  }

  /// Listeners currently registered for `E`.
  template <typename E>
  std::size_t listener_count() const noexcept {
    static_assert(OneOfEvents<E, Events...>, "childproc: this emitter has no such event");
    return lists_ ? std::get<detail::ListenerList<E>>(*lists_).size() : 0;
  }

  /// Removes every listener of `E`.
  template <typename E>
  void remove_all_listeners() noexcept {
    static_assert(OneOfEvents<E, Events...>, "childproc: this emitter has no such event");
    if (lists_) std::get<detail::ListenerList<E>>(*lists_).clear();
  }

  /// Removes every listener of every event (Node's `removeAllListeners()`), those that
  /// exec() registers on its ChildProcess included: its callback then never runs.
  void remove_all_listeners() noexcept {
    if (lists_) std::apply([](auto&... lists) { (lists.clear(), ...); }, *lists_);
  }

protected:
  ~EventEmitter() = default;

  /// Calls the listeners of `E`; returns how many ran. Never throws.
  template <typename E>
  std::size_t emit(const E& event) noexcept {
    static_assert(OneOfEvents<E, Events...>, "childproc: this emitter has no such event");
    return lists_ ? std::get<detail::ListenerList<E>>(*lists_).emit(event) : 0;
  }

private:
  // The checks are static_asserts, not a requires-clause, so a mistake is one error
  // that says what is expected (a requires-clause gives "no matching function" and a
  // page of notes). The compiler's "in instantiation of" line above the error lists
  // this emitter's events (`Events = {...}`) and the listener's type (`F = ...`).
  template <typename E, typename F>
  ListenerId add(F&& fn, bool once) {
    static_assert(OneOfEvents<E, Events...>,
                  "childproc: this emitter has no such event; the ones it emits are the "
                  "Events of the EventEmitter named above (DataEvent, EndEvent, DrainEvent "
                  "and FinishEvent are a Stream's: listen on child->std_out(), ...)");
    static_assert(Listener<F, E>,
                  "childproc: a listener must be callable as fn(const E&), e.g. "
                  "[](const childproc::ExitEvent& e) { ... }, and copyable");
    if constexpr (OneOfEvents<E, Events...> && Listener<F, E>) {
      return list<E>().add(next_id_++, std::function<void(const E&)>(std::forward<F>(fn)), once);
    } else {
      return 0;  // not reached: a static_assert above failed
    }
  }

  template <typename E>
  detail::ListenerList<E>& list() {
    static_assert(OneOfEvents<E, Events...>, "childproc: this emitter has no such event");
    if (!lists_) lists_ = std::make_unique<std::tuple<detail::ListenerList<Events>...>>();
    return std::get<detail::ListenerList<E>>(*lists_);
  }

  // Allocated by the first listener: most streams (exec's, those nobody listens to)
  // never have one, and an emitter without lists costs a pointer.
  std::unique_ptr<std::tuple<detail::ListenerList<Events>...>> lists_;
  ListenerId next_id_ = 1;
};

}  // namespace childproc
