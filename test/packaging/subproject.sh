#!/bin/sh
# childproc as a Meson subproject of a new project, through a wrap file as the README
# shows (a [wrap-file] of a tarball of this tree, so the work tree is what is tested),
# under a user's strictest warnings as errors: only the library is built, with zero
# warnings, the parent's `meson test` has none of childproc's tests, and `meson install`
# installs nothing of childproc's. $1: childproc's source root. $CXX: the compiler.
set -eu
root=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
version=$(sed -n 's/^#define CHILDPROC_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/childproc/version.hpp")
name=childproc-$version
# The tree as a release tarball would hold it: what git does not ignore (build dirs and
# downloaded subprojects are ignored), uncommitted work included.
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    tar -C "$root" --null -T - --ignore-failed-read --transform "s,^,$name/," \
      -czf "$dir/$name.tar.gz"
else
  tar -C "$root" --exclude='./build*' --exclude='./subprojects/[!p]*/' \
    --transform "s,^\.,$name," -czf "$dir/$name.tar.gz" .
fi
mkdir -p "$dir/parent/subprojects"
cat >"$dir/parent/subprojects/childproc.wrap" <<WRAP
[wrap-file]
directory = $name
source_url = file://$dir/$name.tar.gz
source_filename = $name.tar.gz
source_hash = $(sha256sum "$dir/$name.tar.gz" | cut -d' ' -f1)

[provide]
childproc = childproc_dep
WRAP
cat >"$dir/parent/meson.build" <<'MESON'
project('parent', 'cpp', default_options: ['cpp_std=c++20'])
exe = executable('parent', 'main.cpp', dependencies: dependency('childproc'))
test('parent', exe)
MESON
cat >"$dir/parent/main.cpp" <<'CPP'
#include <childproc/childproc.hpp>
int main() { return childproc::spawn_sync("true").status == 0 ? 0 : 1; }
CPP
cd "$dir/parent"
strict='-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow'
# --force-fallback-for: an installed childproc must not stand in for the subproject.
meson setup build --buildtype=plain --force-fallback-for=childproc -Dwarning_level=3 \
  -Dwerror=true -Dcpp_args="$strict" >setup.log 2>&1 || { cat setup.log; exit 1; }
grep -q 'Executing subproject childproc' setup.log || { cat setup.log; exit 1; }
targets=$(meson introspect build --targets | python3 -c 'import json,sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
echo "targets: $targets"
[ "$targets" = "childproc parent" ] || { echo "expected only the library and the parent's program"; exit 1; }
tests=$(meson introspect build --tests | python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)))')
echo "tests: $tests"
[ "$tests" = "parent" ] || { echo "childproc's tests leaked into the parent's"; exit 1; }
meson compile -C build >compile.log 2>&1 || { cat compile.log; exit 1; }
# The strict flags reached childproc's own sources, and they gave no warning.
python3 - build/compile_commands.json <<'PY'
import json, sys
cmds = [c["command"] for c in json.load(open(sys.argv[1])) if "childproc" in c["file"] and "/lib/" in c["file"]]
assert cmds, "no childproc source compiled"
for c in cmds:
    for flag in ("-Werror", "-Wconversion", "-Wsign-conversion", "-Wshadow"):
        assert flag in c.split(), f"{flag} missing from: {c}"
print(f"{len(cmds)} childproc sources compiled with the strict flags and -Werror")
PY
if grep -q 'warning:' compile.log; then cat compile.log; exit 1; fi
meson test -C build >test.log 2>&1 || { cat test.log build/meson-logs/testlog.txt; exit 1; }
meson install -C build --destdir "$dir/dest" >install.log 2>&1 || { cat install.log; exit 1; }
installed=$(find "$dir/dest" -type f 2>/dev/null | wc -l)
echo "installed files: $installed"
[ "$installed" -eq 0 ] || { find "$dir/dest" -type f; exit 1; }
