// Validation and framing facts about one IPC message: is it exactly one JSON value
// that can travel as one line, and is it one of Node's internal messages?
#pragma once

#include <cstddef>
#include <string_view>

namespace childproc::detail {

struct JsonScan {
  /// Empty when the text is one valid JSON value; else what is wrong.
  const char* error = nullptr;
  /// Byte offset of the problem.
  std::size_t at = 0;
  /// A top-level object whose (last) "cmd" is a string "NODE_" plus at least one
  /// character: Node's internal message, never delivered to users.
  bool internal = false;
  /// That "cmd" is exactly "NODE_HANDLE": the peer waits for an ACK or NACK.
  bool node_handle = false;
};

/// One pass over `text`: RFC 8259 grammar, UTF-8 (no overlongs, surrogates or values
/// past U+10FFFF), no byte 0x0A anywhere (it frames messages). Iterative, so nesting
/// depth costs heap, not stack.
JsonScan scan_json(std::string_view text);

}  // namespace childproc::detail
