#include "json.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace childproc::detail {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Bytes of `x` that are zero get their high bit set (exact: no false positives).
constexpr std::uint64_t zero_bytes(std::uint64_t x) {
  return ~(((x & ~kHighs) + ~kHighs) | x) & kHighs;
}

// Skips string bytes that need no attention: printable ASCII other than '"' and '\\'.
// Sixteen or eight at a time (messages are mostly such bytes, and this scan runs on every send
// and every receive), then byte by byte to the exact stop.
const unsigned char* skip_plain(const unsigned char* p, const unsigned char* end) {
#if defined(__SSE2__)
  // Sixteen at a time: as signed bytes, "below 0x20" also catches 0x80 and up.
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(v, space),
                     _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (end - p >= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    // A byte is below 0x20 exactly when its top three bits are clear; one of 0x80 and
    // up has the high bit set.
    const std::uint64_t special = zero_bytes(x & (0xE0 * kOnes)) | (x & kHighs) |
                                  zero_bytes(x ^ ('"' * kOnes)) | zero_bytes(x ^ ('\\' * kOnes));
    if (special != 0) break;
    p += 8;
  }
  while (p != end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
    ++p;
  return p;
}

class Scanner {
public:
  explicit Scanner(std::string_view text)
      : p_(reinterpret_cast<const unsigned char*>(text.data())),
        begin_(p_),
        end_(p_ + text.size()) {}

  JsonScan run() {
    skip_space();
    if (failed()) return result_;
    if (p_ == end_)
      return fail(begin_ == end_ ? "empty message" : "no JSON value, only whitespace");
    value();
    if (failed()) return result_;
    skip_space();
    if (failed()) return result_;
    if (p_ != end_) return fail("more than one JSON value (unexpected text after the first)");
    return result_;
  }

private:
  // Where a value ends decides what may follow; the stack holds '{' or '['.
  void value() {
    for (;;) {
      if (p_ == end_) {
        fail("unexpected end of text");
        return;
      }
      // Only the value of the top-level "cmd" member is remembered, and only a string.
      const bool cmd_value = std::exchange(capture_cmd_, false);
      const unsigned char c = *p_;
      if (c == '{') {
        ++p_;
        stack_.push_back('{');
        skip_space();
        if (failed()) return;
        if (p_ != end_ && *p_ == '}') {
          ++p_;
          stack_.pop_back();
        } else if (!member_key()) {
          return;
        } else {
          continue;  // the member's value
        }
      } else if (c == '[') {
        ++p_;
        stack_.push_back('[');
        skip_space();
        if (failed()) return;
        if (p_ != end_ && *p_ == ']') {
          ++p_;
          stack_.pop_back();
        } else {
          continue;  // the first element
        }
      } else if (c == '"') {
        ++p_;
        if (!string(cmd_value ? &text_ : nullptr)) return;
        if (cmd_value) {
          result_.internal = text_.size() > 5 && text_.compare(0, 5, "NODE_") == 0;
          result_.node_handle = text_ == "NODE_HANDLE";
        }
      } else if (c == 't') {
        if (!literal("true")) return;
      } else if (c == 'f') {
        if (!literal("false")) return;
      } else if (c == 'n') {
        if (!literal("null")) return;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!number()) return;
      } else {
        fail(c == '\n' ? "raw newline" : "unexpected character where a value should be");
        return;
      }
      // After a value: close containers or move on to the next element.
      for (;;) {
        if (stack_.empty()) return;
        skip_space();
        if (failed()) return;
        if (p_ == end_) {
          fail("unexpected end of text");
          return;
        }
        const char open = stack_.back();
        if (*p_ == ',') {
          ++p_;
          skip_space();
          if (failed()) return;
          if (open == '{' && !member_key()) return;
          break;  // the next value
        }
        if ((open == '{' && *p_ == '}') || (open == '[' && *p_ == ']')) {
          ++p_;
          stack_.pop_back();
          continue;
        }
        fail(open == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        return;
      }
    }
  }

  // A member's key, the space and the colon; leaves p_ on the value.
  bool member_key() {
    if (p_ == end_ || *p_ != '"') {
      fail("expected a string key");
      return false;
    }
    ++p_;
    const bool top = stack_.size() == 1;
    if (!string(top ? &text_ : nullptr)) return false;
    capture_cmd_ = top && text_ == "cmd";
    if (top && capture_cmd_) {
      // A later "cmd" decides, as in JSON.parse: forget what an earlier one said.
      result_.internal = false;
      result_.node_handle = false;
    }
    skip_space();
    if (failed()) return false;
    if (p_ == end_ || *p_ != ':') {
      fail("expected ':'");
      return false;
    }
    ++p_;
    skip_space();
    return !failed();
  }

  // After the opening quote. With `out`, the decoded text is kept (for "cmd").
  bool string(std::string* out) {
    if (out != nullptr) out->clear();
    const unsigned char* run = p_;
    for (;;) {
      // The common case: plain ASCII, copied (when needed) in runs.
      p_ = skip_plain(p_, end_);
      if (out != nullptr && out->size() < kCapture) out->append(run, p_);
      if (p_ == end_) {
        fail("unterminated string");
        return false;
      }
      const unsigned char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!escape(out)) return false;
      } else if (c < 0x20) {
        fail(c == '\n' ? "raw newline" : "raw control character in a string");
        return false;
      } else {
        const unsigned char* start = p_;
        if (!utf8()) return false;
        if (out != nullptr && out->size() < kCapture) out->append(start, p_);
      }
      run = p_;
    }
  }

  bool escape(std::string* out) {
    ++p_;
    if (p_ == end_) {
      fail("unterminated string");
      return false;
    }
    const unsigned char c = *p_++;
    char plain = 0;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        plain = static_cast<char>(c);
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u': {
        std::uint32_t cp = 0;
        for (int i = 0; i < 4; ++i) {
          if (p_ == end_) {
            fail("unterminated string");
            return false;
          }
          const unsigned char h = *p_++;
          cp <<= 4;
          if (h >= '0' && h <= '9') {
            cp |= h - '0';
          } else if (h >= 'a' && h <= 'f') {
            cp |= h - 'a' + 10;
          } else if (h >= 'A' && h <= 'F') {
            cp |= h - 'A' + 10;
          } else {
            --p_;
            fail("bad \\u escape");
            return false;
          }
        }
        // Lone surrogates are valid JSON (JSON.parse takes them); "cmd" only needs
        // ASCII to be recognised, so anything else is kept as a placeholder.
        if (out != nullptr && out->size() < kCapture) {
          out->push_back(cp < 0x80 ? static_cast<char>(cp) : '\x7f');
        }
        return true;
      }
      default:
        --p_;
        fail("bad escape in a string");
        return false;
    }
    if (out != nullptr && out->size() < kCapture) out->push_back(plain);
    return true;
  }

  // One multi-byte UTF-8 sequence starting at p_.
  bool utf8() {
    const unsigned char c = *p_;
    std::size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      fail("invalid UTF-8");
      return false;
    }
    if (static_cast<std::size_t>(end_ - p_) < len) {
      fail("invalid UTF-8 (truncated sequence)");
      return false;
    }
    if (p_[1] < lo || p_[1] > hi) {
      fail("invalid UTF-8");
      return false;
    }
    for (std::size_t i = 2; i < len; ++i) {
      if ((p_[i] & 0xC0) != 0x80) {
        fail("invalid UTF-8");
        return false;
      }
    }
    p_ += len;
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word) {
      fail("unexpected character where a value should be");
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool number() {
    if (*p_ == '-') ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') {
      fail("bad number");
      return false;
    }
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9')
        ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
    }
    return true;
  }

  bool digits() {
    const unsigned char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9')
      ++p_;
    if (p_ == start) {
      fail("bad number");
      return false;
    }
    return true;
  }

  void skip_space() {
    while (p_ != end_) {
      const unsigned char c = *p_;
      if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else if (c == '\n') {
        fail("raw newline");
        return;
      } else {
        return;
      }
    }
  }

  JsonScan fail(const char* what) {
    if (result_.error == nullptr) {
      result_.error = what;
      result_.at = static_cast<std::size_t>(p_ - begin_);
      result_.internal = false;
      result_.node_handle = false;
    }
    return result_;
  }
  bool failed() const noexcept { return result_.error != nullptr; }

  // "NODE_HANDLE_NACK" is the longest name that matters; longer strings are cut.
  static constexpr std::size_t kCapture = 64;

  const unsigned char* p_;
  const unsigned char* begin_;
  const unsigned char* end_;
  std::vector<char> stack_;
  std::string text_;
  bool capture_cmd_ = false;
  JsonScan result_;
};

}  // namespace

JsonScan scan_json(std::string_view text) {
  return Scanner(text).run();
}

}  // namespace childproc::detail
