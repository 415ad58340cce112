// Signal names and numbers, as Node spells them.
#include "support.hpp"

#include <signal.h>

using namespace cptest;
using childproc::Signal;
using childproc::signal_name;
using childproc::signal_number;

TEST_CASE("signal_name gives the canonical name", "[signals]") {
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(15) == "SIGTERM");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGINT) == "SIGINT");
  CHECK(signal_name(SIGHUP) == "SIGHUP");
  CHECK(signal_name(SIGUSR1) == "SIGUSR1");
  CHECK(signal_name(SIGCHLD) == "SIGCHLD");
  CHECK(signal_name(SIGPIPE) == "SIGPIPE");
  CHECK(signal_name(9999).empty());
  CHECK(signal_name(-1).empty());
}

TEST_CASE("signal_number accepts names in any case, without SIG, and numbers", "[signals]") {
  CHECK(signal_number("SIGTERM") == 15);
  CHECK(signal_number("sigterm") == 15);
  CHECK(signal_number("TERM") == 15);
  CHECK(signal_number("15") == 15);
  CHECK(signal_number("SIGKILL") == 9);
  CHECK(signal_number("sigkill") == 9);
  CHECK(signal_number("SigKill") == 9);
  CHECK(signal_number("9") == 9);
  CHECK(signal_number("SIGUSR2") == SIGUSR2);
  CHECK(signal_number("0") == 0);
}

TEST_CASE("signal_number rejects what is not a signal", "[signals]") {
  CHECK_FALSE(signal_number("SIGFOO").has_value());
  CHECK_FALSE(signal_number("FOO").has_value());
  CHECK_FALSE(signal_number("").has_value());
  CHECK_FALSE(signal_number("SIG").has_value());
  CHECK_FALSE(signal_number("999").has_value());
  CHECK_FALSE(signal_number("-1").has_value());
  CHECK_FALSE(signal_number("15x").has_value());
}

TEST_CASE("Signal: default SIGTERM, from a number or a name", "[signals]") {
  CHECK(Signal().number() == SIGTERM);
  CHECK(Signal().name() == "SIGTERM");
  CHECK(Signal(9).number() == 9);
  CHECK(Signal(9).name() == "SIGKILL");
  CHECK(Signal("SIGKILL").number() == 9);
  CHECK(Signal("sigint").number() == SIGINT);
  CHECK(Signal(std::string("HUP")).number() == SIGHUP);
  CHECK(Signal(std::string_view("SIGUSR1")).name() == "SIGUSR1");
  CHECK(Signal("9").number() == 9);
  CHECK(Signal(0).name() == "0");
  CHECK(Signal("SIGKILL") == Signal(9));
  CHECK_FALSE(Signal("SIGKILL") == Signal());
}

TEST_CASE("Signal: anything else throws UnknownSignal", "[signals]") {
  CHECK_THROWS_AS(Signal("SIGFOO"), childproc::UnknownSignal);
  CHECK_THROWS_AS(Signal(999), childproc::UnknownSignal);
  CHECK_THROWS_AS(Signal(-1), childproc::UnknownSignal);
  CHECK_THROWS_AS(Signal(""), childproc::UnknownSignal);
  CHECK_THROWS_WITH(Signal("SIGFOO"), "Unknown signal: SIGFOO");
  CHECK_THROWS_WITH(Signal(999), "Unknown signal: 999");
}
