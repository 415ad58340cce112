// pipeline: `ps ax | grep ssh`, two children joined by the kernel.
//
// grep's stdin is ps's stdout itself (Stdio::from): the kernel moves the bytes from ps
// to grep, and none passes through this program. grep's output is printed as it
// arrives. Usage: pipeline [pattern]   (default: ssh)
//
// Exit status, as a shell script that treats "no match" as a normal answer:
//   grep exit 0 (lines matched)  -> 0
//   grep exit 1 (no line)        -> prints "no match", 0
//   grep exit 2+ (grep's error)  -> that code
//   grep killed by a signal      -> 1, and the signal on stderr
//   ps or grep could not start   -> 1, and the error on stderr ("spawn ps ENOENT")
// As in a shell without `pipefail`, ps's own exit status does not count.
#include <childproc/childproc.hpp>

#include <uv.h>

#include <iostream>
#include <memory>
#include <string>

namespace cp = childproc;

int main(int argc, char** argv) {
  const std::string pattern = argc > 1 ? argv[1] : "ssh";
  uv_loop_t* loop = uv_default_loop();

  bool failed = false;
  auto report = [&failed](const cp::ErrorEvent& e) {
    std::cerr << "pipeline: " << e.error.message() << '\n';
    failed = true;
  };

  // ps: nothing on stdin, stdout to a pipe, its errors straight to our stderr.
  auto ps = cp::spawn(loop, "ps", {"ax"},
                      {.stdio = {cp::Stdio::ignore(), cp::Stdio::pipe(), cp::Stdio::inherit()}});
  ps->on<cp::ErrorEvent>(report);

  // grep only if ps started (a failed spawn leaves pid() empty; its ErrorEvent comes
  // from the loop). ps's stdout is handed over before we return to the loop, so this
  // program never reads a byte of it; once grep has started, our end of that pipe is
  // closed.
  std::shared_ptr<cp::ChildProcess> grep;
  if (ps->pid()) {
    grep = cp::spawn(
        loop, "grep", {pattern},
        {.stdio = {cp::Stdio::from(ps->std_out()), cp::Stdio::pipe(), cp::Stdio::inherit()}});
    grep->on<cp::ErrorEvent>(report);
    grep->std_out()->on<cp::DataEvent>([](const cp::DataEvent& e) {
      std::cout << e.chunk << std::flush;  // valid only during this call: print it now
    });
  }

  uv_run(loop, UV_RUN_DEFAULT);

  if (failed || !grep) {
    return 1;
  }
  if (grep->signal_code()) {
    std::cerr << "pipeline: grep killed by " << cp::signal_name(*grep->signal_code()) << '\n';
    return 1;
  }
  const int code = grep->exit_code().value_or(1);
  if (code == 1) {
    std::cout << "no match\n";
    return 0;
  }
  return code;
}
