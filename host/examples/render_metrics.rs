//! How long /metrics takes to render, and how big it is, with 10k and 100k plugin series:
//! `cargo run --release -p sluice --example render_metrics` (bench/RESULTS.md). Each series
//! is a counter with one label value of its own; the collector's own families come along.

use std::time::Instant;

use sluice::telemetry::exposition::Format;
use sluice::telemetry::metrics::MetricDecl;
use sluice::telemetry::Telemetry;

fn main() {
    for series in [10_000usize, 100_000] {
        let telemetry = Telemetry::new();
        let decl: MetricDecl = toml::from_str(&format!(
            "name = \"requests_total\"\ntype = \"counter\"\nlabels = [\"user\"]\nmax_series = {series}"
        ))
        .expect("a valid declaration");
        let metric = telemetry.plugin_metric(&decl).expect("registers");
        for i in 0..series {
            metric.counter_add("bench", vec![format!("user-{i:06}")], 1.5, None);
        }
        for format in [Format::Text, Format::OpenMetrics] {
            // The median of 5 renders.
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let start = Instant::now();
                let text = telemetry.render(format);
                times.push(start.elapsed().as_secs_f64() * 1e3);
                size = text.len();
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{series:>7} series, {format:?}: {:.1} ms per render (median of 5), {:.1} MB",
                times[2],
                size as f64 / 1e6
            );
        }
    }
}
