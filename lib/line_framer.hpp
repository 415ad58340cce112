// Newline framing for bytes that come from another process (the IPC channel): whole
// lines out, with a bound on how much one unfinished line may hold in memory.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace childproc::detail {

class LineFramer {
public:
  explicit LineFramer(std::size_t max_line) noexcept : max_(max_line) {}

  /// Calls `on_line(std::string_view)` for each line `chunk` completes, without its
  /// '\n', and keeps the bytes after the last newline for the next call. A line longer
  /// than max_line() is never held: `on_overflow(std::size_t bytes)` is called once
  /// when it passes the limit, and the rest of it is skipped up to its newline.
  /// `on_line` may return false to stop at once (the rest of `chunk` is dropped), and so
  /// may `on_overflow` when it returns bool.
  /// Throws only what std::string's allocation throws.
  template <class OnLine, class OnOverflow>
  void feed(std::string_view chunk, OnLine&& on_line, OnOverflow&& on_overflow) {
    while (!chunk.empty()) {
      const void* nl = std::memchr(chunk.data(), '\n', chunk.size());
      const std::size_t len =
          nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data()) : chunk.size();
      if (skipping_) {
        skipped_ += len;
      } else if (partial_.size() + len > max_) {
        skipping_ = true;
        skipped_ = partial_.size() + len;
        partial_.clear();
        partial_.shrink_to_fit();
        if constexpr (std::is_void_v<std::invoke_result_t<OnOverflow&, std::size_t>>) {
          on_overflow(skipped_);
        } else if (!on_overflow(skipped_)) {
          return;
        }
      } else if (nl == nullptr) {
        partial_.append(chunk);
      } else if (partial_.empty()) {
        if (!on_line(chunk.substr(0, len))) return;
      } else {
        partial_.append(chunk.data(), len);
        std::string line = std::move(partial_);
        partial_.clear();
        if (!on_line(std::string_view(line))) return;
      }
      if (nl == nullptr) return;
      skipping_ = false;
      skipped_ = 0;
      chunk.remove_prefix(len + 1);
    }
  }

  /// Bytes of an unfinished line: kept, or being skipped past the limit.
  std::size_t pending() const noexcept { return skipping_ ? skipped_ : partial_.size(); }
  /// True while the rest of an over-long line is being skipped.
  bool skipping() const noexcept { return skipping_; }
  std::size_t max_line() const noexcept { return max_; }
  void set_max_line(std::size_t max_line) noexcept { max_ = max_line; }
  /// Forgets the unfinished line.
  void clear() noexcept {
    partial_.clear();
    skipping_ = false;
    skipped_ = 0;
  }

private:
  std::size_t max_;
  std::string partial_;
  bool skipping_ = false;
  std::size_t skipped_ = 0;
};

}  // namespace childproc::detail
