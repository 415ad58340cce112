// The founding article's example ("How to spawn a child process", 2011) in C++.
// Prints what the article's Node program prints, less Node's "    at ..." stack lines.
// Usage: exec_ls [command]   (default: ls -l)
#include <childproc/childproc.hpp>

#include <iostream>
#include <string>

namespace cp = childproc;

// Node's error.code: the exit code after a failed command, a string code when the
// child never ran or childproc stopped it, null after a signal.
static std::string node_error_code(const cp::ExecError& error) {
  if (error.code == cp::errc::max_buffer_exceeded || error.code == cp::errc::aborted ||
      !error.syscall.empty()) {
    return cp::code_name(error.code);
  }
  return error.exit_code ? std::to_string(*error.exit_code) : "null";
}

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "ls -l";

  auto ls = cp::exec(command, [](const cp::ExecError& error, std::string out, std::string err) {
    if (error) {
      std::cout << "Error: " << error.message() << '\n';
      std::cout << "Error code: " << node_error_code(error) << '\n';
      std::cout << "Signal received: " << (error.signal ? std::string(error.signal_name()) : "null")
                << '\n';
    }
    std::cout << "Child Process STDOUT: " << out << '\n';
    std::cout << "Child Process STDERR: " << err << '\n';
  });

  ls->on<cp::ExitEvent>([](const cp::ExitEvent& e) {
    std::cout << "Child process exited with exit code "
              << (e.code ? std::to_string(*e.code) : "null") << '\n';
  });

  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  return uv_loop_close(uv_default_loop()) == 0 ? 0 : 1;
}
