//! The redact-pii crate compiled natively and called directly: the baseline the Wasm
//! plugin inside sluice is compared with (bench/pii.sh).
//!
//! usage: native_bench FILE [--config JSON] [--iters N] [--out PATH]
//!
//! Reads FILE (one record per line) into memory, then redacts every line N times (default
//! 3) with one `Redactor` and a reused output buffer, the way the plugin does per batch,
//! and prints one JSON object: records, bytes, seconds (best iteration), records/s, MB/s
//! and redactions. `--out PATH` also writes the redacted lines (for checking with
//! score.py).

use std::io::Write;
use std::time::Instant;

use redact_pii::Redactor;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut config = String::from("{}");
    let mut iters = 3usize;
    let mut out_path = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().expect("--config JSON"),
            "--iters" => iters = args.next().expect("--iters N").parse().expect("a number"),
            "--out" => out_path = Some(args.next().expect("--out PATH")),
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
    for _ in 0..iters.max(1) {
        redactions = 0;
        let t = Instant::now();
        for line in &lines {
            out.clear();
            redactions += r.redact_counted(std::hint::black_box(line), &mut out, &mut counts);
            std::hint::black_box(&out);
        }
        best = best.min(t.elapsed().as_secs_f64());
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
