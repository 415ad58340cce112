// Output collection shared by exec and the sync variants.
#pragma once

#include <childproc/stream.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

namespace childproc::detail {

constexpr std::size_t kChunk = 64 * 1024;

// Collects one stream straight into the string the callback receives: the kernel
// copies each byte into its final place. The string grows geometrically and is
// trimmed to the bytes read at the end, so the zero-fill of resize() is paid once per
// byte of capacity, not per read.
class Collector final : public ReadSink {
public:
  Collector(std::size_t max, std::function<void()> on_overflow)
      : max_(max), on_overflow_(std::move(on_overflow)) {}

  std::pair<char*, std::size_t> read_buffer() override {
    if (overflowed_) {
      // Past max_buffer the pipe is still drained, so a child that ignores the kill
      // signal cannot block on a full pipe and hold back close.
      if (!discard_) discard_ = std::make_unique<char[]>(kChunk);
      return {discard_.get(), kChunk};
    }
    // One byte past the limit is enough to tell that it was exceeded.
    const std::size_t room = max_ - used_;
    const std::size_t limit = room >= kChunk ? std::numeric_limits<std::size_t>::max() : room + 1;
    if (buf_.size() - used_ < std::min(kChunk, limit)) {
      const std::size_t cap = max_ == std::numeric_limits<std::size_t>::max() ? max_ : max_ + 1;
      std::size_t target = std::max(buf_.size() * 2, used_ + kChunk);
      target = std::min(target, cap);
      target = std::max(target, used_ + std::min(kChunk, limit));
      buf_.resize(target);
    }
    return {buf_.data() + used_, std::min(buf_.size() - used_, limit)};
  }

  void commit(std::size_t n) override {
    if (overflowed_) return;
    used_ += n;
    if (used_ > max_) {
      used_ = max_;
      overflowed_ = true;
      on_overflow_();
    }
  }

  std::string_view view() const noexcept { return {buf_.data(), used_}; }

  std::string take() {
    buf_.resize(used_);
    used_ = 0;
    return std::move(buf_);
  }

private:
  std::size_t max_;
  std::size_t used_ = 0;
  bool overflowed_ = false;
  std::string buf_;
  std::unique_ptr<char[]> discard_;
  std::function<void()> on_overflow_;
};

}  // namespace childproc::detail
