// childproc-bench: the performance harness of issue 4 (see docs/performance.md).
//
//   childproc-bench [--quick] [--section N|ipc]... [--iterations N]
//
// Prints one markdown table per section on stdout (progress on stderr). Every row's
// ratio is to an anchor measured in the same run. Also runs itself as a sub-command
// (`childproc-bench --child collect-uv ...`) so that rows needing a fresh process
// (peak RSS, 1000 children) get one.
#include "bench.hpp"

#include <childproc/childproc.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#ifndef BENCH_WRITER
#error "BENCH_WRITER (the path of bench-writer) must be defined by the build"
#endif
#ifndef BENCH_IPC_ECHO
#error "BENCH_IPC_ECHO (the path of bench-ipc-echo) must be defined by the build"
#endif
#ifndef BENCH_SCRIPT_DIR
#error "BENCH_SCRIPT_DIR (where node_bench.js and python_bench.py are) must be defined"
#endif

namespace bench {
namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;
constexpr std::size_t GiB = std::size_t{1} << 30;

struct Config {
  bool quick = false;
  std::set<int> sections;  // empty: all
  int iterations = 0;      // 0: the default for the mode
};

struct Setup {
  Config cfg;
  std::string self;
  std::string writer = BENCH_WRITER;
  std::string ipc_echo = BENCH_IPC_ECHO;
  std::string node_script = std::string(BENCH_SCRIPT_DIR) + "/node_bench.js";
  std::string python_script = std::string(BENCH_SCRIPT_DIR) + "/python_bench.py";
  std::string node;    // empty: not installed
  std::string bun;     // BENCH_BUN, else `bun` on PATH; empty: not installed
  std::string go;      // the Go toolchain, for section 6's Go row
  std::string rustc;   // a Rust compiler, for section 6's Rust row
  std::string python;  // the interpreter itself (not a pyenv shim); empty: none
  std::string true_path = "/bin/true";
  std::string sleep_path;
  uv_loop_t* loop = nullptr;

  int iterations() const { return cfg.iterations > 0 ? cfg.iterations : cfg.quick ? 40 : 300; }
  bool wants(int section) const { return cfg.sections.empty() || cfg.sections.count(section) > 0; }
};

void progress(const std::string& what) {
  std::cerr << "childproc-bench: " << what << std::endl;
}

std::string size_name(std::size_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % GiB == 0) return std::to_string(bytes / GiB) + " GiB";
  return std::to_string(bytes / MiB) + " MiB";
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

/// The external rows: a script's samples, or why there are none.
struct External {
  bool ok = false;
  std::string why;
  Metrics m;
};

External run_script(const std::vector<std::string>& argv) {
  External e;
  if (argv.front().empty()) {
    e.why = "not installed";
    return e;
  }
  RunResult r = run_capture(argv);
  if (!r.ok) {
    e.why = "failed (" + r.status + ")";
    return e;
  }
  e.ok = true;
  e.m = parse_metrics(r.out);
  return e;
}

// ---------------------------------------------------------------- section 1

struct SeqRow {
  std::string name{};
  std::function<SpawnSample()> once{};  // in-process rows
  std::vector<std::string> script{};    // external rows: argv before WARM N
  std::vector<double> total{};          // µs
  std::vector<double> blocked{};        // µs
  std::vector<double> cpu{};            // µs of this process's CPU (in-process rows)
  std::string why{};                    // an external row that did not run
};

/// Runs `rounds` rounds over the in-process rows, rotating the order each round so
/// that no row always follows the same other row.
// User + system CPU of this process, all its threads, in µs (not its children's).
double process_cpu_us() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

void run_rounds(std::vector<SeqRow*>& rows, int rounds, bool keep) {
  const std::size_t k = rows.size();
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < k; ++i) {
      SeqRow& row = *rows[(i + static_cast<std::size_t>(r)) % k];
      const double cpu0 = process_cpu_us();
      const SpawnSample s = row.once();
      const double cpu1 = process_cpu_us();
      if (keep) {
        row.total.push_back(s.total_us);
        row.blocked.push_back(s.blocked_us);
        row.cpu.push_back(cpu1 - cpu0);
      }
    }
  }
}

void section1(const Setup& su) {
  const auto started = Clock::now();
  const int n = su.iterations();
  const int blocks = su.cfg.quick ? 1 : 3;
  const int warm = su.cfg.quick ? 5 : 20;
  const int script_warm = su.cfg.quick ? 3 : 10;
  const char* file = su.true_path.c_str();
  uv_loop_t* loop = su.loop;

  std::vector<SeqRow> rows;
  rows.push_back({"childproc spawn, 3 pipes", [=] { return childproc_spawn_once(loop, file); }});
  rows.push_back({"childproc exec_file", [=] { return childproc_exec_file_once(loop, file); }});
  rows.push_back({"childproc spawn, background_launch",
                  [=] { return childproc_spawn_once(loop, file, true); }});
  rows.push_back({"raw uv_spawn, 3 pipes", [=] { return raw_uv_spawn_once(loop, file); }});
  rows.push_back({"**posix_spawn + waitpid, 3 pipes** (anchor)",
                  [=] { return posix_spawn_pipes_once(file); }});
  rows.push_back({"posix_spawn + waitpid, no pipes", [=] { return posix_spawn_plain_once(file); }});
  const std::size_t anchor = 4;
  rows.push_back({"childproc spawn, a pty on fds 0-2",
                  [=] { return childproc_spawn_once(loop, file, false, true); }});
  const std::size_t in_process = rows.size();
  rows.push_back({"Node spawn, 3 pipes", {}, {su.node, su.node_script, "seq", "spawn", file}});
  rows.push_back({"Node execFile", {}, {su.node, su.node_script, "seq", "execFile", file}});
  rows.push_back(
      {"Python subprocess.run, 3 pipes", {}, {su.python, su.python_script, "seq", file}});

  std::vector<SeqRow*> local;
  for (std::size_t i = 0; i < in_process; ++i)
    local.push_back(&rows[i]);
  progress("section 1: warm-up");
  run_rounds(local, warm, false);
  for (int b = 0; b < blocks; ++b) {
    const int rounds = n / blocks + (b == blocks - 1 ? n % blocks : 0);
    progress("section 1: block " + std::to_string(b + 1) + "/" + std::to_string(blocks) + ", " +
             std::to_string(rounds) + " rounds in process, then the scripts");
    run_rounds(local, rounds, true);
    for (std::size_t i = in_process; i < rows.size(); ++i) {
      SeqRow& row = rows[i];
      if (!row.why.empty()) continue;
      auto argv = row.script;
      argv.push_back(std::to_string(script_warm));
      argv.push_back(std::to_string(rounds));
      External e = run_script(argv);
      if (!e.ok) {
        row.why = e.why;
        continue;
      }
      const auto& s = e.m["samples_us"];
      if (s.size() != static_cast<std::size_t>(rounds)) die(row.name + ": wrong sample count");
      row.total.insert(row.total.end(), s.begin(), s.end());
    }
  }

  std::cout << "\n### 1. Sequential spawn+wait of `/bin/true`\n\n"
            << "From just before the launch until the child is reaped and every pipe is closed. "
            << "Ratio: median over the anchor's median. Parent CPU: this process's user + "
               "system time per spawn (every thread, launcher threads included; not the "
               "child's), median, for the rows run inside the harness; its ratio is to the "
               "anchor's.\n\n";
  Table t({"row", "n", "median ms", "p90 ms", "ratio", "parent CPU µs", "CPU ratio"});
  const double anchor_median = summarize(rows[anchor].total).median;
  const double anchor_cpu = summarize(rows[anchor].cpu).median;
  for (const auto& row : rows) {
    if (!row.why.empty()) {
      t.add({row.name, "-", row.why, "", "", "", ""});
      continue;
    }
    const Summary s = summarize(row.total);
    const bool has_cpu = !row.cpu.empty();
    const double cpu = has_cpu ? summarize(row.cpu).median : 0;
    t.add({row.name, std::to_string(s.n), fmt(s.median / 1e3, 3), fmt(s.p90 / 1e3, 3),
           ratio(s.median, anchor_median), has_cpu ? fmt(cpu, 0) : "-",
           has_cpu ? ratio(cpu, anchor_cpu) : "-"});
  }
  t.print();
  std::cout << "\n_Section 1 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

// ---------------------------------------------------------------- section 2

/// Touched anonymous memory that makes the parent big. MADV_NOHUGEPAGE keeps it in
/// 4 KiB pages, as a malloc heap mostly is, so fork must copy one PTE per 4 KiB.
class Ballast {
public:
  Ballast() = default;
  Ballast(const Ballast&) = delete;
  Ballast& operator=(const Ballast&) = delete;
  ~Ballast() { release(); }
  void release() {
    for (auto& [p, len] : blocks_)
      ::munmap(p, len);
    blocks_.clear();
    size_ = 0;
  }
  std::size_t size() const { return size_; }
  void grow_to(std::size_t target) {
    if (target <= size_) return;
    const std::size_t len = target - size_;
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap ballast: " + std::string(std::strerror(errno)));
    ::madvise(p, len, MADV_NOHUGEPAGE);
    auto* bytes = static_cast<volatile unsigned char*>(p);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t off = 0; off < len; off += page)
      bytes[off] = static_cast<unsigned char>(off / page);
    blocks_.emplace_back(p, len);
    size_ = target;
  }

private:
  std::vector<std::pair<void*, std::size_t>> blocks_;
  std::size_t size_ = 0;
};

std::size_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

void section2(const Setup& su) {
  const auto started = Clock::now();
  std::vector<std::size_t> levels = {0, 256 * MiB, GiB, 4 * GiB};
  if (su.cfg.quick) levels = {0, 256 * MiB, GiB};
  const double budget_s = su.cfg.quick ? 1.5 : 10.0;
  const int min_rounds = su.cfg.quick ? 5 : 20;
  const int max_rounds = su.iterations();
  const char* file = su.true_path.c_str();
  uv_loop_t* loop = su.loop;

  struct Level {
    std::size_t extra = 0;
    long rss_kib = 0;
    std::vector<SeqRow> rows{};
    std::string skipped{};
  };
  std::vector<Level> done;
  Ballast ballast;
  for (std::size_t extra : levels) {
    Level lv{extra, 0, {}, {}};
    if (extra > ballast.size() && mem_available() < (extra - ballast.size()) + 2 * GiB) {
      lv.skipped = "skipped: not enough free memory";
      done.push_back(std::move(lv));
      continue;
    }
    progress("section 2: touching " + size_name(extra) + " of heap");
    ballast.grow_to(extra);
    lv.rss_kib = rss_kib();
    lv.rows.push_back({"childproc spawn", [=] { return childproc_spawn_once(loop, file); }});
    lv.rows.push_back({"childproc spawn, background_launch",
                       [=] { return childproc_spawn_once(loop, file, true); }});
    lv.rows.push_back({"raw uv_spawn", [=] { return raw_uv_spawn_once(loop, file); }});
    lv.rows.push_back({"**posix_spawn** (anchor)", [=] { return posix_spawn_pipes_once(file); }});
    std::vector<SeqRow*> ptrs;
    for (auto& r : lv.rows)
      ptrs.push_back(&r);
    // Warm-up rounds, timed to size the run to the budget.
    const int warm = 3;
    const auto w0 = Clock::now();
    run_rounds(ptrs, warm, false);
    const double round_s = us_between(w0, Clock::now()) / 1e6 / warm;
    const int rounds =
        std::clamp(static_cast<int>(budget_s / std::max(round_s, 1e-6)), min_rounds, max_rounds);
    progress("section 2: " + size_name(extra) + ", " + std::to_string(rounds) + " rounds");
    run_rounds(ptrs, rounds, true);
    done.push_back(std::move(lv));
  }
  ballast.release();

  std::cout << "\n### 2. Spawn+wait of `/bin/true` (3 pipes) as the parent grows\n\n"
            << "Heap added to the harness and touched (4 KiB pages) before measuring. "
            << "Ratio: over posix_spawn (3 pipes) at the same size.\n\n";
  Table t({"row", "added heap", "parent RSS MiB", "n", "median ms", "p90 ms", "ratio"});
  Table b({"row", "added heap", "n", "median ms", "p90 ms", "ratio"});
  for (const auto& lv : done) {
    if (!lv.skipped.empty()) {
      t.add({"all rows", size_name(lv.extra), "-", "-", lv.skipped, "", ""});
      b.add({"all rows", size_name(lv.extra), "-", lv.skipped, "", ""});
      continue;
    }
    const double a_total = summarize(lv.rows.back().total).median;
    const double a_blocked = summarize(lv.rows.back().blocked).median;
    for (const auto& row : lv.rows) {
      const Summary s = summarize(row.total);
      t.add({row.name, size_name(lv.extra), std::to_string(lv.rss_kib / 1024), std::to_string(s.n),
             fmt(s.median / 1e3, 3), fmt(s.p90 / 1e3, 3), ratio(s.median, a_total)});
      const Summary k = summarize(row.blocked);
      b.add({row.name, size_name(lv.extra), std::to_string(k.n), fmt(k.median / 1e3, 3),
             fmt(k.p90 / 1e3, 3), ratio(k.median, a_blocked)});
    }
  }
  t.print();
  std::cout << "\n#### 2b. Loop blocked per spawn\n\n"
            << "Wall time inside the launching call: childproc `spawn()`, `uv_spawn()`, "
            << "`posix_spawn()`. The loop (or the caller) can do nothing else meanwhile.\n\n";
  b.print();
  std::cout << "\n_Section 2 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

// ---------------------------------------------------------------- section 3

void section3(const Setup& su) {
  const auto started = Clock::now();
  std::vector<std::size_t> sizes = {256 * MiB, GiB};
  if (su.cfg.quick) sizes = {32 * MiB, 128 * MiB};
  const std::size_t warm = su.cfg.quick ? 4 * MiB : 8 * MiB;

  struct Row {
    std::string name{};
    std::vector<std::string> argv{};  // before BYTES WARM_BYTES
    std::vector<double> seconds{};
    std::vector<double> growth_kib{};
    std::vector<double> peak_kib{};
    std::string why{};
  };
  std::cout << "\n### 3. Collecting a child's output in memory\n\n"
            << "`bench-writer` writes the bytes in 1 MiB writes; each row collects all of it, "
            << "then checks the length and the pattern. One fresh process per sample. "
            << "Ratio: time over the faster raw libuv row's at the same size (the anchor). GB/s: "
               "10^9 bytes per second "
            << "at the median. Peak RSS: the process's VmHWM (/proc/self/status; not ru_maxrss, "
            << "which a child inherits from its parent's peak across execve); growth: VmHWM "
            << "after the collection minus at start, before a warm-up collection of "
            << size_name(warm) << " in the same process.\n\n";
  Table t({"row", "output", "n", "median s", "p90 s", "ratio", "GB/s", "peak RSS growth MiB",
           "growth / output", "process peak RSS MiB"});
  for (std::size_t bytes : sizes) {
    std::vector<Row> rows;
    rows.push_back({"childproc exec_file", {su.self, "--child", "collect-childproc", su.writer}});
    rows.push_back(
        {"childproc exec_file, pty", {su.self, "--child", "collect-childproc-pty", su.writer}});
    rows.push_back(
        {"raw libuv, reading into the buffer", {su.self, "--child", "collect-uv", su.writer}});
    rows.push_back(
        {"raw libuv, 64 KiB slab + copy", {su.self, "--child", "collect-uv-slab", su.writer}});
    rows.push_back(
        {"Node execFile, encoding 'buffer'", {su.node, su.node_script, "collect", su.writer}});
    rows.push_back(
        {"Bun execFile, encoding 'buffer'", {su.bun, su.node_script, "collect", su.writer}});
    rows.push_back({"Python subprocess.run", {su.python, su.python_script, "collect", su.writer}});
    const int reps = su.cfg.quick ? 2 : bytes <= 256 * MiB ? 5 : 3;
    for (int r = 0; r < reps; ++r) {
      progress("section 3: " + size_name(bytes) + ", sample " + std::to_string(r + 1) + "/" +
               std::to_string(reps));
      for (std::size_t i = 0; i < rows.size(); ++i) {
        Row& row = rows[(i + static_cast<std::size_t>(r)) % rows.size()];
        if (!row.why.empty()) continue;
        auto argv = row.argv;
        argv.push_back(std::to_string(bytes));
        argv.push_back(std::to_string(warm));
        External e = run_script(argv);
        if (!e.ok) {
          row.why = e.why;
          continue;
        }
        if (metric(e.m, "bytes", row.name) != static_cast<double>(bytes))
          die(row.name + ": wrong byte count");
        if (e.m.count("fd_leak") && metric(e.m, "fd_leak", row.name) != 0)
          die(row.name + ": fds leaked");
        const double start = metric(e.m, "peak_start_kib", row.name);
        const double peak = metric(e.m, "peak_kib", row.name);
        row.seconds.push_back(metric(e.m, "seconds", row.name));
        row.growth_kib.push_back(peak - start);
        row.peak_kib.push_back(peak);
      }
    }
    // The anchor: the faster of the two raw libuv collectors, at this size.
    const double anchor =
        std::min(summarize(rows[2].seconds).median, summarize(rows[3].seconds).median);
    for (const auto& row : rows) {
      if (!row.why.empty()) {
        t.add({row.name, size_name(bytes), "-", row.why});
        continue;
      }
      const Summary s = summarize(row.seconds);
      const double growth = summarize(row.growth_kib).median;
      t.add({row.name, size_name(bytes), std::to_string(s.n), fmt(s.median, 3), fmt(s.p90, 3),
             ratio(s.median, anchor), fmt(static_cast<double>(bytes) / 1e9 / s.median, 2),
             fmt(growth / 1024, 0), fmt(growth * 1024 / static_cast<double>(bytes), 2) + "x",
             fmt(summarize(row.peak_kib).median / 1024, 0)});
    }
  }
  t.print();
  std::cout << "\n_Section 3 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

// ---------------------------------------------------------------- section 4

void section4(const Setup& su) {
  const auto started = Clock::now();
  const int count = su.cfg.quick ? 200 : 1000;
  const int reps = su.cfg.quick ? 2 : 5;
  const std::string count_s = std::to_string(count);

  struct Row {
    std::string name{};
    std::vector<std::string> argv{};
    std::vector<double> total_ms{}, fds_peak{}, fds_per_child{}, rss_per_child_kib{}, failed{};
    std::string why{};
  };
  std::vector<Row> rows;
  rows.push_back({"childproc spawn", {su.self, "--child", "many-childproc"}});
  rows.push_back({"**raw libuv uv_spawn** (anchor)", {su.self, "--child", "many-uv"}});
  rows.push_back({"Node spawn", {su.node, su.node_script, "many"}});
  for (auto& row : rows) {
    row.argv.push_back(su.sleep_path);
    row.argv.push_back("0.2");
    row.argv.push_back(count_s);
  }
  // One discarded round first (page cache, sleep's binary), then `reps` measured.
  for (int r = -1; r < reps; ++r) {
    progress("section 4: " +
             std::string(r < 0 ? "warm-up round"
                               : "round " + std::to_string(r + 1) + "/" + std::to_string(reps)));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      Row& row = rows[(i + static_cast<std::size_t>(r + 1)) % rows.size()];
      if (!row.why.empty()) continue;
      External e = run_script(row.argv);
      if (!e.ok) {
        row.why = e.why;
        continue;
      }
      const double failed = metric(e.m, "failed", row.name);
      if (metric(e.m, "ok", row.name) + failed != count) die(row.name + ": a child did not exit 0");
      if (e.m.count("fd_leak") && metric(e.m, "fd_leak", row.name) != 0)
        die(row.name + ": fds leaked");
      if (r < 0) continue;
      const double before = metric(e.m, "fds_before", row.name);
      const double peak = metric(e.m, "fds_peak", row.name);
      const double rss0 = metric(e.m, "rss_before_kib", row.name);
      const double rss1 = metric(e.m, "rss_after_kib", row.name);
      const double live = count - failed;
      row.total_ms.push_back(metric(e.m, "total_ms", row.name));
      row.fds_peak.push_back(peak);
      row.fds_per_child.push_back((peak - before) / live);
      row.rss_per_child_kib.push_back((rss1 - rss0) / live);
      row.failed.push_back(failed);
    }
  }

  std::cout << "\n### 4. " << count << " children of `sleep 0.2` with 3 pipes, started at once\n\n"
            << "Each sample is a fresh process that starts all children in one burst and runs "
            << "its loop until every child has closed (a burst of 10 before, discarded). "
            << "Total: first launch to last close. Peak fds: open in the parent right after "
            << "the burst (nothing closes before the loop runs). RSS per live child: the "
            << "parent's RSS growth over the burst, per child. Ratio: total over raw libuv's.\n\n";
  Table t({"row", "n", "median total ms", "p90 ms", "ratio", "peak fds", "fds per child",
           "RSS per live child KiB", "failed spawns"});
  const double anchor = summarize(rows[1].total_ms).median;
  for (const auto& row : rows) {
    if (!row.why.empty()) {
      t.add({row.name, "-", row.why});
      continue;
    }
    const Summary s = summarize(row.total_ms);
    t.add({row.name, std::to_string(s.n), fmt(s.median, 1), fmt(s.p90, 1), ratio(s.median, anchor),
           fmt(summarize(row.fds_peak).median, 0), fmt(summarize(row.fds_per_child).median, 2),
           fmt(summarize(row.rss_per_child_kib).median, 2), fmt(summarize(row.failed).median, 0)});
  }
  t.print();
  std::cout << "\n_Section 4 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

// ---------------------------------------------------------------- section 5

void section5(const Setup& su) {
  const auto started = Clock::now();
  const std::size_t bytes = 1024;
  const int rounds = su.cfg.quick ? 2 : 5;
  // Each timed phase is sized from the calibration round to last about this long.
  const double target_s = su.cfg.quick ? 0.15 : 0.6;
  const std::size_t warm_pp = su.cfg.quick ? 300 : 1000;
  const std::size_t warm_tp = su.cfg.quick ? 1500 : 5000;
  // The calibration round (its samples are discarded): the same warm-up, then small
  // fixed counts.
  const IpcCounts probe{bytes, warm_pp, warm_pp * 2, warm_tp, warm_tp * 2};

  struct Row {
    std::string name{};
    std::vector<std::string> script{};  // Node parent: argv before BYTES WARM_PP PP WARM_TP TP
    IpcChild child{};                   // childproc parent
    bool floor = false;                 // ipc_raw(): no library at all
    std::size_t pp_n = 0;
    std::size_t tp_n = 0;
    std::vector<double> pp_rate{};  // round trips per second
    std::vector<double> tp_rate{};  // messages per second
    std::string why{};
  };
  std::vector<Row> rows;
  rows.push_back({"**Node parent / Node child** (anchor)", {su.node, su.node_script, "ipc"}});
  rows.push_back({"childproc parent / Node child", {}, {su.node, su.node_script}});
  rows.push_back({"childproc parent / childproc child", {}, {"", su.ipc_echo}});
  rows.push_back({"floor: raw socketpair echo (no JSON, no loop)", {}, {}, true});
  if (su.node.empty()) rows[0].why = rows[1].why = "not installed";

  // One sample of a row: both timed phases on one child.
  auto sample = [&](Row& row, const IpcCounts& c) -> std::optional<IpcTimes> {
    if (row.floor) return ipc_raw(su.ipc_echo, c);
    if (row.script.empty()) return ipc_cpp_parent(su.loop, row.child, c);
    auto argv = row.script;
    for (std::size_t v : {c.bytes, c.warm_pingpong, c.pingpong, c.warm_throughput, c.throughput})
      argv.push_back(std::to_string(v));
    External e = run_script(argv);
    if (!e.ok) {
      row.why = e.why;
      return std::nullopt;
    }
    return IpcTimes{metric(e.m, "pingpong_s", row.name), metric(e.m, "throughput_s", row.name)};
  };
  // A count that makes a phase last about target_s at the calibrated rate.
  auto sized = [&](double seconds, std::size_t probe_n) {
    const double n = target_s * static_cast<double>(probe_n) / std::max(seconds, 1e-6);
    const auto thousands = static_cast<std::size_t>(std::ceil(n / 1000));
    return std::clamp<std::size_t>(thousands * 1000, probe_n, 20'000'000);
  };

  progress("section 5: calibration round (discarded)");
  for (Row& row : rows) {
    if (!row.why.empty()) continue;
    const auto t = sample(row, probe);
    if (!t) continue;
    row.pp_n = sized(t->pingpong_s, probe.pingpong);
    row.tp_n = sized(t->throughput_s, probe.throughput);
  }
  for (int r = 0; r < rounds; ++r) {
    progress("section 5: round " + std::to_string(r + 1) + "/" + std::to_string(rounds));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      Row& row = rows[(i + static_cast<std::size_t>(r)) % rows.size()];
      if (!row.why.empty()) continue;
      const auto t = sample(row, {bytes, warm_pp, row.pp_n, warm_tp, row.tp_n});
      if (!t) continue;
      row.pp_rate.push_back(static_cast<double>(row.pp_n) / t->pingpong_s);
      row.tp_rate.push_back(static_cast<double>(row.tp_n) / t->throughput_s);
    }
  }

  std::cout << "\n### 5. IPC messages of " << bytes << " bytes\n\n"
            << "Each message is a JSON string whose text is " << bytes
            << " bytes (plus the newline), echoed by the child. Ping-pong: one message in "
            << "flight, round trips per second. Throughput: the parent sends N messages as "
            << "fast as send() allows (a callback on each; on a false return it waits for "
            << "every callback so far), the child echoes each, rate = N / (first send to the "
            << "N-th echo). One child per sample, after a warm-up of " << warm_pp
            << " round trips and " << warm_tp << " throughput messages on it; counts sized "
            << "from a discarded calibration round to about " << fmt(target_s, 2)
            << " s per phase. Medians of " << rounds << " samples; slowest: the lowest "
            << "sample. Speed-up: the median rate over Node parent / Node child's (higher "
            << "is faster).\n\n";
  Table t({"pairing", "n", "ping-pong round trips", "median /s", "slowest /s", "ms per trip",
           "speed-up", "throughput N", "median msg/s", "slowest msg/s", "MB/s", "speed-up"});
  const double pp_anchor = summarize(rows[0].pp_rate).median;
  const double tp_anchor = summarize(rows[0].tp_rate).median;
  for (const auto& row : rows) {
    if (!row.why.empty()) {
      t.add({row.name, "-", row.why});
      continue;
    }
    const Summary pp = summarize(row.pp_rate);
    const Summary tp = summarize(row.tp_rate);
    const auto lowest = [](const std::vector<double>& v) {
      return *std::min_element(v.begin(), v.end());
    };
    t.add({row.name, std::to_string(pp.n), std::to_string(row.pp_n), fmt(pp.median, 0),
           fmt(lowest(row.pp_rate), 0), fmt(1e3 / pp.median, 3), ratio(pp.median, pp_anchor),
           std::to_string(row.tp_n), fmt(tp.median, 0), fmt(lowest(row.tp_rate), 0),
           fmt(tp.median * static_cast<double>(bytes + 1) / 1e6, 1), ratio(tp.median, tp_anchor)});
  }
  t.print();
  std::cout << "\n_Section 5 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

// ---------------------------------------------------------------- main

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::cerr << "childproc-bench: " << why << "\n";
  std::cerr << "usage: childproc-bench [--quick] [--section N|ipc]... [--iterations N]\n"
               "  --quick          small sizes and counts: a smoke test, well under a minute\n"
               "  --section N      run only section N (1-6; `ipc` is 5, `requests` 6); repeatable\n"
               "  --iterations N   spawn+wait rounds of section 1 (default 300, quick 40),\n"
               "                   also the most rounds per size in section 2\n";
  std::exit(2);
}

int positive(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0 || v > 1000000) usage(std::string("bad number: ") + s);
  return static_cast<int>(v);
}

std::string raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return "getrlimit failed";
  const auto before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return "setrlimit failed";
  return "soft " + std::to_string(before) + " raised to the hard limit " +
         std::to_string(rl.rlim_max) + " (children inherit it)";
}

std::string read_first(const std::string& path, const std::string& prefix) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(prefix, 0) == 0) {
      auto colon = line.find(':');
      auto v = line.substr(colon + 1);
      return v.substr(v.find_first_not_of(" \t"));
    }
  }
  return "?";
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows here.
std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string version_of(const std::vector<std::string>& argv) {
  if (argv.front().empty()) return "not installed";
  RunResult r = run_capture(argv);
  return r.ok ? first_line(r.out) : "? (" + r.status + ")";
}

// ---------------------------------------------------------------- section 6

// Builds a peer's program (Go, Rust) into `dir`; returns its path, or why not.
std::pair<std::string, std::string> build_peer(const std::vector<std::string>& argv,
                                               const std::string& out) {
  if (argv.front().empty()) return {"", "not installed"};
  RunResult r = run_capture(argv);
  if (!r.ok) return {"", "build failed (" + r.status + ")"};
  return {out, ""};
}

void section6(const Setup& su) {
  const auto started = Clock::now();
  const int count = su.cfg.quick ? 500 : 3000;
  const int reps = su.cfg.quick ? 1 : 3;
  const int concurrency = 32;
  const std::string echo = "/bin/echo";
  const std::string arg = "hello";

  char dir_template[] = "/tmp/childproc-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) die("mkdtemp: " + std::string(std::strerror(errno)));
  const std::string peers = std::string(BENCH_SCRIPT_DIR) + "/peers";
  const std::string go_bin = std::string(dir) + "/requests-go";
  const std::string rust_bin = std::string(dir) + "/requests-rs";
  progress("section 6: building the Go and Rust peers");
  const auto go = build_peer({su.go, "build", "-o", go_bin, peers + "/requests.go"}, go_bin);
  const auto rust = build_peer({su.rustc, "-O", "-o", rust_bin, peers + "/requests.rs"}, rust_bin);

  struct Row {
    std::string name{};
    std::vector<std::string> argv{};  // before FILE ARG COUNT CONCURRENCY
    std::vector<double> rate{};       // children per second
    std::vector<double> cpu_us{};     // parent CPU per child
    std::string why{};
  };
  std::vector<Row> rows;
  rows.push_back({"childproc spawn", {su.self, "--child", "requests-childproc-spawn"}});
  rows.push_back({"childproc exec_file", {su.self, "--child", "requests-childproc-exec"}});
  rows.push_back(
      {"childproc spawn, background_launch", {su.self, "--child", "requests-childproc-spawn-bg"}});
  rows.push_back({"childproc exec_file, background_launch",
                  {su.self, "--child", "requests-childproc-exec-bg"}});
  rows.push_back({"raw libuv uv_spawn", {su.self, "--child", "requests-uv"}});
  rows.push_back({"posix_spawn from 32 threads", {su.self, "--child", "requests-threads"}});
  rows.push_back({"Rust std::process, 32 threads", {rust.first, "requests"}, {}, {}, rust.second});
  rows.push_back({"Go os/exec, 32 goroutines", {go.first, "requests"}, {}, {}, go.second});
  rows.push_back({"Node spawn", {su.node, su.node_script, "requests", "spawn"}});
  rows.push_back({"Node execFile", {su.node, su.node_script, "requests", "execFile"}});
  rows.push_back({"Bun spawn", {su.bun, su.node_script, "requests", "spawn"}});
  rows.push_back({"Bun execFile", {su.bun, su.node_script, "requests", "execFile"}});
  rows.push_back({"Python subprocess.run, 32 threads", {su.python, su.python_script, "requests"}});
  for (auto& row : rows) {
    if (row.argv.front().empty() && row.why.empty()) row.why = "not installed";
    for (const std::string& a : {echo, arg, std::to_string(count), std::to_string(concurrency)})
      row.argv.push_back(a);
  }
  for (int r = 0; r < reps; ++r) {
    progress("section 6: round " + std::to_string(r + 1) + "/" + std::to_string(reps));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      Row& row = rows[(i + static_cast<std::size_t>(r)) % rows.size()];
      if (!row.why.empty()) continue;
      External e = run_script(row.argv);
      if (!e.ok) {
        row.why = e.why;
        continue;
      }
      if (metric(e.m, "children", row.name) != count) die(row.name + ": wrong child count");
      if (e.m.count("fd_leak") && metric(e.m, "fd_leak", row.name) != 0)
        die(row.name + ": fds leaked");
      row.rate.push_back(count / metric(e.m, "seconds", row.name));
      row.cpu_us.push_back(metric(e.m, "cpu_us", row.name) / count);
    }
  }
  for (const std::string& f : {go_bin, rust_bin})
    ::unlink(f.c_str());
  ::rmdir(dir);

  // The anchor: the faster of the two threaded rows without an event loop.
  double anchor = 0;
  for (std::size_t i : {std::size_t{5}, std::size_t{6}}) {
    if (rows[i].why.empty()) anchor = std::max(anchor, summarize(rows[i].rate).median);
  }
  std::cout << "\n### 6. Spawn per request: " << count << " children of `" << echo << " " << arg
            << "`, at most " << concurrency << " at once\n\n"
            << "Each sample is a fresh process that runs the children " << concurrency
            << " at a time (a new one as each finishes), collects each one's stdout and checks "
               "it, after a warm-up of "
            << concurrency
            << " children. Rate: children per second over the timed run. Parent CPU: the "
               "process's user + system time per child (its threads included; Rust's from "
               "/proc/self/stat, in 10 ms ticks). Speed: the rate over the anchor's, the faster "
               "of `posix_spawn` from threads and Rust (higher is faster).\n\n";
  Table t(
      {"row", "n", "median children/s", "slowest children/s", "speed", "parent CPU µs per child"});
  for (const auto& row : rows) {
    if (!row.why.empty()) {
      t.add({row.name, "-", row.why});
      continue;
    }
    const Summary s = summarize(row.rate);
    t.add({row.name, std::to_string(s.n), fmt(s.median, 0),
           fmt(*std::min_element(row.rate.begin(), row.rate.end()), 0),
           anchor > 0 ? fmt(s.median / anchor, 2) + "x" : "-",
           fmt(summarize(row.cpu_us).median, 0)});
  }
  t.print();
  std::cout << "\n_Section 6 took " << fmt(us_between(started, Clock::now()) / 1e6, 1) << " s._\n"
            << std::flush;
}

int harness(const Config& cfg) {
  Setup su;
  su.cfg = cfg;
  su.self = self_exe();
  su.node = find_in_path("node");
  if (const char* b = std::getenv("BENCH_BUN"); b != nullptr && ::access(b, X_OK) == 0) {
    su.bun = b;
  } else {
    su.bun = find_in_path("bun");
  }
  su.go = find_in_path("go");
  su.rustc = find_in_path("rustc");
  if (const char* home = std::getenv("HOME"); su.rustc.empty() && home != nullptr) {
    const std::string cargo_rustc = std::string(home) + "/.cargo/bin/rustc";
    if (::access(cargo_rustc.c_str(), X_OK) == 0) su.rustc = cargo_rustc;
  }
  su.sleep_path = find_in_path("sleep");
  if (su.sleep_path.empty()) die("no sleep on PATH");
  if (::access(su.writer.c_str(), X_OK) != 0) die("bench-writer not found at " + su.writer);
  if (::access(su.ipc_echo.c_str(), X_OK) != 0) die("bench-ipc-echo not found at " + su.ipc_echo);
  const std::string py = find_in_path("python3");
  if (!py.empty()) {
    // Run the interpreter itself, not a wrapper such as a pyenv shim.
    RunResult r = run_capture({py, "-c", "import sys; print(sys.executable)"});
    if (r.ok) su.python = first_line(r.out);
  }
  const std::string fd_note = raise_fd_limit();

  utsname u{};
  ::uname(&u);
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const char* launcher = std::getenv("CHILDPROC_LAUNCHER");
  // Headings start at level 3 so that the output can be pasted under a document's own.
  std::cout << "**childproc-bench" << (cfg.quick ? " --quick" : "") << "**\n\n"
            << "- " << date << "; " << ::sysconf(_SC_NPROCESSORS_ONLN) << " cores ("
            << read_first("/proc/cpuinfo", "model name") << "), "
            << read_first("/proc/meminfo", "MemTotal") << " RAM, " << u.sysname << " " << u.release
            << "\n"
            << "- libuv " << uv_version_string()
            << "; CHILDPROC_LAUNCHER=" << (launcher ? launcher : "(unset)") << "\n"
            << "- node: " << version_of({su.node, "--version"})
            << "; python: " << version_of({su.python, "--version"}) << "\n"
            << "- bun: " << version_of({su.bun, "--version"})
            << "; go: " << version_of({su.go, "version"})
            << "; rustc: " << version_of({su.rustc, "--version"}) << "\n"
            << "- RLIMIT_NOFILE: " << fd_note << "\n"
            << "- iterations (section 1): " << su.iterations()
            << "; load average at start: " << load_average() << "\n"
            << std::flush;

  uv_loop_t loop;
  uv_loop_init(&loop);
  su.loop = &loop;
  const int fds_at_start = count_open_fds();
  if (su.wants(1)) section1(su);
  if (su.wants(2)) section2(su);
  if (su.wants(3)) section3(su);
  if (su.wants(4)) section4(su);
  if (su.wants(5)) section5(su);
  if (su.wants(6)) section6(su);

  // Self-checks: every handle closed, every child reaped, every fd closed.
  const int loop_rc = uv_loop_close(&loop);
  const int fds_at_end = count_open_fds();
  errno = 0;
  const bool no_children = ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
  std::cout << "\nChecks: loop closed " << (loop_rc == 0 ? "cleanly" : "with handles open")
            << "; open fds " << fds_at_start << " at start, " << fds_at_end << " at end; "
            << (no_children ? "no child left unreaped" : "CHILDREN LEFT")
            << ". Load average at the end: " << load_average() << ".\n";
  // Counted after uv_loop_init: the loop's own fds close with it, so none may be left.
  const bool ok = loop_rc == 0 && no_children && fds_at_end <= fds_at_start;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--child") {
    if (args.size() < 2) usage("--child needs a sub-command");
    const std::string which = args[1];
    std::vector<std::string> rest(args.begin() + 2, args.end());
    if (which.rfind("collect-", 0) == 0) return collect_main(which, rest);
    if (which.rfind("many-", 0) == 0) return many_main(which, rest);
    if (which.rfind("requests-", 0) == 0) return requests_main(which, rest);
    usage("unknown sub-command " + which);
  }
  Config cfg;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--section" && i + 1 < args.size()) {
      const std::string& name = args[++i];
      const int s = name == "ipc" ? 5 : name == "requests" ? 6 : positive(name.c_str());
      if (s > 6) usage("sections are 1 to 6");
      cfg.sections.insert(s);
    } else if (a == "--iterations" && i + 1 < args.size()) {
      cfg.iterations = positive(args[++i].c_str());
    } else if (a == "-h" || a == "--help") {
      usage("");
    } else {
      usage("unknown argument " + a);
    }
  }
  return harness(cfg);
}
