#include "channel_access.hpp"
#include "defer.hpp"
#include "json.hpp"
#include "line_framer.hpp"
#include "stream_access.hpp"

#include <childproc/ipc.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace childproc {
namespace {

// Node's process.send() returns false from this much queued output on.
constexpr std::size_t kHighWater = 128 * 1024;

// A batch is one buffer, reserved once, and written when full: below malloc's mmap
// threshold, so buffers are recycled instead of mapped, faulted in and unmapped.
constexpr std::size_t kBatchBytes = 64 * 1024;

// What a Node peer answers a handle it did not get; the sender then goes on.
constexpr std::string_view kNack = "{\"cmd\":\"NODE_HANDLE_NACK\"}\n";

// Enough of a bad line to recognise it, with control bytes shown.
std::string preview(std::string_view line) {
  constexpr std::size_t kMax = 48;
  std::string out = "'";
  for (std::size_t i = 0; i < line.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (line.size() > kMax) out += "...";
  return out + "'";
}

std::string describe(const detail::JsonScan& scan) {
  return std::string(scan.error) + " at byte " + std::to_string(scan.at);
}

// Why a message may not be sent, or empty.
std::string refusal(const detail::JsonScan& scan) {
  if (scan.error != nullptr) return "not exactly one JSON value: " + describe(scan);
  if (scan.internal) {
    return "an object whose \"cmd\" starts with \"NODE_\" is reserved for Node's internal "
           "messages";
  }
  return {};
}

Error channel_error(errc code, std::string text) {
  return Error{make_error_code(code), {}, {}, {}, std::move(text)};
}

}  // namespace

std::optional<std::string> check_message(std::string_view json) {
  std::string why = refusal(detail::scan_json(json));
  if (why.empty()) return std::nullopt;
  return why;
}

Channel::Channel(uv_loop_t* loop, std::shared_ptr<Stream> stream, bool ref_by_listeners)
    : loop_(loop),
      stream_(std::move(stream)),
      framer_(std::make_unique<detail::LineFramer>(kDefaultMaxMessage)),
      ref_by_listeners_(ref_by_listeners) {
  if (!stream_) {
    connected_ = false;
    disconnect_emitted_ = true;  // a spawn that failed never had a channel to lose
    return;
  }
  stream_->set_high_water_mark(kHighWater);
  detail::StreamAccess::ref_while_writing(*stream_);
  detail::StreamAccess::set_sink(*stream_, this);
  // The stream's events arrive only while it is open, and the channel holds itself
  // (self_) until the stream's CloseEvent, its last: `this` stays valid for them.
  stream_->on<EndEvent>([this](const EndEvent&) { on_end(); });
  stream_->on<ErrorEvent>([this](const ErrorEvent& e) {
    // A peer that exits with messages unread makes our read fail with ECONNRESET (and
    // a write in flight with EPIPE) instead of a clean EOF. Either way the peer is
    // gone, which for Node is a disconnect, not an error; whether the error or the EOF
    // comes first is a race. Unsent messages still fail, in their callbacks.
    const std::error_code& ec = e.error.code;
    if (e.error.syscall == "read" || ec == std::errc::broken_pipe ||
        ec == std::errc::connection_reset) {
      on_end();
      return;
    }
    report(e.error);
  });
  stream_->on<CloseEvent>([this](const CloseEvent&) { on_stream_closed(); });
}

Channel::~Channel() = default;

std::size_t Channel::max_message() const noexcept {
  return framer_->max_line();
}

void Channel::set_max_message(std::size_t bytes) noexcept {
  framer_->set_max_line(bytes);
}

int detail::ChannelAccess::create(uv_loop_t* loop, int fd, bool ref_by_listeners,
                                  std::shared_ptr<Channel>& out) {
  std::shared_ptr<Stream> stream;
  const int err = StreamAccess::create(loop, fd, true, true, true, stream);
  if (err != 0) return err;
  std::shared_ptr<Channel> c(new Channel(loop, std::move(stream), ref_by_listeners));
  uv_prepare_init(loop, &c->flush_);
  c->flush_.data = c.get();
  c->self_ = c;
  c->update_ref();
  out = std::move(c);
  return 0;
}

std::shared_ptr<Channel> detail::ChannelAccess::create_closed(uv_loop_t* loop) {
  return std::shared_ptr<Channel>(new Channel(loop, nullptr, false));
}

void detail::ChannelAccess::drain(Channel& c) {
  if (c.stream_) StreamAccess::drain(*c.stream_);
}

void detail::ChannelAccess::destroy(Channel& c) {
  if (!c.stream_) return;
  c.connected_ = false;
  c.stream_->destroy();  // the batch fails with the stream's queue, at its close
}

void Channel::start() {
  if (stream_) detail::StreamAccess::start(*stream_);
}

std::size_t Channel::writable_length() const noexcept {
  return batch_.size() + (stream_ ? stream_->writable_length() : 0);
}

bool Channel::send(std::string_view json, SendCallback cb) {
  if (!connected_) {
    defer_error(channel_error(errc::channel_closed, "Channel closed"), std::move(cb));
    return false;
  }
  if (std::string why = refusal(detail::scan_json(json)); !why.empty()) {
    defer_error(channel_error(errc::invalid_message,
                              "send(): message not sent: " + why + ": " + preview(json)),
                std::move(cb));
    return false;
  }
  if (!flush_armed_) {
    // The first message of this iteration goes out now: no latency for ping-pong.
    flush_armed_ = true;
    uv_prepare_start(&flush_,
                     [](uv_prepare_t* h) { static_cast<Channel*>(h->data)->flush_batch(); });
    std::string line;
    line.reserve(json.size() + 1);
    line.append(json);
    line.push_back('\n');
    stream_->write(std::move(line), track(std::move(cb)));
  } else {
    if (!batch_.empty() && batch_.size() + json.size() >= kBatchBytes) write_batch();
    if (batch_.empty()) batch_.reserve(kBatchBytes);
    batch_.append(json);
    batch_.push_back('\n');
    if (cb) batch_cbs_.push_back(track(std::move(cb)));
  }
  return writable_length() < kHighWater;
}

void Channel::flush_batch() {
  // Disarmed at once: an armed prepare handle keeps the loop alive without waking it,
  // so left armed with nothing to write it would hang the loop in its poll. The next
  // send() goes out directly and arms it again.
  flush_armed_ = false;
  uv_prepare_stop(&flush_);
  write_batch();
}

void Channel::write_batch() {
  if (batch_.empty()) return;
  Stream::WriteCallback done;
  if (!batch_cbs_.empty()) {
    // Each is a track() wrapper: it records the outcome and never throws.
    done = [cbs = std::move(batch_cbs_)](std::error_code ec) {
      for (const auto& cb : cbs)
        cb(ec);
    };
    batch_cbs_.clear();
  }
  std::string data = std::move(batch_);
  batch_.clear();
  stream_->write(std::move(data), std::move(done));
}

void Channel::fail_batch(std::error_code ec) {
  batch_.clear();
  auto cbs = std::move(batch_cbs_);
  batch_cbs_.clear();
  for (const auto& cb : cbs)  // track() wrappers, which never throw
    cb(ec);
}

void Channel::disconnect() {
  if (!connected_) {
    defer_error(channel_error(errc::disconnected, "IPC channel is already disconnected"), {});
    return;
  }
  connected_ = false;
  framer_->clear();
  if (stream_->writable()) flush_batch();
  // Messages already sent are written first, as a Node peer would have them.
  if (!stream_->writable() || stream_->writable_length() == 0) {
    stream_->destroy();
  } else {
    stream_->once<FinishEvent>([this](const FinishEvent&) { stream_->destroy(); });
    stream_->end();
  }
}

void Channel::ref() noexcept {
  user_ref_ = true;
  update_ref();
}

void Channel::unref() noexcept {
  user_ref_ = false;
  update_ref();
}

void Channel::update_ref() noexcept {
  if (!stream_ || stream_->closed()) return;
  const bool listening =
      !ref_by_listeners_ || listener_count<MessageEvent>() + listener_count<DisconnectEvent>() > 0;
  if (user_ref_ && listening) {
    stream_->ref();
  } else {
    stream_->unref();
  }
}

void Channel::consume(std::string_view chunk) noexcept {
  if (!connected_) return;
  try {
    framer_->feed(
        chunk,
        [this](std::string_view line) {
          handle_line(line);
          return connected_;  // after disconnect() nothing more is delivered
        },
        [this](std::size_t bytes) {
          report(channel_error(errc::message_too_large,
                               "Received a message longer than max_message (" +
                                   std::to_string(framer_->max_line()) +
                                   " bytes): " + std::to_string(bytes) +
                                   " bytes so far, skipped up to its newline"));
          return connected_;  // a listener may have disconnected
        });
  } catch (...) {
    detail::report_listener_exception();  // bad_alloc below the limit: nothing better to do
  }
}

void Channel::handle_line(std::string_view line) {
  // After disconnect() nothing more is delivered, as Node closes the channel at once.
  if (!connected_) return;
  const detail::JsonScan scan = detail::scan_json(line);
  if (scan.error != nullptr) {
    report(channel_error(errc::malformed_message,
                         "Received a line that is not one JSON value (skipped): " + describe(scan) +
                             ": " + preview(line)));
    return;
  }
  if (scan.internal) {
    // Handles are not received: the NACK makes a Node sender give up on this one and
    // send what it queued behind it, instead of waiting forever for an ACK.
    if (scan.node_handle) stream_->write(kNack);
    return;
  }
  MessageEvent event{std::string(line)};
  if (on_message_) {
    on_message_(event);
  } else {
    emit(event);
    if (ref_by_listeners_) update_ref();  // a once() listener may have gone
  }
}

void Channel::on_end() {
  // What was sent before the peer's close still goes out (or fails with EPIPE) the way
  // an unbatched write would.
  flush_batch();
  if (framer_->pending() != 0) {
    const std::size_t n = framer_->pending();
    const bool skipped = framer_->skipping();
    framer_->clear();
    if (connected_ && !skipped) {
      report(channel_error(errc::malformed_message,
                           "The channel closed in the middle of a message: " + std::to_string(n) +
                               " bytes without a newline were dropped"));
    }
  }
  connected_ = false;
  emit_disconnect();
}

void Channel::on_stream_closed() {
  connected_ = false;
  framer_->clear();
  fail_batch(uv_error(UV_ECANCELED));
  emit_disconnect();
  if (on_closed_) {
    auto fn = std::move(on_closed_);
    fn();
  }
  close_batch_handle();
}

void Channel::close_batch_handle() {
  // self_ goes with the flush handle's close: libuv holds a pointer to it until then.
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_), [](uv_handle_t* h) {
    auto* c = static_cast<Channel*>(h->data);
    // May destroy the channel (the last reference): nothing may touch it after.
    auto keep = std::move(c->self_);
  });
}

void Channel::emit_disconnect() {
  if (disconnect_emitted_) return;
  disconnect_emitted_ = true;
  update_ref();
  if (on_disconnect_) {
    on_disconnect_();
  } else {
    emit(DisconnectEvent{});
    if (ref_by_listeners_) update_ref();
  }
}

void Channel::report(const Error& error) {
  if (on_error_) {
    on_error_(error);
    return;
  }
  if (emit(ErrorEvent{error}) == 0) detail::report_unhandled(error.message());
}

void Channel::defer_error(Error error, SendCallback cb) {
  if (cb) {
    // Known now, delivered from the loop, and behind the outcomes of earlier sends.
    outcomes_.push_back(Outcome{std::move(cb), error.code});
    detail::defer(loop_, [self = shared_from_this()] { self->deliver_outcomes(); });
    return;
  }
  detail::defer(loop_,
                [self = shared_from_this(), error = std::move(error)] { self->report(error); });
}

Channel::SendCallback Channel::track(SendCallback cb) {
  if (!cb) return cb;
  outcomes_.push_back(Outcome{std::move(cb), std::nullopt});
  // A deque keeps references to its elements across push_back and pop_front, and the
  // stream calls this before the channel's self_ goes (its close comes first).
  Outcome* slot = &outcomes_.back();
  return [this, slot](std::error_code ec) {
    slot->result = ec;
    deliver_outcomes();
  };
}

void Channel::deliver_outcomes() {
  while (!outcomes_.empty() && outcomes_.front().result) {
    Outcome o = std::move(outcomes_.front());
    outcomes_.pop_front();
    try {
      o.cb(*o.result);
    } catch (...) {
      detail::report_listener_exception();
    }
  }
}

std::shared_ptr<Channel> parent_channel(uv_loop_t* loop) {
  const char* fd_env = std::getenv("NODE_CHANNEL_FD");
  if (fd_env == nullptr) return nullptr;
  const std::string fd_text = fd_env;
  const char* mode_env = std::getenv("NODE_CHANNEL_SERIALIZATION_MODE");
  const std::string mode = mode_env != nullptr ? mode_env : "json";
  ::unsetenv("NODE_CHANNEL_FD");
  ::unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  if (fd_text.empty()) return nullptr;  // as Node: an empty NODE_CHANNEL_FD is no channel

  long fd = -1;
  if (!fd_text.empty() && fd_text.size() < 10 &&
      fd_text.find_first_not_of("0123456789") == std::string::npos) {
    fd = std::strtol(fd_text.c_str(), nullptr, 10);
  }
  if (fd < 0 || fd > INT_MAX) {
    throw InvalidArgument(
        "ERR_INVALID_ARG_VALUE",
        "NODE_CHANNEL_FD must be a file descriptor number. Received '" + fd_text + "'");
  }
  if (mode != "json") {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "NODE_CHANNEL_SERIALIZATION_MODE '" + mode +
                              "' is not supported: childproc speaks Node's 'json' serialization");
  }
  struct stat st {};
  if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    throw InvalidArgument("ERR_INVALID_ARG_VALUE",
                          "NODE_CHANNEL_FD " + fd_text + " is not an open socket");
  }
  const int flags = ::fcntl(static_cast<int>(fd), F_GETFL);
  if (flags < 0 || ::fcntl(static_cast<int>(fd), F_SETFL, flags | O_NONBLOCK) < 0 ||
      ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC) < 0) {
    throw std::system_error(errno, std::generic_category(), "parent_channel: fcntl");
  }
  std::shared_ptr<Channel> channel;
  const int err =
      detail::ChannelAccess::create(loop, static_cast<int>(fd), /*ref_by_listeners=*/true, channel);
  if (err != 0) throw std::system_error(uv_error(err), "parent_channel");
  detail::ChannelAccess::start(*channel);
  return channel;
}

}  // namespace childproc
