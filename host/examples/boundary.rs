//! Measures the cost of the plugin boundary: an identity plugin called on batches of 1, 64,
//! 1024 and 8192 records of ~215-byte lines with one label set and one metadata pair, in
//! one process. Prints nanoseconds per record (copy in, call, copy out, validate).
//!
//! usage: cargo run --release -p sluice --example boundary -- dist/plugins/identity.wasm

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::event::LogBatch;
use sluice::runtime::{InstanceSettings, PluginHostContext, PluginInstance, PluginRuntime};
use sluice::telemetry::Telemetry;

fn batch(records: usize) -> LogBatch {
    let mut b = LogBatch::default();
    let set = b.intern_labels(&[("app".into(), "shop".into()), ("env".into(), "prod".into())]);
    for i in 0..records {
        let line = format!(
            "{{\"ts\":\"2025-11-24T12:00:00.{i:03}Z\",\"level\":\"info\",\"msg\":\"request by alice.{i}@example.com from 10.1.2.3 done\",\"path\":\"/api/orders\",\"status\":200,\"req_id\":\"{i:016x}\",\"seq\":{i}}}"
        );
        b.push(
            &line,
            i as i64,
            set,
            &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
        );
    }
    b
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "dist/plugins/identity.wasm".into());
    let runtime = PluginRuntime::new(None)?;
    let plugin = runtime.load(path.as_ref())?;
    let telemetry = Telemetry::new();
    let host = Arc::new(PluginHostContext {
        component: telemetry.component("bench", "transform"),
        metrics: Vec::new(),
        recorder: None,
    });
    let settings = InstanceSettings {
        config_json: "{}".into(),
        timeout: Duration::from_secs(10),
        memory_limit_mb: 256,
        allow_env: Vec::new(),
    };
    let mut instance = PluginInstance::start(&plugin, &settings, host)?;
    println!("{:>8} {:>14} {:>16}", "batch", "ns/record", "records/s");
    for size in [1usize, 64, 1024, 8192] {
        let template = batch(size);
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
