#!/usr/bin/env python3
"""The Python rows of childproc-bench (standard library only). The harness runs

    python3 python_bench.py seq FILE WARM N              -> samples_us <N values>
    python3 python_bench.py collect WRITER BYTES WARM    -> seconds, bytes, peak_start_kib, peak_kib

and parses the "key value..." lines it prints on stdout.
"""
import subprocess
import sys
import time

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


def main(argv):
    if len(argv) == 4 and argv[0] == "seq":
        seq(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 4 and argv[0] == "collect":
        collect(argv[1], int(argv[2]), int(argv[3]))
    else:
        sys.exit("usage: python_bench.py seq FILE WARM N | collect WRITER BYTES WARM")


if __name__ == "__main__":
    main(sys.argv[1:])
