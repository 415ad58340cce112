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
// a cache-hot buffer, so the string reserves its capacity once, untouched: the kernel
// reads into the stream's hot scratch buffer and append() faults in each page of the
// final string exactly once, with no realloc copy and no zero-fill (peak memory is
// the output itself). Past kReserveCap the string grows geometrically.
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
  static constexpr std::size_t kReserveCap = std::size_t{1} << 30;

  void grow(std::size_t take) {
    const std::size_t need = buf_.size() + take;
    std::size_t want = buf_.capacity() == 0 ? std::min(max_, kReserveCap) : buf_.capacity() * 2;
    want = std::min(std::max(want, need), max_);
    buf_.reserve(want);
  }

  void overflow() noexcept {
    overflowed_ = true;
    on_overflow_();
  }

  std::size_t max_;
  bool overflowed_ = false;
  std::string buf_;
  std::function<void()> on_overflow_;
  Collector* mirror_ = nullptr;
};

}  // namespace childproc::detail
