//! The redact-pii crate compiled natively and called directly: the baseline the Wasm
//! plugin inside sluice is compared with (bench/pii.sh, bench/pipelines.py).
//!
//! usage: native_bench FILE [--config JSON] [--iters N] [--out PATH] [--core]
//!
//! Reads FILE (one record per line) into memory and redacts every line N times (default
//! 3), then prints one JSON object: records, bytes, seconds (best iteration), records/s,
//! MB/s and redactions.
//!
//! By default it runs the plugin the way sluice runs the Wasm build: the same `RedactPii`
//! plugin type and SDK batch code (`Batch::from`, `Plugin::process`, `into_log_batch`) over
//! batches of 1024 lines, the source's default; only the Wasm boundary is missing (building
//! the batches is not timed). `--core` calls `Redactor::redact_counted` per line with a
//! reused output buffer instead, the redaction code alone. `--out PATH` also writes the
//! redacted lines (for checking with score.py).

use std::io::Write;
use std::time::Instant;

use redact_pii::plugin::RedactPii;
use redact_pii::Redactor;
use sluice_plugin::{Batch, Config, LogBatch, Plugin};

/// Lines per batch: the sources' default batch size.
const BATCH: usize = 1024;

/// `lines` as the columns sluice sends a plugin, built with the SDK: no labels, timestamps
/// or metadata (what the file source sends with `filename_label = false`).
fn columns(lines: &[&str]) -> LogBatch {
    let mut batch = Batch::new();
    for line in lines {
        batch.push(line, 0, &[], &[]);
    }
    batch.into_log_batch()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut config = String::from("{}");
    let mut iters = 3usize;
    let mut out_path = None;
    let mut core = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().expect("--config JSON"),
            "--iters" => iters = args.next().expect("--iters N").parse().expect("a number"),
            "--out" => out_path = Some(args.next().expect("--out PATH")),
            "--core" => core = true,
            _ => file = Some(a),
        }
    }
    let file = file.expect("usage: native_bench FILE [--config JSON] [--iters N] [--out PATH]");
    let data = std::fs::read(&file).expect("read input");
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let r = Redactor::from_config_json(&config).expect("config");
    let mut counts = r.new_counts();
    let mut out = String::new();
    let mut best = f64::INFINITY;
    let mut redactions = 0;
    let mut plugin =
        RedactPii::init(Config::from_json(&config).expect("config JSON")).expect("plugin config");
    for _ in 0..iters.max(1) {
        redactions = 0;
        if core {
            let t = Instant::now();
            for line in &lines {
                out.clear();
                redactions += r.redact_counted(std::hint::black_box(line), &mut out, &mut counts);
                std::hint::black_box(&out);
            }
            best = best.min(t.elapsed().as_secs_f64());
        } else {
            let batches: Vec<LogBatch> = lines.chunks(BATCH).map(columns).collect();
            let t = Instant::now();
            for cols in batches {
                let mut batch = Batch::from(std::hint::black_box(cols));
                plugin.process(&mut batch).expect("process");
                redactions += plugin.last_batch_redactions() as usize;
                std::hint::black_box(batch.into_log_batch());
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    if let Some(p) = out_path {
        let mut f = std::io::BufWriter::new(std::fs::File::create(p).expect("create --out"));
        for line in &lines {
            out.clear();
            if r.redact_counted(line, &mut out, &mut counts) > 0 {
                writeln!(f, "{out}").unwrap();
            } else {
                writeln!(f, "{line}").unwrap();
            }
        }
    }
    println!(
        "{{\"records\": {}, \"bytes\": {}, \"seconds\": {:.6}, \"records_per_s\": {:.0}, \"mb_per_s\": {:.2}, \"redactions\": {}}}",
        lines.len(),
        bytes,
        best,
        lines.len() as f64 / best,
        bytes as f64 / best / 1e6,
        redactions
    );
}
