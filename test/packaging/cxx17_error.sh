#!/bin/sh
# Below C++20 our headers must fail with one message that says what is needed, not
# pages about what the older standard lacks. $1: the C++ compiler, $2: include dir.
src=$(mktemp --suffix=.cpp) || exit 1
trap 'rm -f "$src"' EXIT
printf '#include <childproc/childproc.hpp>\nint main() { return 0; }\n' >"$src"
out=$("$1" -std=c++17 -fsyntax-only -I"$2" "$src" 2>&1) && { echo "compiled under -std=c++17"; exit 1; }
echo "$out"
echo "$out" | grep -q 'childproc needs C++20' || { echo "no 'childproc needs C++20' message"; exit 1; }
lines=$(echo "$out" | wc -l)
[ "$lines" -le 12 ] || { echo "$lines lines of errors"; exit 1; }
