#include "defer.hpp"
#include "stream_access.hpp"
#include "stream_text.hpp"

#include <childproc/event_emitter.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>

namespace childproc {
namespace {

// As large as an enlarged pipe (kBigPipe), so one read empties it.
constexpr std::size_t kReadSize = 256 * 1024;
// A nested read's buffer is allocated per read: small enough to stay off mmap.
constexpr std::size_t kNestedReadSize = 64 * 1024;
// One busy child must not starve the rest of the loop.
constexpr int kReadsPerWakeup = 16;
constexpr int kMaxIov = 64;

// Reads land in one 64-byte-aligned scratch buffer per thread (DataEvent's view is
// only valid during the call), so a thousand idle children cost no read buffers. A
// read nested inside a listener (a sync call on a private loop) gets its own buffer.
struct Scratch {
  char* buf = nullptr;
  bool busy = false;
  ~Scratch() { std::free(buf); }
};
thread_local Scratch t_scratch;

class ScratchLease {
public:
  ScratchLease() {
    if (!t_scratch.busy) {
      if (!t_scratch.buf) t_scratch.buf = static_cast<char*>(std::aligned_alloc(64, kReadSize));
      t_scratch.busy = true;
      data_ = t_scratch.buf;
      shared_ = true;
    } else {
      data_ = static_cast<char*>(std::aligned_alloc(64, kNestedReadSize));
      size_ = kNestedReadSize;
    }
  }
  ~ScratchLease() {
    if (shared_) {
      t_scratch.busy = false;
    } else {
      std::free(data_);
    }
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

private:
  char* data_ = nullptr;
  std::size_t size_ = kReadSize;
  bool shared_ = false;
};

// Writing to a pipe whose reader is gone raises SIGPIPE, whose default action kills
// the host. Rather than change the process's disposition, block SIGPIPE in this
// thread for the one write and consume the signal that write raised. Sockets have
// MSG_NOSIGNAL for this.
ssize_t write_no_sigpipe(int fd, const iovec* iov, int iovcnt, bool socket) {
  if (socket) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    ssize_t n;
    do {
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  sigset_t pipe_set;
  sigset_t old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const bool was_blocked = sigismember(&old, SIGPIPE) == 1;
  ssize_t n;
  do {
    n = ::writev(fd, iov, iovcnt);
  } while (n < 0 && errno == EINTR);
  const int saved = errno;
  if (!was_blocked) {
    if (n < 0 && saved == EPIPE) {
      const timespec zero{};
      while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  errno = saved;
  return n;
}

// A 64 KiB pipe costs a wakeup per 64 KiB; 256 KiB moves data 2-3x faster here. But
// pipe buffers count against a per-user budget (fs.pipe-user-pages-soft, 64 MiB by
// default) and an unprivileged user past it gets one-page pipes for every new pipe,
// so this process enlarges pipes only within a quarter of that budget.
constexpr std::size_t kBigPipe = 256 * 1024;
std::atomic<std::size_t> g_pipe_pages{0};

std::size_t pipe_page_budget() {
  static const std::size_t budget = [] {
    std::size_t soft = 16384;  // the kernel's default, in pages
    if (FILE* f = std::fopen("/proc/sys/fs/pipe-user-pages-soft", "r")) {
      unsigned long v = 0;
      if (std::fscanf(f, "%lu", &v) == 1) soft = v;
      std::fclose(f);
    }
    return soft == 0 ? std::size_t{0} : soft / 4;  // 0 there means no limit: stay modest
  }();
  return budget;
}

}  // namespace

// A stream's queued writes, allocated by the first write that must wait or has a
// callback: most streams (every output stream, an unused stdin) never need one.
struct detail::WriteQueue {
  struct Pending {
    std::string data;
    std::size_t offset;
    Stream::WriteCallback cb;
  };
  std::deque<Pending> queue;
  std::deque<Stream::WriteCallback> done;  // written; their callbacks run from the next poll
};

bool Stream::has_queued() const noexcept {
  return writes_ && !writes_->queue.empty();
}

bool Stream::writing() const noexcept {
  return finish_pending_ || (writes_ && (!writes_->queue.empty() || !writes_->done.empty()));
}

detail::WriteQueue& Stream::writes() {
  if (!writes_) writes_ = std::make_unique<detail::WriteQueue>();
  return *writes_;
}

void detail::defer(uv_loop_t* loop, std::function<void()> fn) {
  struct Deferred {
    uv_timer_t timer;
    std::function<void()> fn;
  };
  auto* d = new Deferred{{}, std::move(fn)};
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(
      &d->timer,
      [](uv_timer_t* t) {
        auto* deferred = static_cast<Deferred*>(t->data);
        try {
          deferred->fn();
        } catch (...) {
          detail::report_listener_exception();
        }
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
      },
      0, 0);
}

std::size_t detail::StreamAccess::enlarge_pipe(int fd) noexcept {
  const std::size_t pages = (kBigPipe - 64 * 1024) / 4096;
  const std::size_t budget = pipe_page_budget();
  std::size_t used = g_pipe_pages.load(std::memory_order_relaxed);
  do {
    if (budget != 0 && used + pages > budget) return 0;
  } while (!g_pipe_pages.compare_exchange_weak(used, used + pages, std::memory_order_relaxed));
  if (::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(kBigPipe)) < 0) {
    g_pipe_pages.fetch_sub(pages, std::memory_order_relaxed);
    return 0;
  }
  return pages;
}

void detail::StreamAccess::release_pipe_pages(std::size_t pages) noexcept {
  g_pipe_pages.fetch_sub(pages, std::memory_order_relaxed);
}

Stream::Stream(Key, uv_loop_t* loop, int fd, bool readable, bool writable, bool socket)
    : loop_(loop), fd_(fd), socket_(socket), readable_(readable), writable_(writable) {}

Stream::~Stream() = default;

int detail::StreamAccess::create(uv_loop_t* loop, int fd, bool readable, bool writable, bool socket,
                                 std::shared_ptr<Stream>& out) {
  auto s = std::make_shared<Stream>(Stream::Key(), loop, fd, readable, writable, socket);
  // uv_poll_init makes the fd non-blocking; a stream without a poll yet needs it now.
  int err = readable ? s->ensure_poll() : (::fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0);
  if (err != 0) {
    ::close(fd);
    return err;
  }
  s->self_ = s;
  out = std::move(s);
  return 0;
}

std::shared_ptr<Stream> detail::StreamAccess::create_closed(uv_loop_t* loop, bool readable,
                                                            bool writable) {
  auto s = std::make_shared<Stream>(Stream::Key(), loop, -1, readable, writable, false);
  s->readable_ = false;
  s->closing_ = true;
  return s;
}

void detail::StreamAccess::start(Stream& s) {
  s.started_ = true;
  s.update_poll();
}

void detail::StreamAccess::flush(Stream& s) {
  if (s.paused_) s.resume();
}

void Stream::pause() {
  paused_ = true;
  update_poll();
}

void Stream::resume() {
  paused_ = false;
  update_poll();
}

void Stream::ref() noexcept {
  user_ref_ = true;
  apply_ref();
}

void Stream::unref() noexcept {
  user_ref_ = false;
  apply_ref();
}

int Stream::ensure_poll() {
  if (poll_) return 0;
  auto poll = std::make_unique<uv_poll_t>();
  if (int err = uv_poll_init(loop_, poll.get(), fd_); err != 0) return err;
  poll->data = this;
  poll_ = std::move(poll);
  apply_ref();
  return 0;
}

void Stream::apply_ref() noexcept {
  if (closing_ || !poll_) return;
  if (user_ref_ || (ref_while_writing_ && writing())) {
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  }
}

void Stream::update_poll() {
  if (closing_) return;
  int want = 0;
  if (readable_ && started_ && !paused_) want |= UV_READABLE;
  if (writable_ && writing() && !held_) want |= UV_WRITABLE;
  if (ref_while_writing_ && !user_ref_) apply_ref();
  if (given_) want = 0;
  if (want == poll_events_) return;
  if (want == 0) {
    poll_events_ = 0;
    if (poll_) uv_poll_stop(poll_.get());
    return;
  }
  int err = ensure_poll();
  if (err == 0) {
    poll_events_ = want;
    err = uv_poll_start(poll_.get(), want, [](uv_poll_t* h, int status, int events) {
      static_cast<Stream*>(h->data)->on_poll(status, events);
    });
  }
  if (err != 0) fail(err, readable_ ? "read" : "write");
}

void Stream::on_poll(int status, int events) {
  // Reading comes first: a socket peer that exited leaves its last data unread, and a
  // failing write (EPIPE) closes the stream, which would lose that data.
  if (status < 0) {
    // libuv stopped the handle: it reports EPOLLERR as UV_EBADF, which for a pipe's
    // write end means the reader is gone. A write attempt now tells the real error.
    // For a socket (fd 3+) it can mean ECONNRESET with data still unread: read all of
    // that first, and let read() report the real error once it is drained.
    poll_events_ = 0;
    const bool reading = readable_ && started_ && !paused_;
    if (reading) {
      do_read(true);
      if (closing_) return;
    }
    if (writable_ && has_queued()) {
      do_write();
    } else if (writable_ && finish_pending_) {
      settle_done();
      finish_write_side();
    } else if (writable_) {
      settle_done();
    }
    if (closing_) return;
    if (!reading && !writable_) {
      fail(status, "read");
      return;
    }
    update_poll();
    return;
  }
  if (events & (UV_READABLE | UV_DISCONNECT)) do_read();
  if (!closing_ && (events & UV_WRITABLE)) {
    settle_done();
    if (!closing_) do_write();
  }
}

void Stream::do_read(bool until_empty) {
  for (int i = 0;
       (until_empty || i < kReadsPerWakeup) && readable_ && started_ && !paused_ && !closing_;
       ++i) {
    ScratchLease lease;
    char* buf = lease.data();
    const std::size_t len = lease.size();
    ssize_t n;
    do {
      n = ::read(fd_, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (sink_ != nullptr) sink_->consume(std::string_view(buf, got));
      emit(DataEvent{std::string_view(buf, got)});
      if (text_ || listener_count<LineEvent>() != 0) feed_text(std::string_view(buf, got));
      // A short read means the pipe was empty: skip the read that would say EAGAIN.
      // (A socket also stops short after a message carrying fds, hence until_empty.)
      if (got < len && !until_empty) break;
      continue;
    }
    // A pty's master reads EIO once every holder of the terminal closed it, after all
    // it was sent: that is its end of stream.
    if (n == 0 || (n < 0 && tty_ && errno == EIO)) {
      readable_ = false;
      // An output pipe is closed right after its EndEvent, and uv_close takes it out of
      // epoll: stopping the poll first would only add a second, failing epoll_ctl. A
      // terminal's hangup stays readable (level-triggered) while it is held open.
      if (writable_ || tty_) update_poll();
      end_text();
      emit(EndEvent{});
      if (closing_) break;
      if (tty_ && hold_at_end_) {
        // Nobody holds the terminal, but the child may live on: closing the master now
        // would hang it up (SIGHUP). It closes at the exit (release_terminal).
      } else if (!writable_ || tty_) {
        start_close();  // a terminal whose child has exited: typing reaches nobody
      } else if (!ending_) {
        end();  // Node's allowHalfOpen=false: the peer's end ends ours too
      }
      break;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(-errno, "read");
    break;
  }
}

bool Stream::write(std::string_view data, WriteCallback cb) {
  return queue_write(data, nullptr, std::move(cb));
}

bool Stream::write(std::string&& data, WriteCallback cb) {
  std::string_view view = data;
  return queue_write(view, &data, std::move(cb));
}

bool Stream::queue_write(std::string_view view, std::string* owned, WriteCallback cb) {
  if (!writable()) {
    // Node raises ERR_STREAM_WRITE_AFTER_END / ERR_STREAM_DESTROYED here; for a
    // child's stdin both mean the bytes can never reach it, which is EPIPE.
    // Reported from the loop, never from inside this call, and the ErrorEvent only
    // once per stream (as Node), so a listener that writes again cannot recurse.
    defer_write_error(std::move(cb));
    return false;
  }
  if (tty_ && !view.empty()) line_open_ = view.back() != '\n' && view.back() != '\r';
  std::size_t off = 0;
  if (!has_queued() && !held_ && !view.empty()) {
    iovec iov{const_cast<char*>(view.data()), view.size()};
    ssize_t n = write_no_sigpipe(fd_, &iov, 1, socket_);
    // On any error, queue the bytes: the poll callback meets the error again and
    // reports it from the loop, never from inside this call.
    if (n > 0) off = static_cast<std::size_t>(n);
  }
  if (off == view.size()) {
    if (cb) {
      writes().done.push_back(std::move(cb));
      update_poll();
    }
    return queued_bytes_ < high_water_mark_;
  }
  if (owned != nullptr) {
    writes().queue.push_back({std::move(*owned), off, std::move(cb)});
  } else {
    writes().queue.push_back({std::string(view), off, std::move(cb)});
  }
  queued_bytes_ += view.size() - off;
  update_poll();
  const bool ok = queued_bytes_ < high_water_mark_;
  if (!ok) need_drain_ = true;
  return ok;
}

void Stream::do_write() {
  while (has_queued()) {
    auto& queue = writes_->queue;
    iovec iov[kMaxIov];
    int cnt = 0;
    for (auto it = queue.begin(); it != queue.end() && cnt < kMaxIov; ++it, ++cnt) {
      iov[cnt].iov_base = it->data.data() + it->offset;
      iov[cnt].iov_len = it->data.size() - it->offset;
    }
    ssize_t n = write_no_sigpipe(fd_, iov, cnt, socket_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (tty_ && errno == EIO) {
        end_terminal_writes();  // older kernels: nobody holds the terminal any more
        return;
      }
      fail(-errno, "write");
      return;
    }
    auto left = static_cast<std::size_t>(n);
    queued_bytes_ -= left;
    while (left > 0) {
      auto& p = queue.front();
      const std::size_t rest = p.data.size() - p.offset;
      if (left < rest) {
        p.offset += left;
        break;
      }
      left -= rest;
      if (p.cb) writes_->done.push_back(std::move(p.cb));
      queue.pop_front();
    }
  }
  if (!has_queued()) {
    if (need_drain_) {
      need_drain_ = false;
      emit(DrainEvent{});
      if (closing_) return;
    }
    if (finish_pending_ && !has_queued()) {
      settle_done();
      finish_write_side();
      return;
    }
  }
  update_poll();
}

void Stream::defer_write_error(WriteCallback cb) {
  const bool emit_error = !write_error_reported_;
  write_error_reported_ = true;
  if (!cb && !emit_error) return;
  detail::defer(loop_, [weak = weak_from_this(), cb = std::move(cb), emit_error] {
    const std::error_code ec = uv_error(UV_EPIPE);
    if (cb) {
      try {
        cb(ec);
      } catch (...) {
        detail::report_listener_exception();
      }
    }
    if (auto s = weak.lock(); s && emit_error) {
      if (s->emit(ErrorEvent{Error{ec, "write", {}, {}, {}}}) == 0) {
        detail::report_unhandled("write EPIPE (the stream is no longer writable)");
      }
    }
  });
}

void Stream::settle_done() {
  while (writes_ && !writes_->done.empty()) {
    WriteCallback cb = std::move(writes_->done.front());
    writes_->done.pop_front();
    try {
      cb({});
    } catch (...) {
      detail::report_listener_exception();
    }
  }
}

void Stream::end() {
  if (!writable()) return;
  if (tty_) queue_terminal_eof();
  ending_ = true;
  finish_pending_ = true;  // the poll callback finishes once the queue is empty
  update_poll();
}

// A terminal has no write side to shut: its end of input is a character, which only a
// canonical-mode reader takes as EOF (a raw-mode one gets the byte, as from a keyboard),
// and only at the start of a line (else it ends the line, so a second one is needed).
void Stream::queue_terminal_eof() {
  termios t{};
  std::string eof(1, '\x04');
  if (::tcgetattr(fd_, &t) == 0 && (t.c_lflag & ICANON) != 0) {
    if (t.c_cc[VEOF] == _POSIX_VDISABLE) return;
    eof[0] = static_cast<char>(t.c_cc[VEOF]);
    if (line_open_) eof += eof;
  }
  queue_write(eof, nullptr, {});
}

// A terminal that refuses writes (EIO) may still hold output to read: its write side
// ends, as a pipe's would with EPIPE, but the stream is not closed.
void Stream::end_terminal_writes() {
  writable_ = false;
  finish_pending_ = false;
  need_drain_ = false;
  cancel_writes(uv_error(UV_EPIPE));
  update_poll();
}

// Written callbacks get success, queued ones `ec`, and the queue is emptied.
void Stream::cancel_writes(std::error_code ec) {
  settle_done();
  if (writes_) {
    // Moved out first: a callback that writes again must not touch the list being read.
    auto queued = std::move(writes_->queue);
    for (auto& p : queued) {
      if (!p.cb) continue;
      try {
        p.cb(ec);
      } catch (...) {
        detail::report_listener_exception();
      }
    }
  }
  queued_bytes_ = 0;
}

void Stream::end(std::string_view data) {
  write(data);
  end();
}

void Stream::finish_write_side() {
  if (closing_ || !finish_pending_) return;
  finish_pending_ = false;
  if ((socket_ || tty_) && readable_) {
    if (socket_) ::shutdown(fd_, SHUT_WR);
    writable_ = false;
    update_poll();
    emit(FinishEvent{});
    return;
  }
  writable_ = false;
  emit(FinishEvent{});
  if (!closing_) start_close();
}

void Stream::destroy() {
  start_close();
}

void Stream::fail(int err, const char* syscall) {
  if (closing_) return;
  write_error_reported_ = true;
  if (emit(ErrorEvent{Error{uv_error(err), syscall, {}, {}, {}}}) == 0) {
    detail::report_unhandled(std::string(syscall) + " " + code_name(uv_error(err)));
  }
  start_close();
}

void Stream::start_close() {
  if (closing_) return;
  closing_ = true;
  if (!poll_) {
    // Never waited on its fd: no handle to close, but CloseEvent still comes from the
    // loop. `self_` keeps this object alive until on_closed().
    detail::defer(loop_, [this] { on_closed(); });
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(poll_.get()),
           [](uv_handle_t* h) { static_cast<Stream*>(h->data)->on_closed(); });
}

void Stream::on_closed() {
  // Holding ourselves until the end of this call: the owner's callback or a listener
  // may drop the last other reference.
  std::shared_ptr<Stream> keep = std::move(self_);
  ::close(fd_);
  g_pipe_pages.fetch_sub(std::exchange(pipe_pages_, 0), std::memory_order_relaxed);
  readable_ = false;
  writable_ = false;
  end_text();
  cancel_writes(uv_error(UV_ECANCELED));
  emit(CloseEvent{});
  if (on_close_) {
    auto fn = std::move(on_close_);
    fn();
  }
}

}  // namespace childproc
