// The byte pattern bench-writer emits and the harness checks: byte i of the output is
// pattern_byte(i). It repeats every MiB, so the writer fills one 1 MiB buffer once.
#pragma once

#include <cstddef>

namespace bench {

constexpr std::size_t kWriterBlock = std::size_t{1} << 20;

constexpr unsigned char pattern_byte(std::size_t i) noexcept {
  const std::size_t j = i % kWriterBlock;
  return static_cast<unsigned char>((j * 7 + (j >> 10)) & 0xff);
}

}  // namespace bench
