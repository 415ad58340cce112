#include "arguments.hpp"
#include "option_fields.hpp"

#include <childproc/fork.hpp>

#include <string>

namespace childproc {

std::shared_ptr<ChildProcess> fork(uv_loop_t* loop, std::string_view module,
                                   const std::vector<std::string>& args,
                                   const ForkOptions& options) {
  if (module.empty()) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The argument 'modulePath' cannot be empty. Received ''");
  }
  // Node's names: the messages are Node's, word for word.
  detail::check_path(module, "argument", "modulePath");
  detail::check_property(options.exec_path, "options.execPath");
  for (std::size_t i = 0; i < options.exec_argv.size(); ++i)
    detail::check_property(options.exec_argv[i], "options.execArgv[" + std::to_string(i) + "]");
  SpawnOptions so = detail::spawn_options_of(options);
  if (so.stdio.empty()) {
    const Stdio io = options.silent ? Stdio::pipe() : Stdio::inherit();
    so.stdio = {io, io, io, Stdio::ipc()};
  } else {
    bool has_ipc = false;
    for (const Stdio& s : so.stdio)
      has_ipc = has_ipc || s.kind() == Stdio::Kind::ipc;
    if (!has_ipc) {
      throw InvalidArgument("ERR_CHILD_PROCESS_IPC_REQUIRED",
                            "Forked processes must have an IPC channel, missing value 'ipc' in "
                            "options.stdio");
    }
  }
  std::vector<std::string> argv = options.exec_argv;
  argv.emplace_back(module);
  argv.insert(argv.end(), args.begin(), args.end());
  // As Node's `execPath || process.execPath`: empty is the default.
  return spawn(loop, options.exec_path.empty() ? "node" : options.exec_path, argv, so);
}

}  // namespace childproc
