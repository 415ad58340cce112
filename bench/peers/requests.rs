// Section 6's Rust row (std only), built by childproc-bench with `rustc -O` when a Rust
// toolchain is installed:
//   requests FILE ARG COUNT CONCURRENCY -> seconds, children, cpu_us
// CONCURRENCY threads each run Command::new(FILE).arg(ARG).output() in turn and check it.
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

// User + system CPU of this process, from /proc/self/stat (std has no getrusage).
fn cpu_micros() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks * 10_000 // USER_HZ is 100 on Linux
}

fn batch(file: &str, arg: &str, count: u64, concurrency: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let want = format!("{}\n", arg);
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = Arc::clone(&next);
            let (file, arg, want) = (file.to_string(), arg.to_string(), want.clone());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let out = Command::new(&file).arg(&arg).output().expect("spawn");
                    if !out.status.success() || out.stdout != want.as_bytes() {
                        eprintln!("requests.rs: {:?}", out);
                        std::process::exit(1);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 || a[1] != "requests" {
        eprintln!("usage: requests FILE ARG COUNT CONCURRENCY");
        std::process::exit(2);
    }
    let count: u64 = a[4].parse().unwrap();
    let concurrency: u64 = a[5].parse().unwrap();
    batch(&a[2], &a[3], concurrency, concurrency);
    let cpu0 = cpu_micros();
    let t0 = Instant::now();
    batch(&a[2], &a[3], count, concurrency);
    let seconds = t0.elapsed().as_secs_f64();
    println!("seconds {:.6}\nchildren {}\ncpu_us {}", seconds, count, cpu_micros() - cpu0);
}
