// Errors: libuv's errno codes as std::error_code, the library's own conditions, Node's
// system error object, and the exceptions thrown for invalid arguments.
#pragma once

#include <childproc/version.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace childproc {

/// The category of libuv's negative errno values (UV_ENOENT, ...). `message()` is
/// uv_strerror's text; the codes compare equal to the matching `std::errc`.
CHILDPROC_API const std::error_category& uv_category() noexcept;

/// An error_code for a libuv result (`err` < 0).
CHILDPROC_API std::error_code uv_error(int err) noexcept;

/// Conditions childproc itself reports.
enum class errc {
  command_failed = 1,   ///< the child exited non-zero or was killed by a signal
  max_buffer_exceeded,  ///< exec output went over `max_buffer`
  aborted,              ///< cancelled through the stop_token
  timed_out,            ///< killed because `timeout` expired
  channel_closed,       ///< send() on an IPC channel that is disconnected
  disconnected,         ///< disconnect() on an IPC channel that already is
  invalid_message,      ///< send() of text that is not exactly one JSON value
  malformed_message,    ///< the peer sent a line that is not one JSON value (skipped)
  message_too_large,    ///< the peer sent a line longer than max_message (skipped)
};

/// The category of `errc`.
CHILDPROC_API const std::error_category& childproc_category() noexcept;
CHILDPROC_API std::error_code make_error_code(errc e) noexcept;

/// Node's short code for an error: "ENOENT", "EPIPE", "ABORT_ERR",
/// "ERR_CHILD_PROCESS_STDIO_MAXBUFFER", ... Empty for a success code.
CHILDPROC_API std::string code_name(const std::error_code& code);

/// Node's system error: what failed (`syscall`, `path`), with which code.
struct CHILDPROC_API Error {
  /// What went wrong; empty (false) when there is no error.
  std::error_code code;
  /// The operation, as Node names it: "spawn ls", "write", "kill".
  std::string syscall;
  /// The file the operation was about (for spawn: the program), or empty.
  std::string path;
  /// For spawn errors: the arguments after argv[0].
  std::vector<std::string> spawnargs;
  /// Overrides the generated message when not empty.
  std::string text;

  /// Node's message: `text` if set, else "<syscall> <CODE>" ("spawn ls ENOENT").
  std::string message() const;
  /// True when this holds an error.
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// Base of the exceptions thrown for arguments that are wrong before anything is
/// started (Node's TypeError/RangeError). `code()` is Node's code.
class CHILDPROC_API InvalidArgument : public std::invalid_argument {
public:
  InvalidArgument(std::string code, const std::string& message);
  /// "ERR_INVALID_ARG_VALUE", "ERR_UNKNOWN_SIGNAL", "ERR_OUT_OF_RANGE", ...
  const std::string& code() const noexcept { return code_; }

private:
  std::string code_;
};

/// A signal name or number that this platform does not have.
class CHILDPROC_API UnknownSignal : public InvalidArgument {
public:
  explicit UnknownSignal(std::string_view signal);
};

/// A numeric option outside its range (a negative timeout).
class CHILDPROC_API OutOfRange : public InvalidArgument {
public:
  OutOfRange(std::string_view name, std::string_view expected, std::string_view received);
};

}  // namespace childproc

template <>
struct std::is_error_code_enum<childproc::errc> : std::true_type {};
