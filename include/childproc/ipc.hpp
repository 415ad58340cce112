// Node's IPC channel, JSON serialization: one JSON text per line over a Unix socket.
// The parent's side is on ChildProcess (spawn with Stdio::ipc(), or fork()); the
// child's side is parent_channel().
#pragma once

#include <childproc/version.hpp>

#include <uv.h>

#include <childproc/error.hpp>
#include <childproc/event_emitter.hpp>
#include <childproc/options.hpp>
#include <childproc/stream.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace childproc {

/// One message from the peer: its JSON text exactly as sent, without the newline.
/// Parsing it is the receiver's business; childproc has checked that it is one valid
/// JSON value in UTF-8.
struct MessageEvent {
  std::string json;
};

/// The channel is closed (either side called disconnect(), or the peer exited): no
/// more messages either way. Emitted once.
struct DisconnectEvent {};

/// Why `json` cannot be sent as one message, or nullopt when it can: it must be
/// exactly one JSON value (RFC 8259, valid UTF-8) with no raw newline byte, and not one
/// of Node's internal messages (an object whose "cmd" is a string starting "NODE_").
CHILDPROC_API std::optional<std::string> check_message(std::string_view json);

class Channel;
namespace detail {
struct ChannelAccess;
class LineFramer;
}  // namespace detail

/// One end of an IPC channel. A child's end comes from parent_channel(); a parent's
/// end lives inside its ChildProcess, which emits the events itself. All calls from
/// the loop's thread.
///
/// Errors come as ErrorEvent (or through a send callback): a send() after disconnect
/// (errc::channel_closed), a send() of text that is not one JSON value
/// (errc::invalid_message, nothing written), a received line that is not one
/// (errc::malformed_message, the line is skipped and later messages still arrive), a
/// received line longer than max_message() (errc::message_too_large, reported once
/// it passes the limit; the rest of it is skipped, never held, and later messages
/// still arrive). A
/// peer that goes away is a disconnect, not an error, even when the kernel says
/// ECONNRESET or EPIPE; messages it never got fail in their callbacks (ECANCELED).
class CHILDPROC_API Channel final : public EventEmitter<MessageEvent, DisconnectEvent, ErrorEvent>,
                                    public std::enable_shared_from_this<Channel>,
                                    private detail::ReadSink {
public:
  /// Called once the message reached the kernel (empty code) or could not be sent;
  /// callbacks run in the order of the send() calls.
  using SendCallback = std::function<void(std::error_code)>;

  ~Channel() override;

  /// Sends one message: `json` and a newline. Returns false when it was refused (the
  /// error goes to `cb`, or else to an ErrorEvent, from the loop) or when the queue of
  /// unwritten messages has reached 128 KiB (Node's threshold): the message is queued,
  /// but wait for its callback before sending much more.
  bool send(std::string_view json, SendCallback cb = {});

  /// Stops delivering messages, writes what is queued, then closes the socket: the
  /// peer sees 'disconnect'. DisconnectEvent follows from the loop. When already
  /// disconnected, an ErrorEvent says so (as Node's ERR_IPC_DISCONNECTED).
  void disconnect();

  /// True until disconnect() or the peer's close.
  bool connected() const noexcept { return connected_; }
  /// Bytes of messages queued and not yet written.
  std::size_t writable_length() const noexcept;

  /// Whether the channel keeps its loop alive. A child's end (parent_channel()) does
  /// so only while it has MessageEvent or DisconnectEvent listeners, as Node's
  /// process channel; a parent's end until it disconnects. Queued messages keep the
  /// loop alive until written either way, as libuv write requests do. unref() lets
  /// the loop end regardless.
  void ref() noexcept;
  void unref() noexcept;

  uv_loop_t* loop() const noexcept { return loop_; }

  /// The longest message (in bytes, without its newline) this end accepts from its
  /// peer; a longer one is skipped with an ErrorEvent, so a peer that never sends a
  /// newline cannot grow this process's memory. Node has no limit.
  std::size_t max_message() const noexcept;
  void set_max_message(std::size_t bytes) noexcept;

  /// EventEmitter's registration, tracked so listeners can keep the loop alive.
  template <typename E, typename F>
  ListenerId on(F&& fn) {
    const ListenerId id = EventEmitter::on<E>(std::forward<F>(fn));
    update_ref();
    return id;
  }
  template <typename E, typename F>
  ListenerId once(F&& fn) {
    const ListenerId id = EventEmitter::once<E>(std::forward<F>(fn));
    update_ref();
    return id;
  }
  bool off(ListenerId id) noexcept {
    const bool removed = EventEmitter::off(id);
    update_ref();
    return removed;
  }
  template <typename E>
  void remove_all_listeners() noexcept {
    EventEmitter::remove_all_listeners<E>();
    update_ref();
  }
  void remove_all_listeners() noexcept {
    EventEmitter::remove_all_listeners();
    update_ref();
  }

private:
  friend struct detail::ChannelAccess;
  Channel(uv_loop_t* loop, std::shared_ptr<Stream> stream, bool ref_by_listeners);

  void consume(std::string_view chunk) noexcept override;
  void handle_line(std::string_view line);
  void on_end();
  void on_stream_closed();
  void emit_disconnect();
  void report(const Error& error);
  void defer_error(Error error, SendCallback cb);
  SendCallback track(SendCallback cb);
  void deliver_outcomes();
  void update_ref() noexcept;
  void start();
  void flush_batch();
  void write_batch();
  void fail_batch(std::error_code ec);
  void close_batch_handle();

  // Messages sent while one is already on its way this loop iteration wait here and go
  // out together, in one write, before the loop next polls: a peer answering a burst
  // costs one syscall, not one per message.
  uv_prepare_t flush_{};
  bool flush_armed_ = false;
  std::string batch_;
  std::vector<SendCallback> batch_cbs_;

  // Send callbacks run in the order of the send() calls, refusals included: a refusal
  // waits behind earlier sends still being written.
  struct Outcome {
    SendCallback cb;
    std::optional<std::error_code> result;
  };
  std::deque<Outcome> outcomes_;

  uv_loop_t* loop_;
  std::shared_ptr<Stream> stream_;              // null for the closed channel of a failed spawn
  std::unique_ptr<detail::LineFramer> framer_;  // splits what the peer sends into lines
  bool connected_ = true;
  bool disconnect_emitted_ = false;
  bool user_ref_ = true;
  bool ref_by_listeners_;
  std::function<void(const MessageEvent&)> on_message_;  // a ChildProcess's relay
  std::function<void()> on_disconnect_;
  std::function<void(const Error&)> on_error_;
  std::function<void()> on_closed_;  // close counting of the owning ChildProcess
  std::shared_ptr<Channel> self_;    // held while the socket is open
};

/// The channel to this process's parent, when the parent started it with one (Node's
/// fork() or an 'ipc' stdio slot, or childproc): NODE_CHANNEL_FD names the fd (unset or empty:
/// null). Both NODE_CHANNEL_FD and NODE_CHANNEL_SERIALIZATION_MODE are removed from the environment
/// (as Node does, so this process's own children do not inherit them); a second call therefore
/// returns null, like a process started without a channel. The fd is made non-blocking and
/// close-on-exec. Throws InvalidArgument when the variables are set but unusable: not an fd number,
/// not a socket, or a serialization other than "json". Not thread-safe (it edits the environment).
CHILDPROC_API std::shared_ptr<Channel> parent_channel(uv_loop_t* loop);

}  // namespace childproc
