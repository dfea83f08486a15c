//! A/B comparison of plugin builds on a shared, noisy machine: runs two or more `.wasm`
//! files with the same config over the same batches (1024 lines each, read from a file), in
//! alternation, a few batches at a time, and prints each plugin's thread CPU per 1M lines:
//! the median and the minimum over the rounds. A slow spell of the machine then falls on
//! every plugin alike instead of on whichever ran during it, which whole-process runs one
//! after another cannot promise (bench/RESULTS.md: 20% between back-to-back runs).
//!
//! usage: cargo run --release -p sluice --example plugin_ab -- INPUT CONFIG_JSON A.wasm B.wasm...
//! (INPUT: a file of log lines, e.g. from bench/gen.py; its first 100,000 lines are used;
//! `SLUICE_AB_BATCH=N` sets the records per batch; `SLUICE_AB_EPOCH=both` also runs each
//! plugin compiled without epoch checks, to show what call deadlines cost, and
//! `SLUICE_AB_EPOCH=off` only that build: two `perf record` runs, with and without, show in
//! which functions the checks cost.)

use std::io::BufRead;

use anyhow::Context;
use sluice::event::LogBatch;
use sluice::runtime::{PluginInstance, PluginRuntime};
use sluice::telemetry::cpu::thread_cpu_seconds;

/// Records per batch, unless `SLUICE_AB_BATCH` says otherwise.
const BATCH: usize = 1024;
const LINES: usize = 100_000;
/// Batches each plugin runs per turn.
const TURN: usize = 10;
const ROUNDS: usize = 15;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: plugin_ab INPUT CONFIG_JSON A.wasm [B.wasm...]"
    );
    let (input, config, plugins) = (&args[0], &args[1], &args[2..]);
    let batch_size = std::env::var("SLUICE_AB_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH);
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {input}"))?;
    // Every batch has the one label set `job=bench`.
    let labelled = || {
        let mut batch = LogBatch::default();
        let set = batch.intern_labels(&[("job".into(), "bench".into())]);
        (batch, set)
    };
    let mut batches = Vec::new();
    let (mut batch, set) = labelled();
    for line in std::io::BufReader::new(file).lines().take(LINES) {
        batch.push(&line?, 0, set, &[]);
        if batch.len() == batch_size {
            batches.push(std::mem::replace(&mut batch, labelled().0));
        }
    }
    let lines: usize = batches.iter().map(LogBatch::len).sum();
    anyhow::ensure!(lines > 0, "{input} has no full batch of {batch_size} lines");
    let epoch = std::env::var("SLUICE_AB_EPOCH").unwrap_or_default();
    let mut runtimes = Vec::new();
    if epoch != "off" {
        runtimes.push((PluginRuntime::new(None)?, ""));
    }
    if epoch == "both" || epoch == "off" {
        runtimes.push((PluginRuntime::without_deadlines()?, " (no epoch checks)"));
    }
    let mut names = Vec::new();
    let mut instances = Vec::new();
    for plugin in plugins {
        for (runtime, note) in &runtimes {
            let loaded = runtime.load(plugin.as_ref())?;
            instances.push(PluginInstance::standalone(&loaded, config, 256, None)?);
            names.push(format!("{plugin}{note}"));
        }
    }
    // Per plugin: CPU seconds of each round (all batches once, in turns of TURN batches).
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); instances.len()];
    for round in 0..=ROUNDS {
        let mut spent = vec![0.0; instances.len()];
        for turn in batches.chunks(TURN) {
            for (k, instance) in instances.iter_mut().enumerate() {
                let mut copies = turn.to_vec();
                let start = thread_cpu_seconds();
                for b in copies.iter_mut() {
                    instance.process(b)?;
                }
                spent[k] += thread_cpu_seconds() - start;
            }
        }
        if round > 0 {
            // Round 0 warms up.
            for (k, s) in spent.into_iter().enumerate() {
                rounds[k].push(s);
            }
        }
    }
    let scale = 1e6 / lines as f64;
    println!("{lines} lines x {ROUNDS} rounds; CPU seconds per 1M lines  median    min");
    for (plugin, mut r) in names.iter().zip(rounds) {
        r.sort_by(f64::total_cmp);
        println!(
            "{plugin:<50} {:>7.3} {:>6.3}",
            r[r.len() / 2] * scale,
            r[0] * scale
        );
    }
    Ok(())
}
