#include <childproc/error.hpp>

#include <uv.h>

#include <cstring>
#include <string>
#include <type_traits>

namespace childproc {
namespace {

// uv_err_name() and uv_strerror() malloc a fresh "Unknown system error" string for
// every code libuv has no name for (ECHILD, ...) and never free it; the _r forms fill
// a buffer instead, and glibc names the rest.
bool uv_knows(int err) {
  char buf[64];
  uv_err_name_r(err, buf, sizeof buf);
  return std::strncmp(buf, "Unknown system error", 20) != 0;
}

// glibc's name for errno `e` ("ECHILD"), or null.
const char* glibc_name(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  return e > 0 ? ::strerrorname_np(e) : nullptr;
#else
  (void)e;
  return nullptr;
#endif
}

std::string errno_name(int err) {
  char buf[64];
  if (uv_knows(err)) return uv_err_name_r(err, buf, sizeof buf);
  if (const char* name = glibc_name(-err)) return name;
  return "Unknown system error " + std::to_string(err);
}

std::string errno_message(int err) {
  char buf[256];
  if (uv_knows(err)) return uv_strerror_r(err, buf, sizeof buf);
  if (glibc_name(-err) != nullptr) {
    // The GNU strerror_r returns its text (maybe a static one), the XSI one an int.
    const auto text = ::strerror_r(-err, buf, sizeof buf);
    if constexpr (std::is_same_v<decltype(text), const int>) {
      return buf;
    } else {
      return text;
    }
  }
  return "Unknown system error " + std::to_string(err);
}

class UvCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int ev) const override { return errno_message(ev); }
  // libuv's codes are -errno on POSIX, so they map onto the generic category.
  std::error_condition default_error_condition(int ev) const noexcept override {
    return {-ev, std::generic_category()};
  }
};

class ChildprocCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "childproc"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::command_failed:
        return "Command failed";
      case errc::max_buffer_exceeded:
        return "maxBuffer length exceeded";
      case errc::aborted:
        return "The operation was aborted";
      case errc::timed_out:
        return "Command timed out";
      case errc::channel_closed:
        return "Channel closed";
      case errc::disconnected:
        return "IPC channel is already disconnected";
      case errc::invalid_message:
        return "The message is not exactly one JSON value";
      case errc::malformed_message:
        return "Received a line that is not one JSON value";
      case errc::message_too_large:
        return "Received a message longer than max_message";
    }
    return "unknown childproc error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    if (static_cast<errc>(ev) == errc::timed_out) return std::errc::timed_out;
    if (static_cast<errc>(ev) == errc::aborted) return std::errc::operation_canceled;
    return {ev, *this};
  }
};

}  // namespace

const std::error_category& uv_category() noexcept {
  static const UvCategory category;
  return category;
}

std::error_code uv_error(int err) noexcept {
  return {err, uv_category()};
}

const std::error_category& childproc_category() noexcept {
  static const ChildprocCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), childproc_category()};
}

std::string code_name(const std::error_code& code) {
  if (!code) return {};
  if (code.category() == uv_category()) return errno_name(code.value());
  if (code.category() == childproc_category()) {
    switch (static_cast<errc>(code.value())) {
      case errc::command_failed:
        return "ERR_CHILD_PROCESS_FAILED";
      case errc::max_buffer_exceeded:
        return "ERR_CHILD_PROCESS_STDIO_MAXBUFFER";
      case errc::aborted:
        return "ABORT_ERR";
      case errc::timed_out:
        return "ETIMEDOUT";
      case errc::channel_closed:
        return "ERR_IPC_CHANNEL_CLOSED";
      case errc::disconnected:
        return "ERR_IPC_DISCONNECTED";
      case errc::invalid_message:
        return "ERR_INVALID_ARG_VALUE";
      case errc::malformed_message:
        return "ERR_IPC_MALFORMED_MESSAGE";  // childproc's own: a Node peer would crash
      case errc::message_too_large:
        return "ERR_IPC_MESSAGE_TOO_LARGE";  // childproc's own: Node has no limit
    }
  }
  if (code.category() == std::generic_category() || code.category() == std::system_category()) {
    return errno_name(-code.value());
  }
  std::string name = code.category().name();
  name += ':';
  name += std::to_string(code.value());
  return name;
}

std::string Error::message() const {
  if (!text.empty()) return text;
  if (!code) return {};
  std::string name = code_name(code);
  return syscall.empty() ? name : syscall + " " + name;
}

InvalidArgument::InvalidArgument(std::string code, const std::string& message)
    : std::invalid_argument(message), code_(std::move(code)) {}

UnknownSignal::UnknownSignal(std::string_view signal)
    : InvalidArgument("ERR_UNKNOWN_SIGNAL", "Unknown signal: " + std::string(signal)) {}

OutOfRange::OutOfRange(std::string_view name, std::string_view expected, std::string_view received)
    : InvalidArgument("ERR_OUT_OF_RANGE",
                      "The value of \"" + std::string(name) + "\" is out of range. It must be " +
                          std::string(expected) + ". Received " + std::string(received)) {}

}  // namespace childproc
