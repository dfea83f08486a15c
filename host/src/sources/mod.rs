//! Sources: where records enter a pipeline. One module per `type`, holding its config
//! struct, its check and its run loop; each turns its input into [`LogBatch`]es with a
//! [`LineBatcher`] and hands them to its [`Fanout`].
//!
//! Adding a source: a module here whose config implements `ComponentConfig<dyn Source>`,
//! and its line in [`KINDS`]. A push source returns an HTTP route instead of (or besides) a
//! task; the server mounts it, so the server never names a source.

pub mod checkpoint;
pub mod multiline;
pub mod push;

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::channel::Fanout;
use crate::event::{Label, LogBatch, Signal};
use crate::telemetry::ComponentMetrics;

/// A checked source, ready to start.
pub trait Source: Send {
    /// The signal it produces.
    fn signal(&self) -> Signal {
        Signal::Logs
    }

    /// The route a push source serves on the API server (checked against the server's own
    /// routes and the other sources' before anything runs).
    fn push_path(&self) -> Option<&str> {
        None
    }

    /// Starts the source: a task to run, a route to mount, or both.
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource;
}

crate::component::registry! {
    /// Every source kind, by its `type` name.
    pub static KINDS: [dyn Source] = {
        stdin::StdinSourceConfig,
        file::FileSourceConfig,
        http::HttpSourceConfig,
        loki_push::LokiPushSourceConfig,
        syslog::SyslogSourceConfig,
        journald::JournaldSourceConfig,
        prometheus_scrape::PrometheusScrapeSourceConfig,
        kubernetes_logs::KubernetesLogsSourceConfig,
        otlp::OtlpSourceConfig,
    }
}

/// What a source needs at run time.
pub struct SourceContext {
    pub name: String,
    pub metrics: ComponentMetrics,
    pub out: Fanout,
    /// Cancelled when the collector shuts down: finish the current batch and return.
    pub shutdown: CancellationToken,
    /// The collector's `data_dir` (checkpoints live under it).
    pub data_dir: std::path::PathBuf,
}

/// Sends the batch `batcher` holds (if any) downstream, counting it sent; false when the
/// pipeline has stopped (the source should return).
pub(crate) async fn send_batch(batcher: &mut LineBatcher, ctx: &SourceContext) -> bool {
    let Some(batch) = batcher.take() else {
        return true;
    };
    let (records, bytes) = (batch.len(), batch.line_bytes());
    if ctx.out.send(batch).await.is_err() {
        crate::telemetry::events::component_error(
            &ctx.metrics,
            "downstream_closed",
            "pipeline stopped",
        );
        return false;
    }
    ctx.metrics.sent(records, bytes);
    true
}

/// A built source: a task to run, a route to mount on the API server, or both.
pub struct BuiltSource {
    pub task: Option<BoxFuture<'static, ()>>,
    pub route: Option<axum::Router>,
}

/// How a source cuts its input into batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most records in one batch.
    #[serde(default = "default_batch_records")]
    pub max_records: usize,
    /// Most line bytes in one batch.
    #[serde(default = "default_batch_bytes")]
    pub max_bytes: usize,
    /// Longest a record waits for its batch to fill, in milliseconds.
    #[serde(default = "default_batch_wait")]
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: default_batch_records(),
            max_bytes: default_batch_bytes(),
            timeout_ms: default_batch_wait(),
        }
    }
}

fn default_batch_records() -> usize {
    1024
}
fn default_batch_bytes() -> usize {
    1 << 20
}
fn default_batch_wait() -> u64 {
    100
}
pub(crate) fn default_max_line_bytes() -> usize {
    256 * 1024
}

/// Accumulates lines into a batch until it is full by records or bytes, or old enough.
/// Repairs what cannot be forwarded as is (invalid UTF-8, over-long lines), counting each.
pub struct LineBatcher {
    batch: LogBatch,
    config: BatchConfig,
    max_line_bytes: usize,
    metrics: ComponentMetrics,
    first_at: Option<Instant>,
    /// For each label set the source registered, its index in the current batch.
    set_index: Vec<Option<u32>>,
    sets: Vec<Vec<Label>>,
    /// Timestamp given to the lines pushed next: when their bytes were read.
    read_time: i64,
}

/// A label set registered with a [`LineBatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelKey(usize);

impl LineBatcher {
    /// A batcher with the source's batch limits.
    pub fn new(config: BatchConfig, max_line_bytes: usize, metrics: ComponentMetrics) -> Self {
        LineBatcher {
            batch: LogBatch::with_capacity(config.max_records, config.max_bytes.min(4 << 20)),
            config,
            max_line_bytes: max_line_bytes.max(1),
            metrics,
            first_at: None,
            set_index: Vec::new(),
            sets: Vec::new(),
            read_time: crate::event::now_ns(),
        }
    }

    /// Registers a label set the source will tag lines with.
    pub fn register_labels(&mut self, labels: Vec<Label>) -> LabelKey {
        if let Some(i) = self.sets.iter().position(|s| *s == labels) {
            return LabelKey(i);
        }
        self.sets.push(labels);
        self.set_index.push(None);
        LabelKey(self.sets.len() - 1)
    }

    /// Stamps the lines pushed from now on with the current time; call once per read, so
    /// the clock is read per chunk rather than per line.
    pub fn mark_read_time(&mut self) {
        self.read_time = crate::event::now_ns();
    }

    /// Adds one raw line (without its newline). Returns true when the batch is full.
    pub fn push_raw(&mut self, raw: &[u8], labels: LabelKey) -> bool {
        let line = self.repair(raw);
        self.push_record(&line, None, labels, &[])
    }

    /// Adds one line already known to be valid UTF-8 (a file source checks a chunk's
    /// lines in one pass): only a trailing `\r` and its length are looked at. Returns true
    /// when the batch is full.
    pub fn push_text(&mut self, line: &str, labels: LabelKey) -> bool {
        if line.len() > self.max_line_bytes {
            return self.push_raw(line.as_bytes(), labels);
        }
        self.push_record(line.strip_suffix('\r').unwrap_or(line), None, labels, &[])
    }

    /// `raw` as a line that can be forwarded: a trailing `\r` dropped, cut to
    /// `max_line_bytes` (at a character boundary), invalid UTF-8 replaced; each repair
    /// counted.
    pub fn repair<'a>(&self, raw: &'a [u8]) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut raw = raw;
        let truncated = raw.len() > self.max_line_bytes;
        if truncated {
            raw = &raw[..self.max_line_bytes];
            crate::telemetry::events::lines_repaired(
                &self.metrics,
                "truncated",
                1,
                "a line over max_line_bytes was cut",
            );
        }
        // The vector check first (several times std's speed on ASCII lines, a few
        // percent of the default chain's CPU); std's only to say where a line is broken.
        if let Ok(line) = simdutf8::basic::from_utf8(raw) {
            return Cow::Borrowed(line);
        }
        match std::str::from_utf8(raw) {
            Ok(line) => Cow::Borrowed(line),
            Err(e) if truncated && e.error_len().is_none() => {
                // The cut fell inside a character: drop the partial character only.
                Cow::Borrowed(std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default())
            }
            Err(_) => {
                crate::telemetry::events::lines_repaired(
                    &self.metrics,
                    "invalid_utf8",
                    1,
                    "invalid UTF-8 replaced with U+FFFD",
                );
                Cow::Owned(String::from_utf8_lossy(raw).into_owned())
            }
        }
    }

    /// Adds one line that is already valid text. Returns true when the batch is full.
    pub fn push_str(&mut self, line: &str, labels: LabelKey) -> bool {
        self.push_record(line, None, labels, &[])
    }

    /// Adds one record: a valid line, its timestamp (None: when it was read), labels and
    /// metadata. Returns true when the batch is full.
    pub fn push_record(
        &mut self,
        line: &str,
        timestamp: Option<i64>,
        labels: LabelKey,
        metadata: &[(&str, &str)],
    ) -> bool {
        self.push_record_with(line, timestamp, labels, metadata)
    }

    /// [`LineBatcher::push_record`] with metadata pairs of any string type.
    pub fn push_record_with<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        line: &str,
        timestamp: Option<i64>,
        labels: LabelKey,
        metadata: &[(K, V)],
    ) -> bool {
        let set = match self.set_index[labels.0] {
            Some(i) => i,
            None => {
                let i = self.batch.intern_labels(&self.sets[labels.0]);
                self.set_index[labels.0] = Some(i);
                i
            }
        };
        self.batch
            .push_with(line, timestamp.unwrap_or(self.read_time), set, metadata);
        self.first_at.get_or_insert_with(Instant::now);
        self.batch.len() >= self.config.max_records
            || self.batch.line_bytes() >= self.config.max_bytes
    }

    /// True when no line is waiting.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// How long until the waiting lines must be sent (None: nothing waits).
    pub fn time_left(&self) -> Option<Duration> {
        self.first_at
            .map(|t| Duration::from_millis(self.config.timeout_ms).saturating_sub(t.elapsed()))
    }

    /// Takes the batch built so far (None when empty), counting it as received.
    pub fn take(&mut self) -> Option<LogBatch> {
        if self.batch.is_empty() {
            return None;
        }
        let capacity = self.config.max_records;
        let bytes = self.config.max_bytes.min(4 << 20);
        let batch = std::mem::replace(&mut self.batch, LogBatch::with_capacity(capacity, bytes));
        self.first_at = None;
        self.set_index.iter_mut().for_each(|s| *s = None);
        self.metrics.received(batch.len(), batch.line_bytes());
        Some(batch)
    }
}
