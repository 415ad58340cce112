#include "arguments.hpp"
#include "child_access.hpp"
#include "collector.hpp"
#include "exec_common.hpp"
#include "stream_access.hpp"

#include <childproc/exec.hpp>

#include <algorithm>
#include <limits>

namespace childproc {

struct detail::ExecAccess {
  static std::string& message(ExecError& e) noexcept { return e.message_; }
};

using detail::Collector;

namespace {

using detail::ExecAccess;

struct ExecState {
  ExecResultCallback callback;
  std::string cmd;
  std::weak_ptr<ChildProcess> child;
  std::error_code overflow;
  std::string overflow_message;
  // Node's exec reports `killed` once it decided to kill, even if the child had
  // already exited and only a grandchild held the pipes.
  bool kill_decided = false;
  Collector out;
  Collector err;
  // ExecOptions::all: what `out` and `err` keep, in arrival order (so it never overflows).
  Collector all;

  ExecState(ExecResultCallback cb, std::string command, const ExecOptions& o)
      : callback(std::move(cb)),
        cmd(std::move(command)),
        out(o.max_buffer, [this] { on_overflow("stdout"); }),
        err(o.max_buffer, [this] { on_overflow("stderr"); }),
        all(o.all ? saturating_twice(o.max_buffer) : 0, [] {}) {
    if (o.all) {
      out.mirror_to(&all);
      err.mirror_to(&all);
    }
  }

  static std::size_t saturating_twice(std::size_t n) noexcept {
    return n > std::numeric_limits<std::size_t>::max() / 2 ? std::numeric_limits<std::size_t>::max()
                                                           : 2 * n;
  }

  void on_overflow(const char* which) {
    if (!overflow) {
      overflow = make_error_code(errc::max_buffer_exceeded);
      overflow_message = std::string(which) + " maxBuffer length exceeded";
    }
    kill_decided = true;
    if (auto c = child.lock()) {
      stop_reading(*c);
      detail::ChildAccess::terminate_for(*c, KillReason::max_buffer);
    }
  }

  // Node's exec, when it kills the child (max_buffer, timeout), destroys stdout and
  // stderr first: the callback then comes at the child's exit, not when a grandchild
  // that inherited the pipes closes them, and no byte past the decision is kept.
  static void stop_reading(ChildProcess& c) {
    for (const auto& s : {c.std_out(), c.std_err()}) {
      if (s) detail::StreamAccess::stop_reading(*s);
    }
  }

  void attach(ChildProcess& c) {
    if (c.std_out()) detail::StreamAccess::set_sink(*c.std_out(), &out);
    // With a pty both are the one terminal: what it showed is `out`.
    if (c.std_err() && c.std_err() != c.std_out())
      detail::StreamAccess::set_sink(*c.std_err(), &err);
  }

  void finish(ChildProcess& c, ExecError& e) {
    if (!callback) return;
    for (const auto& s : {c.std_out(), c.std_err()}) {
      if (s) detail::StreamAccess::set_sink(*s, nullptr);
    }
    auto cb = std::move(callback);
    callback = nullptr;
    e.cmd = cmd;
    cb(ExecResult{std::move(e), out.take(), err.take(), all.take(), c.kill_reason(),
                  c.resource_usage()});
  }

  void on_error(ChildProcess& c, const Error& error) {
    if (!callback) return;
    ExecError e;
    e.code = error.code;
    ExecAccess::message(e) = error.message();
    e.syscall = error.syscall;
    e.path = error.path;
    e.killed = c.killed();
    finish(c, e);
    stop_reading(c);  // as Node: after an error nobody reads the output any more
  }

  void on_close(ChildProcess& c) {
    if (!callback) return;
    ExecError e;
    e.exit_code = c.exit_code();
    e.signal = c.signal_code();
    if (overflow) {
      e.code = overflow;
      ExecAccess::message(e) = overflow_message;
    } else if (c.timed_out()) {
      e.code = make_error_code(errc::timed_out);
    } else if (c.exit_code() != 0 || c.signal_code()) {
      e.code = make_error_code(errc::command_failed);
    }
    // A success stays one, as Node's null error, even if a kill had been decided.
    e.killed = c.killed() || (kill_decided && e.code);
    if (e.code && e.message().empty()) {
      ExecAccess::message(e) = "Command failed: " + cmd + "\n" + std::string(err.view());
    }
    finish(c, e);
  }
};

std::shared_ptr<ChildProcess> run(uv_loop_t* loop, std::string_view file,
                                  const std::vector<std::string>& args, const ExecOptions& o,
                                  bool shell_default, std::string cmd,
                                  ExecResultCallback callback) {
  SpawnOptions so = detail::exec_spawn_options(o, shell_default);
  auto state = std::make_shared<ExecState>(std::move(callback), std::move(cmd), o);
  auto child = spawn(loop, file, args, so);
  state->child = child;
  state->attach(*child);
  // The child owns the state (its streams read into it) and the listeners; both raw
  // pointers below live exactly as long as the listeners that use them.
  ChildProcess* raw = child.get();
  ExecState* st = state.get();
  detail::ChildAccess::attach(*child, std::move(state));
  detail::ChildAccess::before_timeout_kill(*child, [raw, st] {
    st->kill_decided = true;
    ExecState::stop_reading(*raw);
  });
  child->on<ErrorEvent>([st, raw](const ErrorEvent& e) { st->on_error(*raw, e.error); });
  child->on<CloseEvent>([st, raw](const CloseEvent&) { st->on_close(*raw); });
  return child;
}

// Node's callback shape on top of the whole result.
ExecResultCallback results(ExecCallback callback) {
  return
      [cb = std::move(callback)](ExecResult r) { cb(r.error, std::move(r.out), std::move(r.err)); };
}

}  // namespace

std::string_view ExecError::signal_name() const noexcept {
  return signal ? childproc::signal_name(*signal) : std::string_view();
}

std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                   const ExecOptions& options, ExecResultCallback callback) {
  if (command.empty()) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The argument 'file' cannot be empty. Received ''");
  }
  detail::check_argument(command, "command");
  return run(loop, command, {}, options, true, std::string(command), std::move(callback));
}

std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                   const ExecOptions& options, ExecCallback callback) {
  return exec(loop, command, options, results(std::move(callback)));
}

std::shared_ptr<ChildProcess> exec(uv_loop_t* loop, std::string_view command,
                                   ExecCallback callback) {
  return exec(loop, command, ExecOptions{}, std::move(callback));
}

std::shared_ptr<ChildProcess> exec(std::string_view command, const ExecOptions& options,
                                   ExecCallback callback) {
  return exec(uv_default_loop(), command, options, std::move(callback));
}

std::shared_ptr<ChildProcess> exec(std::string_view command, ExecCallback callback) {
  return exec(uv_default_loop(), command, ExecOptions{}, std::move(callback));
}

std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                        const std::vector<std::string>& args,
                                        const ExecOptions& options, ExecResultCallback callback) {
  return run(loop, file, args, options, false, detail::join_command(file, args),
             std::move(callback));
}

std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                        const std::vector<std::string>& args,
                                        const ExecOptions& options, ExecCallback callback) {
  return exec_file(loop, file, args, options, results(std::move(callback)));
}

std::shared_ptr<ChildProcess> exec_file(uv_loop_t* loop, std::string_view file,
                                        const std::vector<std::string>& args,
                                        ExecCallback callback) {
  return exec_file(loop, file, args, ExecOptions{}, std::move(callback));
}

std::shared_ptr<ChildProcess> exec_file(std::string_view file, const std::vector<std::string>& args,
                                        const ExecOptions& options, ExecCallback callback) {
  return exec_file(uv_default_loop(), file, args, options, std::move(callback));
}

std::shared_ptr<ChildProcess> exec_file(std::string_view file, const std::vector<std::string>& args,
                                        ExecCallback callback) {
  return exec_file(uv_default_loop(), file, args, ExecOptions{}, std::move(callback));
}

struct ExecAwaiter::State {
  std::coroutine_handle<> waiter;
  bool done = false;
  ExecResult result;
  std::weak_ptr<ChildProcess> child;
};

ExecAwaiter::ExecAwaiter(uv_loop_t* loop, std::string file, std::vector<std::string> args,
                         ExecOptions options, bool shell) noexcept
    : loop_(loop),
      file_(std::move(file)),
      args_(std::move(args)),
      options_(std::move(options)),
      shell_(shell) {}

ExecAwaiter::~ExecAwaiter() {
  if (!state_ || state_->done) return;
  // The awaiting coroutine is gone: nobody will read the result, so the child goes.
  state_->waiter = {};
  if (auto c = state_->child.lock()) c->terminate();
}

bool ExecAwaiter::await_suspend(std::coroutine_handle<> waiter) {
  state_ = std::make_shared<State>();
  auto done = [s = state_](ExecResult r) {
    s->result = std::move(r);
    s->done = true;
    if (auto w = std::exchange(s->waiter, {})) w.resume();
  };
  auto child = shell_ ? exec(loop_, file_, options_, std::move(done))
                      : exec_file(loop_, file_, args_, options_, std::move(done));
  state_->child = child;
  // Only now may the callback resume the coroutine: never from inside this call.
  if (state_->done) return false;
  state_->waiter = waiter;
  return true;
}

ExecResult ExecAwaiter::await_resume() {
  return std::move(state_->result);
}

ExecAwaiter exec_async(uv_loop_t* loop, std::string_view command, ExecOptions options) {
  return ExecAwaiter(loop, std::string(command), {}, std::move(options), true);
}

ExecAwaiter exec_file_async(uv_loop_t* loop, std::string_view file, std::vector<std::string> args,
                            ExecOptions options) {
  return ExecAwaiter(loop, std::string(file), std::move(args), std::move(options), false);
}

}  // namespace childproc
