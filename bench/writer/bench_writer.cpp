// bench-writer N: writes N bytes of bench::pattern_byte to stdout in 1 MiB writes and
// exits 0 (1 on a write error). Plain POSIX; the harness's output producer.
#include "../pattern.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench-writer BYTES\n");
    return 2;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long total = std::strtoull(argv[1], &end, 10);
  if (errno != 0 || end == argv[1] || *end != '\0') {
    std::fprintf(stderr, "bench-writer: bad byte count '%s'\n", argv[1]);
    return 2;
  }
  std::vector<unsigned char> block(bench::kWriterBlock);
  for (std::size_t i = 0; i < block.size(); ++i)
    block[i] = bench::pattern_byte(i);

  unsigned long long left = total;
  while (left > 0) {
    // Every write starts at a multiple of 1 MiB of output, so the block lines up.
    std::size_t want = left < block.size() ? static_cast<std::size_t>(left) : block.size();
    std::size_t off = 0;
    while (off < want) {
      const ssize_t n = ::write(STDOUT_FILENO, block.data() + off, want - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::perror("bench-writer: write");
        return 1;
      }
      off += static_cast<std::size_t>(n);
    }
    left -= want;
  }
  return 0;
}
