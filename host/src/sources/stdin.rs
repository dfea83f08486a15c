//! The `stdin` source: one record per line of standard input, until end of input or
//! shutdown. Runs on a blocking thread.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Deserialize;

use super::{
    default_max_line_bytes, send_batch as send, BatchConfig, BuiltSource, LineBatcher, Source,
    SourceContext,
};
use crate::component::{CheckContext, CheckErrors, ComponentConfig};
use crate::event::label_set;

/// `type = "stdin"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    /// Static labels for every record.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Longer lines are truncated (and counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl ComponentConfig<dyn Source> for StdinSourceConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        Ok(Box::new(self))
    }
}

impl Source for StdinSourceConfig {
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: Some(Box::pin(run(*self, ctx))),
            route: None,
        }
    }
}

/// Reads standard input until it ends or the collector shuts down.
pub async fn run(config: StdinSourceConfig, ctx: SourceContext) {
    let name = ctx.name.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    // The reading thread may block in read() forever; it is detached and stops with the
    // process. Lines travel to this task in chunks so batching and shutdown stay here.
    let reader = std::thread::Builder::new()
        .name(format!("stdin-{name}"))
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                let mut chunk = Vec::with_capacity(64 * 1024);
                // Read whole lines until the chunk holds about 64 KiB.
                while chunk.len() < 64 * 1024 {
                    match lock.read_until(b'\n', &mut chunk) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                    if !chunk.ends_with(b"\n") {
                        break; // end of input
                    }
                }
                if chunk.is_empty() || tx.blocking_send(chunk).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = reader {
        tracing::error!(component_id = %name, error = %e, "cannot start the stdin reader");
        return;
    }
    let mut batcher = LineBatcher::new(
        config.batch.clone(),
        config.max_line_bytes,
        ctx.metrics.clone(),
    );
    let labels = batcher.register_labels(label_set(&config.labels));
    loop {
        let wait = batcher
            .time_left()
            .unwrap_or(std::time::Duration::from_secs(3600));
        tokio::select! {
            chunk = rx.recv() => {
                let Some(chunk) = chunk else { break };
                let data = chunk.strip_suffix(b"\n").unwrap_or(&chunk);
                batcher.mark_read_time();
                for line in data.split(|b| *b == b'\n') {
                    if batcher.push_raw(line, labels) && !send(&mut batcher, &ctx).await {
                        return;
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {
                if !send(&mut batcher, &ctx).await { return; }
            }
            _ = ctx.shutdown.cancelled() => break,
        }
    }
    send(&mut batcher, &ctx).await;
}
