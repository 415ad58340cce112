// Compiled with a user's strictest warnings as errors (test/meson.build): our public
// headers must never break such a build, under g++ or clang.
#include <childproc/childproc.hpp>

int main() {
  childproc::SpawnOptions options;
  options.kill_tree = true;
  return options.die_with_parent ? 1 : 0;
}
