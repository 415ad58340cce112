#!/usr/bin/env python3
"""The Python rows of childproc-bench (standard library only). The harness runs

    python3 python_bench.py seq FILE WARM N              -> samples_us <N values>
    python3 python_bench.py collect WRITER BYTES WARM    -> seconds, bytes, peak_start_kib, peak_kib
    python3 python_bench.py requests FILE ARG COUNT CONC -> seconds, children, cpu_us

and parses the "key value..." lines it prints on stdout.
"""
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

PIPE = subprocess.PIPE


def peak_rss_kib():
    """VmHWM: the peak RSS of this address space, KiB. resource.getrusage's ru_maxrss
    on Linux starts at the parent's peak after execve."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    sys.exit("python_bench: no VmHWM in /proc/self/status")


def seq(file, warm, n):
    samples = []
    for i in range(warm + n):
        t0 = time.perf_counter_ns()
        r = subprocess.run([file], stdin=PIPE, stdout=PIPE, stderr=PIPE)
        t1 = time.perf_counter_ns()
        if r.returncode != 0:
            sys.exit(f"python_bench: {file} exited {r.returncode}")
        if i >= warm:
            samples.append(f"{(t1 - t0) / 1e3:.1f}")
    print("samples_us", *samples)


def pattern_byte(i):
    j = i % 1048576
    return (j * 7 + (j >> 10)) & 0xFF


def collect_once(writer, nbytes):
    t0 = time.perf_counter_ns()
    r = subprocess.run([writer, str(nbytes)], stdin=PIPE, stdout=PIPE, stderr=PIPE)
    seconds = (time.perf_counter_ns() - t0) / 1e9
    out = r.stdout
    if r.returncode != 0 or len(out) != nbytes:
        sys.exit(f"python_bench: writer exited {r.returncode} after {len(out)} bytes")
    stride = nbytes // 4096 + 1
    for i in list(range(0, nbytes, stride)) + [nbytes - 1]:
        if out[i] != pattern_byte(i):
            sys.exit(f"python_bench: wrong byte at {i}")
    return seconds


def collect(writer, nbytes, warm):
    start = peak_rss_kib()
    if warm > 0:
        collect_once(writer, warm)
    seconds = collect_once(writer, nbytes)
    print("seconds", f"{seconds:.6f}")
    print("bytes", nbytes)
    print("peak_start_kib", start)
    print("peak_kib", peak_rss_kib())


def request_once(file, arg):
    r = subprocess.run([file, arg], stdin=PIPE, stdout=PIPE, stderr=PIPE)
    if r.returncode != 0 or r.stdout != (arg + "\n").encode():
        sys.exit(f"python_bench: {file} exited {r.returncode} with {r.stdout!r}")


def request_batch(pool, file, arg, count):
    for f in [pool.submit(request_once, file, arg) for _ in range(count)]:
        f.result()


def requests(file, arg, count, concurrency):
    """Section 6: COUNT children, at most CONCURRENCY at once, from a thread pool (the
    usual way to run subprocess.run concurrently)."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        request_batch(pool, file, arg, concurrency)
        cpu0 = time.process_time()
        t0 = time.perf_counter_ns()
        request_batch(pool, file, arg, count)
        seconds = (time.perf_counter_ns() - t0) / 1e9
        cpu = time.process_time() - cpu0
    print("seconds", f"{seconds:.6f}")
    print("children", count)
    print("cpu_us", f"{cpu * 1e6:.0f}")


def main(argv):
    if len(argv) == 4 and argv[0] == "seq":
        seq(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 4 and argv[0] == "collect":
        collect(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 5 and argv[0] == "requests":
        requests(argv[1], argv[2], int(argv[3]), int(argv[4]))
    else:
        sys.exit("usage: python_bench.py seq FILE WARM N | collect WRITER BYTES WARM | "
                 "requests FILE ARG COUNT CONCURRENCY")


if __name__ == "__main__":
    main(sys.argv[1:])
