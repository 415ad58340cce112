// A second opinion for the fuzz targets on what lib/json.cpp decides: RFC 8259 written
// out as plain recursive descent, one function per grammar rule, so that it can be read
// against the RFC instead of against json.cpp. It is deliberately slow and simple; the
// recursion is bounded by kMaxDepth so no input can overflow the stack.
//
// The rules json.cpp documents on top of the RFC, mirrored here:
// - whitespace is ' ', '\t', '\r' only: a raw 0x0A frames IPC messages and is refused
//   everywhere (in strings it is a control character anyway);
// - strings must be strict UTF-8: no overlong forms, no encoded surrogates
//   (ED A0..BF xx), nothing past U+10FFFF, no stray or missing continuation bytes;
// - a \u escape may name a lone surrogate (JSON.parse takes it; the RFC grammar does too);
// - no byte-order mark, no empty text;
// - "internal": a top-level object whose last "cmd" member (key compared after decoding
//   escapes) has a string value that is "NODE_" plus at least one more character;
//   "node_handle": that value is exactly "NODE_HANDLE".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fuzzref {

enum class Status {
  kOk,       // a complete, valid text
  kEof,      // everything so far fits the grammar; it only ran out (a viable prefix)
  kBad,      // a byte that no continuation can make valid
  kTooDeep,  // nested past kMaxDepth: no opinion
};

struct JsonVerdict {
  Status status = Status::kBad;
  bool internal = false;
  bool node_handle = false;
};

class JsonReference {
public:
  static constexpr int kMaxDepth = 500;

  static JsonVerdict check(std::string_view text) {
    JsonReference r(text);
    JsonVerdict v;
    v.status = r.text();
    if (v.status == Status::kOk) {
      v.internal = r.internal_;
      v.node_handle = r.node_handle_;
    }
    return v;
  }

private:
  explicit JsonReference(std::string_view s)
      : s_(reinterpret_cast<const unsigned char*>(s.data())), n_(s.size()) {}

  bool eof() const { return i_ == n_; }
  unsigned char peek() const { return s_[i_]; }

  // RFC 8259 section 2: JSON-text = ws value ws.
  Status text() {
    ws();
    if (Status st = value(0, /*top=*/true); st != Status::kOk) return st;
    ws();
    return eof() ? Status::kOk : Status::kBad;
  }

  void ws() {
    while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\r'))
      ++i_;
  }

  Status value(int depth, bool top) {
    if (depth > kMaxDepth) return Status::kTooDeep;
    if (eof()) return Status::kEof;
    const unsigned char c = peek();
    if (c == '{') return object(depth + 1, top);
    if (c == '[') return array(depth + 1);
    if (c == '"') return string(nullptr);
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return Status::kBad;
  }

  Status object(int depth, bool top) {
    ++i_;  // '{'
    ws();
    if (eof()) return Status::kEof;
    if (peek() == '}') {
      ++i_;
      return Status::kOk;
    }
    for (;;) {
      if (eof()) return Status::kEof;
      if (peek() != '"') return Status::kBad;
      std::u32string key;
      if (Status st = string(&key); st != Status::kOk) return st;
      ws();
      if (eof()) return Status::kEof;
      if (peek() != ':') return Status::kBad;
      ++i_;
      ws();
      if (top && key == U"cmd") {
        // Only this member's value can make the message internal; a later "cmd" of any
        // type overrides an earlier one, as the last one wins in JSON.parse.
        internal_ = node_handle_ = false;
        if (!eof() && peek() == '"') {
          std::u32string cmd;
          if (Status st = string(&cmd); st != Status::kOk) return st;
          internal_ = cmd.size() > 5 && cmd.compare(0, 5, U"NODE_") == 0;
          node_handle_ = cmd == U"NODE_HANDLE";
        } else if (Status st = value(depth, false); st != Status::kOk) {
          return st;
        }
      } else if (Status st = value(depth, false); st != Status::kOk) {
        return st;
      }
      ws();
      if (eof()) return Status::kEof;
      if (peek() == '}') {
        ++i_;
        return Status::kOk;
      }
      if (peek() != ',') return Status::kBad;
      ++i_;
      ws();
    }
  }

  Status array(int depth) {
    ++i_;  // '['
    ws();
    if (eof()) return Status::kEof;
    if (peek() == ']') {
      ++i_;
      return Status::kOk;
    }
    for (;;) {
      if (Status st = value(depth, false); st != Status::kOk) return st;
      ws();
      if (eof()) return Status::kEof;
      if (peek() == ']') {
        ++i_;
        return Status::kOk;
      }
      if (peek() != ',') return Status::kBad;
      ++i_;
      ws();
    }
  }

  Status literal(std::string_view word) {
    for (char w : word) {
      if (eof()) return Status::kEof;
      if (peek() != static_cast<unsigned char>(w)) return Status::kBad;
      ++i_;
    }
    return Status::kOk;
  }

  static bool digit(unsigned char c) { return c >= '0' && c <= '9'; }

  // number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ).
  Status number() {
    if (peek() == '-') ++i_;
    if (eof()) return Status::kEof;
    if (!digit(peek())) return Status::kBad;
    if (peek() == '0') {
      ++i_;
    } else {
      while (!eof() && digit(peek()))
        ++i_;
    }
    if (!eof() && peek() == '.') {
      ++i_;
      if (Status st = one_or_more_digits(); st != Status::kOk) return st;
    }
    if (!eof() && (peek() == 'e' || peek() == 'E')) {
      ++i_;
      if (!eof() && (peek() == '+' || peek() == '-')) ++i_;
      if (Status st = one_or_more_digits(); st != Status::kOk) return st;
    }
    return Status::kOk;
  }

  Status one_or_more_digits() {
    if (eof()) return Status::kEof;
    if (!digit(peek())) return Status::kBad;
    while (!eof() && digit(peek()))
      ++i_;
    return Status::kOk;
  }

  // From the opening quote. With `out`, the decoded characters (\u escapes as the UTF-16
  // unit they name, UTF-8 as code points) are appended.
  Status string(std::u32string* out) {
    ++i_;  // '"'
    for (;;) {
      if (eof()) return Status::kEof;
      const unsigned char c = peek();
      char32_t ch = 0;
      if (c == '"') {
        ++i_;
        return Status::kOk;
      }
      if (c == '\\') {
        ++i_;
        if (Status st = escape(ch); st != Status::kOk) return st;
      } else if (c < 0x20) {
        return Status::kBad;  // control characters, 0x0A among them, must be escaped
      } else if (c < 0x80) {
        ch = c;
        ++i_;
      } else if (Status st = utf8(ch); st != Status::kOk) {
        return st;
      }
      if (out != nullptr) out->push_back(ch);
    }
  }

  Status escape(char32_t& ch) {
    if (eof()) return Status::kEof;
    const unsigned char c = peek();
    ++i_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        ch = c;
        return Status::kOk;
      case 'b':
        ch = '\b';
        return Status::kOk;
      case 'f':
        ch = '\f';
        return Status::kOk;
      case 'n':
        ch = '\n';
        return Status::kOk;
      case 'r':
        ch = '\r';
        return Status::kOk;
      case 't':
        ch = '\t';
        return Status::kOk;
      case 'u':
        ch = 0;
        for (int k = 0; k < 4; ++k) {
          if (eof()) return Status::kEof;
          const unsigned char h = peek();
          int v;
          if (h >= '0' && h <= '9') {
            v = h - '0';
          } else if (h >= 'a' && h <= 'f') {
            v = h - 'a' + 10;
          } else if (h >= 'A' && h <= 'F') {
            v = h - 'A' + 10;
          } else {
            return Status::kBad;
          }
          ch = ch * 16 + static_cast<char32_t>(v);
          ++i_;
        }
        return Status::kOk;  // any value, lone surrogates included
      default:
        return Status::kBad;
    }
  }

  // Decode first, judge the code point after: the textbook way, unlike json.cpp's table
  // of allowed second bytes. A sequence cut by the end of the text is a viable prefix
  // even when no continuation could make it valid (E0 80 ...): that only makes the
  // prefix check below more lenient, never stricter.
  Status utf8(char32_t& ch) {
    const unsigned char lead = peek();
    std::size_t len;
    char32_t cp;
    if ((lead & 0xE0) == 0xC0) {
      len = 2;
      cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3;
      cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4;
      cp = lead & 0x07;
    } else {
      return Status::kBad;  // a continuation byte, or F8..FF
    }
    for (std::size_t k = 1; k < len; ++k) {
      if (i_ + k == n_) return Status::kEof;
      const unsigned char b = s_[i_ + k];
      if ((b & 0xC0) != 0x80) return Status::kBad;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len]) return Status::kBad;                // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return Status::kBad;  // surrogate
    if (cp > 0x10FFFF) return Status::kBad;
    i_ += len;
    ch = cp;
    return Status::kOk;
  }

  const unsigned char* s_;
  std::size_t n_;
  std::size_t i_ = 0;
  bool internal_ = false;
  bool node_handle_ = false;
};

}  // namespace fuzzref
