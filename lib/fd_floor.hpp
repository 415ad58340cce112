// Keeps libuv's own fds off 0-2 in a host that closed some of them.
#pragma once

namespace childproc::detail {

/// While one of these lives (in any thread), fds 0, 1 and 2 are open: each that the
/// host had closed holds /dev/null (close-on-exec) until the last one goes, when those
/// placeholders are closed again (unless the host put something else there). libuv
/// asserts that it never closes an fd below 3 (uv__close), so a loop, signal pipe or
/// uv_spawn pipe that landed there would abort the process when closed.
class StdFdFloor {
public:
  StdFdFloor() noexcept;
  ~StdFdFloor();
  StdFdFloor(const StdFdFloor&) = delete;
  StdFdFloor& operator=(const StdFdFloor&) = delete;
};

}  // namespace childproc::detail
