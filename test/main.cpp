// The Catch2 runner shared by every test executable.
//
// Before the tests run, one child is spawned on a throw-away loop that is then closed:
// that creates the process-wide state libuv (and childproc) set up once, such as
// libuv's signal lock pipe, so the per-test fd counts compare like with like.
#define CATCH_CONFIG_RUNNER
#include "support.hpp"

#include <grp.h>
#include <signal.h>
#include <unistd.h>

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

// `<test binary> --unprivileged-spawn uid|gid`: drop to nobody (65534), then ask
// childproc to run the helper as uid/gid 0. The tests run as root in CI, where every
// uid is permitted; this re-run of the test binary is how they still see EPERM.
int unprivileged_spawn(const std::string& which) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
    std::cout << "cannot drop privileges\n";
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  childproc::SpawnOptions opts;
  (which == "gid" ? opts.gid : opts.uid) = 0;
  auto child = childproc::spawn(&loop, cptest::kHelper, {"exit", "0"}, opts);
  cptest::EventLog log;
  log.attach(*child);
  child.reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  for (const auto& e : log.events)
    std::cout << e << '\n';
  return uv_loop_close(&loop) == 0 ? 0 : 3;
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc == 3 && std::string(argv[1]) == "--unprivileged-spawn")
    return unprivileged_spawn(argv[2]);
  if (int mode = cptest::run_mode(argc, argv); mode >= 0) return mode;
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
