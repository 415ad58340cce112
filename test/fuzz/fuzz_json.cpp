// libFuzzer target: scan_json() (lib/json.cpp), the validator every IPC line from a peer
// goes through, against the recursive reference in json_reference.hpp. Not just "does
// not crash": the verdict, the internal-message flags and the error offset must agree
// with the reference, and a few rewrites of a valid text must keep its verdict.
//
// check_message() (lib/ipc.cpp) is not called: it is refusal(scan_json()), and linking
// it would pull in the whole library and libuv for no extra coverage of the parser.
#include "json.hpp"
#include "json_reference.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

using childproc::detail::JsonScan;
using childproc::detail::scan_json;
using fuzzref::JsonReference;
using fuzzref::Status;

namespace {

// Prints what disagreed before trapping: libFuzzer saves the input, this says why.
[[noreturn]] void fail(const char* what, std::string_view text, const JsonScan& scan) {
  std::fprintf(stderr, "fuzz_json: %s\n  scan_json: %s at %zu, internal=%d node_handle=%d\n", what,
               scan.error ? scan.error : "(valid)", scan.at, scan.internal, scan.node_handle);
  std::fprintf(stderr, "  input (%zu bytes):", text.size());
  for (std::size_t i = 0; i < text.size() && i < 256; ++i)
    std::fprintf(stderr, " %02x", static_cast<unsigned char>(text[i]));
  std::fprintf(stderr, "\n");
  __builtin_trap();
}

#define FUZZ_CHECK(cond, text, scan)      \
  do {                                    \
    if (!(cond)) fail(#cond, text, scan); \
  } while (0)

// scan_json on a copy in its own allocation, so that ASan sees any read past the end of
// this text (not just past the end of the fuzzer's buffer).
JsonScan scan_exact(std::string_view text) {
  const auto copy = std::make_unique<char[]>(text.size());
  std::copy(text.begin(), text.end(), copy.get());
  return scan_json(std::string_view(copy.get(), text.size()));
}

void check_invariants(std::string_view text, const JsonScan& scan) {
  if (scan.error != nullptr) {
    FUZZ_CHECK(scan.error[0] != '\0', text, scan);
    FUZZ_CHECK(scan.at <= text.size(), text, scan);
    // A refused text is no message at all, internal or not.
    FUZZ_CHECK(!scan.internal && !scan.node_handle, text, scan);
  } else {
    FUZZ_CHECK(!scan.node_handle || scan.internal, text, scan);
    // The byte that frames messages can never be inside one.
    FUZZ_CHECK(text.find('\n') == std::string_view::npos, text, scan);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const JsonScan scan = scan_json(text);
  check_invariants(text, scan);

  const auto ref = JsonReference::check(text);
  if (ref.status == Status::kTooDeep) return 0;

  const bool valid = ref.status == Status::kOk;
  FUZZ_CHECK(valid == (scan.error == nullptr), text, scan);
  if (valid) {
    FUZZ_CHECK(scan.internal == ref.internal, text, scan);
    FUZZ_CHECK(scan.node_handle == ref.node_handle, text, scan);

    // Whitespace around the value changes nothing, and inside an array the value is no
    // longer a top-level object, so it is never internal.
    const JsonScan spaced = scan_exact(" \t\r" + std::string(text) + "\r\t ");
    FUZZ_CHECK(spaced.error == nullptr && spaced.internal == scan.internal &&
                   spaced.node_handle == scan.node_handle,
               text, spaced);
    const JsonScan wrapped = scan_exact("[" + std::string(text) + "]");
    FUZZ_CHECK(wrapped.error == nullptr && !wrapped.internal && !wrapped.node_handle, text,
               wrapped);
  } else {
    // The reported offset is never past the first real problem: everything before it
    // must still be the start of some valid text. (It may point earlier, at the start
    // of the literal or UTF-8 sequence that went wrong.)
    const auto before = JsonReference::check(text.substr(0, scan.at));
    FUZZ_CHECK(before.status == Status::kOk || before.status == Status::kEof ||
                   before.status == Status::kTooDeep,
               text, scan);
  }
  return 0;
}
