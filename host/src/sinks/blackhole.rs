//! The `blackhole` sink: counts records and discards them (benchmarks, dry runs).

use futures::future::BoxFuture;
use serde::Deserialize;

use super::Sink;
use crate::channel::Input;
use crate::event::Signal;
use crate::component::{CheckContext, CheckErrors, ComponentConfig};
use crate::telemetry::ComponentMetrics;

/// `type = "blackhole"`: no keys besides `inputs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSinkConfig {}

impl ComponentConfig<dyn Sink> for BlackholeSinkConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        Ok(Box::new(self))
    }
}

impl Sink for BlackholeSinkConfig {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics]
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        Box::pin(run(input, metrics))
    }
}

/// Reads until the input closes; every batch is acknowledged as delivered.
pub async fn run(mut input: Input, metrics: ComponentMetrics) {
    while let Some(batch) = input.recv().await {
        metrics.received(batch.len(), batch.byte_size());
        metrics.sent(batch.len(), batch.byte_size());
    }
}
