// Compiled with a user's strictest warnings as errors (test/meson.build): our public
// headers must never break such a build, under g++ or clang, and neither may the way
// the guide fills options (designated initialisers, which -Wextra checks for missing
// fields).
#include <childproc/childproc.hpp>

#include <chrono>
#include <string_view>

// version.hpp agrees with meson.build's project() (EXPECTED_VERSION comes from there).
static_assert(std::string_view(CHILDPROC_VERSION_STRING) == EXPECTED_VERSION);
static_assert(CHILDPROC_VERSION == CHILDPROC_VERSION_MAJOR * 10000 + CHILDPROC_VERSION_MINOR * 100 +
                                       CHILDPROC_VERSION_PATCH);

int main() {
  using namespace std::chrono_literals;
  const childproc::SpawnOptions spawn{.cwd = "/", .detached = true, .timeout = 5s};
  const childproc::SpawnSyncOptions sync{.timeout = 5s, .kill_tree = true, .input = "b\na\n"};
  const childproc::ExecOptions exec{.timeout = 1s, .max_buffer = 4096};
  const childproc::ExecSyncOptions exec_sync{.env = childproc::Env{{"A", "1"}}, .input = "x"};
  const childproc::ForkOptions fork{.exec_argv = {"--no-warnings"}, .silent = true};
  // Nothing runs: the point is that each of these compiles without a warning.
  return spawn.detached && sync.kill_tree && exec.max_buffer == 4096 && exec_sync.input &&
                 fork.silent
             ? 0
             : 1;
}
