// childproc-bench: statistics, tables and process plumbing.
#include "bench.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

extern char** environ;

namespace bench {

Summary summarize(std::vector<double> s) {
  Summary r;
  r.n = s.size();
  if (s.empty()) return r;
  std::sort(s.begin(), s.end());
  const std::size_t n = s.size();
  r.median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const auto rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(n)));
  r.p90 = s[std::max<std::size_t>(rank, 1) - 1];
  return r;
}

std::string fmt(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string ratio(double value, double anchor) {
  if (!(anchor > 0) || !(value >= 0)) return "-";
  return fmt(value / anchor, 2) + "x";
}

void Table::print() const {
  std::vector<std::size_t> width(header_.size(), 3);
  auto widen = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  };
  widen(header_);
  for (const auto& r : rows_)
    widen(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string s = "|";
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      // Text left, numbers right.
      const bool left = i == 0;
      const std::string pad(width[i] - cell.size(), ' ');
      s += ' ';
      s += left ? cell : pad;
      s += left ? pad : cell;
      s += " |";
    }
    std::cout << s << '\n';
  };
  line(header_);
  std::string sep = "|";
  for (std::size_t i = 0; i < width.size(); ++i) {
    sep += i == 0 ? ':' : '-';
    sep.append(width[i], '-');
    sep += i == 0 ? "-|" : ":|";
  }
  std::cout << sep << '\n';
  for (const auto& r : rows_)
    line(r);
  std::cout << std::flush;
}

void die(const std::string& what) {
  std::cout << std::flush;
  std::cerr << "childproc-bench: " << what << std::endl;
  std::exit(1);
}

int count_open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) die("opendir /proc/self/fd: " + std::string(std::strerror(errno)));
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory's own fd
}

long rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) die("open /proc/self/statm");
  long size = 0;
  long resident = 0;
  const int got = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (got != 2) die("parse /proc/self/statm");
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

long peak_rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) die("open /proc/self/status");
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  if (kib < 0) die("no VmHWM in /proc/self/status");
  return kib;
}

std::string find_in_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    if (dir.empty()) dir = ".";
    std::string candidate;
    candidate.reserve(dir.size() + 1 + name.size());
    candidate.append(dir).append(1, '/').append(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return {};
    rest.remove_prefix(colon + 1);
  }
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) die("readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

RunResult run_capture(const std::vector<std::string>& argv) {
  RunResult r;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) die("pipe2: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  std::vector<char*> av;
  for (const auto& a : argv)
    av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    r.status = std::string("spawn: ") + std::strerror(rc);
    return r;
  }
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n > 0) {
      r.out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(p[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) die("waitpid: " + std::string(std::strerror(errno)));
  }
  if (WIFEXITED(st)) {
    r.ok = WEXITSTATUS(st) == 0;
    r.status = "exit " + std::to_string(WEXITSTATUS(st));
  } else {
    r.status = "signal " + std::to_string(WTERMSIG(st));
  }
  return r;
}

Metrics parse_metrics(const std::string& text) {
  Metrics m;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key.empty() || key[0] == '#') continue;
    std::vector<double> values;
    std::string w;
    bool numeric = true;
    while (words >> w) {
      char* end = nullptr;
      const double v = std::strtod(w.c_str(), &end);
      if (end == w.c_str() || *end != '\0') {
        numeric = false;
        break;
      }
      values.push_back(v);
    }
    if (!numeric) continue;
    auto& slot = m[key];
    slot.insert(slot.end(), values.begin(), values.end());
  }
  return m;
}

double metric(const Metrics& m, const std::string& key, const std::string& who) {
  auto it = m.find(key);
  if (it == m.end() || it->second.size() != 1) die(who + ": no single value for '" + key + "'");
  return it->second.front();
}

}  // namespace bench
