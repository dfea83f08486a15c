//! The `null` sink: discards records and acknowledges them as delivered, as `blackhole`
//! does, under the name Fluent Bit and syslog users look for.

use futures::future::BoxFuture;
use serde::Deserialize;

use super::Sink;
use crate::channel::Input;
use crate::event::Signal;
use crate::component::{CheckContext, CheckErrors, ComponentConfig};
use crate::telemetry::ComponentMetrics;

/// `type = "null"`: no keys besides `inputs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NullSinkConfig {}

impl ComponentConfig<dyn Sink> for NullSinkConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        Ok(Box::new(self))
    }
}

impl Sink for NullSinkConfig {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics]
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        Box::pin(super::blackhole::run(input, metrics))
    }
}
