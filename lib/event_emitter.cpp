#include <childproc/event_emitter.hpp>

#include <cstdio>
#include <exception>
#include <mutex>
#include <string>

namespace childproc {
namespace {

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}

UnhandledHandler& handler_slot() {
  static UnhandledHandler h;
  return h;
}

}  // namespace

UnhandledHandler set_unhandled_handler(UnhandledHandler handler) {
  std::lock_guard lock(handler_mutex());
  return std::exchange(handler_slot(), std::move(handler));
}

namespace detail {

void report_unhandled(std::string_view message) noexcept {
  try {
    UnhandledHandler h;
    {
      std::lock_guard lock(handler_mutex());
      h = handler_slot();
    }
    if (h) {
      h(message);
      return;
    }
  } catch (...) {
    // A throwing handler falls back to the default line below.
  }
  std::fprintf(::stderr, "childproc: unhandled: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

void report_listener_exception() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      report_unhandled(std::string("exception in listener: ") + e.what());
    }
  } catch (...) {
    // Not a std::exception, or building the message failed (bad_alloc).
    report_unhandled("exception in listener");
  }
}

}  // namespace detail
}  // namespace childproc
