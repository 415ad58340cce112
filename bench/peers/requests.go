// Section 6's Go row (the standard library only), built by childproc-bench with
// `go build` when Go is installed:
//   requests FILE ARG COUNT CONCURRENCY -> seconds, children, cpu_us
// CONCURRENCY goroutines each run exec.Command(FILE, ARG).Output() in turn and check it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuMicros() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}

func batch(file, arg string, count, concurrency int64) {
	var next int64
	var wg sync.WaitGroup
	want := arg + "\n"
	for w := int64(0); w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= count {
				out, err := exec.Command(file, arg).Output()
				if err != nil || string(out) != want {
					fmt.Fprintf(os.Stderr, "requests.go: %v %q\n", err, out)
					os.Exit(1)
				}
			}
		}()
	}
	wg.Wait()
}

func main() {
	if len(os.Args) != 6 || os.Args[1] != "requests" {
		fmt.Fprintln(os.Stderr, "usage: requests FILE ARG COUNT CONCURRENCY")
		os.Exit(2)
	}
	count, _ := strconv.ParseInt(os.Args[4], 10, 64)
	concurrency, _ := strconv.ParseInt(os.Args[5], 10, 64)
	batch(os.Args[2], os.Args[3], concurrency, concurrency)
	cpu0 := cpuMicros()
	t0 := time.Now()
	batch(os.Args[2], os.Args[3], count, concurrency)
	seconds := time.Since(t0).Seconds()
	fmt.Printf("seconds %.6f\nchildren %d\ncpu_us %d\n", seconds, count, cpuMicros()-cpu0)
}
