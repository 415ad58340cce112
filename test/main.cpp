// The Catch2 runner shared by every test executable.
//
// Before the tests run, one child is spawned on a throw-away loop that is then closed:
// that creates the process-wide state libuv (and childproc) set up once, such as
// libuv's signal lock pipe, so the per-test fd counts compare like with like.
#define CATCH_CONFIG_RUNNER
#include "support.hpp"

#include <signal.h>

#include <iostream>

namespace {

void warm_up() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto previous = childproc::set_unhandled_handler([](std::string_view) {});
  try {
    auto child = childproc::spawn(&loop, cptest::kHelper, {"out", "10"});
    child.reset();
    childproc::SpawnOptions quiet;
    quiet.stdio = {childproc::Stdio::ignore(), childproc::Stdio::ignore(),
                   childproc::Stdio::ignore()};
    childproc::spawn(&loop, cptest::kHelper, {"exit", "0"}, quiet);
    childproc::exec(&loop, "exit 0", [](const childproc::ExecError&, std::string, std::string) {});
  } catch (const std::exception& e) {
    std::cerr << "warm-up spawn failed: " << e.what() << '\n';
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) std::cerr << "warm-up loop did not close cleanly\n";
  childproc::set_unhandled_handler(std::move(previous));
}

}  // namespace

int main(int argc, char* argv[]) {
  warm_up();

  int result = Catch::Session().run(argc, argv);

  // The library must keep SIGPIPE from killing us without changing its disposition for
  // the whole process (the tests never touch SIGPIPE themselves).
  struct sigaction sa {};
  sigaction(SIGPIPE, nullptr, &sa);
  if (sa.sa_handler != SIG_DFL) {
    std::cerr << "FAILED: SIGPIPE's disposition is no longer SIG_DFL after the tests\n";
    if (result == 0) result = 1;
  }
  return result;
}
