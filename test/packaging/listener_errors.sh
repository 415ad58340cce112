#!/bin/sh
# A listener with the wrong signature, or for an event the emitter does not have, must be
# one compile error that says what is expected, not pages from inside std::function.
# $1: the C++ compiler, $2: include dir.
set -u
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
status=0
check() {  # name, the line in main(), a text the error must hold
  printf '#include <childproc/childproc.hpp>\nint main() {\n  auto c = childproc::spawn("true");\n  %s\n}\n' \
    "$2" >"$dir/$1.cpp"
  if out=$("$CXX" -std=c++20 -fsyntax-only -I"$INC" "$dir/$1.cpp" 2>&1); then
    echo "$1: compiled"; status=1; return
  fi
  errors=$(echo "$out" | grep -c 'error:')
  lines=$(echo "$out" | wc -l)
  echo "$1: $errors error(s), $lines lines"
  if [ "$errors" -ne 1 ] || [ "$lines" -gt 30 ] || ! echo "$out" | grep -qF "$3"; then
    echo "$out"; status=1
  fi
}
CXX=$1 INC=$2
# The wrong signature names the expected one; the foreign event names the emitter's events.
check signature 'c->on<childproc::ExitEvent>([](int code) { (void)code; });' \
  'a listener must be callable as fn(const E&)'
check foreign_event 'c->on<childproc::DataEvent>([](const childproc::DataEvent&) {});' \
  'DataEvent, EndEvent, DrainEvent and FinishEvent are a Stream'"'"'s'
check foreign_event_lists_events 'c->once<childproc::EndEvent>([](const childproc::EndEvent&) {});' \
  'childproc::SpawnEvent, childproc::ExitEvent, childproc::CloseEvent'
check channel 'childproc::parent_channel(nullptr)->on<childproc::MessageEvent>([](std::string s) { (void)s; });' \
  'a listener must be callable as fn(const E&)'
exit $status
