//! The parse plugin compiled natively and called in process: the twin the Wasm build inside
//! sluice is compared with (bench/pipelines.py).
//!
//! usage: native_bench FILE [--config JSON] [--iters N]
//!
//! Reads FILE (one record per line) into batches of 1024 lines (the sources' default), then
//! runs the plugin over every batch N times (default 3) the way sluice runs the Wasm build:
//! `Batch::from`, `Plugin::process`, `into_log_batch` (building the batches is not timed).
//! Prints one JSON object: records, seconds (best iteration), records/s.

use std::time::Instant;

use parse::Parse;
use sluice_plugin::{Batch, Config, LogBatch, Plugin};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut config = String::from("{}");
    let mut iters = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().expect("--config JSON"),
            "--iters" => iters = args.next().expect("--iters N").parse().expect("a number"),
            _ => file = Some(a),
        }
    }
    let file = file.expect("usage: native_bench FILE [--config JSON] [--iters N]");
    let text = std::fs::read_to_string(&file).expect("read input (UTF-8)");
    let lines: Vec<&str> = text.lines().collect();
    let mut plugin =
        Parse::init(Config::from_json(&config).expect("config JSON")).expect("plugin config");
    let mut best = f64::INFINITY;
    for _ in 0..iters.max(1) {
        let batches: Vec<LogBatch> = lines
            .chunks(1024)
            .map(|chunk| {
                let mut b = Batch::new();
                for line in chunk {
                    b.push(line, 0, &[], &[]);
                }
                b.into_log_batch()
            })
            .collect();
        let t = Instant::now();
        for cols in batches {
            let mut batch = Batch::from(std::hint::black_box(cols));
            plugin.process(&mut batch).expect("process");
            std::hint::black_box(batch.into_log_batch());
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{{\"records\": {}, \"seconds\": {:.6}, \"records_per_s\": {:.0}}}",
        lines.len(),
        best,
        lines.len() as f64 / best
    );
}
