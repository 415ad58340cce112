// spawn_stream: talk to a child through its stdin and stdout.
//
// Starts `cat`, sends it two lines one at a time (the next line goes out when the
// previous one has come back), then ends its stdin so it exits. Prints:
//
//   stdout: hello
//   stdout: world
//   exit code 0
//   closed
//
// Each chunk is exactly one line: a write of a few bytes to a pipe is atomic, cat
// writes back what it read in one write, and the next line is only sent after the
// previous one has been read back.
#include <childproc/childproc.hpp>

#include <uv.h>

#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

namespace cp = childproc;

int main() {
  uv_loop_t* loop = uv_default_loop();
  auto child = cp::spawn(loop, "cat");

  const std::vector<std::string> lines{"hello\n", "world\n"};
  std::size_t next = 0;

  // Sends the next line, or ends stdin (cat then sees EOF and exits) when none is left.
  auto send_next = [&] {
    if (next < lines.size()) {
      child->std_in()->write(lines[next++]);
    } else {
      child->std_in()->end();
    }
  };

  child->std_out()->on<cp::DataEvent>([&](const cp::DataEvent& e) {
    // e.chunk is valid only during this call: print it (or copy it) now.
    std::cout << "stdout: " << e.chunk << std::flush;
    send_next();
  });
  child->on<cp::ExitEvent>([](const cp::ExitEvent& e) {
    if (e.code) {
      std::cout << "exit code " << *e.code << '\n';
    } else {
      std::cout << "killed by " << cp::signal_name(*e.signal) << '\n';
    }
  });
  child->on<cp::CloseEvent>([](const cp::CloseEvent&) { std::cout << "closed\n"; });
  child->on<cp::ErrorEvent>(
      [](const cp::ErrorEvent& e) { std::cerr << "error: " << e.error.message() << '\n'; });

  send_next();  // the pipe is open already; nothing is emitted until uv_run
  uv_run(loop, UV_RUN_DEFAULT);
  return child->exit_code() == 0 ? 0 : 1;
}
