// A grandchild that holds the child's stdout open delays CloseEvent (Node's behaviour),
// while ExitEvent comes as soon as the child itself exits.
#include "support.hpp"

#include <signal.h>

using namespace cptest;
using childproc::CloseEvent;
using childproc::DataEvent;
using childproc::EndEvent;
using childproc::ExitEvent;

TEST_CASE_METHOD(LoopFixture, "a grandchild holding stdout delays close, not exit",
                 "[grandchild]") {
  const auto start = std::chrono::steady_clock::now();
  auto child = spawn_helper({"grandchild"});
  std::string buf;
  int grandchild = 0;
  bool exited = false;
  bool window_done = false;
  bool closed_before_kill = false;
  int ends_before_kill = 0;
  std::chrono::steady_clock::duration exit_after{};
  std::vector<std::string> order;

  // Both the exit and the grandchild's pid are needed before the quiet window starts.
  auto maybe_start_window = [&] {
    if (!exited || grandchild != 0 || buf.find('\n') == std::string::npos) return;
    grandchild = std::stoi(buf);
    // A "nothing happened" window: close must not come while the grandchild lives.
    after(300ms, [&] {
      window_done = true;
      order.push_back("kill grandchild");
      CHECK(::kill(grandchild, SIGKILL) == 0);
    });
  };
  child->std_out()->on<DataEvent>([&](const DataEvent& e) {
    buf.append(e.chunk);
    maybe_start_window();
  });
  child->std_out()->on<EndEvent>([&](const EndEvent&) {
    if (!window_done) ++ends_before_kill;
    order.push_back("stdout end");
  });
  child->on<ExitEvent>([&](const ExitEvent& e) {
    exited = true;
    exit_after = std::chrono::steady_clock::now() - start;
    order.push_back("exit " + str(e.code) + " " + sig(e.signal));
    maybe_start_window();
  });
  child->on<CloseEvent>([&](const CloseEvent& e) {
    if (!window_done) closed_before_kill = true;
    order.push_back("close " + str(e.code) + " " + sig(e.signal));
  });
  run();

  CHECK(grandchild > 0);
  CHECK(exited);
  // The grandchild sleeps 25 s; the child's exit must not wait for it.
  CHECK(exit_after < std::chrono::seconds(5));
  CHECK_FALSE(closed_before_kill);
  CHECK(ends_before_kill == 0);
  CHECK(order ==
        std::vector<std::string>{"exit 0 null", "kill grandchild", "stdout end", "close 0 null"});
  CHECK(child->exit_code() == 0);
}
