//! The `file` sink: appends each record to a file, raw or as JSON, flushing (and with
//! `fsync = true`, syncing) every batch before acknowledging it. The file is reopened when
//! it disappears (moved away by logrotate).

use std::path::Path;

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use crate::channel::Input;
use crate::config::FileSinkConfig;
use crate::encode;
use crate::event::{settle, AckStatus};
use crate::telemetry::{events, ComponentMetrics};

async fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

/// Appends every batch to the file; a batch that cannot be written is acknowledged as
/// failed and counted.
pub async fn run(config: FileSinkConfig, mut input: Input, metrics: ComponentMetrics) {
    let mut file: Option<File> = None;
    let mut buf = Vec::new();
    while let Some(mut batch) = input.recv().await {
        metrics.received(batch.len(), batch.line_bytes());
        buf.clear();
        encode::batch(&batch, config.encoding, &mut buf);
        let acks = batch.take_acks();
        if file.is_some() && !config.path.exists() {
            file = None;
        }
        let result = async {
            if file.is_none() {
                file = Some(open(&config.path).await?);
            }
            let f = file.as_mut().expect("opened above");
            f.write_all(&buf).await?;
            f.flush().await?;
            if config.fsync {
                f.sync_data().await?;
            }
            Ok::<_, std::io::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                metrics.sent(batch.len(), batch.line_bytes());
                settle(acks, AckStatus::Delivered);
            }
            Err(e) => {
                file = None;
                events::component_error(
                    &metrics,
                    "write_failed",
                    &format!("{}: {e}", config.path.display()),
                );
                events::records_discarded(&metrics, "write_failed", batch.len());
                settle(acks, AckStatus::Failed);
            }
        }
    }
}
