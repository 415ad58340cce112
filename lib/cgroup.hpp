// kill_tree's exact mechanism: the child and everything it starts live in a cgroup v2
// of their own, made under this process's cgroup where that is writable.
#pragma once

#include <memory>
#include <string>

namespace childproc::detail {

class Cgroup {
public:
  /// A new, empty cgroup, or null where none can be made here (no writable cgroup2
  /// hierarchy, or a kernel without cgroup.kill, before 5.14). The answer "none" is
  /// remembered for the life of the process. `guarded`: the guardian kills it when this
  /// process dies (its name ends in kGuardedSuffix).
  static std::unique_ptr<Cgroup> create(bool guarded);
  static constexpr const char* kGuardedSuffix = "-d";
  /// Where this process makes its children's cgroups; empty when nowhere.
  static std::string base_dir();
  /// No more cgroups in this process (one could be made but not joined).
  static void disable() noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  /// Removes the cgroup. Processes still in it are moved back to this process's cgroup
  /// first: they outlived the ChildProcess and nothing can signal them through it now.
  ~Cgroup();

  /// Its cgroup.procs, open for writing: a process writing "0" to it joins.
  int procs_fd() const noexcept { return procs_fd_; }
  /// Closes procs_fd() (once the child has joined).
  void close_procs() noexcept;
  /// SIGKILL through cgroup.kill (the kernel kills every member, forks racing with it
  /// included); any other signal to each member, re-reading the list until it holds no
  /// process not yet signalled. 0, or a libuv error (ESRCH: nobody was left).
  int signal(int signum) noexcept;
  const std::string& path() const noexcept { return path_; }

private:
  explicit Cgroup(std::string path, int procs_fd) : path_(std::move(path)), procs_fd_(procs_fd) {}
  std::string path_;
  int procs_fd_;
};

}  // namespace childproc::detail
