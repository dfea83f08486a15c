//! `loki-receiver [ADDR] [--expect N] [--count-only] [--latency] [--entries FILE] [LIMITS]`:
//! runs the Loki push test double (default 127.0.0.1:3100) and prints what it holds every
//! second. With `--entries FILE` it also appends each entry that arrived to FILE as a JSON
//! line (`{"tenant","labels","ts","line","structured_metadata"}`), for looking at what a
//! pipeline sent (`make demo`). With
//! `--expect N` it exits once N entries arrived, printing a summary; with `--latency` also
//! the distribution of write-to-arrival times of lines that start with their write time in
//! Unix nanoseconds. For benchmarks and trying sluice by hand.
//!
//! It enforces Loki's default limits; LIMITS change them:
//! `--max-body-bytes N` (413 above; Loki's `max_recv_msg_size`, 100MB),
//! `--max-line-size N` (0: none), `--no-reject-old-samples`,
//! `--out-of-order-window-secs N` (3600), `--per-stream-rate-limit BYTES_PER_SEC:BURST|off`
//! (3MB/s:15MB), `--ingestion-rate-limit BYTES_PER_SEC:BURST|loki|off` (off; `loki` is
//! 4MB/s:6MB).

use std::time::{Duration, Instant};

use loki_receiver::{Limits, RateLimit};

fn value<T: std::str::FromStr>(args: &[String], i: usize, flag: &str) -> T {
    args.get(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{flag} needs a number"))
}

fn rate(args: &[String], i: usize, flag: &str) -> Option<RateLimit> {
    let text = args
        .get(i)
        .unwrap_or_else(|| panic!("{flag} needs a value"));
    match text.as_str() {
        "off" => None,
        "loki" => Some(Limits::loki_ingestion_rate_limit()),
        pair => {
            let (r, b) = pair
                .split_once(':')
                .unwrap_or_else(|| panic!("{flag} BYTES_PER_SEC:BURST"));
            Some(RateLimit {
                bytes_per_sec: r.parse().expect("bytes per second"),
                burst: b.parse().expect("burst bytes"),
            })
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = "127.0.0.1:3100".to_string();
    let mut expect = None;
    let mut count_only = false;
    let mut latency = false;
    let mut entries_file: Option<std::fs::File> = None;
    let mut limits = Limits::default();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--expect" => {
                i += 1;
                expect = Some(args[i].parse::<usize>().expect("--expect N"));
            }
            "--count-only" => count_only = true,
            "--latency" => latency = true,
            "--entries" => {
                i += 1;
                let path = args.get(i).expect("--entries FILE");
                entries_file = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .unwrap_or_else(|e| panic!("--entries {path}: {e}")),
                );
            }
            "--no-reject-old-samples" => limits.reject_old_samples = false,
            flag @ ("--max-body-bytes"
            | "--max-line-size"
            | "--out-of-order-window-secs"
            | "--per-stream-rate-limit"
            | "--ingestion-rate-limit") => {
                i += 1;
                match flag {
                    "--max-body-bytes" => limits.max_recv_msg_size = value(&args, i, flag),
                    "--max-line-size" => limits.max_line_size = value(&args, i, flag),
                    "--out-of-order-window-secs" => {
                        limits.out_of_order_window = Duration::from_secs(value(&args, i, flag))
                    }
                    "--per-stream-rate-limit" => {
                        limits.per_stream_rate_limit = rate(&args, i, flag)
                    }
                    _ => limits.ingestion_rate_limit = rate(&args, i, flag),
                }
            }
            other => addr = other.to_string(),
        }
        i += 1;
    }
    let receiver = loki_receiver::Receiver::start_with(&addr, limits);
    if count_only {
        receiver.count_only();
    }
    if latency {
        receiver.record_latency();
    }
    eprintln!("loki-receiver listening on {}", receiver.addr);
    let start = Instant::now();
    // Entries already written to `--entries`, per stream.
    let mut written: std::collections::HashMap<loki_receiver::StreamId, usize> = Default::default();
    loop {
        std::thread::sleep(Duration::from_millis(if expect.is_some() {
            20
        } else {
            1000
        }));
        let entries = receiver.entry_count();
        if let Some(file) = entries_file.as_mut() {
            write_new_entries(&receiver, &mut written, file);
        }
        let summary = format!(
            "t={:.2}s entries={} requests={:?} bytes={} duplicates={} rejected={} refused={:?} silently_dropped={}",
            start.elapsed().as_secs_f64(),
            entries,
            receiver.requests(),
            receiver.request_bytes(),
            receiver.duplicates(),
            receiver.rejected(),
            receiver
                .refused()
                .iter()
                .map(|(reason, n)| (reason.as_str(), *n))
                .collect::<std::collections::BTreeMap<_, _>>(),
            receiver.silently_dropped()
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

/// Appends the entries that arrived since the last call to `file`, one JSON object a line.
fn write_new_entries(
    receiver: &loki_receiver::Receiver,
    written: &mut std::collections::HashMap<loki_receiver::StreamId, usize>,
    file: &mut std::fs::File,
) {
    use std::io::Write;
    let mut out = String::new();
    for (id, entries) in receiver.streams() {
        let done = written.entry(id.clone()).or_default();
        for entry in entries.iter().skip(*done) {
            let metadata: serde_json::Map<String, serde_json::Value> = entry
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            out.push_str(
                &serde_json::json!({
                    "tenant": id.0,
                    "labels": id.1,
                    "ts": entry.ts.to_string(),
                    "line": entry.line,
                    "structured_metadata": metadata,
                })
                .to_string(),
            );
            out.push('\n');
        }
        *done = entries.len();
    }
    if let Err(e) = file.write_all(out.as_bytes()) {
        eprintln!("--entries: {e}");
    }
}
