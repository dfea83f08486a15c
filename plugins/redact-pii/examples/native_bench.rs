//! The redact-pii crate compiled natively and called directly: the baseline the Wasm
//! plugin inside sluice is compared with (bench/pii.sh, bench/pipelines.py).
//!
//! usage: native_bench FILE [--config JSON] [--iters N] [--out PATH] [--core]
//!
//! Redacts every line of FILE N times (default 3), then prints one JSON object: records,
//! bytes, seconds (best run), records/s, MB/s and redactions (per run).
//!
//! By default it runs the plugin the way sluice runs the Wasm build (`sluice_plugin::twin`):
//! the same `RedactPii` plugin type and SDK batch code over batches of 1024 lines; only the
//! Wasm boundary is missing. `--core` calls `Redactor::redact_counted` per line with a
//! reused output buffer instead, the redaction code alone. `--out PATH` also writes the
//! redacted lines (for checking with score.py).

use std::io::Write;
use std::time::Instant;

use redact_pii::plugin::RedactPii;
use redact_pii::Redactor;
use sluice_plugin::twin::{self, TwinArgs};
use sluice_plugin::{Config, Plugin};

const USAGE: &str = "native_bench FILE [--config JSON] [--iters N] [--out PATH] [--core]";

fn main() {
    let args = TwinArgs::from_env(USAGE);
    let mut extra = args.extra.iter();
    let (mut out_path, mut core) = (None, false);
    while let Some(flag) = extra.next() {
        match flag.as_str() {
            "--out" => out_path = Some(extra.next().expect("--out PATH")),
            "--core" => core = true,
            other => panic!("unknown argument `{other}`; usage: {USAGE}"),
        }
    }
    // Invalid UTF-8 becomes U+FFFD, as the sources deliver it.
    let data = std::fs::read(&args.file).expect("read input");
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    let r = Redactor::from_config_json(&args.config).expect("config");
    let mut counts = r.new_counts();
    let mut out = String::new();
    let mut redactions = 0u64;
    let seconds = if core {
        let mut best = f64::INFINITY;
        for _ in 0..args.iters {
            redactions = 0;
            let started = Instant::now();
            for line in &lines {
                out.clear();
                redactions +=
                    r.redact_counted(std::hint::black_box(line), &mut out, &mut counts) as u64;
                std::hint::black_box(&out);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        best
    } else {
        let config = Config::from_json(&args.config).expect("config JSON");
        let mut plugin = RedactPii::init(config).expect("plugin config");
        let seconds = twin::time_batches(&mut plugin, &lines, args.iters, |p| {
            redactions += p.last_batch_redactions()
        });
        // Every run redacts the same lines: report one run's count.
        redactions /= args.iters as u64;
        seconds
    };
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
    twin::report(&lines, seconds, &[("redactions", redactions)]);
}
