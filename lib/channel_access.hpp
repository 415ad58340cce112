// What ChildProcess may do to its IPC Channel that users may not.
#pragma once

#include <childproc/ipc.hpp>

#include <functional>
#include <memory>

namespace childproc::detail {

struct ChannelAccess {
  /// Wraps the parent's end `fd` of a socketpair (non-blocking, CLOEXEC), taking
  /// ownership of it. Returns the libuv error and closes `fd` on failure.
  static int create(uv_loop_t* loop, int fd, bool ref_by_listeners, std::shared_ptr<Channel>& out);
  /// A channel that is disconnected from the start (a failed spawn's).
  static std::shared_ptr<Channel> create_closed(uv_loop_t* loop);
  /// Starts reading (the child's SpawnEvent).
  static void start(Channel& c) { c.start(); }
  /// Delivers every message already in the socket, and the disconnect if the peer
  /// has closed it: run before ExitEvent, so a child's last messages come first.
  static void drain(Channel& c);
  /// Sends the channel's events to its ChildProcess instead of its own listeners.
  static void relay(Channel& c, std::function<void(const MessageEvent&)> message,
                    std::function<void()> disconnect, std::function<void(const Error&)> error) {
    c.on_message_ = std::move(message);
    c.on_disconnect_ = std::move(disconnect);
    c.on_error_ = std::move(error);
  }
  /// Runs `fn` once the socket is closed (after DisconnectEvent).
  static void on_closed(Channel& c, std::function<void()> fn) { c.on_closed_ = std::move(fn); }
  /// True while the socket is open (the owner waits for its close).
  static bool open(const Channel& c) noexcept { return c.stream_ && !c.stream_->closed(); }
  /// Closes the socket now, dropping queued messages (the owner's close_timeout).
  static void destroy(Channel& c);
};

}  // namespace childproc::detail
