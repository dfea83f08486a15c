//! The parse plugin compiled natively and called in process: the twin the Wasm build inside
//! sluice is compared with (bench/pipelines.py).
//!
//! usage: native_bench FILE [--config JSON] [--iters N]
//!
//! Runs the plugin over FILE's lines in batches of 1024, N times (default 3), the way sluice
//! runs the Wasm build (`sluice_plugin::twin`), and prints one JSON object: records, bytes,
//! seconds (best run), records/s, MB/s.

use parse::Parse;
use sluice_plugin::twin::{self, TwinArgs};
use sluice_plugin::{Config, Plugin};

fn main() {
    let args = TwinArgs::from_env("native_bench FILE [--config JSON] [--iters N]");
    let text = std::fs::read_to_string(&args.file).expect("read input (UTF-8)");
    let lines: Vec<&str> = text.lines().collect();
    let mut plugin =
        Parse::init(Config::from_json(&args.config).expect("config JSON")).expect("plugin config");
    let seconds = twin::time_batches(&mut plugin, &lines, args.iters, |_| {});
    twin::report(&lines, seconds, &[]);
}
