// Lifetime: a ChildProcess keeps itself alive until close; ref()/unref().
#include "support.hpp"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::ExitEvent;

TEST_CASE_METHOD(LoopFixture, "dropping every shared_ptr right after spawn() is safe",
                 "[lifetime]") {
  std::weak_ptr<childproc::ChildProcess> weak;
  std::weak_ptr<childproc::Stream> weak_out;
  std::vector<std::string> events;
  {
    auto child = spawn_helper({"out", "300000"});
    weak = child;
    weak_out = child->std_out();
    // Listeners that do not own the child.
    child->on<ExitEvent>([&](const ExitEvent& e) { events.push_back("exit " + str(e.code)); });
    child->on<CloseEvent>([&](const CloseEvent& e) { events.push_back("close " + str(e.code)); });
  }
  // Nothing in the test holds it now; the object keeps itself alive.
  CHECK_FALSE(weak.expired());
  run();
  CHECK(events == std::vector<std::string>{"exit 0", "close 0"});
  // All memory is freed after close.
  CHECK(weak.expired());
  CHECK(weak_out.expired());
}

TEST_CASE_METHOD(LoopFixture, "fire and forget: several children, no handle kept", "[lifetime]") {
  int closes = 0;
  for (int i = 0; i < 5; ++i) {
    spawn_helper({"both", "50000"})->on<CloseEvent>([&](const CloseEvent&) { ++closes; });
  }
  spawn_helper({"sleep", "20000"},
               [] {
                 childproc::SpawnOptions o;
                 o.timeout = 50ms;
                 return o;
               }())
      ->on<CloseEvent>([&](const CloseEvent& e) {
        ++closes;
        CHECK(e.signal == SIGTERM);
      });
  run();
  CHECK(closes == 6);
}

TEST_CASE_METHOD(LoopFixture, "a stream kept after the child is gone stays valid", "[lifetime]") {
  std::shared_ptr<childproc::Stream> out;
  std::string data;
  {
    auto child = spawn_helper({"argv", "kept"});
    out = child->std_out();
    out->on<DataEvent>([&](const DataEvent& e) { data.append(e.chunk); });
  }
  run();
  CHECK(data == kHelper + "\nargv\nkept\n");
  CHECK(out->closed());
  CHECK(out->fd() == -1);
  CHECK_FALSE(out->readable());
}

TEST_CASE_METHOD(LoopFixture, "unref() lets the loop end; ref() makes it wait again",
                 "[lifetime]") {
  auto child = spawn_helper({"sleep", "20000"});
  EventLog log;
  log.attach(*child);
  child->unref();
  const auto start = std::chrono::steady_clock::now();
  run();
  // The loop did not wait for the 20 s child.
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(log.count("exit") == 0);
  CHECK(log.count("close") == 0);

  child->ref();
  CHECK(child->kill());
  run();
  CHECK(log.events == std::vector<std::string>{"spawn", "exit null SIGTERM", "close null SIGTERM"});
}

// exec's collected output lives with the child, not with its listeners: removing every
// listener from the returned child must not leave the streams writing into freed
// memory (the sanitizer build would report it).
TEST_CASE_METHOD(LoopFixture, "exec survives the user removing the child's listeners",
                 "[lifetime]") {
  int calls = 0;
  auto child = track(childproc::exec_file(
      loop(), kHelper, {"out", "500000"},
      [&](const childproc::ExecError&, std::string, std::string) { ++calls; }));
  child->remove_all_listeners<CloseEvent>();
  child->remove_all_listeners<childproc::ErrorEvent>();
  std::size_t seen = 0;
  child->std_out()->on<DataEvent>([&](const DataEvent& e) { seen += e.chunk.size(); });
  child.reset();
  run();
  CHECK(calls == 0);  // its listeners were removed, so exec cannot call back
  CHECK(seen == 500000);
}

// Which launcher runs is visible in /proc/self/fd: the posix_spawn path watches the
// child through a pidfd; CHILDPROC_LAUNCHER=uv (meson test --setup uvspawn) forces
// uv_spawn, which has none.
TEST_CASE_METHOD(LoopFixture, "the launcher in use: pidfd by default, uv_spawn when forced",
                 "[lifetime]") {
  const char* choice = std::getenv("CHILDPROC_LAUNCHER");
  const bool forced_uv = choice != nullptr && std::string_view(choice) == "uv";
  auto count_pidfds = [] {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = std::filesystem::read_symlink(entry.path(), ec);
      if (!ec && target.string() == "anon_inode:[pidfd]") ++n;
    }
    return n;
  };
  const int before = count_pidfds();
  int during = -1;
  auto child = spawn_helper({"sleep", "20000"});
  child->on<childproc::SpawnEvent>([&](const childproc::SpawnEvent&) {
    during = count_pidfds();
    child->kill();
  });
  run();
  CHECK(during - before == (forced_uv ? 0 : 1));
  CHECK(count_pidfds() == before);
}
