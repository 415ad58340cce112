// Compiled with a user's strictest warnings as errors (test/meson.build): our public
// headers must never break such a build, under g++ or clang.
#include <childproc/childproc.hpp>

#include <string_view>

// version.hpp agrees with meson.build's project() (EXPECTED_VERSION comes from there).
static_assert(std::string_view(CHILDPROC_VERSION_STRING) == EXPECTED_VERSION);
static_assert(CHILDPROC_VERSION == CHILDPROC_VERSION_MAJOR * 10000 + CHILDPROC_VERSION_MINOR * 100 +
                                       CHILDPROC_VERSION_PATCH);

int main() {
  childproc::SpawnOptions options;
  options.kill_tree = true;
  return options.die_with_parent ? 1 : 0;
}
