//! The `stdout` sink: writes each record to standard output, raw or as JSON.

use tokio::io::AsyncWriteExt;

use crate::channel::Input;
use crate::config::StdoutSinkConfig;
use crate::encode;
use crate::event::{settle, AckStatus};
use crate::telemetry::{events, ComponentMetrics};

/// Writes every batch and flushes it before acknowledging.
pub async fn run(config: StdoutSinkConfig, mut input: Input, metrics: ComponentMetrics) {
    let mut stdout = tokio::io::stdout();
    let mut buf = Vec::new();
    while let Some(mut batch) = input.recv().await {
        metrics.received(batch.len(), batch.line_bytes());
        buf.clear();
        encode::batch(&batch, config.encoding, &mut buf);
        let acks = batch.take_acks();
        match async {
            stdout.write_all(&buf).await?;
            stdout.flush().await
        }
        .await
        {
            Ok(()) => {
                metrics.sent(batch.len(), batch.line_bytes());
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
