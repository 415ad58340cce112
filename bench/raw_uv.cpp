// Raw libuv child (see raw_uv.hpp).
#include "raw_uv.hpp"

#include "bench.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace bench {

GrowBuf::~GrowBuf() {
  std::free(data);
}

void GrowBuf::make_room(std::size_t room) {
  if (cap - size >= room) return;
  const std::size_t want = std::max(cap * 2, size + room);
  void* p = std::realloc(data, want);
  if (p == nullptr) die("out of memory growing a read buffer");
  data = static_cast<char*>(p);
  cap = want;
}

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
char scratch[kReadChunk];

void on_close(uv_handle_t* h) {
  auto* c = static_cast<RawChild*>(h->data);
  if (--c->open_handles != 0) return;
  if (c->done_counter != nullptr) ++*c->done_counter;
  if (c->on_done != nullptr) c->on_done(*c);
}

void close_handle(uv_handle_t* h) {
  if (!uv_is_closing(h)) uv_close(h, on_close);
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<RawChild*>(h->data);
  if (c->sink != nullptr && !c->copy_from_slab &&
      h == reinterpret_cast<uv_handle_t*>(&c->pipes[1])) {
    c->sink->make_room(kReadChunk);
    *buf = uv_buf_init(
        c->sink->data + c->sink->size,
        static_cast<unsigned int>(std::min<std::size_t>(c->sink->cap - c->sink->size, 1u << 30)));
  } else {
    *buf = uv_buf_init(scratch, sizeof scratch);
  }
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<RawChild*>(s->data);
  if (nread > 0) {
    const auto n = static_cast<std::size_t>(nread);
    if (c->sink != nullptr && s == reinterpret_cast<uv_stream_t*>(&c->pipes[1])) {
      if (c->copy_from_slab) {
        c->sink->make_room(n);
        std::memcpy(c->sink->data + c->sink->size, buf->base, n);
      }
      c->sink->size += n;
    }
  } else if (nread < 0) {
    if (nread != UV_EOF) c->read_error = static_cast<int>(nread);
    uv_read_stop(s);
    close_handle(reinterpret_cast<uv_handle_t*>(s));
  }
}

void on_exit(uv_process_t* p, int64_t status, int term_signal) {
  auto* c = static_cast<RawChild*>(p->data);
  c->exited = true;
  c->exit_status = status;
  c->term_signal = term_signal;
  close_handle(reinterpret_cast<uv_handle_t*>(&c->pipes[0]));
  close_handle(reinterpret_cast<uv_handle_t*>(p));
}

}  // namespace

int raw_start(uv_loop_t* loop, RawChild& c, char** args, double* spawn_us) {
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; ++i) {
    uv_pipe_init(loop, &c.pipes[i], 0);
    c.pipes[i].data = &c;
    ++c.open_handles;
    stdio[i].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE |
                                                 (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE));
    stdio[i].data.stream = reinterpret_cast<uv_stream_t*>(&c.pipes[i]);
  }
  uv_process_options_t o{};
  o.exit_cb = on_exit;
  o.file = args[0];
  o.args = args;
  o.stdio_count = 3;
  o.stdio = stdio;
  c.proc.data = &c;
  const auto t0 = Clock::now();
  const int err = uv_spawn(loop, &c.proc, &o);
  if (spawn_us != nullptr) *spawn_us = us_between(t0, Clock::now());
  ++c.open_handles;  // uv_spawn initialises the handle even when it fails
  if (err != 0) {
    for (auto& p : c.pipes)
      close_handle(reinterpret_cast<uv_handle_t*>(&p));
    close_handle(reinterpret_cast<uv_handle_t*>(&c.proc));
    return err;
  }
  for (int i = 1; i < 3; ++i)
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c.pipes[i]), on_alloc, on_read);
  return 0;
}

}  // namespace bench
