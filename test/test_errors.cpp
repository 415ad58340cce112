// Error codes and Node's system error object.
#include "support.hpp"

using namespace cptest;
using childproc::errc;

TEST_CASE("uv_error maps libuv codes to std::errc", "[errors]") {
  CHECK(childproc::uv_error(UV_ENOENT) == std::errc::no_such_file_or_directory);
  CHECK(childproc::uv_error(UV_EPIPE) == std::errc::broken_pipe);
  CHECK(childproc::uv_error(UV_EACCES) == std::errc::permission_denied);
  CHECK(childproc::uv_error(UV_EMFILE) == std::errc::too_many_files_open);
  CHECK(childproc::uv_error(UV_ENOENT).message() == uv_strerror(UV_ENOENT));
  CHECK(&childproc::uv_error(UV_ENOENT).category() == &childproc::uv_category());
}

TEST_CASE("code_name gives Node's short codes", "[errors]") {
  CHECK(childproc::code_name(childproc::uv_error(UV_ENOENT)) == "ENOENT");
  CHECK(childproc::code_name(childproc::uv_error(UV_EPIPE)) == "EPIPE");
  CHECK(childproc::code_name(childproc::uv_error(UV_EACCES)) == "EACCES");
  CHECK(childproc::code_name(errc::max_buffer_exceeded) == "ERR_CHILD_PROCESS_STDIO_MAXBUFFER");
  CHECK(childproc::code_name(errc::aborted) == "ABORT_ERR");
  CHECK(childproc::code_name(std::error_code()).empty());
}

TEST_CASE("childproc::errc is an error_code enum of its own category", "[errors]") {
  std::error_code ec = errc::timed_out;
  CHECK(ec == errc::timed_out);
  CHECK(ec != errc::aborted);
  CHECK(&ec.category() == &childproc::childproc_category());
  CHECK(static_cast<bool>(ec));
  CHECK_FALSE(childproc::make_error_code(errc::aborted).message().empty());
}

TEST_CASE("Error: Node's message from syscall and code, or the text", "[errors]") {
  childproc::Error e;
  CHECK_FALSE(static_cast<bool>(e));
  e.code = childproc::uv_error(UV_ENOENT);
  e.syscall = "spawn ls";
  e.path = "ls";
  CHECK(static_cast<bool>(e));
  CHECK(e.message() == "spawn ls ENOENT");
  e.text = "custom";
  CHECK(e.message() == "custom");
}

TEST_CASE("InvalidArgument and its subclasses carry Node's code", "[errors]") {
  childproc::InvalidArgument ia("ERR_X", "message x");
  CHECK(ia.code() == "ERR_X");
  CHECK(std::string(ia.what()) == "message x");
  childproc::UnknownSignal us("SIGFOO");
  CHECK(us.code() == "ERR_UNKNOWN_SIGNAL");
  CHECK(std::string(us.what()) == "Unknown signal: SIGFOO");
  childproc::OutOfRange oor("timeout", "an unsigned integer", "-1");
  CHECK(oor.code() == "ERR_OUT_OF_RANGE");
  CHECK(std::string(oor.what()) ==
        "The value of \"timeout\" is out of range. It must be an unsigned integer. Received -1");
}
