//! The `file` sink: appends each record to a file, raw or as JSON, flushing (and with
//! `fsync = true`, syncing) every batch before acknowledging it. The file is reopened when
//! it disappears (moved away by logrotate).

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::Sink;
use crate::channel::Input;
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::encode::{self, Encoding};
use crate::event::{settle, AckStatus, Signal};
use crate::telemetry::{events, ComponentMetrics};

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub encoding: Encoding,
    /// fsync after every batch before acknowledging it.
    #[serde(default)]
    pub fsync: bool,
}


impl ComponentConfig<dyn Sink> for FileSinkConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        self.path = ctx.resolve(&self.path);
        if self.path.is_dir() {
            return Err(CheckError::at("path", format!("`{}` is a directory", self.path.display())).into());
        }
        Ok(Box::new(self))
    }
}

impl Sink for FileSinkConfig {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Logs, Signal::Metrics]
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, input, metrics))
    }
}

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
        metrics.received(batch.len(), batch.byte_size());
        buf.clear();
        encode::events(&batch, config.encoding, &mut buf);
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
                metrics.sent(batch.len(), batch.byte_size());
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
