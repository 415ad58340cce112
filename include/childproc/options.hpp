// Options for spawn(): Node's spawn options with C++ types.
#pragma once

#include <childproc/version.hpp>

#include <childproc/signals.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

namespace childproc {

class Stream;

/// A child's environment: name -> value.
using Env = std::map<std::string, std::string>;

/// What one of the child's fds (0, 1, 2, 3, ...) is connected to.
class Stdio {
public:
  enum class Kind {
    pipe,     ///< a pipe to the parent (fd 0-2: a real pipe; fd 3+: a socketpair, both ways)
    ignore,   ///< /dev/null for fds 0-2; fd 3 and up are not set up (closed unless the
              ///< parent has that fd open without CLOEXEC)
    inherit,  ///< the parent's own fd with the same number
    fd,       ///< a parent fd, given by number
    stream,   ///< another child's stdio stream: the kernel connects the two children
    ipc,      ///< Node's IPC channel (a socketpair): messages, not bytes
    pty,      ///< a pseudo-terminal shared by every slot of 0-2 that asks for it
  };

  /// A pipe to the parent: the child's stdio stream in `ChildProcess::stdio(i)`.
  static Stdio pipe() noexcept { return Stdio(Kind::pipe, -1); }
  /// Node's 'ipc': the child gets a socket on this fd and NODE_CHANNEL_FD=<fd>,
  /// NODE_CHANNEL_SERIALIZATION_MODE=json in its environment; the parent talks to it
  /// with ChildProcess::send() and MessageEvent (ipc.hpp). At most one slot; its
  /// `ChildProcess::stdio(i)` is null.
  static Stdio ipc() noexcept { return Stdio(Kind::ipc, -1); }
  /// A pseudo-terminal (fds 0-2 only; an extension: Node has none). Every slot that
  /// asks for one shares the same terminal, which becomes the child's controlling
  /// terminal: the child starts a new session, as under `script` or an xterm. The
  /// parent reads what the terminal shows and types into it through one duplex Stream:
  /// `stdio(i)` of each pty slot, and `ChildProcess::terminal()`. Its size is
  /// SpawnOptions::terminal_size; ChildProcess::resize_terminal() changes it.
  static Stdio pty() noexcept { return Stdio(Kind::pty, -1); }
  /// Nothing: /dev/null for fds 0-2.
  static Stdio ignore() noexcept { return Stdio(Kind::ignore, -1); }
  /// The parent's fd with the same number.
  static Stdio inherit() noexcept { return Stdio(Kind::inherit, -1); }
  /// The parent's fd `n` (must be >= 0; the parent keeps it open).
  static Stdio fd(int n) noexcept { return Stdio(Kind::fd, n); }
  /// Another child's stdio stream on the same loop (`ps->std_out()` as grep's stdin,
  /// or `grep->std_in()` as ps's stdout): the new child gets that pipe itself. Once
  /// the spawn succeeds the parent closes its end, so no byte passes through the
  /// parent. Hand the stream over before returning to the loop: bytes the parent read
  /// before that are not the new child's.
  static Stdio from(std::shared_ptr<Stream> stream) noexcept {
    Stdio s(Kind::stream, -1);
    s.stream_ = std::move(stream);
    return s;
  }

  Kind kind() const noexcept { return kind_; }
  /// The parent fd for Kind::fd, else -1.
  int fd_number() const noexcept { return fd_; }
  /// The stream for Kind::stream, else null.
  const std::shared_ptr<Stream>& stream() const noexcept { return stream_; }

private:
  Stdio(Kind kind, int fd) noexcept : kind_(kind), fd_(fd) {}
  Kind kind_;
  int fd_;
  std::shared_ptr<Stream> stream_;
};

/// A terminal's size in character cells (a pty's TIOCSWINSZ). 0 means unknown.
struct TerminalSize {
  unsigned short columns = 80;
  unsigned short rows = 24;
};

/// The default of SpawnOptions::max_message and Channel::set_max_message(): 64 MiB.
inline constexpr std::size_t kDefaultMaxMessage = std::size_t{64} << 20;

/// spawn()'s options. Every field is optional: `{}` runs the program with three pipes
/// in the parent's cwd and environment. SpawnSyncOptions and ForkOptions repeat these
/// fields (no inheritance, so designated initialisers work): a field added here goes
/// there too, and into the copies in lib/option_fields.hpp.
struct SpawnOptions {
  /// The child's working directory (default: the parent's).
  std::optional<std::string> cwd{};
  /// Replaces the environment when set. The program is looked up in this PATH.
  std::optional<Env> env{};
  /// argv[0] as the child sees it (default: the file).
  std::optional<std::string> argv0{};
  /// One entry per child fd from 0; missing entries of 0-2 are pipes. Empty: three pipes.
  std::vector<Stdio> stdio{};
  /// Run the child in a new session (setsid), its own process group leader.
  bool detached = false;
  /// Run as this user / group (needs privilege; EPERM otherwise).
  std::optional<int> uid{};
  std::optional<int> gid{};
  /// false: run `file` directly; true: `/bin/sh -c "<file> <args...>"`; a string: that shell.
  std::variant<bool, std::string> shell = false;
  /// Kill with `kill_signal` after this long (0: never). Must not be negative.
  std::chrono::milliseconds timeout{0};
  /// The signal for `timeout`, cancellation and terminate().
  Signal kill_signal{};
  /// When childproc itself sends `kill_signal` (timeout, cancellation, exec's
  /// max_buffer, terminate()), send SIGKILL this long after if the child is still
  /// alive. 0: never, as Node. Must not be negative.
  std::chrono::milliseconds force_kill_after{0};
  /// After the child exits, wait at most this long for its stdio pipes to close (a
  /// grandchild may hold them), then close the parent's ends so CloseEvent comes.
  /// Data received until then is delivered. 0: wait forever, as Node.
  std::chrono::milliseconds close_timeout{0};
  /// The IPC channel's format. Only "json" (Node's default) is spoken; anything else
  /// ("advanced") is rejected when spawning.
  std::string serialization = "json";
  /// The longest IPC message accepted from the child, in bytes: a longer one is
  /// skipped with an ErrorEvent (errc::message_too_large). (A parent_channel() end:
  /// Channel::set_max_message().)
  std::size_t max_message = kDefaultMaxMessage;
  /// Requesting stop (from any thread) kills the child with `kill_signal` and emits an
  /// ErrorEvent with errc::aborted: Node's `signal` option (AbortSignal).
  std::stop_token stop_token{};
  /// Every signal childproc sends to the child (kill(), terminate(), timeout,
  /// cancellation, force_kill_after, exec's max_buffer, ChildGuard) reaches its whole
  /// tree, until CloseEvent: through a cgroup v2 of the child's own where one can be
  /// made (grandchildren that left the process group included), else a new process group
  /// the child leads. ChildProcess::tree_mechanism() says which.
  bool kill_tree = false;
  /// The child gets SIGKILL when the thread that spawned it ends (the whole process
  /// dying included, by any means): PR_SET_PDEATHSIG. A set-user-ID program the child
  /// execs clears it.
  bool die_with_parent = false;
  /// Start the child from one of childproc's launcher threads instead of the loop's
  /// thread: spawn() returns at once, and the loop goes on (reading other children's
  /// output) while the child execs, which a server spawning per request needs. The
  /// streams exist at once; pid() is empty until SpawnEvent; a signal sent before then
  /// (kill(), terminate(), a stop) is delivered when the child has started; the timeout
  /// runs from then. Applies to the clone launcher without an IPC slot; elsewhere (and
  /// if no thread can be started) the launch happens in spawn(), as without it.
  bool background_launch = false;
  /// The size of the pseudo-terminal of Stdio::pty() slots (default 80x24); ignored
  /// without one.
  std::optional<TerminalSize> terminal_size{};
};

}  // namespace childproc
