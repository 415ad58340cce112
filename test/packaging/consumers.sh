#!/bin/sh
# The ways a new user adds an installed childproc to a project, each building only the
# library and each with a user's strictest warnings as errors:
#   1. childproc itself, library only, under warning_level=3, werror and the strict
#      flags, installed into a fresh prefix with `meson install`;
#   2. the install: versioned library, headers, .pc, CMake package, and only the public
#      API exported;
#   3. a CMake project with find_package(childproc) (childproc::childproc);
#   4. a CMake project with pkg_check_modules(childproc);
#   5. a plain Makefile with pkg-config;
#   6. that Makefile again, the user's program built with ASan and UBSan (whose vptr
#      check needs the type_info of the API's polymorphic classes exported).
# Each consumer's program runs a child through childproc and must print its output.
# $1: childproc's source root, $2: the C++ compiler (g++ or clang++).
# Without cmake the CMake consumers cannot be tried: the test then skips (77); CI
# installs cmake, so there it runs.
set -eu
root=$1
CXX=$2
export CXX
command -v "$CXX" >/dev/null || { echo "no $CXX"; exit 77; }
command -v cmake >/dev/null || { echo "SKIP: cmake is not installed (apt-get install cmake)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
strict='-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror'
case "$CXX" in *clang*) strict="$strict -Wshadow-field-in-constructor" ;; esac
prefix=$dir/prefix
step() { echo "::: $*"; }
run_logged() {  # log name, command...
  log=$dir/$1.log; shift
  "$@" >"$log" 2>&1 || { cat "$log"; echo "FAILED: $*"; exit 1; }
}

step "1. library only, warning_level=3, werror, strict flags, $CXX"
run_logged setup meson setup "$dir/build" "$root" --prefix="$prefix" --buildtype=plain \
  -Dwarning_level=3 -Dwerror=true -Dcpp_args="$strict" \
  -Dtests=disabled -Dexamples=disabled -Dbench=disabled -Dfuzz=disabled
run_logged compile meson compile -C "$dir/build"
if grep -q 'warning:' "$dir/compile.log"; then cat "$dir/compile.log"; exit 1; fi
targets=$(meson introspect "$dir/build" --targets |
  python3 -c 'import json,sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
[ "$targets" = "childproc" ] || { echo "built more than the library: $targets"; exit 1; }
run_logged install meson install -C "$dir/build"

step "2. what was installed"
libdir=$(dirname "$(find "$prefix" -name 'libchildproc.so.*.*.*' | head -n1)")
[ -n "$libdir" ] && [ -d "$libdir" ] || { find "$prefix"; echo "no versioned library"; exit 1; }
version=$(sed -n 's/^#define CHILDPROC_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/childproc/version.hpp")
major=${version%%.*}
for f in "libchildproc.so.$version" "libchildproc.so.$major" libchildproc.so \
         pkgconfig/childproc.pc cmake/childproc/childprocConfig.cmake \
         cmake/childproc/childprocConfigVersion.cmake; do
  [ -e "$libdir/$f" ] || { echo "missing: $libdir/$f"; exit 1; }
done
[ "$(readlink "$libdir/libchildproc.so.$major")" = "libchildproc.so.$version" ] || exit 1
soname=$(objdump -p "$libdir/libchildproc.so.$version" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libchildproc.so.$major" ] || { echo "SONAME $soname"; exit 1; }
[ -f "$prefix/include/childproc/childproc.hpp" ] || { echo "no headers"; exit 1; }
# Hidden visibility: childproc::detail is internal, except the two functions that
# inline code in the headers calls.
detail=$(nm -DC --defined-only "$libdir/libchildproc.so.$version" |
  grep 'childproc::detail::' | sed 's/^[0-9a-f]* [A-Za-z] //' | sort)
expected='childproc::detail::report_listener_exception()
childproc::detail::report_unhandled(std::basic_string_view<char, std::char_traits<char> >)'
[ "$detail" = "$expected" ] || { echo "exported detail symbols:"; echo "$detail"; exit 1; }
exported=$(nm -D --defined-only "$libdir/libchildproc.so.$version" | wc -l)
echo "exported symbols: $exported"

# One program for every consumer: the designated initialisers of the guide included.
mkdir -p "$dir/src"
cat >"$dir/src/main.cpp" <<'CPP'
#include <childproc/childproc.hpp>

#include <cstdio>

int main() {
  // A polymorphic class of the API: a sanitizer build (UBSan's vptr check) needs its
  // type_info from the library. No NODE_CHANNEL_FD here, so no channel.
  if (auto channel = childproc::parent_channel(uv_default_loop())) channel->disconnect();
  const std::string out = childproc::exec_sync("tr a-z A-Z", {.input = "consumer ok\n"});
  const auto r = childproc::spawn_sync("cat", {}, {.input = "sync ok\n"});
  std::printf("%s%s%s\n", out.c_str(), r.out.c_str(), CHILDPROC_VERSION_STRING);
  return r.status == 0 ? 0 : 1;
}
CPP
expect="CONSUMER OK
sync ok
$version"
check_output() {  # what, program
  got=$("$2") || { echo "$1: the program failed"; exit 1; }
  [ "$got" = "$expect" ] || { echo "$1 printed:"; echo "$got"; exit 1; }
  echo "$1: ok"
}

step "3. CMake, find_package(childproc), as README.md shows it"
# README.md's own ```cmake and ```make fences are what the consumers use.
fence() { awk -v open="\`\`\`$1" '$0 == open { f = 1; next } f && /^```/ { exit } f { print }' "$root/README.md"; }
[ -n "$(fence cmake)" ] && [ -n "$(fence make)" ] || { echo "README.md lost its cmake or make fence"; exit 1; }
mkdir -p "$dir/cmake-config"
cp "$dir/src/main.cpp" "$dir/cmake-config/"
{
  printf 'cmake_minimum_required(VERSION 3.16)\nproject(consumer CXX)\n'
  printf 'add_executable(app main.cpp)\ntarget_compile_options(app PRIVATE %s)\n' "$strict"
  fence cmake
} >"$dir/cmake-config/CMakeLists.txt"
run_logged cmake-config cmake -S "$dir/cmake-config" -B "$dir/cmake-config/build" \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_PREFIX_PATH="$prefix"
run_logged cmake-config-build cmake --build "$dir/cmake-config/build"
check_output "find_package" "$dir/cmake-config/build/app"
# A version this install cannot satisfy is refused.
sed -i "s/find_package(childproc [0-9.]* REQUIRED)/find_package(childproc $((major + 1)).0 REQUIRED)/" \
  "$dir/cmake-config/CMakeLists.txt"
grep -q "find_package(childproc $((major + 1)).0 REQUIRED)" "$dir/cmake-config/CMakeLists.txt" || exit 1
if cmake -S "$dir/cmake-config" -B "$dir/cmake-config/build2" -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_PREFIX_PATH="$prefix" >"$dir/cmake-version.log" 2>&1; then
  cat "$dir/cmake-version.log"; echo "find_package accepted version $((major + 1)).0"; exit 1
fi

export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

step "4. CMake, pkg_check_modules(childproc)"
mkdir -p "$dir/cmake-pc"
cat >"$dir/cmake-pc/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(PkgConfig REQUIRED)
pkg_check_modules(CHILDPROC REQUIRED IMPORTED_TARGET childproc)
add_executable(consumer $dir/src/main.cpp)
target_compile_options(consumer PRIVATE $strict)
target_link_libraries(consumer PRIVATE PkgConfig::CHILDPROC)
CMAKE
run_logged cmake-pc cmake -S "$dir/cmake-pc" -B "$dir/cmake-pc/build" -DCMAKE_CXX_COMPILER="$CXX"
run_logged cmake-pc-build cmake --build "$dir/cmake-pc/build"
LD_LIBRARY_PATH=$libdir check_output "pkg_check_modules" "$dir/cmake-pc/build/consumer"

step "5. a plain Makefile with pkg-config, as README.md shows it"
mkdir -p "$dir/make"
cp "$dir/src/main.cpp" "$dir/make/"
{ echo 'CXXFLAGS += $(STRICT)'; fence make; } >"$dir/make/Makefile"
run_logged make make -C "$dir/make" CXX="$CXX" STRICT="$strict"
LD_LIBRARY_PATH=$libdir check_output "Makefile" "$dir/make/app"

step "6. the same Makefile, a user's build with ASan and UBSan"
rm -f "$dir/make/app"
run_logged make-san make -C "$dir/make" CXX="$CXX" \
  STRICT="$strict -fsanitize=address,undefined -fno-sanitize-recover=all"
LD_LIBRARY_PATH=$libdir ASAN_OPTIONS=detect_leaks=1 check_output "Makefile, sanitizers" "$dir/make/app"
