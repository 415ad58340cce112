// Coroutines: Task, run, start, when_all, exec_async, exited/closed, read_line/read,
// write_all, LineEvent, ExecOptions::all, kill_reason, JobQueue. Real children only.
#include "support.hpp"

#include <childproc/childproc.hpp>

#include <malloc.h>
#include <signal.h>

#include <stop_token>

using namespace cptest;
using childproc::ExecResult;
using childproc::KillReason;
using childproc::Task;

namespace {

// Bytes the process has allocated with malloc and not freed (glibc's own count).
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return 0;
#else
  return mallinfo2().uordblks;
#endif
}

Task<int> forty_two() {
  co_return 42;
}

Task<int> add_one(Task<int> inner) {
  co_return co_await inner + 1;
}

Task<int> throws_logic() {
  throw std::logic_error("from a task");
  co_return 0;
}

Task<std::string> exec_out(uv_loop_t* loop, std::string cmd) {
  ExecResult r = co_await childproc::exec_async(loop, cmd);
  co_return r.out;
}

// True when `all` is an interleaving of `a` and `b` that keeps each one's order.
bool interleaves(const std::string& all, const std::string& a, const std::string& b) {
  if (all.size() != a.size() + b.size()) return false;
  // Lines are whole here (each write is one line), so merge line by line.
  std::vector<std::string> la, lb, lall;
  auto split = [](const std::string& s, std::vector<std::string>& out) {
    std::size_t p = 0;
    for (std::size_t nl; (nl = s.find('\n', p)) != std::string::npos; p = nl + 1)
      out.push_back(s.substr(p, nl - p));
  };
  split(a, la);
  split(b, lb);
  split(all, lall);
  std::size_t i = 0, j = 0;
  for (const auto& l : lall) {
    if (i < la.size() && la[i] == l) {
      ++i;
    } else if (j < lb.size() && lb[j] == l) {
      ++j;
    } else {
      return false;
    }
  }
  return i == la.size() && j == lb.size();
}

// A coroutine type that is not childproc's: fire-and-forget, resumed by whoever.
struct Foreign {
  struct promise_type {
    Foreign get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

Foreign foreign_exec(uv_loop_t* loop, std::string& out, std::optional<int>& code) {
  ExecResult r = co_await childproc::exec_async(loop, "echo from a foreign coroutine");
  out = r.out;
  auto child = childproc::spawn(loop, "sh", {"-c", "exit 4"});
  const childproc::ExitEvent e = co_await child->exited();
  code = e.code;
}

}  // namespace

TEST_CASE_METHOD(LoopFixture, "the awaitables work in a coroutine type of the user's own",
                 "[coro]") {
  std::string out;
  std::optional<int> code;
  foreign_exec(loop(), out, code);
  run();
  CHECK(out == "from a foreign coroutine\n");
  CHECK(code == 4);
}

TEST_CASE_METHOD(LoopFixture, "exec_async: the result carries the child's resource usage",
                 "[coro]") {
  auto body = [](uv_loop_t* l) -> Task<ExecResult> {
    co_return co_await childproc::exec_async(l, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
  };
  ExecResult r = childproc::run(loop(), body(loop()));
  run();
  CHECK_FALSE(r.error);
  if (uv_launcher()) {
    CHECK_FALSE(r.usage);  // libuv reaps without rusage
  } else {
    REQUIRE(r.usage);
    CHECK(r.usage->user_time + r.usage->system_time > 0us);
  }
}

TEST_CASE_METHOD(LoopFixture, "Task: values and exceptions pass through co_await and run()",
                 "[coro]") {
  CHECK(childproc::run(loop(), add_one(forty_two())) == 43);
  CHECK_THROWS_WITH(childproc::run(loop(), add_one(throws_logic())), "from a task");
  Task<int> empty;
  CHECK_THROWS_AS(childproc::run(loop(), std::move(empty)), std::logic_error);
}

TEST_CASE_METHOD(LoopFixture, "exec_async: output, errors, and argument errors through co_await",
                 "[coro]") {
  auto body = [](uv_loop_t* l) -> Task<void> {
    ExecResult ok = co_await childproc::exec_async(l, "echo hello; echo oops >&2");
    CHECK_FALSE(ok.error);
    CHECK(ok.out == "hello\n");
    CHECK(ok.err == "oops\n");
    CHECK(ok.all.empty());
    const std::vector<std::string> args{"fail", "no", "3"};  // g++ 12: no braced list in a co_await
    ExecResult bad = co_await childproc::exec_file_async(l, kHelper, args);
    CHECK(bad.error.code == childproc::errc::command_failed);
    CHECK(bad.error.exit_code == 3);
    CHECK(bad.err == "no\n");
    ExecResult missing = co_await childproc::exec_file_async(l, "/nonexistent/prog");
    CHECK(missing.error.code == std::errc::no_such_file_or_directory);
    bool threw = false;
    try {
      co_await childproc::exec_async(l, "");
    } catch (const childproc::InvalidArgument&) {
      threw = true;
    }
    CHECK(threw);
  };
  childproc::run(loop(), body(loop()));
  run();
}

TEST_CASE_METHOD(LoopFixture, "exec_async: `all` interleaves stdout and stderr in arrival order",
                 "[coro]") {
  auto body = [](uv_loop_t* l) -> Task<ExecResult> {
    childproc::ExecOptions o;
    o.all = true;
    co_return co_await childproc::exec_async(
        l, "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done", o);
  };
  ExecResult r = childproc::run(loop(), body(loop()));
  run();
  CHECK_FALSE(r.error);
  CHECK(r.out == "out1\nout2\nout3\nout4\nout5\n");
  CHECK(r.err == "err1\nerr2\nerr3\nerr4\nerr5\n");
  CHECK(interleaves(r.all, r.out, r.err));
}

TEST_CASE_METHOD(LoopFixture, "exec_async: a stop while suspended kills the child, reason stop",
                 "[coro]") {
  std::stop_source stop;
  after(50ms, [&] { stop.request_stop(); });
  auto body = [](uv_loop_t* l, std::stop_token token) -> Task<ExecResult> {
    childproc::ExecOptions o;
    o.stop_token = token;
    const std::vector<std::string> args{"sleep", "30000"};  // g++ 12: no braced list in a co_await
    co_return co_await childproc::exec_file_async(l, kHelper, args, o);
  };
  ExecResult r = childproc::run(loop(), body(loop(), stop.get_token()));
  run(20s);
  CHECK_FALSE(watchdog_fired());
  CHECK(r.error.code == childproc::errc::aborted);
  CHECK(r.kill_reason == KillReason::stop);
}

TEST_CASE_METHOD(LoopFixture, "exec_async: a task destroyed while awaiting terminates its child",
                 "[coro]") {
  bool resumed = false;
  auto body = [](uv_loop_t* l, bool& flag) -> Task<void> {
    const std::vector<std::string> args{"sleep", "30000"};  // g++ 12: no braced list in a co_await
    co_await childproc::exec_file_async(l, kHelper, args);
    flag = true;
  };
  {
    Task<void> task = body(loop(), resumed);
    task.handle().resume();  // runs up to the co_await: the child is started
    uv_run(loop(), UV_RUN_NOWAIT);
  }          // destroyed while suspended
  run(20s);  // the child must be gone, or the watchdog fires
  CHECK_FALSE(watchdog_fired());
  CHECK_FALSE(resumed);
}

TEST_CASE_METHOD(LoopFixture, "exited() and closed(): now, later, and after a failed spawn",
                 "[coro]") {
  auto body = [this]() -> Task<void> {
    auto child = spawn_helper({"exit", "3"});
    childproc::ExitEvent e = co_await child->exited();
    CHECK(e.code == 3);
    CHECK_FALSE(e.signal);
    childproc::ExitEvent again = co_await child->exited();  // already: at once
    CHECK(again.code == 3);
    childproc::CloseEvent c = co_await child->closed();
    CHECK(c.code == 3);
    auto missing = track(childproc::spawn(loop(), "/nonexistent/prog"));
    missing->on<childproc::ErrorEvent>([](const childproc::ErrorEvent&) {});
    childproc::ExitEvent m = co_await missing->exited();
    CHECK(m.code == -ENOENT);
    auto killed = spawn_helper({"sleep", "30000"});
    killed->kill(SIGKILL);
    childproc::ExitEvent k = co_await killed->exited();
    CHECK(k.signal == SIGKILL);
    CHECK(killed->kill_reason() == KillReason::kill);
  };
  childproc::run(loop(), body());
  run();
}

TEST_CASE_METHOD(LoopFixture, "read_line(): lines split across writes, CRLF, the last partial line",
                 "[coro]") {
  auto body = [this]() -> Task<std::vector<std::string>> {
    auto cat = spawn_helper({"cat"});
    auto writer = [](std::shared_ptr<childproc::Stream> in) -> Task<void> {
      // g++ 12 loses a braced list's elements across a co_await: a named vector.
      const std::vector<std::string> pieces{"one\r\ntw", "o\n", "th", "ree\n\nlast"};
      for (const auto& piece : pieces) {
        // g++ 12 miscompiles a co_await inside Catch's macros: await first.
        const std::error_code ec = co_await in->write_all(piece);
        CHECK_FALSE(ec);
      }
      in->end();
    };
    auto reader = [](std::shared_ptr<childproc::Stream> out,
                     std::vector<std::string>& lines) -> Task<void> {
      while (auto line = co_await out->read_line())
        lines.push_back(*line);
    };
    // Reading starts with the writing: a stream nobody reads discards its data.
    std::vector<std::string> lines;
    std::vector<Task<void>> both;
    both.push_back(writer(cat->std_in()));
    both.push_back(reader(cat->std_out(), lines));
    co_await childproc::when_all(std::move(both));
    co_await cat->closed();
    co_return lines;
  };
  auto lines = childproc::run(loop(), body());
  run();
  CHECK(lines == std::vector<std::string>{"one", "two", "three", "", "last"});
}

TEST_CASE_METHOD(LoopFixture, "read(): the chunks add up to the output, then empty", "[coro]") {
  auto body = [this]() -> Task<std::string> {
    auto child = spawn_helper({"out", "300000"});
    std::string all;
    while (auto chunk = co_await child->std_out()->read()) {
      CHECK_FALSE(chunk->empty());
      all += *chunk;
    }
    co_return all;
  };
  std::string got = childproc::run(loop(), body());
  run();
  CHECK(got.size() == 300000);
  CHECK(is_pattern(got));
}

TEST_CASE_METHOD(LoopFixture, "write_all(): backpressure through a cat, and EPIPE", "[coro]") {
  auto body = [this]() -> Task<std::size_t> {
    auto cat = spawn_helper({"cat"});
    auto writer = [](std::shared_ptr<childproc::Stream> in) -> Task<void> {
      const std::string block(64 * 1024, 'x');
      for (int i = 0; i < 64; ++i) {
        const std::error_code ec = co_await in->write_all(block);
        CHECK_FALSE(ec);
        CHECK(in->writable_length() < in->high_water_mark() + block.size());
      }
      in->end();
    };
    // Reading must start with the writing: a stream nobody reads discards its data.
    std::size_t n = 0;
    auto counter = [](std::shared_ptr<childproc::Stream> out, std::size_t& total) -> Task<void> {
      while (auto chunk = co_await out->read())
        total += chunk->size();
    };
    std::vector<Task<void>> both;
    both.push_back(writer(cat->std_in()));
    both.push_back(counter(cat->std_out(), n));
    co_await childproc::when_all(std::move(both));
    // A child that is gone: the write fails with EPIPE.
    auto gone = spawn_helper({"exit", "0"});
    co_await gone->closed();
    std::error_code ec = co_await gone->std_in()->write_all("late");
    CHECK(ec == std::errc::broken_pipe);
    co_return n;
  };
  const std::size_t n = childproc::run(loop(), body());
  run();
  CHECK(n == 64u * 64 * 1024);
  take_unhandled();  // the EPIPE's ErrorEvent had no listener
}

TEST_CASE_METHOD(LoopFixture, "LineEvent: lines, CRLF, max_line pieces, the last line at the end",
                 "[coro]") {
  auto cat = spawn_helper({"cat"});
  std::vector<std::pair<std::string, bool>> lines;
  cat->std_out()->set_max_line(4);
  cat->std_out()->on<childproc::LineEvent>(
      [&](const childproc::LineEvent& e) { lines.emplace_back(std::string(e.line), e.partial); });
  cat->std_in()->write("ab\r\nabcdefghij\nxy");
  cat->std_in()->end("z\nend");
  run();
  using L = std::pair<std::string, bool>;
  CHECK(lines == std::vector<L>{L{"ab", false}, L{"abcd", true}, L{"efgh", true}, L{"ij", false},
                                L{"xyz", false}, L{"end", false}});
}

TEST_CASE_METHOD(LoopFixture, "when_all: results in order; the first exception is rethrown",
                 "[coro]") {
  auto body = [](uv_loop_t* l) -> Task<std::vector<std::string>> {
    std::vector<Task<std::string>> tasks;
    for (const char* c : {"echo a", "sleep 0.2; echo b", "echo c"})
      tasks.push_back(exec_out(l, c));
    co_return co_await childproc::when_all(std::move(tasks));
  };
  CHECK(childproc::run(loop(), body(loop())) == std::vector<std::string>{"a\n", "b\n", "c\n"});
  std::vector<Task<int>> mixed;
  mixed.push_back(forty_two());
  mixed.push_back(throws_logic());
  CHECK_THROWS_WITH(childproc::run(loop(), childproc::when_all(std::move(mixed))), "from a task");
  run();
}

TEST_CASE_METHOD(LoopFixture, "start(): a detached task's exception goes to the unhandled handler",
                 "[coro]") {
  bool done = false;
  auto body = [](uv_loop_t* l, bool& flag) -> Task<void> {
    co_await childproc::exec_async(l, "true");
    flag = true;
    throw std::runtime_error("detached boom");
  };
  childproc::start(loop(), body(loop(), done));
  run();
  CHECK(done);
  auto messages = take_unhandled();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find("detached boom") != std::string::npos);
}

TEST_CASE_METHOD(LoopFixture, "JobQueue: at most `concurrency` at once, drained() after all",
                 "[coro]") {
  childproc::JobQueue queue(loop(), {.concurrency = 3});
  int running = 0, peak = 0, finished = 0;
  for (int i = 0; i < 12; ++i) {
    queue.push([&, l = loop()]() -> Task<void> {
      peak = std::max(peak, ++running);
      const std::vector<std::string> args{"exit", "0"};  // g++ 12: no braced list in a co_await
      co_await childproc::exec_file_async(l, kHelper, args);
      --running;
      ++finished;
    });
  }
  CHECK(queue.running() == 3);
  CHECK(queue.waiting() == 9);
  auto wait = [](childproc::JobQueue& q) -> Task<void> { co_await q.drained(); };
  childproc::run(loop(), wait(queue));
  run();
  CHECK(finished == 12);
  CHECK(peak == 3);
}

TEST_CASE_METHOD(LoopFixture, "JobQueue: stop() drops waiting jobs and stops running children",
                 "[coro]") {
  childproc::JobQueue queue(loop(), {.concurrency = 2});
  int started = 0;
  std::vector<ExecResult> results;
  for (int i = 0; i < 6; ++i) {
    queue.push([&, l = loop()](std::stop_token token) -> Task<void> {
      ++started;
      childproc::ExecOptions o;
      o.stop_token = token;
      const std::vector<std::string> args{"sleep",
                                          "30000"};  // g++ 12: no braced list in a co_await
      results.push_back(co_await childproc::exec_file_async(l, kHelper, args, o));
    });
  }
  after(50ms, [&] { queue.stop(); });
  auto wait = [](childproc::JobQueue& q) -> Task<void> { co_await q.drained(); };
  childproc::run(loop(), wait(queue));
  run(20s);
  CHECK_FALSE(watchdog_fired());
  CHECK(started == 2);
  REQUIRE(results.size() == 2);
  for (const auto& r : results)
    CHECK(r.kill_reason == KillReason::stop);
  CHECK_THROWS_AS(queue.push([]() -> Task<void> { co_return; }), std::logic_error);
}

TEST_CASE_METHOD(LoopFixture,
                 "10,000 tasks on one loop, twice: no fd, child or heap growth afterwards",
                 "[coro]") {
  const int fds = count_fds();
  auto round = [&] {
    childproc::JobQueue queue(loop(), {.concurrency = 16});
    int done = 0;
    for (int i = 0; i < 10000; ++i) {
      if (i % 50 == 0) {  // 200 of them run a real child
        queue.push([&, l = loop()]() -> Task<void> {
          const std::vector<std::string> args{"exit", "0"};  // g++ 12: no braced list in a co_await
          co_await childproc::exec_file_async(l, kHelper, args);
          ++done;
        });
      } else {
        queue.push([&]() -> Task<void> {
          co_await add_one(forty_two());
          ++done;
        });
      }
    }
    auto wait = [](childproc::JobQueue& q) -> Task<void> { co_await q.drained(); };
    childproc::run(loop(), wait(queue));
    run(60s);
    CHECK(done == 10000);
  };
  round();  // warms the allocator and the loop up
  const std::size_t heap = heap_in_use();
  round();
  CHECK(count_fds() == fds);
  // The second round must leave the heap where the first did: nothing per task stays.
  // (Under a sanitizer's allocator heap_in_use() is 0: LeakSanitizer checks leaks there.)
  const std::size_t after = heap_in_use();
  INFO("heap in use: " << heap << " after one round, " << after << " after two");
  CHECK(after <= heap + 256 * 1024);
}

TEST_CASE_METHOD(LoopFixture, "kill_reason: timeout, max_buffer and terminate", "[coro]") {
  auto body = [](uv_loop_t* l) -> Task<std::vector<ExecResult>> {
    std::vector<ExecResult> out;
    const std::vector<std::string> sleep_args{"sleep", "30000"};
    childproc::ExecOptions timeout;
    timeout.timeout = 100ms;
    out.push_back(co_await childproc::exec_file_async(l, kHelper, sleep_args, timeout));
    const std::vector<std::string> big{"out", "1000000"};
    childproc::ExecOptions small;
    small.max_buffer = 1000;
    out.push_back(co_await childproc::exec_file_async(l, kHelper, big, small));
    co_return out;
  };
  auto results = childproc::run(loop(), body(loop()));
  REQUIRE(results.size() == 2);
  CHECK(results[0].error.code == childproc::errc::timed_out);
  CHECK(results[0].kill_reason == KillReason::timeout);
  CHECK(results[1].error.code == childproc::errc::max_buffer_exceeded);
  CHECK(results[1].kill_reason == KillReason::max_buffer);
  auto child = spawn_helper({"sleep", "30000"});
  CHECK(child->kill_reason() == KillReason::none);
  child->terminate();
  CHECK(child->kill_reason() == KillReason::terminate);
  child->kill(SIGKILL);  // the first reason stays
  CHECK(child->kill_reason() == KillReason::terminate);
  run(20s);
  CHECK_FALSE(watchdog_fired());
}

TEST_CASE_METHOD(LoopFixture,
                 "destroyed while suspended in exited(), read_line() or when_all: listeners "
                 "go, the child runs on, nothing resumes",
                 "[coro]") {
  auto cat = spawn_helper({"cat"});
  int resumed = 0;
  auto on_exit = [](std::shared_ptr<childproc::ChildProcess> c, int& n) -> Task<void> {
    co_await c->exited();
    ++n;
  };
  auto on_line = [](std::shared_ptr<childproc::Stream> s, int& n) -> Task<void> {
    co_await s->read_line();
    ++n;
  };
  auto both = [](Task<void> a, Task<void> b) -> Task<void> {
    std::vector<Task<void>> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    co_await childproc::when_all(std::move(v));
  };
  const std::size_t exit_listeners = cat->listener_count<childproc::ExitEvent>();
  {
    Task<void> t1 = on_exit(cat, resumed);
    Task<void> t2 = on_line(cat->std_out(), resumed);
    Task<void> t3 = both(on_exit(cat, resumed), on_line(cat->std_err(), resumed));
    t1.handle().resume();
    t2.handle().resume();
    t3.handle().resume();
    CHECK(cat->listener_count<childproc::ExitEvent>() == exit_listeners + 2);
  }
  CHECK(cat->listener_count<childproc::ExitEvent>() == exit_listeners);
  // The child still runs: it echoes, and a new read gets what the old one would have.
  auto again = [](std::shared_ptr<childproc::ChildProcess> c) -> Task<std::string> {
    const std::error_code ec = co_await c->std_in()->write_all("still here\n");
    CHECK_FALSE(ec);
    auto line = co_await c->std_out()->read_line();
    c->std_in()->end();
    co_return line.value_or("(end)");
  };
  CHECK(childproc::run(loop(), again(cat)) == "still here");
  run();
  CHECK(resumed == 0);
}

TEST_CASE_METHOD(LoopFixture, "read_line(): a reader that stops reading pauses the child",
                 "[coro]") {
  auto child = spawn_helper({"out", "4000000"});
  auto first = [](std::shared_ptr<childproc::Stream> s) -> Task<std::size_t> {
    auto chunk = co_await s->read();
    co_return chunk ? chunk->size() : 0;
  };
  CHECK(childproc::run(loop(), first(child->std_out())) > 0);
  // Nobody reads now: the stream must pause with a bounded amount unread, not take all
  // 4 MB into memory.
  const auto out = child->std_out();
  while (!out->paused() && uv_run(loop(), UV_RUN_ONCE) != 0) {
  }
  CHECK(out->paused());
  CHECK_FALSE(child->exited().await_ready());  // the child blocks on its full pipe
  auto rest = [](std::shared_ptr<childproc::Stream> s) -> Task<std::size_t> {
    std::size_t n = 0;
    while (auto chunk = co_await s->read())
      n += chunk->size();
    co_return n;
  };
  const std::size_t n = childproc::run(loop(), rest(out));
  run();
  CHECK(n > 0);
  CHECK(n < 4000000);
}

TEST_CASE_METHOD(LoopFixture,
                 "JobQueue: destroying it destroys its running jobs and their children", "[coro]") {
  int resumed = 0;
  {
    childproc::JobQueue queue(loop(), {.concurrency = 2});
    for (int i = 0; i < 4; ++i) {
      queue.push([&, l = loop()]() -> Task<void> {
        const std::vector<std::string> args{"sleep", "30000"};
        co_await childproc::exec_file_async(l, kHelper, args);
        ++resumed;
      });
    }
    CHECK(queue.running() == 2);
    uv_run(loop(), UV_RUN_NOWAIT);
  }
  run(20s);  // both children are terminated, or the watchdog fires
  CHECK_FALSE(watchdog_fired());
  CHECK(resumed == 0);
}
