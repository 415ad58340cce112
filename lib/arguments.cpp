#include "arguments.hpp"

#include <childproc/error.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace childproc::detail {
namespace {

// Node's choice of quote for one piece: ' unless the text holds one; then " unless it
// holds one too; then ` unless it holds one or "${"; else ' with \' escapes.
char quote_for(std::string_view s) {
  if (s.find('\'') == std::string_view::npos) return '\'';
  if (s.find('"') == std::string_view::npos) return '"';
  if (s.find('`') == std::string_view::npos && s.find("${") == std::string_view::npos) return '`';
  return '\'';
}

void hex_escape(std::string& out, unsigned code) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += "\\x";
  out += kHex[(code >> 4) & 15];
  out += kHex[code & 15];
}

std::string quote_piece(std::string_view s) {
  const char q = quote_for(s);
  std::string out(1, q);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\b':
        out += "\\b";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      hex_escape(out, c);
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      // U+0080..U+009F, the C1 controls, which Node escapes as \x80..\x9F.
      hex_escape(out, static_cast<unsigned char>(s[++i]));
    } else if (c == '\'' && q == '\'') {
      out += "\\'";
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

// UTF-16 units in a UTF-8 text, as JavaScript counts a string's length: four-byte
// sequences are two units, every other lead byte one.
std::size_t js_length(std::string_view s) {
  std::size_t n = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xc0) != 0x80) n += c >= 0xf0 ? 2 : 1;
  }
  return n;
}

// The first `units` UTF-16 units of `s`, as JavaScript's slice() takes them: a cut
// through a character outside the BMP keeps its first surrogate, which prints as U+FFFD.
std::string js_prefix(std::string_view s, std::size_t units) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xc0) == 0x80) continue;
    const std::size_t w = c >= 0xf0 ? 2 : 1;
    if (n + w > units) {
      std::string out(s.substr(0, i));
      if (n < units) out += "\xEF\xBF\xBD";
      return out;
    }
    n += w;
  }
  return std::string(s);
}

}  // namespace

std::string inspect(std::string_view s) {
  // util.inspect splits a string longer than 16 units and than the 80-column break
  // length less 4 after each newline, quoting each piece on its own.
  std::string out;
  const std::size_t len = js_length(s);
  if (len > 16 && len > 76 && s.find('\n') != std::string_view::npos) {
    std::size_t start = 0;
    while (start < s.size()) {
      std::size_t nl = s.find('\n', start);
      const std::size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
      if (start != 0) out += " +\n  ";
      out += quote_piece(s.substr(start, end - start));
      start = end;
    }
  } else {
    out = quote_piece(s);
  }
  // ERR_INVALID_ARG_VALUE shows at most 128 units of it.
  if (js_length(out) > 128) return js_prefix(out, 128) + "...";
  return out;
}

namespace {

void check_nul(std::string_view value, std::string_view kind, std::string_view name,
               std::string_view types) {
  if (value.find('\0') == std::string_view::npos) return;
  std::string message = "The ";
  message += kind;
  message += " '";
  message += name;
  message += "' must be ";
  message += types;
  message += " without null bytes. Received ";
  message += inspect(value);
  throw InvalidArgument("ERR_INVALID_ARG_VALUE", message);
}

}  // namespace

void check_argument(std::string_view value, std::string_view name) {
  check_nul(value, "argument", name, "a string");
}

void check_property(std::string_view value, std::string_view name) {
  check_nul(value, "property", name, "a string");
}

void check_path(std::string_view value, std::string_view kind, std::string_view name) {
  check_nul(value, kind, name, "a string, Uint8Array, or URL");
}

}  // namespace childproc::detail
