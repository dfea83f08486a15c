//! Sink buffers: what holds a sink's input while the sink is slow or down. The default is
//! the bounded channel every component has (`channel.rs`); `[sinks.NAME.buffer] type =
//! "disk"` puts a disk buffer ([`disk`]) between the channel and the sink, so a sink outage
//! no longer holds the sources back until the buffer is full, and what it holds survives
//! restarts and kill -9 (docs/buffers.md).

pub mod disk;
pub mod frame;

use std::path::Path;

use futures::future::BoxFuture;

use crate::channel::Input;
use crate::config::BufferConfig;
use crate::telemetry::ComponentMetrics;

/// The input sink `name` reads, with its buffer (if any) put in front of it, and the
/// buffer's tasks to run beside the sink.
pub fn attach(
    config: Option<&BufferConfig>,
    input: Input,
    data_dir: &Path,
    name: &str,
    metrics: &ComponentMetrics,
) -> std::io::Result<(Input, Vec<BoxFuture<'static, ()>>)> {
    match config {
        None | Some(BufferConfig::Memory) => Ok((input, Vec::new())),
        Some(BufferConfig::Disk {
            max_size,
            when_full,
            fsync,
        }) => disk::start(
            input,
            disk::DiskSettings {
                dir: data_dir.join("buffers").join(name),
                max_size: max_size.0,
                when_full: *when_full,
                fsync: *fsync,
            },
            metrics.clone(),
        ),
    }
}
