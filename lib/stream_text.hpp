// A stream's text state (lines, coroutine reads): only streams that use them have one.
#pragma once

#include <childproc/stream.hpp>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <string>

namespace childproc::detail {

struct StreamText {
  std::size_t max_line = std::size_t{1} << 20;
  std::string line;  // LineEvent: the current line so far
  // read_line() / read(): once asked for, every chunk read is kept here until taken.
  bool reading = false;
  std::string buffer;
  std::size_t head = 0;     // buffer[head, ...) is unread
  std::size_t scanned = 0;  // buffer[head, head + scanned) holds no '\n'
  bool eof = false;
  bool ended = false;  // end_text() ran
  bool paused_by_reader = false;
  bool want_line = false;
  std::coroutine_handle<> waiter;

  std::size_t unread() const noexcept { return buffer.size() - head; }

  bool ready(bool for_line) noexcept {
    if (!for_line) return unread() != 0 || eof;
    const std::size_t nl = buffer.find('\n', head + scanned);
    if (nl != std::string::npos) return true;
    scanned = unread();
    return unread() >= max_line || eof;
  }

  void consume(std::size_t n) {
    head += n;
    scanned = 0;
    // Compact once half is dead, so a long stream of short lines costs linear time.
    if (head == buffer.size()) {
      buffer.clear();
      head = 0;
    } else if (head > buffer.size() / 2) {
      buffer.erase(0, head);
      head = 0;
    }
  }

  std::optional<std::string> take(bool for_line) {
    if (unread() == 0) return std::nullopt;  // the end
    if (!for_line) {
      std::string chunk = buffer.substr(head);
      consume(unread());
      return chunk;
    }
    const std::size_t nl = buffer.find('\n', head);
    std::size_t len = nl == std::string::npos ? unread() : nl - head;
    bool has_newline = nl != std::string::npos;
    if (len > max_line) {
      len = max_line;
      has_newline = false;
    }
    std::string out = buffer.substr(head, len);
    consume(len + (has_newline ? 1 : 0));
    if (has_newline && !out.empty() && out.back() == '\r') out.pop_back();
    return out;
  }
};

}  // namespace childproc::detail
