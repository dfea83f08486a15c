//! The `stdout` sink: writes each record to standard output, raw or as JSON.

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::Sink;
use crate::channel::Input;
use crate::component::{CheckContext, CheckErrors, ComponentConfig};
use crate::encode::{self, Encoding};
use crate::event::{settle, AckStatus, Signal};
use crate::telemetry::{events, ComponentMetrics};

/// `type = "stdout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    #[serde(default)]
    pub encoding: Encoding,
}


impl ComponentConfig<dyn Sink> for StdoutSinkConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        Ok(Box::new(self))
    }
}

impl Sink for StdoutSinkConfig {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics]
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, input, metrics))
    }
}

/// Writes every batch and flushes it before acknowledging.
pub async fn run(config: StdoutSinkConfig, mut input: Input, metrics: ComponentMetrics) {
    let mut stdout = tokio::io::stdout();
    let mut buf = Vec::new();
    while let Some(mut batch) = input.recv().await {
        metrics.received(batch.len(), batch.byte_size());
        buf.clear();
        encode::events(&batch, config.encoding, &mut buf);
        let acks = batch.take_acks();
        match async {
            stdout.write_all(&buf).await?;
            stdout.flush().await
        }
        .await
        {
            Ok(()) => {
                metrics.sent(batch.len(), batch.byte_size());
                settle(acks, AckStatus::Delivered);
            }
            Err(e) => {
                events::component_error(&metrics, "write_failed", &e.to_string());
                events::records_discarded(&metrics, "write_failed", batch.len());
                settle(acks, AckStatus::Failed);
            }
        }
    }
}
