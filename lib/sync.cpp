#include <childproc/child_process.hpp>
#include <childproc/sync.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>

#include "arguments.hpp"
#include "child_access.hpp"
#include "collector.hpp"
#include "exec_common.hpp"
#include "fd_floor.hpp"
#include "option_fields.hpp"
#include "stream_access.hpp"

namespace childproc {

namespace {

// One loop per call: nothing the caller owns is touched, so a sync call works from a
// loop callback and from several threads at once.
// libuv's first uv_loop_init in a process makes the loop's epoll fd, then a
// process-wide signal pipe, and aborts when it cannot make the pipe. Until a loop of
// ours has been made, check that three fds are free.
int init_loop(uv_loop_t* loop) noexcept {
  static std::atomic<bool> libuv_ready{false};
  if (!libuv_ready.load(std::memory_order_acquire)) {
    int probe[2];
    if (::pipe2(probe, O_CLOEXEC) != 0) return -errno;
    const int third = ::fcntl(probe[0], F_DUPFD_CLOEXEC, 0);
    const int err = third < 0 ? -errno : 0;
    ::close(probe[0]);
    ::close(probe[1]);
    if (third >= 0) ::close(third);
    if (err != 0) return err;
  }
  const int err = uv_loop_init(loop);
  if (err == 0) {
    libuv_ready.store(true, std::memory_order_release);
  } else if (const int epoll = uv_backend_fd(loop); epoll > 2) {
    ::close(epoll);  // libuv 1.44 leaves it open when a later step (the eventfd) fails
  }
  return err;
}

class PrivateLoop {
public:
  PrivateLoop() noexcept : init_error_(init_loop(&loop_)) {}
  ~PrivateLoop() {
    if (init_error_ != 0) return;  // libuv released what it had made
    // Normally every handle is closed once the child has closed; after an exception
    // part-way, close what is left so the loop (and its fds) can go.
    if (uv_loop_close(&loop_) == UV_EBUSY) {
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    }
  }
  PrivateLoop(const PrivateLoop&) = delete;
  PrivateLoop& operator=(const PrivateLoop&) = delete;
  uv_loop_t* get() noexcept { return &loop_; }
  /// uv_loop_init's result: EMFILE when this process has no fd left.
  int init_error() const noexcept { return init_error_; }

private:
  uv_loop_t loop_{};
  int init_error_;
};

Error sync_error(const ChildProcess& c, std::error_code code) {
  const auto& args = c.spawnargs();
  return Error{code,
               "spawnSync " + c.spawnfile(),
               c.spawnfile(),
               std::vector<std::string>(args.begin() + (args.empty() ? 0 : 1), args.end()),
               {}};
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent's stderr is gone: nothing better to do
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// spawn_sync() for options already in spawn()'s form (exec_sync's too).
SpawnSyncResult run_sync(std::string_view file, const std::vector<std::string>& args,
                         SpawnOptions so, const std::optional<std::string>& input,
                         std::size_t max_buffer) {
  while (so.stdio.size() < 3)
    so.stdio.push_back(Stdio::pipe());
  for (const Stdio& s : so.stdio) {
    if (s.kind() == Stdio::Kind::ipc) {
      throw InvalidArgument("ERR_IPC_SYNC_FORK", "IPC cannot be used with synchronous forks");
    }
  }
  if (input && so.stdio[0].kind() != Stdio::Kind::pipe && so.stdio[0].kind() != Stdio::Kind::pty) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The property 'options.input' needs stdin (options.stdio[0]) to be "
                          "a pipe or a pty");
  }

  // Declared first, so it outlives the loop: libuv's fds must not land on 0-2.
  const detail::StdFdFloor floor;
  PrivateLoop loop;
  if (loop.init_error() != 0) {
    // As a failed spawn: the error in the result, after the same argument checks.
    auto [spawnfile, spawnargs] = detail::checked_command(file, args, so);
    SpawnSyncResult failed;
    failed.error = Error{
        uv_error(loop.init_error()), "spawnSync " + spawnfile, spawnfile, std::move(spawnargs), {}};
    failed.output.resize(so.stdio.size());
    return failed;
  }
  auto child = spawn(loop.get(), file, args, so);
  ChildProcess* raw = child.get();
  SpawnSyncResult result;
  result.pid = child->pid();

  std::optional<Error> error;
  const std::size_t slots = so.stdio.size();
  auto stop_reading = [raw, slots] {
    for (std::size_t i = 0; i < slots; ++i) {
      if (const auto& s = raw->stdio(i); s && s->readable()) detail::StreamAccess::stop_reading(*s);
    }
  };
  // Every pty slot is the one terminal: its bytes are collected once, in the first of
  // slots 1, 2, 0 that is a pty (what it showed is the child's output).
  std::size_t tty_slot = slots;
  for (const std::size_t i : {1U, 2U, 0U}) {
    if (so.stdio[i].kind() == Stdio::Kind::pty) {
      tty_slot = i;
      break;
    }
  }
  std::vector<std::unique_ptr<detail::Collector>> collectors(so.stdio.size());
  for (std::size_t i = 0; i < collectors.size(); ++i) {
    const auto& s = child->stdio(i);
    if (!s || !s->readable()) continue;
    if (so.stdio[i].kind() == Stdio::Kind::pty && i != tty_slot) continue;
    collectors[i] = std::make_unique<detail::Collector>(max_buffer, [&, raw] {
      if (!error) error = sync_error(*raw, uv_error(UV_ENOBUFS));
      stop_reading();
      raw->terminate();
    });
    detail::StreamAccess::set_sink(*s, collectors[i].get());
  }
  detail::ChildAccess::before_timeout_kill(*child, [&, raw] {
    if (!error) error = sync_error(*raw, uv_error(UV_ETIMEDOUT));
    stop_reading();
  });
  child->on<ErrorEvent>([&, raw](const ErrorEvent& e) {
    if (error) return;
    Error converted = sync_error(*raw, e.error.code);
    if (e.error.code == errc::aborted) converted.text = e.error.text;
    error = std::move(converted);
  });
  if (const auto& in = child->std_in()) {
    // A child that exits without reading all of `input` is not an error (as Node).
    in->on<ErrorEvent>([](const ErrorEvent&) {});
    if (input) {
      in->end(*input);
    } else {
      in->end();
    }
  }

  uv_run(loop.get(), UV_RUN_DEFAULT);

  result.error = std::move(error);
  if (result.pid) {  // after a failed spawn exit_code() is -errno, which is no status
    result.status = child->exit_code();
    result.signal = child->signal_code();
    result.usage = child->resource_usage();
  }
  result.output.resize(collectors.size());
  for (std::size_t i = 0; i < collectors.size(); ++i) {
    if (collectors[i]) result.output[i] = collectors[i]->take();
  }
  if (result.output[1]) result.out = *result.output[1];
  if (result.output[2]) result.err = *result.output[2];
  return result;
}

}  // namespace

// The key function: the vtable and type_info live in the library, once.
ExecSyncError::~ExecSyncError() = default;

SpawnSyncResult spawn_sync(std::string_view file, const std::vector<std::string>& args,
                           const SpawnSyncOptions& options) {
  return run_sync(file, args, detail::spawn_options_of(options), options.input, options.max_buffer);
}

namespace {

std::string run_exec_sync(std::string_view file, const std::vector<std::string>& args,
                          const ExecSyncOptions& o, bool shell_default, std::string cmd) {
  SpawnOptions so = detail::exec_spawn_options(o, shell_default);
  if (!o.pty) so.stdio = o.stdio;
  SpawnSyncResult r = run_sync(file, args, std::move(so), o.input, o.max_buffer);
  // As Node's execSync: with the default stdio the child's stderr is shown as well.
  if (o.stdio.empty()) write_all(STDERR_FILENO, r.err);
  if (!r.error && r.status == 0) return std::move(r.out);
  std::string message;
  if (r.error) {
    message = r.error->message();
  } else {
    message = "Command failed: " + cmd;
    if (!r.err.empty()) message += "\n" + r.err;
  }
  throw ExecSyncError(message, std::move(cmd), std::move(r));
}

}  // namespace

std::string exec_sync(std::string_view command, const ExecSyncOptions& options) {
  if (command.empty()) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "The argument 'file' cannot be empty. Received ''");
  }
  detail::check_argument(command, "command");
  return run_exec_sync(command, {}, options, true, std::string(command));
}

std::string exec_file_sync(std::string_view file, const std::vector<std::string>& args,
                           const ExecSyncOptions& options) {
  return run_exec_sync(file, args, options, false, detail::join_command(file, args));
}

}  // namespace childproc
