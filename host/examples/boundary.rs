//! Measures the cost of the plugin boundary: an identity plugin called on batches of 1, 64,
//! 1024 and 8192 records of ~215-byte lines with one label set and one metadata pair, in
//! one process. Prints nanoseconds per record (copy in, call, copy out, validate).
//!
//! usage: cargo run --release -p sluice --example boundary -- dist/plugins/identity.wasm

use std::time::Instant;

use sluice::event::LogBatch;
use sluice::runtime::{PluginInstance, PluginRuntime};

#[path = "../benches/support/sample.rs"]
mod sample;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "dist/plugins/identity.wasm".into());
    let runtime = PluginRuntime::new(None)?;
    let plugin = runtime.load(path.as_ref())?;
    let mut instance = PluginInstance::standalone(&plugin, "{}", 256, None)?;
    println!("{:>8} {:>14} {:>16}", "batch", "ns/record", "records/s");
    for size in [1usize, 64, 1024, 8192] {
        let template = sample::batch(size, true);
        let total = 400_000usize.max(size * 50);
        let rounds = total / size;
        // Warm up.
        for _ in 0..(rounds / 10).max(1) {
            let mut b = template.clone();
            instance.process(&mut b)?;
        }
        let mut copies: Vec<LogBatch> = (0..rounds).map(|_| template.clone()).collect();
        let start = Instant::now();
        for b in copies.iter_mut() {
            instance.process(b)?;
        }
        let elapsed = start.elapsed();
        assert_eq!(copies[rounds - 1].lines, template.lines);
        let per_record = elapsed.as_nanos() as f64 / (rounds * size) as f64;
        println!("{size:>8} {per_record:>14.1} {:>16.0}", 1e9 / per_record);
    }
    Ok(())
}
