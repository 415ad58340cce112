// A stream's text side: LineEvent, and the coroutine reads (read_line, read) and
// write_all. Kept apart from the byte machinery in stream.cpp; its state exists only
// for streams that use it.
#include "stream_text.hpp"

#include <childproc/stream.hpp>

#include <algorithm>

#include <stdexcept>
#include <string>
#include <utility>

namespace childproc {

detail::StreamText& Stream::text() {
  if (!text_) text_ = std::make_unique<detail::StreamText>();
  return *text_;
}

std::size_t Stream::max_line() const noexcept {
  return text_ ? text_->max_line : std::size_t{1} << 20;
}

void Stream::set_max_line(std::size_t bytes) {
  if (bytes == 0) throw std::invalid_argument("Stream::set_max_line: 0 bytes");
  text().max_line = bytes;
}

// Called after each DataEvent while there is a LineEvent listener or a reader.
void Stream::feed_text(std::string_view chunk) {
  detail::StreamText& t = text();
  if (listener_count<LineEvent>() != 0) {
    const std::size_t max = t.max_line;
    // Hands `part` on as the continuation of t.line; `ends`: a newline follows it.
    auto deliver = [&](std::string_view part, bool ends) {
      while (t.line.size() + part.size() > max) {
        if (t.line.empty()) {
          emit(LineEvent{part.substr(0, max), true});
          part.remove_prefix(max);
        } else {
          const std::size_t take = max - t.line.size();
          t.line.append(part.substr(0, take));
          emit(LineEvent{t.line, true});
          t.line.clear();
          part.remove_prefix(take);
        }
      }
      if (!ends) {
        t.line.append(part);
        return;
      }
      std::string_view whole = part;  // without a copy when the line lies in one chunk
      if (!t.line.empty()) {
        t.line.append(part);
        whole = t.line;
      }
      if (!whole.empty() && whole.back() == '\r') whole.remove_suffix(1);
      emit(LineEvent{whole, false});
      t.line.clear();
    };
    std::string_view rest = chunk;
    for (std::size_t nl; (nl = rest.find('\n')) != std::string_view::npos;) {
      deliver(rest.substr(0, nl), true);
      rest.remove_prefix(nl + 1);
    }
    if (!rest.empty()) deliver(rest, false);
  }
  if (t.reading) {
    t.buffer.append(chunk);
    if (t.waiter && t.ready(t.want_line)) {
      std::exchange(t.waiter, {}).resume();
    } else if (!t.waiter && !paused_ &&
               t.unread() >= std::max<std::size_t>(64 * 1024, t.max_line)) {
      // Nobody is reading: stop taking data, so the child blocks instead of this
      // process buffering without bound.
      t.paused_by_reader = true;
      pause();
    }
  }
}

// At the end of the stream (EndEvent, or a close without one): the last line, and the
// end for a waiting reader.
void Stream::end_text() {
  if (!text_ || text_->ended) return;
  detail::StreamText& t = *text_;
  t.ended = true;
  if (!t.line.empty()) {
    std::string last = std::move(t.line);
    t.line.clear();
    if (listener_count<LineEvent>() != 0) emit(LineEvent{last, false});
  }
  t.eof = true;
  if (t.waiter) std::exchange(t.waiter, {}).resume();
}

ReadAwaiter Stream::read_line() {
  return ReadAwaiter(shared_from_this(), true);
}

ReadAwaiter Stream::read() {
  return ReadAwaiter(shared_from_this(), false);
}

WriteAwaiter Stream::write_all(std::string data) {
  return WriteAwaiter(shared_from_this(), std::move(data));
}

ReadAwaiter::~ReadAwaiter() {
  // The awaiting coroutine was destroyed: the read is cancelled, the data stays.
  if (waiting_ && stream_->text_) stream_->text_->waiter = {};
}

bool ReadAwaiter::await_ready() {
  detail::StreamText& t = stream_->text();
  t.reading = true;
  if (!stream_->readable() && !t.ended) t.eof = true;  // never readable, or done already
  return t.ready(line_);
}

void ReadAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  detail::StreamText& t = stream_->text();
  if (t.waiter) throw std::logic_error("childproc::Stream: one read at a time");
  t.waiter = waiter;
  t.want_line = line_;
  waiting_ = true;
  if (t.paused_by_reader) {
    t.paused_by_reader = false;
    stream_->resume();
  }
}

std::optional<std::string> ReadAwaiter::await_resume() {
  waiting_ = false;
  return stream_->text().take(line_);
}

struct WriteAwaiter::State {
  std::coroutine_handle<> waiter;
  bool done = false;
  std::error_code error;
};

WriteAwaiter::~WriteAwaiter() {
  if (state_ && !state_->done) state_->waiter = {};
}

bool WriteAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  state_ = std::make_shared<State>();
  const bool below = stream_->write(std::move(data_), [s = state_](std::error_code ec) {
    s->error = ec;
    s->done = true;
    if (auto w = std::exchange(s->waiter, {})) w.resume();
  });
  // Accepted below the high-water mark: go on at once, as after a write() that
  // returned true. Otherwise wait for this write to finish or fail.
  if (below || state_->done) return false;
  state_->waiter = waiter;
  return true;
}

std::error_code WriteAwaiter::await_resume() const noexcept {
  return state_ && state_->done ? state_->error : std::error_code();
}

}  // namespace childproc
