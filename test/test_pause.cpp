// pause()/resume(): real backpressure. While paused no DataEvent is emitted and the
// child blocks on the full pipe; after resume every byte arrives and the child exits.
#include "support.hpp"

using namespace cptest;
using childproc::DataEvent;
using childproc::EndEvent;
using childproc::ExitEvent;
using childproc::SpawnEvent;

namespace {
constexpr std::size_t kMiB = 1024 * 1024;
// Only a "nothing happened" window: the test never waits for something to happen this way.
constexpr auto kQuietWindow = 200ms;
}  // namespace

TEST_CASE_METHOD(LoopFixture, "paused from the start: no data, the child blocks; resume",
                 "[pause]") {
  auto child = spawn_helper({"out", std::to_string(kMiB)});
  auto out = child->std_out();
  out->pause();
  CHECK(out->paused());
  PatternChecker data;
  int chunks_while_paused = 0;
  bool resumed = false;
  bool exited = false;
  bool exited_while_paused = false;
  out->on<DataEvent>([&](const DataEvent& e) {
    if (!resumed) ++chunks_while_paused;
    data.feed(e.chunk);
  });
  int ends = 0;
  out->on<EndEvent>([&](const EndEvent&) { ++ends; });
  child->on<ExitEvent>([&](const ExitEvent& e) {
    exited = true;
    if (!resumed) exited_while_paused = true;
    CHECK(e.code == 0);
  });
  child->on<SpawnEvent>([&](const SpawnEvent&) {
    after(kQuietWindow, [&] {
      // 1 MiB does not fit in a pipe: the child must still be blocked in write().
      CHECK(chunks_while_paused == 0);
      CHECK(data.size() == 0);
      CHECK_FALSE(exited);
      resumed = true;
      out->resume();
      CHECK_FALSE(out->paused());
    });
  });
  run();

  CHECK(resumed);
  CHECK(chunks_while_paused == 0);
  CHECK_FALSE(exited_while_paused);
  CHECK(exited);
  CHECK(ends == 1);
  CHECK(data.ok(kMiB));
  CHECK(child->exit_code() == 0);
}

TEST_CASE_METHOD(LoopFixture, "paused mid-stream: data stops, then resumes intact", "[pause]") {
  const std::size_t total = 4 * kMiB;
  auto child = spawn_helper({"out", std::to_string(total)});
  auto out = child->std_out();
  PatternChecker data;
  bool paused_once = false;
  bool in_window = false;
  int chunks_in_window = 0;
  bool exited = false, exited_in_window = false;
  out->on<DataEvent>([&](const DataEvent& e) {
    if (in_window) ++chunks_in_window;
    data.feed(e.chunk);
    if (!paused_once) {
      paused_once = true;
      out->pause();
      in_window = true;
      after(kQuietWindow, [&] {
        in_window = false;
        out->resume();
      });
    }
  });
  child->on<ExitEvent>([&](const ExitEvent&) {
    exited = true;
    if (in_window) exited_in_window = true;
  });
  run();

  CHECK(paused_once);
  CHECK(chunks_in_window == 0);
  CHECK_FALSE(exited_in_window);
  CHECK(exited);
  CHECK(data.ok(total));
}

TEST_CASE_METHOD(LoopFixture, "a paused stream nobody resumes is drained at exit so close comes",
                 "[pause]") {
  // The child writes less than a pipe holds, so it exits while the stream is paused.
  auto child = spawn_helper({"out", "1000"});
  child->std_out()->pause();
  EventLog log;
  log.attach(*child);
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit 0 null", "close 0 null"});
}
