// check_message(): the validator every IPC message passes. RFC 8259 grammar, strict
// UTF-8, no raw newline byte (it frames messages), exactly one value, and Node's rule
// for its internal messages. Tables of hand-picked cases, exhaustive sweeps of short
// UTF-8 sequences against an independent decoder, and a differential run against
// node's own JSON.parse over a generated corpus.
#include "support.hpp"

#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <sstream>

using namespace cptest;
using childproc::check_message;
using childproc::DataEvent;

namespace {

// The text with control and non-ASCII bytes shown as \xNN, cut after 120 bytes.
std::string show(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 120; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 120) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

bool accepted(std::string_view s) {
  return !check_message(s).has_value();
}

// "accepted", or "rejected: <why>": compared in CHECKs so a failure shows the reason.
std::string verdict(std::string_view s) {
  const auto why = check_message(s);
  return why ? "rejected: " + *why : "accepted";
}

void expect_ok(std::string_view s) {
  INFO("message: " << show(s));
  CHECK(verdict(s) == "accepted");
}

void expect_bad(std::string_view s) {
  INFO("message: " << show(s));
  const auto why = check_message(s);
  REQUIRE(why.has_value());
  CHECK_FALSE(why->empty());
}

// A string from byte values (for invalid UTF-8, where literals are easy to get wrong).
std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values)
    s.push_back(static_cast<char>(v));
  return s;
}

// `body` between double quotes.
std::string quoted(std::string_view body) {
  return "\"" + std::string(body) + "\"";
}

// ---------------------------------------------------------------------------------------
// The hand-picked cases, shared by the unit tests and the node corpus.

const std::vector<std::string>& valid_scalars() {
  static const std::vector<std::string> v = {
      "0",
      "-0",
      "1",
      "-1",
      "7",
      "123",
      "-123",
      "1.5",
      "-1.5",
      "0.5",
      "-0.0",
      "0.5E-3",
      "0.5e-3",
      "1e400",
      "-1e400",
      "1e-400",
      "1E+2",
      "1e+2",
      "1E2",
      "0e0",
      "0E-0",
      "-0.0e-0",
      "10.0001",
      "12345678901234567890123456789012345678901234567890",
      "1.7976931348623157e308",
      "5e-324",
      "true",
      "false",
      "null",
      "\"\"",
      "\"abc\"",
      "\" \"",
      "\"with space\"",
      "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
      "\"\\u0000\"",
      "\"\\u001f\"",
      "\"\\u0041\"",
      "\"\\uABCD\\uabcd\\uAbCd\"",
      "\"\\ud800\"",
      "\"\\udfff\"",
      "\"\\udc00\\ud800\"",
      "\"\\ud83d\\ude00\"",
      "\"\\uD83D\"",
      "\"\\uffff\"",
      "\"/\"",
      "\"\x7f\"",
      "\"a\x7f\x7f\"",
      "\"\xc3\xa9\"",                  // U+00E9
      "\"\xe2\x82\xac\"",              // U+20AC
      "\"\xf0\x9f\x98\x80\"",          // U+1F600
      "\"\xc2\x80\"",                  // U+0080, the first 2-byte
      "\"\xdf\xbf\"",                  // U+07FF, the last 2-byte
      "\"\xe0\xa0\x80\"",              // U+0800, the first 3-byte
      "\"\xed\x9f\xbf\"",              // U+D7FF, just below the surrogates
      "\"\xee\x80\x80\"",              // U+E000, just above them
      "\"\xef\xbf\xbf\"",              // U+FFFF
      "\"\xef\xbb\xbf\"",              // U+FEFF inside a string is just a character
      "\"\xe2\x80\xa8\xe2\x80\xa9\"",  // U+2028 U+2029, raw: fine in JSON
      "\"\xf0\x90\x80\x80\"",          // U+10000, the first 4-byte
      "\"\xf4\x8f\xbf\xbf\"",          // U+10FFFF, the last code point
      "\"\\\\n\"",                     // a backslash then 'n', not a newline
      "\"\\\\\""                       // one escaped backslash
  };
  return v;
}

const std::vector<std::string>& valid_structures() {
  static const std::vector<std::string> v = {"[]",
                                             "{}",
                                             "[1]",
                                             "[1,2,3]",
                                             "[[]]",
                                             "[{}]",
                                             "{\"a\":1}",
                                             "{\"a\":[]}",
                                             "{\"\":0}",
                                             "{\"a\":1,\"b\":2}",
                                             "{\"a\":1,\"a\":2}",
                                             "[1,\"a\",null,true,false,{},[],-0.5e1]",
                                             "{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
                                             "[[[[[[[[[[]]]]]]]]]]",
                                             " 1",
                                             "1 ",
                                             " 1 ",
                                             "\t1\t",
                                             "\r1\r",
                                             " \t\r 1 \r\t ",
                                             "[ ]",
                                             "{ }",
                                             " [ 1 , 2 ] ",
                                             "\t{\r\"a\"\t:\r1\t,\"b\" : [ ] }\r",
                                             "{\"a\" :1}",
                                             "{\"a\": 1}",
                                             "[\t]",
                                             "[\r]",
                                             "{\"\\u0000\":\"\\u0000\"}",
                                             "{\"\xc3\xa9\":\"\xe2\x82\xac\"}",
                                             "[\"\\ud800\",\"\\udc00\"]",
                                             "{\"__proto__\":{\"cmd\":\"NODE_X\"}}",
                                             "{\"constructor\":1,\"toString\":2}"};
  return v;
}

const std::vector<std::string>& invalid_texts() {
  static const std::vector<std::string> v = {
      // empty, only whitespace
      "", " ", "\t", "\r", " \t\r ",
      // whitespace JSON does not have
      "\f1", "\v1", "1\f", bytes({0xc2, 0xa0, '1'}), bytes({0xef, 0xbb, 0xbf, '1'}),
      bytes({0xe2, 0x80, 0xa8, '1'}), bytes({'[', 0xc2, 0xa0, ']'}),
      // trailing / missing / doubled commas
      "[1,]", "{\"a\":1,}", "[,1]", "[,]", "{,}", "[1,,2]", "{\"a\":1,,\"b\":2}", "[1 2]",
      "{\"a\":1 \"b\":2}", "1,2", "[1,2,]",
      // numbers
      "01", "-01", "00", "-00", "0123", "+1", "+0", ".5", "-.5", "1.", "-1.", "1.e5", "1e", "1e+",
      "1e-", "1E", "-", "--1", "-a", "1.5.5", "0x10", "0X10", "1_000", "1e5.5", "0.e1", "NaN",
      "-NaN", "Infinity", "-Infinity", "infinity", "1 .5", "- 1", "1e 5",
      // literals
      "tru", "True", "TRUE", "fals", "nul", "NULL", "undefined", "truex", "nullnull", "t",
      // strings
      "'a'", "\"abc", "\"", "\"\\\"", "\"\\", "abc", "\"a\"\"b\"", "\"\\x41\"", "\"\\U0041\"",
      "\"\\'\"", "\"\\a\"", "\"\\0\"", "\"\\u\"", "\"\\u1\"", "\"\\u12\"", "\"\\u123\"",
      "\"\\u12G4\"", "\"\\u-123\"", "\"\\u 123\"", "\"\\u{41}\"", "\"\\uD83D\\u\"",
      // raw control characters inside strings
      "\"a\tb\"", "\"\r\"", bytes({'"', 0x01, '"'}), bytes({'"', 0x1f, '"'}),
      bytes({'"', 0x00, '"'}), bytes({'"', 'a', 0x00, 'b', '"'}), bytes({'"', 0x08, '"'}),
      // containers
      "[", "]", "{", "}", "[1,2", "[1", "{\"a\":1", "{\"a\"", "{\"a\":", "{\"a\":}", "{a:1}",
      "{1:1}", "{\"a\"1}", "{\"a\"::1}", "{\"a\";1}", "{null:1}", "{[]:1}", "[}", "{]", "[1}",
      "{\"a\":1]", "[[]", "[]]", "{}}", "[1:2]", "{\"a\",1}",
      // more than one value
      "1 2", "{}{}", "[][]", "{} {}", "[] 1", "1 []", "\"a\" \"b\"", "true false", "1 x", "0 0",
      "{}x", "[]\t[]", "null,",
      // NUL bytes outside strings
      bytes({'1', 0x00}), bytes({0x00, '1'}), bytes({'[', 0x00, ']'}),
      // comments and other non-JSON
      "/* */1", "1//", "#1", "[1]/**/", "`a`", "{\"a\":1}\x1a"};
  return v;
}

// Raw newlines, refused everywhere: they frame messages. Kept out of the node corpus.
const std::vector<std::string>& newline_texts() {
  static const std::vector<std::string> v = {
      "\n",    "1\n",         "\n1",         "\n1\n",       "[1,\n2]",   "[\n]",
      "{\n}",  "{\"a\":\n1}", "{\"a\"\n:1}", "{\n\"a\":1}", "\"a\nb\"",  "\"\n\"",
      "1\r\n", "\r\n1",       "[1,2]\n",     "{\"a\":1}\n", "\"\\n\"\n", "\t\n\t\"x\""};
  return v;
}

// Invalid UTF-8, all inside string literals (the only place non-ASCII may appear).
const std::vector<std::string>& invalid_utf8() {
  static const std::vector<std::string> v = {
      quoted(bytes({0xc0, 0x80})),                          // overlong NUL
      quoted(bytes({0xc0, 0xaf})),                          // overlong '/'
      quoted(bytes({0xc1, 0xbf})),                          // overlong U+007F
      quoted(bytes({0xe0, 0x80, 0x80})),                    // overlong NUL, 3 bytes
      quoted(bytes({0xe0, 0x9f, 0xbf})),                    // overlong U+07FF
      quoted(bytes({0xf0, 0x80, 0x80, 0x80})),              // overlong NUL, 4 bytes
      quoted(bytes({0xf0, 0x8f, 0xbf, 0xbf})),              // overlong U+FFFF
      quoted(bytes({0xed, 0xa0, 0x80})),                    // U+D800, an encoded surrogate
      quoted(bytes({0xed, 0xbf, 0xbf})),                    // U+DFFF
      quoted(bytes({0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80})),  // CESU-8 pair for U+1F600
      quoted(bytes({0xf4, 0x90, 0x80, 0x80})),              // U+110000
      quoted(bytes({0xf7, 0xbf, 0xbf, 0xbf})),              // U+1FFFFF
      quoted(bytes({0xf5, 0x80, 0x80, 0x80})), quoted(bytes({0xf8, 0x88, 0x80, 0x80, 0x80})),
      quoted(bytes({0xfc, 0x84, 0x80, 0x80, 0x80, 0x80})), quoted(bytes({0xfe})),
      quoted(bytes({0xff})), quoted(bytes({0xfe, 0xff})), quoted(bytes({0xf5})),
      // truncated sequences, before the quote and at the end of the text
      quoted(bytes({0xc3})), quoted(bytes({0xe2, 0x82})), quoted(bytes({0xe2})),
      quoted(bytes({0xf0, 0x9f, 0x98})), quoted(bytes({0xf0, 0x9f})), quoted(bytes({0xf0})),
      bytes({'"', 0xc3}), bytes({'"', 0xe2, 0x82}), bytes({'"', 0xf0, 0x9f, 0x98}),
      // a lead byte followed by something that is not a continuation
      quoted(bytes({0xc3, 'A'})), quoted(bytes({0xc3, 0xc3, 0xa9})),
      quoted(bytes({0xe2, 0x28, 0xa1})), quoted(bytes({0xe2, 0x82, 0x28})),
      quoted(bytes({0xf0, 0x28, 0x8c, 0xbc})), quoted(bytes({0xf0, 0x90, 0x28, 0xbc})),
      quoted(bytes({0xf0, 0x9f, 0x98, 0x28})),
      // the sequence cut by the closing quote: its continuation would be the quote
      bytes({'"', 0xc3, '"', 0xa9, '"'}),
      // stray continuation bytes
      quoted(bytes({0x80})), quoted(bytes({0xbf})), quoted(bytes({'a', 0x80, 'b'})),
      quoted(bytes({0xc3, 0xa9, 0xa9})), quoted(bytes({0xe2, 0x82, 0xac, 0x80})),
      quoted(bytes({0x80, 0x80, 0x80, 0x80})),
      // non-ASCII outside a string
      bytes({0xc3, 0xa9}), bytes({'[', 0xc3, 0xa9, ']'}), bytes({'{', 0xc3, 0xa9, ':', '1', '}'}),
      bytes({'1', 0x80}), bytes({0xff}),
      // an invalid byte in an object key
      bytes({'{', '"', 0xff, '"', ':', '1', '}'})};
  return v;
}

struct InternalCase {
  std::string text;
  bool internal;  // rejected as one of Node's internal messages
};

const std::vector<InternalCase>& internal_cases() {
  static const std::vector<InternalCase> v = {
      {"{\"cmd\":\"NODE_X\"}", true},
      {"{\"cmd\":\"NODE_HANDLE\"}", true},
      {"{\"cmd\":\"NODE_HANDLE_ACK\"}", true},
      {"{\"cmd\":\"NODE_HANDLE_NACK\"}", true},
      {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"x\"}", true},
      {"{\"cmd\":\"NODE_\"}", false},  // needs more than the 5 characters of the prefix
      {"{\"cmd\":\"NODE\"}", false},
      {"{\"cmd\":\"NODE_ \"}", true},
      {"{\"cmd\":\"NODE__\"}", true},
      {"{\"cmd\":\"NOD\\u0045_X\"}", true},  // escapes are decoded first
      {"{\"cmd\":\"\\u004eODE_X\"}", true},
      {"{\"cmd\":\"NODE\\u005fX\"}", true},
      {"{\"cmd\":\"NODE_\\u0000\"}", true},  // one more UTF-16 unit, whatever it is
      {"{\"cmd\":\"NODE_\\ud800\"}", true},
      {"{\"cmd\":\"NODE_\\u00e9\"}", true},
      {"{\"cmd\":\"NODE_\xc3\xa9\"}", true},
      {"{\"cmd\":\"NODE_\xf0\x9f\x98\x80\"}", true},
      {"{\"cmd\":\"NODE_" + std::string(1000, 'x') + "\"}", true},
      {"{\"cmd\":\"node_x\"}", false},
      {"{\"cmd\":\"Node_X\"}", false},
      {"{\"cmd\":\" NODE_X\"}", false},
      {"{\"cmd\":\"XNODE_X\"}", false},
      {"{\"cmd\":\"NODEX\"}", false},
      {"{\"cmd\":\"user\"}", false},
      {"{\"cmd\":1}", false},
      {"{\"cmd\":null}", false},
      {"{\"cmd\":{\"cmd\":\"NODE_X\"}}", false},
      {"{\"cmd\":[\"NODE_X\"]}", false},
      {"{\"CMD\":\"NODE_X\"}", false},
      {"{\"Cmd\":\"NODE_X\"}", false},
      {"{\"cmd \":\"NODE_X\"}", false},
      {"{\" cmd\":\"NODE_X\"}", false},
      {"{\"cmdx\":\"NODE_X\"}", false},
      {"{\"cm\":\"NODE_X\"}", false},
      {"{\"cmd\\u0000\":\"NODE_X\"}", false},
      {"{\"\\u0063md\":\"NODE_X\"}", true},  // the key's escapes are decoded too
      {"{\"\\u0063\\u006d\\u0064\":\"NODE_X\"}", true},
      {"{\"c\\u006dd\":\"NODE_X\"}", true},
      {"{\"cmd\":\"NODE_X\",\"cmd\":\"user\"}", false},  // the last "cmd" wins, as in JSON.parse
      {"{\"cmd\":\"user\",\"cmd\":\"NODE_X\"}", true},
      {"{\"cmd\":\"NODE_X\",\"cmd\":1}", false},
      {"{\"cmd\":\"NODE_X\",\"cmd\":[]}", false},
      {"{\"cmd\":\"NODE_X\",\"cmd\":\"NODE_\"}", false},
      {"{\"cmd\":1,\"cmd\":\"NODE_X\"}", true},
      {"{\"a\":1,\"cmd\":\"NODE_X\"}", true},
      {"{\"cmd\":\"NODE_X\",\"a\":1}", true},
      {"{\"a\":[1,{\"cmd\":\"user\"}],\"cmd\":\"NODE_X\",\"b\":{}}", true},
      {"{\"cmd\":\"NODE_X\",\"a\":{\"cmd\":\"user\"}}", true},  // a nested "cmd" decides nothing
      {"{\"cmd\":\"user\",\"a\":{\"cmd\":\"NODE_X\"}}", false},
      {"{\"a\":{\"cmd\":\"NODE_X\"}}", false},
      {"{\"a\":[{\"cmd\":\"NODE_X\"}]}", false},
      {"[{\"cmd\":\"NODE_X\"}]", false},  // only a top-level object is a message object
      {"[\"cmd\",\"NODE_X\"]", false},
      {"\"NODE_X\"", false},
      {"{\"__proto__\":{\"cmd\":\"NODE_X\"}}", false},  // JSON.parse makes an own property
      {" \t{ \"cmd\" : \"NODE_X\" }\r ", true},
      {"{\"" + std::string(100, 'k') + "\":1,\"cmd\":\"NODE_X\"}", true},
      {"{\"cmd" + std::string(100, 'k') + "\":\"NODE_X\"}", false}};
  return v;
}

// ---------------------------------------------------------------------------------------
// An independent reference for UTF-8: decode, then check length, range and surrogates.

bool well_formed_utf8(std::string_view s) {
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

// Whether `body` (no backslash in it) is a valid string body: well-formed UTF-8 with no
// control character and no unescaped quote.
bool plain_body_ok(std::string_view body) {
  for (char ch : body) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\') return false;
  }
  return well_formed_utf8(body);
}

std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    s.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// The differential corpus.

std::string base64(std::string_view in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                            (static_cast<unsigned char>(in[i + 1]) << 8) |
                            static_cast<unsigned char>(in[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    const std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const std::uint32_t v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Seeds for the mutations: valid JSON covering every construct, and some internal messages.
const std::vector<std::string>& mutation_seeds() {
  static const std::vector<std::string> v = {
      "0",
      "-0.5e-3",
      "1e400",
      "123456789",
      "true",
      "null",
      "\"abc\"",
      "\"\\u0041\\ud800\\udc00\\n\\t\\\"\\\\\\/\"",
      "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"",
      "[]",
      "{}",
      "[1,2,3]",
      " [ -1.25E+7 , \"x\" , null , true , false ] ",
      "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
      "\t{\r\"k\" : [ {} , [ ] , \"\\u00e9\" ] }\r",
      "[[[[[[[[0]]]]]]]]",
      "{\"a\":{\"b\":{\"c\":{\"d\":[1,{\"e\":-0}]}}}}",
      "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"x\"}",
      "{\"cmd\":\"NODE_X\"}",
      "{\"cmd\":\"NODE_\"}",
      "{\"cmd\":\"NODE_X\",\"cmd\":\"user\"}",
      "{\"cmd\":\"user\",\"cmd\":\"NODE_X\"}",
      "{\"a\":{\"cmd\":\"NODE_X\"}}",
      "{\"\\u0063md\":\"NOD\\u0045_X\"}",
      "[{\"cmd\":\"NODE_X\"}]",
      "{\"cmd\":[\"NODE_X\"]}",
      "{\"cmd\":\"NODE_\xc3\xa9\"}",
      "{\"__proto__\":{\"cmd\":\"NODE_X\"}}",
      "[\"\xe2\x80\xa8\",\"\xef\xbb\xbf\",\"\x7f\"]",
      "{\"n\":[0,-0,0.0,1e1,1E-1,-12.34e+56]}"};
  return v;
}

// Deterministic everywhere: mt19937's output is fixed by the standard, and only its raw
// output is used (the distributions are not portable).
class Mutator {
public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}

  std::string mutate(std::string s) {
    const std::size_t rounds = 1 + pick(3);
    for (std::size_t r = 0; r < rounds; ++r)
      once(s);
    return s;
  }

private:
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : rng_() % n; }

  // Bytes that matter to the grammar or to UTF-8, or any byte but a newline.
  char some_byte() {
    static const unsigned char interesting[] = {
        '"',  '\\', ',',  ':',  '[',  ']',  '{',  '}',  '0',  '1',  '9',  '-',  '+',  '.',
        'e',  'E',  'u',  'n',  't',  'f',  ' ',  '\t', '\r', 0x00, 0x01, 0x1f, 0x7f, 0x80,
        0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    if (pick(3) != 0) return static_cast<char>(interesting[pick(sizeof interesting)]);
    char c;
    do {
      c = static_cast<char>(pick(256));
    } while (c == '\n');
    return c;
  }

  std::string some_sequence() {
    static const std::vector<std::string> seqs = {"\xc3\xa9",
                                                  "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80",
                                                  "\xf4\x8f\xbf\xbf",
                                                  "\xef\xbb\xbf",
                                                  bytes({0xc0, 0x80}),
                                                  bytes({0xe0, 0x80, 0x80}),
                                                  bytes({0xed, 0xa0, 0x80}),
                                                  bytes({0xf4, 0x90, 0x80, 0x80}),
                                                  bytes({0xf0, 0x9f}),
                                                  "\\u",
                                                  "\\ud800",
                                                  "\\u00",
                                                  "\\x",
                                                  "\\",
                                                  "\"NODE_X\"",
                                                  "\"cmd\":",
                                                  "1e",
                                                  "-0",
                                                  "0.",
                                                  ",",
                                                  "[",
                                                  "{",
                                                  "}",
                                                  "]"};
    return seqs[pick(seqs.size())];
  }

  void once(std::string& s) {
    const std::size_t at = pick(s.size() + 1);
    switch (pick(9)) {
      case 0:  // flip one bit (never into or out of a newline: those are not compared)
        if (!s.empty()) {
          const std::size_t i = pick(s.size());
          const char c = static_cast<char>(s[i] ^ (1 << pick(8)));
          if (c != '\n') s[i] = c;
        }
        break;
      case 1:  // replace a byte
        if (!s.empty()) s[pick(s.size())] = some_byte();
        break;
      case 2:  // delete a byte
        if (!s.empty()) s.erase(pick(s.size()), 1);
        break;
      case 3:  // insert one to three bytes
        for (std::size_t n = 1 + pick(3); n > 0; --n)
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(std::min(at, s.size())), some_byte());
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      case 5:  // insert a whole (valid or invalid) sequence
        s.insert(std::min(at, s.size()), some_sequence());
        break;
      case 6: {  // duplicate a slice
        if (s.empty()) break;
        const std::size_t from = pick(s.size());
        const std::size_t len = 1 + pick(std::min<std::size_t>(8, s.size() - from));
        s.insert(std::min(at, s.size()), s.substr(from, len));
        break;
      }
      case 7: {  // insert whitespace: fine between tokens, not inside them
        static const char space[] = {' ', '\t', '\r'};
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), space[pick(3)]);
        break;
      }
      default:  // swap two bytes
        if (s.size() >= 2) {
          const std::size_t i = pick(s.size());
          const std::size_t j = pick(s.size());
          std::swap(s[i], s[j]);
        }
        break;
    }
  }

  std::mt19937 rng_;
};

std::vector<std::string> make_corpus() {
  std::vector<std::string> corpus;
  for (const auto* table : {&valid_scalars(), &valid_structures(), &invalid_texts(),
                            &invalid_utf8(), &mutation_seeds()}) {
    corpus.insert(corpus.end(), table->begin(), table->end());
  }
  for (const auto& c : internal_cases())
    corpus.push_back(c.text);
  // Deep nesting: node's parser is iterative too.
  constexpr std::size_t kDeep = 100000;
  corpus.push_back(std::string(kDeep, '[') + std::string(kDeep, ']'));
  corpus.push_back(std::string(kDeep, '['));
  corpus.push_back(std::string(kDeep, '[') + std::string(kDeep - 1, ']'));
  {
    std::string s;
    for (std::size_t i = 0; i < 1000; ++i)
      s += "{\"a\":[";
    s += "0";
    for (std::size_t i = 0; i < 1000; ++i)
      s += "]}";
    corpus.push_back(s);
    corpus.push_back(s.substr(0, s.size() - 1));
  }
  // Every control byte and every byte >= 0x80 alone in a string and alone at top level.
  for (int b = 0; b < 256; ++b) {
    if (b == '\n') continue;
    corpus.push_back(quoted(bytes({b})));
    corpus.push_back(bytes({b}));
    corpus.push_back("\"\\" + bytes({b}) + "\"");
  }
  Mutator m(20240601);
  for (std::size_t round = 0; round < 100; ++round) {
    for (const auto& seed : mutation_seeds())
      corpus.push_back(m.mutate(seed));
  }
  return corpus;
}

// Prints one verdict per corpus line: A (JSON.parse accepts the bytes decoded as strict
// UTF-8), I (it accepts them, and Node would take the value for an internal message:
// its isInternal()), R (invalid UTF-8 or JSON.parse throws). ignoreBOM keeps a leading
// U+FEFF as text, as Node's channel does (its StringDecoder strips nothing); without it
// TextDecoder would drop it and JSON.parse would accept "\uFEFF1".
constexpr const char* kVerdictScript = R"JS('use strict';
const fs = require('fs');
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isInternal = (m) => m !== null && typeof m === 'object' && typeof m.cmd === 'string' &&
  m.cmd.length > 'NODE_'.length && m.cmd.startsWith('NODE_');
let out = '';
for (const line of fs.readFileSync(process.argv[2], 'latin1').split('\n')) {
  if (!line.startsWith('b:')) continue;
  const raw = Buffer.from(line.slice(2), 'base64');
  let text;
  try {
    text = decoder.decode(raw);
  } catch (e) {
    out += 'R';
    continue;
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    out += 'R';
    continue;
  }
  out += isInternal(value) ? 'I' : 'A';
}
process.stdout.write(out + '\n');
)JS";

}  // namespace

// ---------------------------------------------------------------------------------------

TEST_CASE("check_message: every kind of valid value is accepted", "[json]") {
  SECTION("scalars at top level") {
    for (const auto& s : valid_scalars())
      expect_ok(s);
  }
  SECTION("containers, nesting and whitespace") {
    for (const auto& s : valid_structures())
      expect_ok(s);
  }
  SECTION("scalars nested in arrays and objects, with whitespace around") {
    for (const auto& s : valid_scalars()) {
      expect_ok("[" + s + "]");
      expect_ok(" [ " + s + " , " + s + " ] ");
      expect_ok("{\"k\":" + s + "}");
      expect_ok("{\t\"k\"\r:\t" + s + "\r}");
      expect_ok("[[{\"a\":[" + s + "]}]," + s + "]");
      expect_ok("\t\r " + s + " \r\t");
    }
  }
  SECTION("string scalars are valid keys") {
    for (const auto& s : valid_scalars()) {
      if (s.front() == '"') expect_ok("{" + s + ":" + s + "}");
    }
  }
}

TEST_CASE("check_message: malformed JSON is refused", "[json]") {
  SECTION("the table") {
    for (const auto& s : invalid_texts())
      expect_bad(s);
  }
  SECTION("the table, nested in an array and as an object member") {
    for (const auto& s : invalid_texts()) {
      // Empty or blank texts become valid containers; they are covered above.
      if (s.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (s != "1,2") expect_bad("[" + s + "]");  // "[1,2]" is fine
      expect_bad("{\"k\":" + s + "}");
    }
  }
  SECTION("every valid value cut short") {
    for (const auto* table : {&valid_scalars(), &valid_structures()}) {
      for (const auto& s : *table) {
        // A number cut short is mostly still a number ("123" -> "12"): not these.
        const std::size_t first = s.find_first_not_of(" \t\r");
        if (first == std::string::npos ||
            std::string_view("[{\"tfn").find(s[first]) == std::string_view::npos) {
          continue;
        }
        const std::size_t end = s.find_last_not_of(" \t\r") + 1;
        INFO("cut from " << show(s));
        for (std::size_t n = 0; n < end; ++n)
          expect_bad(s.substr(0, n));
      }
    }
  }
}

TEST_CASE("check_message: a raw newline byte is refused anywhere", "[json]") {
  for (const auto& s : newline_texts())
    expect_bad(s);
  // Inserted at every position of valid texts, also where JSON allows whitespace.
  for (const auto* table : {&valid_scalars(), &valid_structures()}) {
    for (const auto& s : *table) {
      for (std::size_t i = 0; i <= s.size(); ++i) {
        std::string t = s;
        t.insert(i, 1, '\n');
        expect_bad(t);
      }
    }
  }
  // The escape is fine; only the byte is not.
  expect_ok("\"a\\nb\"");
  expect_ok("\"\\u000a\"");
  expect_ok("\"\\u000A\"");
}

TEST_CASE("check_message: invalid UTF-8 is refused", "[json][utf8]") {
  for (const auto& s : invalid_utf8())
    expect_bad(s);
  // The same bytes inside a valid document are no better.
  for (const auto& s : invalid_utf8()) {
    if (s.front() != '"' || s.back() != '"' || s.size() < 2) continue;
    expect_bad("{\"k\":[1," + s + ",2]}");
    expect_bad("{" + s + ":1}");
  }
}

TEST_CASE("check_message: every code point encodes to an accepted string", "[json][utf8]") {
  std::size_t wrong = 0;
  std::string first_wrong;
  for (std::uint32_t cp = 0; cp <= 0x10ffff; ++cp) {
    const bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    // Surrogates are not scalar values: their 3-byte forms (ED A0..BF xx) must fail.
    const bool expect = !surrogate && cp >= 0x20 && cp != '"' && cp != '\\' && cp != '\n';
    const std::string s = quoted(utf8(cp));
    if (accepted(s) != expect) {
      if (wrong++ == 0) first_wrong = show(s);
    }
  }
  INFO("first wrong verdict: " << first_wrong);
  CHECK(wrong == 0);
}

TEST_CASE("check_message: one byte in a string, escaped or not, and at top level", "[json]") {
  for (int b = 0; b < 256; ++b) {
    INFO("byte " << b);
    const auto c = static_cast<unsigned char>(b);
    // Raw inside quotes: printable ASCII except the quote and the backslash.
    CHECK(accepted(quoted(bytes({b}))) == (c >= 0x20 && c < 0x80 && c != '"' && c != '\\'));
    // After a backslash: the eight one-character escapes.
    CHECK(accepted("\"\\" + bytes({b}) + "\"") ==
          (std::string_view("\"\\/bfnrt").find(static_cast<char>(c)) != std::string_view::npos));
    // Alone: only a digit is a JSON text of one byte.
    CHECK(accepted(bytes({b})) == (c >= '0' && c <= '9'));
    // \u with this byte in each hex position.
    const bool hex = std::isxdigit(c) != 0;
    for (int pos = 0; pos < 4; ++pos) {
      std::string esc = "\"\\u0000\"";
      esc[3 + static_cast<std::size_t>(pos)] = static_cast<char>(c);
      CHECK(accepted(esc) == hex);
    }
  }
}

TEST_CASE("check_message: 2-, 3- and 4-byte sequences against a reference decoder",
          "[json][utf8]") {
  std::size_t wrong = 0, checked = 0;
  std::string first_wrong;
  auto compare = [&](const std::string& body) {
    ++checked;
    const std::string s = quoted(body);
    if (accepted(s) != plain_body_ok(body) && wrong++ == 0) first_wrong = show(s);
  };
  // Values at the edges of the continuation ranges (80..BF, and E0's A0.., ED's ..9F,
  // F0's 90.., F4's ..8F), and a few that are nothing like a continuation.
  static const std::vector<int> edge = {0x00, 0x20, 0x7f, 0x80, 0x8f, 0x90,
                                        0x9f, 0xa0, 0xbf, 0xc0, 0xff};
  const auto is_edge = [](int b) { return std::find(edge.begin(), edge.end(), b) != edge.end(); };
  std::vector<int> all;
  for (int b = 0; b < 0x100; ++b) {
    if (b != '\n') all.push_back(b);
  }
  for (int a = 0x80; a < 0x100; ++a) {
    for (int b : all) {
      compare(bytes({a, b}));
      // 3-byte leads: every third byte after an edge second byte, edges after the rest.
      if (a < 0xe0 || a > 0xef) continue;
      for (int c : is_edge(b) ? all : edge)
        compare(bytes({a, b, c}));
    }
  }
  // 4-byte leads (and the invalid F5..FF) with every second byte and edges after.
  for (int a = 0xf0; a < 0x100; ++a) {
    for (int b : all) {
      for (int c : edge) {
        for (int d : edge)
          compare(bytes({a, b, c, d}));
      }
    }
  }
  INFO("first wrong verdict: " << first_wrong);
  CHECK(checked > 500000);
  CHECK(wrong == 0);
}

TEST_CASE("check_message: deep nesting costs no stack", "[json]") {
  // 100000 levels would overflow a recursive parser's stack (and ASan's sooner).
  for (const std::size_t depth : {std::size_t{100000}, std::size_t{1000000}}) {
    INFO("depth " << depth);
    const std::string open(depth, '['), close(depth, ']');
    CHECK(verdict(open + close) == "accepted");
    CHECK(verdict(" " + open + "1" + close + " ") == "accepted");
    CHECK_FALSE(accepted(open));
    CHECK_FALSE(accepted(open + std::string(depth - 1, ']')));
    CHECK_FALSE(accepted(open + close + "]"));
    CHECK_FALSE(accepted(open + "1," + close));
    CHECK_FALSE(accepted(open + std::string(depth - 1, ']') + "}"));
    CHECK_FALSE(accepted(open + close + "\n"));
    if (depth > 100000) continue;  // the rest at one depth (it is slow under ASan)

    std::string objects;
    objects.reserve(depth * 6 + 2);
    for (std::size_t i = 0; i < depth; ++i)
      objects += "{\"a\":";
    objects += "null";
    CHECK_FALSE(accepted(objects));
    objects += std::string(depth, '}');
    CHECK(verdict(objects) == "accepted");
    CHECK_FALSE(accepted(objects + "}"));
    // The internal rule looks at the top level only, however deep the rest goes.
    CHECK(verdict("{\"x\":" + objects + ",\"cmd\":\"user\"}") == "accepted");
    CHECK_FALSE(accepted("{\"x\":" + objects + ",\"cmd\":\"NODE_X\"}"));
    CHECK(verdict("{\"cmd\":" + open + "\"NODE_X\"" + close + "}") == "accepted");
  }
}

TEST_CASE("check_message: large values", "[json]") {
  std::string body;
  for (std::size_t i = 0; body.size() < 4 * 1024 * 1024; ++i) {
    body += "abc\\\"\\u00e9\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ";
    body += std::to_string(i);
  }
  const std::string big = quoted(body);
  CHECK(verdict(big) == "accepted");
  CHECK(verdict("[" + big + "," + big + "]") == "accepted");
  // One bad byte at the very end of a long text is still found.
  CHECK_FALSE(accepted(quoted(body + bytes({0xff}))));
  CHECK_FALSE(accepted(quoted(body + "\x01")));
  CHECK_FALSE(accepted(big + " 1"));
  std::string digits(1000000, '7');
  CHECK(verdict(digits) == "accepted");
  CHECK(verdict("-" + digits + "." + digits + "e-" + digits) == "accepted");
  CHECK_FALSE(accepted("0" + digits));
}

TEST_CASE("check_message: Node's internal messages are refused", "[json][internal]") {
  for (const auto& c : internal_cases()) {
    INFO("message: " << show(c.text));
    const auto why = check_message(c.text);
    if (c.internal) {
      REQUIRE(why.has_value());
      CHECK_THAT(*why, Catch::Contains("NODE_"));
    } else {
      CHECK(verdict(c.text) == "accepted");
    }
  }
}

TEST_CASE("check_message: the reason names the problem", "[json]") {
  // Not a promise about exact wording: just that each kind gets its own, non-empty reason.
  const std::vector<std::string> texts = {"",
                                          " ",
                                          "[1,]",
                                          "\"a",
                                          "1 2",
                                          "\"\x01\"",
                                          "1\n",
                                          quoted(bytes({0xff})),
                                          "{\"cmd\":\"NODE_X\"}"};
  std::vector<std::string> reasons;
  for (const auto& t : texts) {
    INFO("message: " << show(t));
    const auto why = check_message(t);
    REQUIRE(why.has_value());
    CHECK(why->size() > 5);
    reasons.push_back(*why);
  }
  std::sort(reasons.begin(), reasons.end());
  CHECK(std::adjacent_find(reasons.begin(), reasons.end()) == reasons.end());
}

TEST_CASE_METHOD(LoopFixture, "check_message accepts exactly what node's JSON.parse accepts",
                 "[json][node]") {
  const std::string node = NODE_BIN;
  if (node.empty()) {
    WARN("node not found: the differential test against JSON.parse is skipped");
    return;
  }
  const std::vector<std::string> corpus = make_corpus();
  TempDir dir;
  std::string lines;
  for (const auto& s : corpus)
    lines += "b:" + base64(s) + "\n";
  const std::string corpus_file = dir.write_file("corpus.txt", lines);
  const std::string script = dir.write_file("verdicts.js", kVerdictScript);

  auto child = track(childproc::spawn(loop(), node, {script, corpus_file}));
  std::string out, err;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { out.append(e.chunk); });
  child->std_err()->on<DataEvent>([&](const DataEvent& e) { err.append(e.chunk); });
  EventLog log;
  log.attach(*child);
  run(60s);

  INFO("node's stderr: " << err);
  REQUIRE(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
  REQUIRE(out.size() == corpus.size() + 1);
  REQUIRE(out.back() == '\n');

  std::size_t compared = 0, skipped = 0, wrong = 0;
  std::size_t counts[3] = {0, 0, 0};  // A, R, I
  std::ostringstream report;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const std::string& s = corpus[i];
    const char node_says = out[i];
    const auto why = check_message(s);
    if (s.find('\n') != std::string::npos) {
      // Not comparable (JSON.parse takes a newline as whitespace); always refused here.
      ++skipped;
      if (!why) {
        ++wrong;
        report << "  #" << i << " " << show(s) << ": has a newline but was accepted\n";
      }
      continue;
    }
    ++compared;
    bool ok = false;
    switch (node_says) {
      case 'A':
        ++counts[0];
        ok = !why.has_value();
        break;
      case 'R':
        ++counts[1];
        ok = why.has_value();
        break;
      case 'I':
        // Valid JSON that Node keeps for itself: refused, for that reason.
        ++counts[2];
        ok = why.has_value() && why->find("NODE_") != std::string::npos;
        break;
      default:
        report << "  #" << i << ": node printed '" << node_says << "'\n";
        break;
    }
    if (!ok) {
      if (++wrong <= 25) {
        report << "  #" << i << " " << show(s) << ": JSON.parse "
               << (node_says == 'A'   ? "accepts"
                   : node_says == 'I' ? "accepts (internal)"
                                      : "rejects")
               << ", check_message: " << (why ? "rejected: " + *why : "accepted") << "\n";
      }
    }
  }
  INFO(compared << " compared (" << counts[0] << " accepted, " << counts[1] << " rejected, "
                << counts[2] << " internal), " << skipped << " with a newline; " << wrong
                << " disagreements:\n"
                << report.str());
  CHECK(wrong == 0);
  // The corpus must exercise both answers (and the internal rule), or it proves little.
  CHECK(corpus.size() > 3000);
  CHECK(counts[0] > 500);
  CHECK(counts[1] > 1500);
  CHECK(counts[2] > 20);
}
