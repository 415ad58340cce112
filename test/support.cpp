#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace cptest {

std::string pattern(std::size_t offset, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = pattern_byte(offset + i);
  return s;
}

void PatternChecker::feed(std::string_view chunk) {
  if (!mismatch_) {
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      if (chunk[i] != pattern_byte(size_ + i)) {
        mismatch_ = size_ + i;
        break;
      }
    }
  }
  size_ += chunk.size();
}

bool is_pattern(std::string_view s) {
  PatternChecker c;
  c.feed(s);
  return c.ok(s.size());
}

std::string str(std::optional<int> v) {
  return v ? std::to_string(*v) : "null";
}

std::string sig(std::optional<int> signo) {
  if (!signo) return "null";
  std::string_view name = childproc::signal_name(*signo);
  return name.empty() ? "signal " + std::to_string(*signo) : std::string(name);
}

int count_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

std::string read_fd(int fd) {
  // Non-blocking: a writer that is still open (an fd leaked somewhere) must not hang us.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/childproc-test-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  if (p == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write_file(const std::string& name, const std::string& content,
                                int mode) const {
  std::string file = path_ + "/" + name;
  {
    std::ofstream f(file, std::ios::binary);
    f << content;
  }
  ::chmod(file.c_str(), static_cast<mode_t>(mode));
  return file;
}

void EventLog::attach(childproc::ChildProcess& child) {
  child.on<childproc::SpawnEvent>(
      [this](const childproc::SpawnEvent&) { events.push_back("spawn"); });
  child.on<childproc::ExitEvent>([this](const childproc::ExitEvent& e) {
    events.push_back("exit " + str(e.code) + " " + sig(e.signal));
  });
  child.on<childproc::CloseEvent>([this](const childproc::CloseEvent& e) {
    events.push_back("close " + str(e.code) + " " + sig(e.signal));
  });
  child.on<childproc::ErrorEvent>([this](const childproc::ErrorEvent& e) {
    events.push_back("error " + e.error.message());
    errors.push_back(e.error);
  });
}

std::size_t EventLog::count(std::string_view prefix) const {
  std::size_t n = 0;
  for (const auto& e : events) {
    if (std::string_view(e).substr(0, prefix.size()) == prefix) ++n;
  }
  return n;
}

UnhandledSink& unhandled_sink() {
  static UnhandledSink sink;
  return sink;
}

struct LoopFixture::Timer {
  uv_timer_t handle{};
  std::function<void()> fn;
  bool closed = false;
};

LoopFixture::LoopFixture() {
  {
    std::lock_guard<std::mutex> lock(unhandled_sink().mutex);
    unhandled_sink().messages.clear();
  }
  previous_handler_ = childproc::set_unhandled_handler([](std::string_view message) {
    std::lock_guard<std::mutex> lock(unhandled_sink().mutex);
    unhandled_sink().messages.emplace_back(message);
  });
  fds_before_ = count_fds();
  loop_ = new uv_loop_t;
  int rc = uv_loop_init(loop_);
  if (rc != 0) throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  uv_timer_init(loop_, &watchdog_);
  watchdog_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog_));
}

void LoopFixture::on_watchdog(uv_timer_t* t) {
  auto* self = static_cast<LoopFixture*>(t->data);
  if (self->watchdog_fired_) {
    // The children were killed and still something keeps the loop alive: give up.
    uv_stop(self->loop_);
    return;
  }
  self->watchdog_fired_ = true;
  if (!self->cleaning_) {
    FAIL_CHECK("watchdog: the loop was still running after the time limit; killing the children");
  }
  // The loop goes on until the killed children close: their listeners then run while
  // the test's locals, which they may capture, still exist.
  self->kill_tracked();
  uv_timer_start(&self->watchdog_, on_watchdog, 10000, 0);
}

void LoopFixture::kill_tracked() {
  for (auto& w : tracked_) {
    if (auto c = w.lock()) {
      c->kill(SIGKILL);
    }
  }
  for (pid_t kid : own_children())
    ::kill(kid, SIGKILL);
}

void LoopFixture::detach_tracked() noexcept {
  for (auto& w : tracked_) {
    auto c = w.lock();
    if (!c) continue;
    c->remove_all_listeners();
    for (std::size_t i = 0; i < 16; ++i) {  // no test gives a child more slots
      if (const auto& s = c->stdio(i)) s->remove_all_listeners();
    }
  }
}

void LoopFixture::run(std::chrono::milliseconds limit) {
  uv_timer_start(&watchdog_, on_watchdog, static_cast<uint64_t>(limit.count()), 0);
  uv_run(loop_, UV_RUN_DEFAULT);
  uv_timer_stop(&watchdog_);
}

std::shared_ptr<childproc::ChildProcess> LoopFixture::track(
    std::shared_ptr<childproc::ChildProcess> child) {
  tracked_.push_back(child);
  return child;
}

std::shared_ptr<childproc::ChildProcess> LoopFixture::spawn_helper(
    std::vector<std::string> args, const childproc::SpawnOptions& options) {
  return track(childproc::spawn(loop_, kHelper, args, options));
}

void LoopFixture::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_unique<Timer>();
  timer->fn = std::move(fn);
  uv_timer_init(loop_, &timer->handle);
  timer->handle.data = timer.get();
  uv_timer_start(
      &timer->handle,
      [](uv_timer_t* h) {
        auto* t = static_cast<Timer*>(h->data);
        auto fn = std::move(t->fn);
        t->closed = true;
        uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
        if (fn) fn();
      },
      static_cast<uint64_t>(delay.count()), 0);
  timers_.push_back(std::move(timer));
}

std::vector<std::string> LoopFixture::take_unhandled() {
  std::lock_guard<std::mutex> lock(unhandled_sink().mutex);
  std::vector<std::string> out;
  out.swap(unhandled_sink().messages);
  return out;
}

namespace {

void describe_handle(uv_handle_t* h, void* arg) {
  auto* out = static_cast<std::string*>(arg);
  *out += std::string(" ") + uv_handle_type_name(uv_handle_get_type(h)) +
          (uv_is_active(h) ? "(active)" : "") + (uv_is_closing(h) ? "(closing)" : "");
}

void close_handle(uv_handle_t* h, void*) {
  if (!uv_is_closing(h)) uv_close(h, nullptr);
}

}  // namespace

// Children of this process still alive or unreaped, found through /proc.
bool uv_launcher() {
  const char* choice = std::getenv("CHILDPROC_LAUNCHER");
  return choice != nullptr && std::string_view(choice) == "uv";
}

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

namespace {
std::map<std::string, ModeFn>& modes() {
  static std::map<std::string, ModeFn> m;
  return m;
}
}  // namespace

Mode::Mode(const char* name, ModeFn fn) {
  modes()[name] = fn;
}

int run_mode(int argc, char** argv) {
  if (argc < 3 || std::string_view(argv[1]) != "--mode") return -1;
  auto it = modes().find(argv[2]);
  if (it == modes().end()) return -1;
  return it->second(std::vector<std::string>(argv + 3, argv + argc));
}

std::string self_exe() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

bool process_dead(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  const auto rp = line.rfind(')');
  return rp == std::string::npos || line.compare(rp + 2, 1, "Z") == 0 ||
         line.compare(rp + 2, 1, "X") == 0;
}

bool wait_dead(pid_t pid, std::chrono::milliseconds limit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;  // already reaped
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(limit.count()));
  ::close(fd);
  return r == 1;
}

std::vector<pid_t> own_children() {
  std::vector<pid_t> kids;
  const pid_t me = ::getpid();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(entry.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    auto rp = line.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(line.substr(rp + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == me) kids.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return kids;
}

void LoopFixture::drain_at_end() {
  // Normally the test's last run() left nothing alive. If not (a REQUIRE failed midway,
  // or something keeps the loop alive), kill what we know and give it a bounded run.
  if (uv_loop_alive(loop_)) {
    cleaning_ = true;
    // The test body is over and its locals are gone: no listener of the test may run.
    detach_tracked();
    kill_tracked();
    uv_timer_start(&watchdog_, on_watchdog, 10000, 0);
    uv_run(loop_, UV_RUN_DEFAULT);
    uv_timer_stop(&watchdog_);
    if (uv_loop_alive(loop_)) {
      std::string handles;
      uv_walk(loop_, describe_handle, &handles);
      FAIL_CHECK("the loop is still alive after the test; closing by force:" << handles);
      uv_walk(loop_, close_handle, nullptr);
    }
  }
  for (auto& t : timers_) {
    if (!t->closed) {
      t->closed = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), nullptr);
    }
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  for (int i = 0; i < 100 && uv_run(loop_, UV_RUN_NOWAIT) != 0; ++i) {
  }
}

LoopFixture::~LoopFixture() {
  drain_at_end();

  int rc = uv_loop_close(loop_);
  if (rc != 0) {
    std::string handles;
    uv_walk(loop_, describe_handle, &handles);
    FAIL_CHECK("uv_loop_close returned " << uv_err_name(rc)
                                         << ": libuv handles leaked:" << handles);
    uv_walk(loop_, close_handle, nullptr);
    for (int i = 0; i < 100 && uv_run(loop_, UV_RUN_NOWAIT) != 0; ++i) {
    }
    rc = uv_loop_close(loop_);
  }
  if (rc == 0) {
    delete loop_;
  }  // else: leak the loop rather than free memory libuv still points into
  loop_ = nullptr;
  tracked_.clear();
  timers_.clear();

  const int fds_after = count_fds();
  CHECK(fds_after == fds_before_);

  int status = 0;
  for (int round = 0; round < 100; ++round) {
    pid_t pid = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (pid > 0) {
      FAIL_CHECK("a zombie child was left unreaped: pid " << pid);
      continue;
    }
    if (pid == 0) {
      FAIL_CHECK("a child process is still running after the test; killing it");
      for (pid_t kid : own_children())
        ::kill(kid, SIGKILL);
      for (pid_t kid : own_children())
        ::waitpid(kid, &status, 0);
      continue;
    }
    CHECK(errno == ECHILD);
    break;
  }

  childproc::set_unhandled_handler(std::move(previous_handler_));
  std::vector<std::string> left;
  {
    std::lock_guard<std::mutex> lock(unhandled_sink().mutex);
    left.swap(unhandled_sink().messages);
  }
  for (const auto& m : left)
    FAIL_CHECK("unexpected message to the UnhandledHandler: " << m);
}

childproc::ExecCallback into(ExecOutput& o) {
  return [&o](const childproc::ExecError& e, std::string out, std::string err) {
    ++o.calls;
    o.error = e;
    o.out = std::move(out);
    o.err = std::move(err);
  };
}

}  // namespace cptest
