//! The `blackhole` sink: counts records and discards them (benchmarks, dry runs).

use crate::channel::Input;
use crate::telemetry::ComponentMetrics;

/// Reads until the input closes; every batch is acknowledged as delivered.
pub async fn run(mut input: Input, metrics: ComponentMetrics) {
    while let Some(batch) = input.recv().await {
        metrics.received(batch.len(), batch.line_bytes());
        metrics.sent(batch.len(), batch.line_bytes());
    }
}
