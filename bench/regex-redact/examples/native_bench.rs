//! The regex-redact yardstick compiled natively and called in process: the twin its Wasm
//! build inside sluice is compared with (bench/pipelines.py).
//!
//! usage: native_bench FILE [--iters N]
//!
//! Runs the plugin over FILE's lines in batches of 1024, N times (default 3), the way sluice
//! runs the Wasm build (`sluice_plugin::twin`), and prints one JSON object: records, bytes,
//! seconds (best run), records/s, MB/s and redactions (per run).

use regex_redact::RegexRedact;
use sluice_plugin::twin::{self, TwinArgs};
use sluice_plugin::{Config, Plugin};

fn main() {
    let args = TwinArgs::from_env("native_bench FILE [--iters N]");
    let text = std::fs::read_to_string(&args.file).expect("read input (UTF-8)");
    let lines: Vec<&str> = text.lines().collect();
    let mut plugin = RegexRedact::init(Config::from_json(&args.config).expect("config JSON"))
        .expect("plugin config");
    let mut redactions = 0;
    let seconds = twin::time_batches(&mut plugin, &lines, args.iters, |p| {
        redactions += p.last_batch_redactions()
    });
    // Every run redacts the same lines: report one run's count.
    let redactions = redactions / args.iters as u64;
    twin::report(&lines, seconds, &[("redactions", redactions)]);
}
