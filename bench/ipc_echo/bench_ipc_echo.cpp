// bench-ipc-echo: the C++ child of section 5 (IPC). Started with an IPC channel
// (childproc's Stdio::ipc(), or Node's fork()/'ipc' stdio), it sends every message it
// receives straight back, as node_bench.js's `ipc-echo` does with process.send(), and
// exits 0 once the parent disconnects. Like Node's echo it ignores send()'s false
// return: the parent paces the traffic.
//
// bench-ipc-echo --raw: the floor row's child. No childproc, no JSON: poll() and
// read() on fd 3 (a socket), and every byte written straight back, until EOF.
#include <childproc/childproc.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace {

int raw_echo() {
  constexpr int fd = 3;
  static char buf[64 * 1024];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(fd, buf + off, static_cast<std::size_t>(n - off));
      if (w > 0) {
        off += w;
      } else if (errno == EAGAIN) {
        pollfd q{fd, POLLOUT, 0};
        ::poll(&q, 1, -1);
      } else if (errno != EINTR) {
        std::fprintf(stderr, "bench-ipc-echo --raw: write: %s\n", std::strerror(errno));
        return 1;
      }
    }
  }
  std::fprintf(stderr, "bench-ipc-echo --raw: %s\n", std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--raw") == 0) return raw_echo();
  uv_loop_t* loop = uv_default_loop();
  int status = 0;
  try {
    std::shared_ptr<childproc::Channel> channel = childproc::parent_channel(loop);
    if (!channel) {
      std::fprintf(stderr, "bench-ipc-echo: started without an IPC channel\n");
      return 2;
    }
    childproc::Channel* c = channel.get();
    c->on<childproc::MessageEvent>([c](const childproc::MessageEvent& m) { c->send(m.json); });
    c->on<childproc::ErrorEvent>([&status](const childproc::ErrorEvent& e) {
      std::fprintf(stderr, "bench-ipc-echo: %s\n", e.error.message().c_str());
      status = 1;
    });
    // The listeners keep the loop alive until the channel closes.
    uv_run(loop, UV_RUN_DEFAULT);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-ipc-echo: %s\n", e.what());
    return 1;
  }
  if (uv_loop_close(loop) != 0) {
    std::fprintf(stderr, "bench-ipc-echo: handles left open on the loop\n");
    return 1;
  }
  return status;
}
