// ipc_helper: the child's end of an IPC channel, through childproc::parent_channel() on
// uv_default_loop(), for the IPC tests (with a C++ or a Node parent). The first argument
// names what to do; see usage(). The exit code says whether things went as the mode
// expects (0) and stdout says what happened, one line at a time; problems go to stderr.

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <childproc/childproc.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace cp = childproc;

namespace {

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t w = ::write(fd, s.data(), s.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s.remove_prefix(static_cast<std::size_t>(w));
  }
}

// One line to stdout, unbuffered (the parent reads it while this process runs).
void say(const std::string& line) {
  write_all(1, line + "\n");
}

void complain(const std::string& line) {
  write_all(2, "ipc_helper: " + line + "\n");
}

std::string env_or_unset(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "unset";
}

// `s` as a JSON string literal (ASCII control characters escaped).
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string code_or_ok(std::error_code ec) {
  return ec ? cp::code_name(ec) : "ok";
}

void run_loop() {
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

// Errors the channel reported; any makes the modes that do not expect them fail.
int g_errors = 0;

std::shared_ptr<cp::Channel> need_channel() {
  auto ch = cp::parent_channel(uv_default_loop());
  if (!ch) {
    complain("started without an IPC channel (NODE_CHANNEL_FD is not set)");
    std::exit(3);
  }
  ch->on<cp::ErrorEvent>([](const cp::ErrorEvent& e) {
    ++g_errors;
    complain("channel error: " + e.error.message());
  });
  return ch;
}

int count_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory's own fd
}

// Sends every message back as it came, until the parent disconnects. The last line
// also tells whether fds leaked meanwhile (a handle the parent sent, say): the channel's
// socket is closed at the end, everything else should be as before.
int echo(const std::shared_ptr<cp::Channel>& ch) {
  const int fds_before = count_fds();
  std::size_t count = 0;
  bool disconnected = false;
  cp::Channel* c = ch.get();
  ch->on<cp::MessageEvent>([c, &count](const cp::MessageEvent& m) {
    ++count;
    c->send(m.json);
  });
  ch->on<cp::DisconnectEvent>([&disconnected](const cp::DisconnectEvent&) { disconnected = true; });
  run_loop();
  const int leaked = count_fds() - (fds_before - 1);
  say("echo: " + std::to_string(count) + " messages, " +
      (disconnected ? "disconnected" : "not disconnected") + ", leaked=" + std::to_string(leaked));
  return disconnected && g_errors == 0 ? 0 : 1;
}

int usage() {
  write_all(2,
            "usage: ipc_helper MODE [ARGS]  (the child's end: parent_channel())\n"
            "  echo              send every message back; exit 0 once the parent disconnects\n"
            "  max-message N     set_max_message(N); print each message's size and each\n"
            "                    error; send \"ready\"; disconnect on \"bye\"\n"
            "  count N [exit]    send {\"seq\":0}..{\"seq\":N-1}, then disconnect() (with\n"
            "                    'exit': no disconnect(), just exit once written)\n"
            "  env               print (and send as the first message) what parent_channel()\n"
            "                    left: NODE_CHANNEL_* after it, the fd's flags, a second\n"
            "                    call, a grandchild's environment; then echo\n"
            "  none              print what parent_channel() returned: 'null', 'channel' or\n"
            "                    'invalid CODE: WHY', then the NODE_CHANNEL_* variables\n"
            "  listeners         no listeners: send one message, the loop must end by itself\n"
            "  listen            a MessageEvent listener: send \"ready\", answer each message\n"
            "                    with {\"pong\":N,\"got\":MSG}, stay until disconnected\n"
            "  disconnect-listener  only a DisconnectEvent listener: send \"ready\", stay\n"
            "                    until disconnected\n"
            "  once              once<MessageEvent>: send \"ready\", answer the first message\n"
            "                    with {\"got\":MSG}; then the loop must end by itself\n"
            "  off               a MessageEvent listener removed with off(): send \"ready\",\n"
            "                    the loop must end by itself\n"
            "  unref             listeners but Channel::unref(): send \"ready\", the loop must\n"
            "                    end by itself\n"
            "  bad               send() refusals: print each error, send {\"after\":\"bad\"},\n"
            "                    disconnect\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string_view mode = argv[1];
  // A safety net: no test needs this long, and a stuck helper must not outlive the run.
  ::alarm(120);
  uv_loop_t* loop = uv_default_loop();

  if (mode == "echo" && argc == 2) return echo(need_channel());

  if (mode == "count" && (argc == 3 || (argc == 4 && std::string_view(argv[3]) == "exit"))) {
    const long n = std::strtol(argv[2], nullptr, 10);
    auto ch = need_channel();
    for (long i = 0; i < n; ++i)
      ch->send("{\"seq\":" + std::to_string(i) + "}");
    if (argc == 3) ch->disconnect();
    run_loop();
    say("count: sent " + std::to_string(n));
    return g_errors == 0 ? 0 : 1;
  }

  if (mode == "env" && argc == 2) {
    const std::string before = env_or_unset("NODE_CHANNEL_FD");
    auto ch = need_channel();
    const int fd = std::atoi(before.c_str());
    const int fd_flags = ::fcntl(fd, F_GETFD);
    const int fl_flags = ::fcntl(fd, F_GETFL);
    const bool cloexec = fd_flags >= 0 && (fd_flags & FD_CLOEXEC) != 0;
    const bool nonblock = fl_flags >= 0 && (fl_flags & O_NONBLOCK) != 0;
    const std::string after_fd = env_or_unset("NODE_CHANNEL_FD");
    const std::string after_mode = env_or_unset("NODE_CHANNEL_SERIALIZATION_MODE");
    const bool second = cp::parent_channel(loop) != nullptr;
    std::string grandchild;
    try {
      grandchild = cp::exec_file_sync("/bin/sh", {"-c",
                                                  "printf '%s %s' \"${NODE_CHANNEL_FD-unset}\" "
                                                  "\"${NODE_CHANNEL_SERIALIZATION_MODE-unset}\""});
    } catch (const std::exception& e) {
      grandchild = std::string("failed: ") + e.what();
    }
    say("fd=" + before + " NODE_CHANNEL_FD=" + after_fd + " NODE_CHANNEL_SERIALIZATION_MODE=" +
        after_mode + " cloexec=" + (cloexec ? "1" : "0") + " nonblock=" + (nonblock ? "1" : "0") +
        " second=" + (second ? "channel" : "null") + " grandchild=" + grandchild);
    ch->send("{\"fd\":" + json_string(before) + ",\"NODE_CHANNEL_FD\":" + json_string(after_fd) +
             ",\"NODE_CHANNEL_SERIALIZATION_MODE\":" + json_string(after_mode) + ",\"cloexec\":" +
             (cloexec ? "true" : "false") + ",\"nonblock\":" + (nonblock ? "true" : "false") +
             ",\"second\":" + (second ? "\"channel\"" : "null") +
             ",\"grandchild\":" + json_string(grandchild) + "}");
    return echo(ch);
  }

  if (mode == "none" && argc == 2) {
    std::string result;
    try {
      auto ch = cp::parent_channel(loop);
      result = ch ? "channel" : "null";
    } catch (const cp::InvalidArgument& e) {
      result = "invalid " + e.code() + ": " + e.what();
    } catch (const std::exception& e) {
      result = std::string("exception: ") + e.what();
    }
    say(result);
    say("after: NODE_CHANNEL_FD=" + env_or_unset("NODE_CHANNEL_FD") +
        " NODE_CHANNEL_SERIALIZATION_MODE=" + env_or_unset("NODE_CHANNEL_SERIALIZATION_MODE"));
    return result == "channel" ? 1 : 0;
  }

  if (mode == "listeners" && argc == 2) {
    auto ch = need_channel();
    std::string sent = "no callback";
    ch->send("{\"hello\":\"no listeners\"}",
             [&sent](std::error_code ec) { sent = "sent " + code_or_ok(ec); });
    run_loop();
    say("loop ended, " + sent + ", connected=" + (ch->connected() ? "1" : "0"));
    return sent == "sent ok" && g_errors == 0 ? 0 : 1;
  }

  if ((mode == "listen" || mode == "disconnect-listener") && argc == 2) {
    auto ch = need_channel();
    cp::Channel* c = ch.get();
    int pongs = 0;
    bool disconnected = false;
    if (mode == "listen") {
      ch->on<cp::MessageEvent>([c, &pongs](const cp::MessageEvent& m) {
        c->send("{\"pong\":" + std::to_string(++pongs) + ",\"got\":" + m.json + "}");
      });
    }
    ch->on<cp::DisconnectEvent>([&disconnected](const cp::DisconnectEvent&) {
      disconnected = true;
      say("disconnected");
    });
    ch->send("\"ready\"");
    run_loop();
    say("loop ended");
    return disconnected && g_errors == 0 ? 0 : 1;
  }

  if (mode == "once" && argc == 2) {
    auto ch = need_channel();
    cp::Channel* c = ch.get();
    int got = 0;
    ch->once<cp::MessageEvent>([c, &got](const cp::MessageEvent& m) {
      ++got;
      c->send("{\"got\":" + m.json + "}");
    });
    ch->send("\"ready\"");
    run_loop();
    say("loop ended, " + std::to_string(got) + " message(s)");
    return got == 1 && g_errors == 0 ? 0 : 1;
  }

  if ((mode == "off" || mode == "unref") && argc == 2) {
    auto ch = need_channel();
    const cp::ListenerId id = ch->on<cp::MessageEvent>(
        [](const cp::MessageEvent& m) { say("unexpected message: " + m.json); });
    if (mode == "off") {
      ch->off(id);
    } else {
      ch->on<cp::DisconnectEvent>([](const cp::DisconnectEvent&) { say("disconnected"); });
      ch->unref();
    }
    ch->send("\"ready\"");
    run_loop();
    say("loop ended");
    return g_errors == 0 ? 0 : 1;
  }

  if (mode == "max-message" && argc == 3) {
    // Reports each message it gets (by size) and each error, until "bye".
    auto ch = cp::parent_channel(loop);
    if (!ch) return 3;
    ch->set_max_message(static_cast<std::size_t>(std::strtoul(argv[2], nullptr, 10)));
    cp::Channel* c = ch.get();
    ch->on<cp::ErrorEvent>([](const cp::ErrorEvent& e) {
      say("error " + cp::code_name(e.error.code) + ": " + e.error.message());
    });
    ch->on<cp::MessageEvent>([c](const cp::MessageEvent& m) {
      say("message of " + std::to_string(m.json.size()) + " bytes");
      if (m.json == "\"bye\"") c->disconnect();
    });
    ch->send("\"ready\"");
    run_loop();
    return 0;
  }

  if (mode == "bad" && argc == 2) {
    auto ch = cp::parent_channel(loop);
    if (!ch) {
      complain("started without an IPC channel");
      return 3;
    }
    // The refusals come as ErrorEvent (no callback) or to the callback, never both.
    std::vector<std::string> events;
    std::map<std::string, std::string> callbacks;
    ch->on<cp::ErrorEvent>(
        [&events](const cp::ErrorEvent& e) { events.push_back(cp::code_name(e.error.code)); });
    auto cb = [&callbacks](const char* name) {
      return [&callbacks, name](std::error_code ec) { callbacks[name] = code_or_ok(ec); };
    };
    std::string returns;
    returns += ch->send("{bad", cb("invalid")) ? "1" : "0";
    returns += ch->send("[1,\n2]", cb("newline")) ? "1" : "0";
    returns += ch->send("{\"cmd\":\"NODE_HANDLE\"}") ? "1" : "0";  // to the ErrorEvent
    returns += ch->send("{\"after\":\"bad\"}", cb("after")) ? "1" : "0";
    ch->disconnect();
    returns += ch->send("1", cb("closed")) ? "1" : "0";
    ch->disconnect();  // again: to the ErrorEvent
    run_loop();
    say("returns " + returns);
    for (const auto& [name, code] : callbacks)
      say("callback " + name + " " + code);
    for (const auto& code : events)
      say("event " + code);
    return 0;
  }

  return usage();
}
