//! `loki-receiver [ADDR] [--expect N] [--count-only] [--latency]`: runs the Loki push test
//! double (default 127.0.0.1:3100) and prints what it holds every second. With `--expect N`
//! it exits once N entries arrived, printing a summary; with `--latency` also the
//! distribution of write-to-arrival times of lines that start with their write time in Unix
//! nanoseconds. For benchmarks and trying sluice by hand.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = "127.0.0.1:3100".to_string();
    let mut expect = None;
    let mut count_only = false;
    let mut latency = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--expect" => {
                i += 1;
                expect = Some(args[i].parse::<usize>().expect("--expect N"));
            }
            "--count-only" => count_only = true,
            "--latency" => latency = true,
            other => addr = other.to_string(),
        }
        i += 1;
    }
    let receiver = loki_receiver::Receiver::start(&addr);
    if count_only {
        receiver.count_only();
    }
    if latency {
        receiver.record_latency();
    }
    eprintln!("loki-receiver listening on {}", receiver.addr);
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(if expect.is_some() {
            20
        } else {
            1000
        }));
        let entries = receiver.entry_count();
        let summary = format!(
            "t={:.2}s entries={} requests={:?} bytes={} duplicates={} rejected={}",
            start.elapsed().as_secs_f64(),
            entries,
            receiver.requests(),
            receiver.request_bytes(),
            receiver.duplicates(),
            receiver.rejected()
        );
        match expect {
            Some(n) if entries >= n => {
                println!("{summary}");
                if latency {
                    print_latency(receiver.latencies());
                }
                return;
            }
            Some(_) => {}
            None => println!("{summary}"),
        }
    }
}

/// Prints `latency_ms count=N p50=.. p90=.. p99=.. max=..` (milliseconds).
fn print_latency(mut ns: Vec<i64>) {
    if ns.is_empty() {
        println!("latency_ms count=0");
        return;
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1e6;
    println!(
        "latency_ms count={} p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        ns.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        *ns.last().unwrap() as f64 / 1e6
    );
}
