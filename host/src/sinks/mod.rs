//! Sinks: where records leave a pipeline. One module per `type`; each reads its
//! [`Input`] until it closes, writes, and settles every batch's acknowledgement (delivered
//! only once the write succeeded).
//!
//! Adding a sink: a module here, a variant in `config::SinkConfig`, a line in [`build`].

pub mod blackhole;
pub mod file;
pub mod loki;
pub mod stdout;

use futures::future::BoxFuture;

use crate::channel::Input;
use crate::config::SinkConfig;
use crate::telemetry::ComponentMetrics;

/// The task that runs the sink `config` until its input closes, or why it cannot start.
pub fn build(
    config: &SinkConfig,
    input: Input,
    metrics: ComponentMetrics,
) -> Result<BoxFuture<'static, ()>, String> {
    Ok(match config {
        SinkConfig::Stdout(c) => Box::pin(stdout::run(c.clone(), input, metrics)),
        SinkConfig::File(c) => Box::pin(file::run(c.clone(), input, metrics)),
        SinkConfig::Blackhole(_) => Box::pin(blackhole::run(input, metrics)),
        SinkConfig::Loki(c) => {
            let sink = loki::LokiSink::new((**c).clone(), metrics).map_err(|e| e.to_string())?;
            Box::pin(sink.run(input))
        }
    })
}
