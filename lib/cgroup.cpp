#include "cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace childproc::detail {
namespace {

// This process's own cgroup v2 directory, from /proc/self/mountinfo and
// /proc/self/cgroup; empty when there is no cgroup2 mount.
std::string own_cgroup_dir() {
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line, mount_point, mount_root;
  while (std::getline(mounts, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev;
    fields >> id >> parent >> dev >> mount_root >> mount_point;
    break;
  }
  if (mount_point.empty()) return {};
  std::ifstream self("/proc/self/cgroup");
  while (std::getline(self, line)) {
    if (line.compare(0, 3, "0::") != 0) continue;
    std::string path = line.substr(3);
    if (mount_root != "/" && path.compare(0, mount_root.size(), mount_root) == 0 &&
        (path.size() == mount_root.size() || path[mount_root.size()] == '/'))
      path.erase(0, mount_root.size());
    if (path == "/") path.clear();
    return mount_point + path;
  }
  return {};
}

std::vector<int> read_pids(const std::string& file) {
  std::vector<int> pids;
  std::ifstream in(file);
  int pid;
  while (in >> pid)
    pids.push_back(pid);
  return pids;
}

bool write_file(const std::string& file, std::string_view text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// cgroups of earlier processes that died before removing theirs: named
// childproc-<pid>-<n>, with <pid> gone. Only empty ones can be removed.
void remove_stale(const std::string& base) {
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr) return;
  while (const dirent* e = ::readdir(dir)) {
    int pid = 0;
    if (std::sscanf(e->d_name, "childproc-%d-", &pid) != 1 || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    ::rmdir((base + "/" + e->d_name).c_str());
  }
  ::closedir(dir);
}

struct Base {
  std::string dir;  // empty: cgroups cannot be made here
};

const Base& base() {
  static const Base b = [] {
    Base r{own_cgroup_dir()};
    if (!r.dir.empty() && ::access(r.dir.c_str(), W_OK) != 0) r.dir.clear();
    if (!r.dir.empty()) remove_stale(r.dir);
    return r;
  }();
  return b;
}

std::atomic<bool> g_unavailable{false};
std::atomic<unsigned> g_counter{0};

}  // namespace

void Cgroup::disable() noexcept {
  g_unavailable = true;
}

std::string Cgroup::base_dir() {
  return base().dir;
}

std::unique_ptr<Cgroup> Cgroup::create(bool guarded) {
  // CHILDPROC_KILL_TREE=process_group chooses the other mechanism (tests, and hosts that
  // must not make cgroups); read on each call, as tests switch it.
  const char* forced = std::getenv("CHILDPROC_KILL_TREE");
  if (forced != nullptr && std::string_view(forced) == "process_group") return nullptr;
  if (g_unavailable.load(std::memory_order_relaxed)) return nullptr;
  const std::string& dir = base().dir;
  if (dir.empty()) {
    g_unavailable = true;
    return nullptr;
  }
  std::string path = dir + "/childproc-" + std::to_string(::getpid()) + "-" +
                     std::to_string(g_counter.fetch_add(1, std::memory_order_relaxed)) +
                     (guarded ? kGuardedSuffix : "");
  if (::mkdir(path.c_str(), 0755) != 0) {
    // EEXIST is a leftover of a pid reused since; anything else means "not here".
    if (errno != EEXIST) g_unavailable = true;
    return nullptr;
  }
  if (::access((path + "/cgroup.kill").c_str(), W_OK) != 0) {
    ::rmdir(path.c_str());
    g_unavailable = true;
    return nullptr;
  }
  const int fd = ::open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    ::rmdir(path.c_str());
    g_unavailable = true;
    return nullptr;
  }
  return std::unique_ptr<Cgroup>(new Cgroup(std::move(path), fd));
}

void Cgroup::close_procs() noexcept {
  if (procs_fd_ >= 0) ::close(procs_fd_);
  procs_fd_ = -1;
}

int Cgroup::signal(int signum) noexcept {
  try {
    if (signum == SIGKILL) {
      if (read_pids(path_ + "/cgroup.procs").empty()) return UV_ESRCH;
      return write_file(path_ + "/cgroup.kill", "1") ? 0 : -errno;
    }
    std::vector<int> done;
    for (int pass = 0; pass < 16; ++pass) {
      bool more = false;
      for (int pid : read_pids(path_ + "/cgroup.procs")) {
        if (std::find(done.begin(), done.end(), pid) != done.end()) continue;
        more = true;
        done.push_back(pid);
        ::kill(pid, signum);
      }
      if (!more) break;
    }
    return done.empty() ? UV_ESRCH : 0;
  } catch (...) {
    return UV_ENOMEM;
  }
}

Cgroup::~Cgroup() {
  close_procs();
  if (::rmdir(path_.c_str()) == 0 || errno != EBUSY) return;
  try {
    for (int pid : read_pids(path_ + "/cgroup.procs"))
      write_file(base().dir + "/cgroup.procs", std::to_string(pid));
  } catch (...) {
  }
  ::rmdir(path_.c_str());
}

}  // namespace childproc::detail
