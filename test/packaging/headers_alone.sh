#!/bin/sh
# Every public header compiles on its own (it includes what it uses) under a user's
# strictest warnings as errors. $1: the C++ compiler, $2: include dir.
set -u
CXX=$1
INC=$2
flags='-std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror'
case "$CXX" in *clang*) flags="$flags -Wshadow-field-in-constructor" ;; esac
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
status=0
for h in "$INC"/childproc/*.hpp; do
  name=$(basename "$h" .hpp)
  printf '#include <childproc/%s.hpp>\n' "$name" >"$dir/$name.cpp"
  # shellcheck disable=SC2086
  if out=$("$CXX" $flags -I"$INC" "$dir/$name.cpp" 2>&1); then
    echo "ok   $name.hpp"
  else
    echo "FAIL $name.hpp"; echo "$out"; status=1
  fi
done
exit $status
