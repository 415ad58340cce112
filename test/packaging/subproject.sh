#!/bin/sh
# childproc as a Meson subproject of a new project: only the library is built, the
# parent's `meson test` has none of childproc's tests, and `meson install` installs
# nothing of childproc's. $1: childproc's source root.
set -eu
root=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/parent/subprojects"
ln -s "$root" "$dir/parent/subprojects/childproc"
cat >"$dir/parent/meson.build" <<'MESON'
project('parent', 'cpp', default_options: ['cpp_std=c++20'])
subproject('childproc')
exe = executable('parent', 'main.cpp', dependencies: dependency('childproc'))
test('parent', exe)
MESON
cat >"$dir/parent/main.cpp" <<'CPP'
#include <childproc/childproc.hpp>
int main() { return childproc::spawn_sync("true").status == 0 ? 0 : 1; }
CPP
cd "$dir/parent"
meson setup build --buildtype=plain >setup.log 2>&1 || { cat setup.log; exit 1; }
targets=$(meson introspect build --targets | python3 -c 'import json,sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
echo "targets: $targets"
[ "$targets" = "childproc parent" ] || { echo "expected only the library and the parent's program"; exit 1; }
tests=$(meson introspect build --tests | python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)))')
echo "tests: $tests"
[ "$tests" = "parent" ] || { echo "childproc's tests leaked into the parent's"; exit 1; }
meson compile -C build >compile.log 2>&1 || { cat compile.log; exit 1; }
meson test -C build >test.log 2>&1 || { cat test.log build/meson-logs/testlog.txt; exit 1; }
meson install -C build --destdir "$dir/dest" >install.log 2>&1 || { cat install.log; exit 1; }
installed=$(find "$dir/dest" -type f 2>/dev/null | wc -l)
echo "installed files: $installed"
[ "$installed" -eq 0 ] || { find "$dir/dest" -type f; exit 1; }
