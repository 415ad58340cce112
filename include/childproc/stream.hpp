// The parent's end of a child's stdio: readable (stdout, stderr), writable (stdin), or
// both (extra slots on fd 3 and up).
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/error.hpp>
#include <childproc/event_emitter.hpp>

#include <coroutine>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace childproc {

/// A chunk of bytes read from the child. The view is valid only during the call:
/// copy what you keep.
struct DataEvent {
  std::string_view chunk;
};
/// The child closed its end: no more DataEvents.
struct EndEvent {};
/// One line of the stream, without its "\n" (or "\r\n"), emitted only while someone
/// listens to LineEvent, after the DataEvent that completed it. The last line comes at
/// the end even without a newline. A line longer than max_line() comes in pieces of
/// max_line() bytes, each but the last with `partial` set, so memory stays bounded.
/// The view is valid only during the call.
struct LineEvent {
  std::string_view line;
  bool partial = false;
};
/// `write()` returned false earlier and the queued bytes have now all been written.
struct DrainEvent {};
/// After `end()`: every queued byte was written and the write side is shut.
struct FinishEvent {};
/// The stream's fd is closed; the last event a stream emits. Also the ChildProcess's
/// last event, which sets `code` (exit code, or -errno after a failed spawn) or
/// `signal`; for a stream both are empty.
struct CloseEvent {
  std::optional<int> code;
  std::optional<int> signal;
};
/// Something failed: a write to a child that is gone (EPIPE), a spawn error, a
/// cancellation. With no listener it goes to the UnhandledHandler, never a crash.
struct ErrorEvent {
  Error error;
};

class Stream;
class ReadAwaiter;
class WriteAwaiter;
namespace detail {
struct StreamAccess;
struct StreamText;
struct WriteQueue;
/// Receives every chunk a stream reads, before its DataEvent (exec and the sync
/// variants collect output this way). Must not throw.
struct ReadSink {
  virtual ~ReadSink() = default;
  virtual void consume(std::string_view chunk) noexcept = 0;
};
}  // namespace detail

/// One stdio pipe, Node's net.Socket in the parent. Lives while its fd is open, even
/// with no shared_ptr left; the ChildProcess holds it too. All calls from the loop's
/// thread.
class Stream final : public EventEmitter<DataEvent, EndEvent, LineEvent, DrainEvent, FinishEvent,
                                         CloseEvent, ErrorEvent>,
                     public std::enable_shared_from_this<Stream> {
public:
  /// Called once a write has reached the kernel (empty code) or failed.
  using WriteCallback = std::function<void(std::error_code)>;

  CHILDPROC_API ~Stream();

  /// True until EndEvent (or close): more data may come.
  bool readable() const noexcept { return readable_; }
  /// True while `write()` is accepted: not ended, not closed, writable side.
  bool writable() const noexcept { return writable_ && !ending_ && !closing_; }
  /// True once the fd is closed or closing.
  bool closed() const noexcept { return closing_; }
  /// The parent's fd, -1 after close.
  int fd() const noexcept { return closing_ ? -1 : fd_; }
  uv_loop_t* loop() const noexcept { return loop_; }

  /// Stops reading: the data waits in the pipe and a child writing more blocks.
  CHILDPROC_API void pause();
  /// Reads again.
  CHILDPROC_API void resume();
  bool paused() const noexcept { return paused_; }

  /// Queues `data` for the child (written at once where the pipe has room). Returns
  /// false when the queue has reached the high-water mark: wait for DrainEvent. After
  /// `end()` or close it writes nothing and returns false; EPIPE then reaches `cb`
  /// from the loop, and an ErrorEvent comes once per stream (as Node's 'error').
  CHILDPROC_API bool write(std::string_view data, WriteCallback cb = {});
  /// As above, taking ownership so a queued remainder is not copied.
  CHILDPROC_API bool write(std::string&& data, WriteCallback cb = {});
  /// As above, for a C string (without this, a literal would be ambiguous).
  bool write(const char* data, WriteCallback cb = {}) {
    return write(std::string_view(data), std::move(cb));
  }
  /// Writes what is queued, then closes the write side: the child reads EOF.
  /// FinishEvent, then CloseEvent (for a stream that is not also readable). On a
  /// terminal (Stdio::pty()) the write side cannot be shut: end() types the end-of-file
  /// character (Ctrl-D; twice when the current line is not empty, so a canonical-mode
  /// reader sees EOF) and stops writing, and reading goes on.
  CHILDPROC_API void end();
  /// `write(data)` then `end()`.
  CHILDPROC_API void end(std::string_view data);
  /// Closes now; queued writes fail with ECANCELED. CloseEvent follows.
  CHILDPROC_API void destroy();

  /// Bytes queued and not yet written.
  std::size_t writable_length() const noexcept { return queued_bytes_; }
  /// The queue size at which `write()` starts returning false (Node's 16 KiB).
  std::size_t high_water_mark() const noexcept { return high_water_mark_; }
  void set_high_water_mark(std::size_t bytes) noexcept { high_water_mark_ = bytes; }

  /// Whether this stream keeps its loop alive (the default) or not.
  CHILDPROC_API void ref() noexcept;
  CHILDPROC_API void unref() noexcept;

  /// The longest line LineEvent and read_line() deliver whole (default 1 MiB); a
  /// longer one comes in pieces of this size.
  CHILDPROC_API std::size_t max_line() const noexcept;
  CHILDPROC_API void set_max_line(std::size_t bytes);

  /// `co_await stream->read_line()`: the next line without its "\n" (or "\r\n"), the
  /// last line at the end even without a newline, then empty. From the first call on,
  /// the stream keeps what it reads for the next call (and pauses when 64 KiB or a
  /// max_line() is waiting unread); what it read before the first call went only to
  /// DataEvent. One read at a time per stream.
  CHILDPROC_API ReadAwaiter read_line();
  /// `co_await stream->read()`: the next chunk (what is buffered, or the next read),
  /// or empty at the end. Shares read_line()'s buffer.
  CHILDPROC_API ReadAwaiter read();
  /// `co_await stream->write_all(data)`: writes `data` and resumes once the queue is
  /// below the high-water mark again (at once when it already is), with the write's
  /// error if it failed (EPIPE for a child that closed its stdin or died).
  CHILDPROC_API WriteAwaiter write_all(std::string data);

private:
  friend struct detail::StreamAccess;
  friend class ReadAwaiter;
  // Public for make_shared (one allocation with the control block), yet only the
  // library can name its first argument.
  class Key {
    friend struct detail::StreamAccess;
    Key() = default;
  };

public:
  Stream(Key, uv_loop_t* loop, int fd, bool readable, bool writable, bool socket);

private:
  bool queue_write(std::string_view view, std::string* owned, WriteCallback cb);
  void update_poll();
  int ensure_poll();
  void on_poll(int status, int events);
  void do_read(bool until_empty = false);
  void apply_ref() noexcept;
  void do_write();
  void finish_write_side();
  void queue_terminal_eof();
  void end_terminal_writes();
  void cancel_writes(std::error_code ec);
  void fail(int err, const char* syscall);
  void defer_write_error(WriteCallback cb);
  void settle_done();
  void start_close();
  void on_closed();
  detail::StreamText& text();
  void feed_text(std::string_view chunk);
  void end_text();
  bool has_queued() const noexcept;
  bool writing() const noexcept;
  detail::WriteQueue& writes();

  uv_loop_t* loop_;
  // Made when the stream first needs to wait for its fd: at once for a readable
  // stream, at the first write that cannot finish at once (or end()) for stdin, which
  // many children never get.
  std::unique_ptr<uv_poll_t> poll_;
  int fd_;
  bool socket_;
  bool readable_;
  bool writable_;
  bool started_ = false;  // reading begins only when the owner says so
  bool paused_ = false;
  bool ending_ = false;
  bool closing_ = false;
  bool need_drain_ = false;
  bool finish_pending_ = false;
  bool write_error_reported_ = false;
  bool held_ = false;              // writes wait queued: the child is still being launched
  bool given_ = false;             // handed to a child being launched as its stdio: not read here
  bool tty_ = false;               // a pty's master: EIO reads as the end; end() types Ctrl-D
  bool line_open_ = false;         // the last byte written was not a line end (tty_)
  bool hold_at_end_ = false;       // tty_: stays open after its end until the child exits
  bool close_at_release_ = false;  // tty_: its owner stopped reading; close at the exit
  bool user_ref_ = true;
  bool ref_while_writing_ = false;  // an IPC channel: queued writes keep the loop alive
  std::size_t pipe_pages_ = 0;      // pages this stream's pipe took from the budget
  int poll_events_ = 0;
  std::size_t queued_bytes_ = 0;
  std::size_t high_water_mark_ = 16 * 1024;
  std::unique_ptr<detail::WriteQueue> writes_;  // once a write had to queue or has a callback
  detail::ReadSink* sink_ = nullptr;
  std::unique_ptr<detail::StreamText> text_;  // lines and coroutine reads, once asked for
  std::function<void()> on_close_;            // the owner's close counting
  std::shared_ptr<Stream> self_;              // held while libuv owns poll_
};

/// What read_line() and read() return: an awaiter (C++20 coroutines) for the next
/// line or chunk, empty at the end. Destroying the awaiting coroutine cancels the read
/// (nothing is lost: the data stays for the next one).
class CHILDPROC_API ReadAwaiter {
public:
  ReadAwaiter(std::shared_ptr<Stream> stream, bool line) noexcept
      : stream_(std::move(stream)), line_(line) {}
  ReadAwaiter(const ReadAwaiter&) = delete;
  ReadAwaiter& operator=(const ReadAwaiter&) = delete;
  ~ReadAwaiter();

  bool await_ready();
  void await_suspend(std::coroutine_handle<> waiter);
  std::optional<std::string> await_resume();

private:
  std::shared_ptr<Stream> stream_;
  bool line_;
  bool waiting_ = false;
};

/// What write_all() returns: an awaiter that gives the write's error (empty on success).
class CHILDPROC_API WriteAwaiter {
public:
  WriteAwaiter(std::shared_ptr<Stream> stream, std::string data) noexcept
      : stream_(std::move(stream)), data_(std::move(data)) {}
  WriteAwaiter(const WriteAwaiter&) = delete;
  WriteAwaiter& operator=(const WriteAwaiter&) = delete;
  ~WriteAwaiter();

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> waiter);
  std::error_code await_resume() const noexcept;

private:
  struct State;
  std::shared_ptr<Stream> stream_;
  std::string data_;
  std::shared_ptr<State> state_;
};

/// Node's names: stdout and stderr are readable, stdin writable; one type serves all.
using Readable = Stream;
using Writable = Stream;

}  // namespace childproc
