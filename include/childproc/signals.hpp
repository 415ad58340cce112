// Signal names and numbers, as Node spells them ("SIGTERM", 15).
#pragma once

#include <childproc/version.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace childproc {

/// The canonical name of signal `number` ("SIGTERM"), or an empty view when this
/// platform has no such signal. Real-time signals are named "SIGRTMIN+n".
CHILDPROC_API std::string_view signal_name(int number) noexcept;

/// The number for `name`: accepts "SIGTERM", "sigterm", "TERM" and decimal strings
/// ("15"). Empty when the name or number is not a signal here. "0" is accepted: it
/// is the null signal that only checks that a process exists.
CHILDPROC_API std::optional<int> signal_number(std::string_view name) noexcept;

/// A validated signal, built from a number or a name. Construction from anything
/// that is not a signal throws `UnknownSignal` (Node's ERR_UNKNOWN_SIGNAL), so a bad
/// `kill_signal` fails at the call that names it, not later when it is used.
class CHILDPROC_API Signal {
public:
  /// SIGTERM, Node's default kill signal.
  Signal() noexcept;
  Signal(int number);               // NOLINT(google-explicit-constructor): reads like Node
  Signal(std::string_view name);    // NOLINT(google-explicit-constructor)
  Signal(const char* name);         // NOLINT(google-explicit-constructor)
  Signal(const std::string& name);  // NOLINT(google-explicit-constructor)

  /// The signal number, as passed to kill(2).
  int number() const noexcept { return number_; }
  /// The canonical name ("SIGTERM"; "0" for the null signal).
  std::string_view name() const noexcept;

  friend bool operator==(const Signal&, const Signal&) = default;

private:
  int number_;
};

}  // namespace childproc
