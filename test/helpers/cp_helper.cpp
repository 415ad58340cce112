// cp_helper: the one child program the childproc tests run. Plain C++ and POSIX, no
// childproc. The first argument names what to do; see usage() for the list.
//
// Output patterns are deterministic: byte i of a stream is (i % 251), so the tests can
// verify every byte and its position.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

constexpr std::size_t kBlock = 64 * 1024;

// Writes all of `data` to `fd`; false on error (EPIPE, ...).
bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool write_str(int fd, std::string_view s) {
  return write_all(fd, s.data(), s.size());
}

void fill_pattern(std::string& buf, std::size_t offset, std::size_t n) {
  buf.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    buf[i] = static_cast<char>((offset + i) % 251);
}

// Writes `total` pattern bytes to `fd` in blocks of `block`.
int write_pattern(int fd, std::size_t total, std::size_t block = kBlock) {
  std::string buf;
  for (std::size_t off = 0; off < total;) {
    std::size_t n = std::min(block, total - off);
    fill_pattern(buf, off, n);
    if (!write_all(fd, buf.data(), n)) return 3;
    off += n;
  }
  return 0;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

std::size_t parse_size(const char* s) {
  return static_cast<std::size_t>(std::strtoull(s, nullptr, 10));
}

int usage() {
  write_str(2,
            "usage: cp_helper CMD [ARGS]\n"
            "  exit N              exit with status N\n"
            "  fail TEXT N         write TEXT\\n to stderr, exit N\n"
            "  out BYTES           write BYTES pattern bytes (i % 251) to stdout\n"
            "  err BYTES           the same to stderr\n"
            "  both BYTES          BYTES to stdout and BYTES to stderr, interleaved\n"
            "  cat                 copy stdin to stdout until EOF\n"
            "  count-stdin         read stdin to EOF, print the byte count\n"
            "  close-stdin         close fd 0, print 'closed', sleep up to 20 s\n"
            "  sleep MS            sleep MS milliseconds\n"
            "  ignore-term MS      ignore SIGTERM, print 'ready', sleep MS\n"
            "  kill-self SIGNO     raise signal SIGNO\n"
            "  env NAME            print $NAME (exit 1 when unset)\n"
            "  envall              print the environment, sorted, one per line\n"
            "  cwd                 print the working directory\n"
            "  argv                print argv (argv[0] included), one per line\n"
            "  sid                 print getsid(0) and getpid()\n"
            "  ids                 print getuid() and getgid()\n"
            "  echo-fd FD TEXT     write TEXT to fd FD\n"
            "  echo-fd-wait FD TEXT  write TEXT to fd FD, wait until FD has data to\n"
            "                      read (up to 20 s), exit 0 without reading it\n"
            "  fd3                 read fd 3 up to a newline, write it back uppercased\n"
            "  grandchild          fork a grandchild that prints its pid and holds\n"
            "                      stdout/stderr open for up to 25 s; exit at once\n"
            "  trap-term MS        on SIGTERM print 'TERM' and go on; print 'ready',\n"
            "                      sleep MS (SIGPIPE ignored: a closed stdout is no death)\n"
            "  group N MS          fork N grandchildren in this process group, each\n"
            "                      printing its pid then sleeping MS with stdio on\n"
            "                      /dev/null; wait until all printed, print 'leader PID',\n"
            "                      sleep MS\n"
            "  hold-stdout MS TEXT fork a grandchild that holds stdout/stderr open for\n"
            "                      MS; print TEXT\\n, the grandchild's pid\\n to stderr,\n"
            "                      exit 0\n"
            "  escape MS           fork a grandchild that calls setsid() (leaving this\n"
            "                      process group), prints its pid and holds stdout for\n"
            "                      MS; wait until it printed, exit 0\n"
            "  term-proof MS keep|drop  ignore SIGTERM, print its pid; with drop, then put\n"
            "                      /dev/null on fds 0-2 (holding no pipe); sleep MS\n"
            "  burn MS             spin until MS ms of CPU time are used, exit 0\n"
            "  touch MIB           allocate MIB MiB, write every page, exit 0\n"
            "  out-orphaned N PID  wait until this process's parent is no longer PID,\n"
            "                      then write N pattern bytes to stdout\n"
            "  fd3-raw N           write N bytes 'x' to fd 3 with no newline, then\n"
            "                      '\\n{\"after\":1}\\n', and exit 0\n"
            "  tty                 print 'isatty A B C' (fds 0-2), then 'ctty 0|1' (opens\n"
            "                      /dev/tty), 'foreground 0|1' (its group is the terminal's\n"
            "                      foreground one), 'leader 0|1' (leads its session)\n"
            "  winsize             print fd 0's terminal size: 'ROWS COLS'\n"
            "  winch               print 'ready', wait for SIGWINCH (up to 20 s), print\n"
            "                      the new size 'ROWS COLS'\n"
            "  colour              print 'red' in red when stdout is a terminal, else plain\n"
            "  prompt              print 'name? ' through stdio with no newline and no\n"
            "                      flush, read a line, print 'hello LINE'\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string_view cmd = argv[1];

  if (cmd == "exit" && argc == 3) return std::atoi(argv[2]);

  if (cmd == "fail" && argc == 4) {
    write_str(2, std::string(argv[2]) + "\n");
    return std::atoi(argv[3]);
  }

  if (cmd == "out" && argc == 3) return write_pattern(1, parse_size(argv[2]));
  if (cmd == "err" && argc == 3) return write_pattern(2, parse_size(argv[2]));

  if (cmd == "both" && argc == 3) {
    const std::size_t total = parse_size(argv[2]);
    const std::size_t block = 16 * 1024;
    std::string buf;
    for (std::size_t off = 0; off < total;) {
      std::size_t n = std::min(block, total - off);
      fill_pattern(buf, off, n);
      if (!write_all(1, buf.data(), n)) return 3;
      if (!write_all(2, buf.data(), n)) return 3;
      off += n;
    }
    return 0;
  }

  if (cmd == "cat" || cmd == "count-stdin") {
    std::vector<char> buf(kBlock);
    std::size_t count = 0;
    for (;;) {
      ssize_t r = ::read(0, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return 3;
      if (r == 0) break;
      count += static_cast<std::size_t>(r);
      if (cmd == "cat" && !write_all(1, buf.data(), static_cast<std::size_t>(r))) return 3;
    }
    if (cmd == "count-stdin") write_str(1, std::to_string(count) + "\n");
    return 0;
  }

  if (cmd == "close-stdin") {
    ::close(0);
    write_str(1, "closed\n");
    sleep_ms(20000);
    return 0;
  }

  if (cmd == "sleep" && argc == 3) {
    sleep_ms(std::atol(argv[2]));
    return 0;
  }

  if (cmd == "ignore-term" && argc == 3) {
    ::signal(SIGTERM, SIG_IGN);
    write_str(1, "ready\n");
    sleep_ms(std::atol(argv[2]));
    return 0;
  }

  if (cmd == "kill-self" && argc == 3) {
    const int sig = std::atoi(argv[2]);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return 99;  // not reached for a fatal signal
  }

  if (cmd == "env" && argc == 3) {
    const char* v = std::getenv(argv[2]);
    if (v == nullptr) return 1;
    write_str(1, std::string(v) + "\n");
    return 0;
  }

  if (cmd == "envall") {
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; ++e)
      vars.emplace_back(*e);
    std::sort(vars.begin(), vars.end());
    std::string text;
    for (const auto& v : vars)
      text += v + "\n";
    write_str(1, text);
    return 0;
  }

  if (cmd == "cwd") {
    char buf[4096];
    if (::getcwd(buf, sizeof buf) == nullptr) return 3;
    write_str(1, std::string(buf) + "\n");
    return 0;
  }

  if (cmd == "argv") {
    std::string text;
    for (int i = 0; i < argc; ++i)
      text += std::string(argv[i]) + "\n";
    write_str(1, text);
    return 0;
  }

  if (cmd == "sid") {
    write_str(1, std::to_string(::getsid(0)) + " " + std::to_string(::getpid()) + "\n");
    return 0;
  }

  if (cmd == "ids") {
    write_str(1, std::to_string(::getuid()) + " " + std::to_string(::getgid()) + "\n");
    return 0;
  }

  if (cmd == "echo-fd" && argc == 4) {
    return write_str(std::atoi(argv[2]), argv[3]) ? 0 : 3;
  }

  if (cmd == "echo-fd-wait" && argc == 4) {
    const int fd = std::atoi(argv[2]);
    if (!write_str(fd, argv[3])) return 3;
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 20000) < 0 && errno == EINTR) {
    }
    return 0;
  }

  if (cmd == "fd3") {
    std::string line;
    char c;
    for (;;) {
      ssize_t r = ::read(3, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      line += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (c == '\n') break;
    }
    return write_str(3, line) ? 0 : 3;
  }

  if (cmd == "grandchild") {
    pid_t pid = ::fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      write_str(1, std::to_string(::getpid()) + "\n");
      sleep_ms(25000);
      _exit(0);
    }
    return 0;
  }

  if (cmd == "trap-term" && argc == 3) {
    ::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = [](int) { write_str(1, "TERM\n"); };
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    write_str(1, "ready\n");
    // nanosleep returns early on the signal: sleep until the deadline regardless.
    timespec end{};
    ::clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += std::atol(argv[2]) / 1000;
    end.tv_nsec += (std::atol(argv[2]) % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
      end.tv_sec += 1;
      end.tv_nsec -= 1000000000L;
    }
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, nullptr) == EINTR) {
    }
    return 0;
  }

  if (cmd == "group" && argc == 4) {
    const int n = std::atoi(argv[2]);
    const long ms = std::atol(argv[3]);
    int ready[2];
    if (::pipe(ready) != 0) return 3;
    for (int i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid < 0) return 3;
      if (pid == 0) {
        ::close(ready[0]);
        write_str(1, std::to_string(::getpid()) + "\n");
        // Let go of the child's pipes: only the process group ties us to it now.
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::close(null);
        ::close(ready[1]);  // "my pid is out"
        sleep_ms(ms);
        _exit(0);
      }
    }
    ::close(ready[1]);
    char c;
    for (;;) {  // EOF once every grandchild closed its end
      ssize_t r = ::read(ready[0], &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
    }
    ::close(ready[0]);
    write_str(1, "leader " + std::to_string(::getpid()) + "\n");
    sleep_ms(ms);
    return 0;
  }

  if (cmd == "hold-stdout" && argc == 4) {
    pid_t pid = ::fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      sleep_ms(std::atol(argv[2]));
      _exit(0);
    }
    write_str(1, std::string(argv[3]) + "\n");
    write_str(2, std::to_string(pid) + "\n");
    return 0;
  }

  if (cmd == "escape" && argc == 3) {
    int ready[2];
    if (::pipe(ready) != 0) return 3;
    pid_t pid = ::fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      ::setsid();
      write_str(1, std::to_string(::getpid()) + "\n");
      ::close(ready[1]);
      sleep_ms(std::atol(argv[2]));
      _exit(0);
    }
    ::close(ready[1]);
    char c;
    while (::read(ready[0], &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
  }

  if (cmd == "term-proof" && argc == 4) {
    ::signal(SIGTERM, SIG_IGN);
    write_str(1, std::to_string(::getpid()) + "\n");
    if (std::string_view(argv[3]) == "drop") {
      const int null = ::open("/dev/null", O_RDWR);
      for (int fd = 0; fd < 3; ++fd)
        ::dup2(null, fd);
      if (null > 2) ::close(null);
    }
    sleep_ms(std::atol(argv[2]));
    return 0;
  }

  if (cmd == "burn" && argc == 3) {
    const long want_ns = std::atol(argv[2]) * 1000000L;
    volatile unsigned long sink = 0;
    for (;;) {
      for (int i = 0; i < 100000; ++i)
        sink = sink + static_cast<unsigned long>(i);
      timespec t{};
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
      if (t.tv_sec * 1000000000L + t.tv_nsec >= want_ns) return 0;
    }
  }

  if (cmd == "touch" && argc == 3) {
    const std::size_t bytes = static_cast<std::size_t>(std::atol(argv[2])) << 20;
    auto* mem = static_cast<volatile char*>(std::malloc(bytes));
    if (mem == nullptr) return 3;
    for (std::size_t i = 0; i < bytes; i += 4096)
      mem[i] = 1;
    return 0;
  }

  if (cmd == "out-orphaned" && argc == 4) {
    // A background writer that outlives its parent: its output comes only after the
    // child that the test spawned has exited. The parent's pid is given (a shell's $$):
    // read here, it could already be init's.
    const pid_t parent = static_cast<pid_t>(std::atol(argv[3]));
    while (::getppid() == parent)
      sleep_ms(1);
    return write_pattern(1, parse_size(argv[2]));
  }

  if (cmd == "fd3-raw" && argc == 3) {
    std::string block(kBlock, 'x');
    for (std::size_t left = parse_size(argv[2]); left > 0;) {
      const std::size_t n = std::min(left, block.size());
      if (!write_all(3, block.data(), n)) return 3;
      left -= n;
    }
    return write_str(3, "\n{\"after\":1}\n") ? 0 : 3;
  }

  if (cmd == "tty") {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    std::printf("isatty %d %d %d\nctty %d\nforeground %d\nleader %d\n", ::isatty(0), ::isatty(1),
                ::isatty(2), fd >= 0 ? 1 : 0, ::tcgetpgrp(0) == ::getpgrp() ? 1 : 0,
                ::getsid(0) == ::getpid() ? 1 : 0);
    return 0;
  }

  if (cmd == "winsize") {
    winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) != 0) return 1;
    std::printf("%u %u\n", ws.ws_row, ws.ws_col);
    return 0;
  }

  if (cmd == "winch") {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    write_str(1, "ready\n");
    const timespec limit{20, 0};
    if (sigtimedwait(&set, nullptr, &limit) != SIGWINCH) return 1;
    winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) != 0) return 1;
    std::printf("%u %u\n", ws.ws_row, ws.ws_col);
    return 0;
  }

  if (cmd == "colour") {
    std::fputs(::isatty(1) ? "\x1b[31mred\x1b[0m\n" : "red\n", stdout);
    return 0;
  }

  if (cmd == "prompt") {
    // Unflushed on purpose: a terminal's stdio is line-buffered and flushed before a
    // read; a pipe's would hold it until exit, and the parent would never be asked.
    std::fputs("name? ", stdout);
    char line[256];
    if (std::fgets(line, sizeof line, stdin) == nullptr) return 1;
    line[std::strcspn(line, "\n")] = '\0';
    std::printf("hello %s\n", line);
    return 0;
  }

  return usage();
}
