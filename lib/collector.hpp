// Output collection shared by exec and the sync variants.
#pragma once

#include <childproc/stream.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <new>
#include <string>
#include <string_view>

namespace childproc::detail {

// Collects one stream into the string the callback receives, keeping at most `max`
// bytes. On this kind of machine a page fault costs more than copying the page from
// a cache-hot buffer, so once the output outgrows kSmall the string reserves its
// final capacity (up to kReserveCap) once, untouched: the kernel reads into the
// stream's hot scratch buffer and append() faults in each page of the final string
// exactly once, with no realloc copy and no zero-fill (peak memory is the output
// itself). Small outputs grow as any string does, so a child that prints a line costs
// no large mapping. Past kReserveCap the string grows geometrically.
class Collector final : public ReadSink {
public:
  Collector(std::size_t max, std::function<void()> on_overflow)
      : max_(max), on_overflow_(std::move(on_overflow)) {}

  void consume(std::string_view chunk) noexcept override {
    if (overflowed_) return;
    const std::size_t room = max_ - buf_.size();
    const std::size_t take = std::min(chunk.size(), room);
    try {
      if (buf_.capacity() - buf_.size() < take) grow(take);
      buf_.append(chunk.data(), take);
    } catch (...) {  // bad_alloc, or length_error past max_size()
      overflow();    // out of memory: as if over max_buffer, rather than lose bytes silently
      return;
    }
    if (mirror_ != nullptr) mirror_->consume(chunk.substr(0, take));
    if (chunk.size() > room) overflow();
  }

  /// Also hands every byte kept to `mirror` (exec's `all`: both streams in arrival order).
  void mirror_to(Collector* mirror) noexcept { mirror_ = mirror; }

  std::string_view view() const noexcept { return buf_; }
  std::string take() noexcept { return std::move(buf_); }

private:
  static constexpr std::size_t kSmall = std::size_t{128} << 10;
  static constexpr std::size_t kReserveCap = std::size_t{1} << 30;

  void grow(std::size_t take) {
    const std::size_t need = buf_.size() + take;
    if (!reserved_ && need > kSmall) {
      reserved_ = true;
      try {
        buf_.reserve(std::max(need, std::min(max_, kReserveCap)));
        return;
      } catch (const std::bad_alloc&) {
        // A strict overcommit policy may refuse the whole reservation: grow as needed.
      }
    }
    buf_.reserve(std::min(std::max(buf_.capacity() * 2, need), max_));
  }

  void overflow() noexcept {
    overflowed_ = true;
    on_overflow_();
  }

  std::size_t max_;
  bool overflowed_ = false;
  bool reserved_ = false;  // the one large reservation was made (or refused)
  std::string buf_;
  std::function<void()> on_overflow_;
  Collector* mirror_ = nullptr;
};

}  // namespace childproc::detail
