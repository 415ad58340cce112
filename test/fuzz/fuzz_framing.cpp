// libFuzzer target: LineFramer (lib/line_framer.hpp), which cuts what a peer writes to
// the IPC pipe into lines, fed the way a pipe delivers bytes: in chunks of any size.
// Every line it delivers then goes through scan_json(), as in Channel::consume(), and
// is compared with the recursive reference of json_reference.hpp.
//
// The input is a small header, then the stream:
//   byte 0   max_line = byte % 65 (small, so that the overflow path is common)
//   byte 1   bits 0-2: on_line returns false on every Nth line (0: never)
//            bit 3: chunks may change max_line; bit 4: chunks may clear() first
//            bits 5-7: number of chunk specs - 1
//   specs    per chunk, cycled: bits 0-5 its length (0: an empty feed), bit 6 clear()
//            before it, bit 7 set_max_line() before it
//   rest     the bytes fed
//
// Two references: a byte-at-a-time model of the documented behaviour, compared after
// every feed (the events it caused, pending(), skipping()); and, when no chunk stops,
// clears or changes the limit, the plain definition on the whole stream: the lines
// delivered are exactly its '\n'-separated lines no longer than max_line, each longer
// one is reported once, and what is pending is the unfinished tail.
#include "json.hpp"
#include "json_reference.hpp"
#include "line_framer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using childproc::detail::LineFramer;
using childproc::detail::scan_json;
using fuzzref::JsonReference;
using fuzzref::Status;

namespace {

[[noreturn]] void fail(const char* what, int line) {
  std::fprintf(stderr, "fuzz_framing: check failed at line %d: %s\n", line, what);
  __builtin_trap();
}

#define FUZZ_CHECK(cond)                \
  do {                                  \
    if (!(cond)) fail(#cond, __LINE__); \
  } while (0)

struct Event {
  bool overflow = false;
  std::string line;       // a delivered line
  std::size_t bytes = 0;  // an overflow's count
  bool operator==(const Event&) const = default;
};

struct Chunk {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool clear_before = false;
  bool set_max_before = false;
  std::size_t max = 0;  // in effect while this chunk is fed
};

// The framer's documented behaviour, one byte at a time: a line is checked against the
// limit where a feed ends and where its newline comes (the framer looks at most once per
// line per feed), reported when it is over, and then only counted up to its newline.
class Model {
public:
  explicit Model(std::size_t max) : max_(max) {}

  void clear() {
    line_.clear();
    length_ = 0;
    over_ = false;
  }
  void set_max(std::size_t max) { max_ = max; }

  // The events of one feed; `stop(n)` says whether on_line returns false for the nth
  // delivered line (1-based, over the whole run).
  template <class Stop>
  std::vector<Event> feed(std::string_view chunk, Stop&& stop) {
    std::vector<Event> events;
    // An empty feed is no look at the line: a limit lowered since is noticed next time.
    if (chunk.empty()) return events;
    for (char c : chunk) {
      if (c != '\n') {
        ++length_;
        if (!over_) line_.push_back(c);
        continue;
      }
      limit(events);
      const bool deliver = !over_;
      if (deliver) events.push_back(Event{false, line_, 0});
      clear();
      if (deliver && stop(++delivered_)) return events;  // the rest of the chunk is dropped
    }
    limit(events);
    return events;
  }

  std::size_t pending() const { return length_; }
  bool skipping() const { return over_; }

private:
  void limit(std::vector<Event>& events) {
    if (over_ || length_ <= max_) return;
    over_ = true;
    line_.clear();
    events.push_back(Event{true, {}, length_});
  }

  std::size_t max_;
  std::string line_;
  std::size_t length_ = 0;  // of the current line, also while over the limit
  bool over_ = false;
  std::size_t delivered_ = 0;
};

// A delivered line is one IPC message: check scan_json on it the way fuzz_json does.
void check_json(std::string_view line) {
  const auto scan = scan_json(line);
  const auto ref = JsonReference::check(line);
  if (ref.status == Status::kTooDeep) return;
  FUZZ_CHECK((ref.status == Status::kOk) == (scan.error == nullptr));
  if (scan.error == nullptr) {
    FUZZ_CHECK(scan.internal == ref.internal);
    FUZZ_CHECK(scan.node_handle == ref.node_handle);
  } else {
    FUZZ_CHECK(scan.at <= line.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t max0 = data[0] % 65;
  const unsigned flags = data[1];
  const unsigned stop_every = flags & 7;
  const bool vary_max = (flags & 8) != 0;
  const bool clears = (flags & 16) != 0;
  const std::size_t nspec = 1 + ((flags >> 5) & 7);
  if (size < 2 + nspec) return 0;
  const std::uint8_t* spec = data + 2;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2 + nspec), size - 2 - nspec);

  // The chunk plan. A run of empty feeds as long as the spec list means every spec is
  // empty: then the rest goes in one chunk, so the plan always ends.
  std::vector<Chunk> chunks;
  std::size_t max = max0;
  for (std::size_t pos = 0, k = 0, empty_run = 0; pos < stream.size(); ++k) {
    const std::uint8_t s = spec[k % nspec];
    std::size_t len = s & 0x3f;
    if (len == 0 && ++empty_run > nspec) len = stream.size() - pos;
    if (len != 0) empty_run = 0;
    len = std::min(len, stream.size() - pos);
    Chunk c{pos, pos + len, clears && (s & 0x40) != 0, vary_max && (s & 0x80) != 0, max};
    if (c.set_max_before) c.max = max = (max0 + 7u * s) % 65;
    chunks.push_back(c);
    pos += len;
  }

  auto stop = [&](std::size_t nth) { return stop_every != 0 && nth % stop_every == 0; };
  LineFramer framer(max0);
  Model model(max0);
  std::vector<Event> all;  // everything the framer did, for the whole-stream check
  std::size_t delivered = 0;
  for (const Chunk& c : chunks) {
    if (c.clear_before) {
      framer.clear();
      model.clear();
      FUZZ_CHECK(framer.pending() == 0 && !framer.skipping());
    }
    if (c.set_max_before) {
      framer.set_max_line(c.max);
      model.set_max(c.max);
    }
    FUZZ_CHECK(framer.max_line() == c.max);

    // Its own allocation, so that ASan sees a read past the end of the chunk.
    const std::size_t len = c.end - c.begin;
    auto buf = std::make_unique<char[]>(len);
    std::copy(stream.begin() + static_cast<std::ptrdiff_t>(c.begin),
              stream.begin() + static_cast<std::ptrdiff_t>(c.end), buf.get());
    std::vector<Event> got;
    bool stopped = false;
    framer.feed(
        std::string_view(buf.get(), len),
        [&](std::string_view line) {
          FUZZ_CHECK(!stopped);  // nothing after on_line said stop
          FUZZ_CHECK(line.size() <= c.max);
          FUZZ_CHECK(line.find('\n') == std::string_view::npos);
          got.push_back(Event{false, std::string(line), 0});
          check_json(line);
          stopped = stop(++delivered);
          return !stopped;
        },
        [&](std::size_t bytes) {
          FUZZ_CHECK(!stopped);
          FUZZ_CHECK(bytes > c.max);
          got.push_back(Event{true, {}, bytes});
        });
    const std::vector<Event> want = model.feed(std::string_view(buf.get(), len), stop);
    FUZZ_CHECK(got == want);
    FUZZ_CHECK(framer.pending() == model.pending());
    FUZZ_CHECK(framer.skipping() == model.skipping());
    if (stopped) FUZZ_CHECK(framer.pending() == 0 && !framer.skipping());
    all.insert(all.end(), got.begin(), got.end());
  }

  // The plain definition, on the whole stream at once (only when nothing but the chunk
  // sizes differs from one long read).
  bool plain = stop_every == 0;
  for (const Chunk& c : chunks)
    plain = plain && !c.clear_before && !c.set_max_before;
  if (plain) {
    std::vector<std::string_view> lines;  // finished ones
    std::size_t start = 0;
    for (std::size_t nl; (nl = stream.find('\n', start)) != std::string_view::npos;
         start = nl + 1) {
      lines.push_back(stream.substr(start, nl - start));
    }
    const std::string_view tail = stream.substr(start);
    std::size_t next = 0;  // in `all`
    for (std::string_view line : lines) {
      FUZZ_CHECK(next < all.size());
      const Event& e = all[next++];
      if (line.size() <= max0) {
        FUZZ_CHECK(!e.overflow && e.line == line);
      } else {
        // Reported once, somewhere between passing the limit and the newline.
        FUZZ_CHECK(e.overflow && e.bytes > max0 && e.bytes <= line.size());
      }
    }
    if (tail.size() > max0) {
      FUZZ_CHECK(next < all.size());
      const Event& e = all[next++];
      FUZZ_CHECK(e.overflow && e.bytes > max0 && e.bytes <= tail.size());
    }
    FUZZ_CHECK(next == all.size());  // nothing delivered or reported twice
    FUZZ_CHECK(framer.pending() == tail.size());
    FUZZ_CHECK(framer.skipping() == (tail.size() > max0));
  }

  // After clear() the framer starts from nothing, whatever it held.
  framer.clear();
  FUZZ_CHECK(framer.pending() == 0 && !framer.skipping());
  return 0;
}
