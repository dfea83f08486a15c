//! `loki-receiver [ADDR] [--expect N] [--count-only]`: runs the Loki push test double
//! (default 127.0.0.1:3100) and prints what it holds every second. With `--expect N` it
//! exits once N entries arrived, printing a summary; for benchmarks and trying sluice by
//! hand.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut addr = "127.0.0.1:3100".to_string();
    let mut expect = None;
    let mut count_only = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--expect" => {
                i += 1;
                expect = Some(args[i].parse::<usize>().expect("--expect N"));
            }
            "--count-only" => count_only = true,
            other => addr = other.to_string(),
        }
        i += 1;
    }
    let receiver = loki_receiver::Receiver::start(&addr);
    if count_only {
        receiver.count_only();
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
                return;
            }
            Some(_) => {}
            None => println!("{summary}"),
        }
    }
}
