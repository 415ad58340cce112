#include "fd_floor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace childproc::detail {
namespace {

struct Floor {
  std::mutex mutex;
  int holders = 0;
  bool placed[3] = {false, false, false};
  struct stat null_stat {};
};

Floor& floor_state() {
  static Floor f;
  return f;
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_rdev == b.st_rdev;
}

}  // namespace

StdFdFloor::StdFdFloor() noexcept {
  Floor& f = floor_state();
  std::lock_guard lock(f.mutex);
  ++f.holders;
  // Every holder looks: the host may have closed one of 0-2 while another held it.
  for (int fd = 0; fd <= 2; ++fd) {
    if (f.placed[fd] || ::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free fd is `fd` itself, unless another thread took it meanwhile:
    // then that thread's fd fills the slot and the placeholder is not needed.
    const int got = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (got < 0) return;  // out of fds: nothing can land on 0-2 either
    if (got != fd) {
      ::close(got);
      continue;
    }
    if (f.null_stat.st_ino == 0) ::fstat(got, &f.null_stat);
    f.placed[fd] = true;
  }
}

StdFdFloor::~StdFdFloor() {
  Floor& f = floor_state();
  std::lock_guard lock(f.mutex);
  if (--f.holders != 0) return;
  for (int fd = 0; fd <= 2; ++fd) {
    if (!f.placed[fd]) continue;
    f.placed[fd] = false;
    struct stat st {};
    // A host that opened its own file there meanwhile keeps it.
    if (::fstat(fd, &st) == 0 && same_file(st, f.null_stat)) ::close(fd);
  }
}

}  // namespace childproc::detail
