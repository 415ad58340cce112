// Run a command as if in a terminal and capture what the terminal showed: colours,
// columns and prompts that a pipe would not get.
//
//   pty_capture ['<command>' [columns [rows]]]   (default: ls --color=auto -C /, 80x24)
//
// Prints the capture with its escape sequences made visible (ESC as "\e", the
// terminal's "\r\n" as a newline), then how the command ended and whether it used colour.
#include <childproc/childproc.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace cp = childproc;

static std::string visible(const std::string& shown) {
  std::string out;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] == '\r' && i + 1 < shown.size() && shown[i + 1] == '\n') continue;
    if (shown[i] == '\x1b') {
      out += "\\e";
    } else {
      out += shown[i];
    }
  }
  return out;
}

int main(int argc, char* argv[]) {
  const std::string command = argc > 1 ? argv[1] : "ls --color=auto -C /";
  cp::ExecOptions options;
  options.pty = true;  // stdin, stdout and stderr are one pseudo-terminal
  options.terminal_size =
      cp::TerminalSize{static_cast<unsigned short>(argc > 2 ? std::atoi(argv[2]) : 80),
                       static_cast<unsigned short>(argc > 3 ? std::atoi(argv[3]) : 24)};
  options.timeout = std::chrono::seconds(10);  // a command waiting for input is not left running

  cp::exec(command, options, [](const cp::ExecError& error, std::string shown, std::string) {
    std::cout << visible(shown);
    if (error) {
      std::cout << "failed: " << error.message() << '\n';
    } else {
      std::cout << "exit code 0\n";
    }
    std::cout << "colour: " << (shown.find("\x1b[") != std::string::npos ? "yes" : "no") << '\n';
  });
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  return uv_loop_close(uv_default_loop()) == 0 ? 0 : 1;
}
