//! The `loki` sink: pushes records to Grafana Loki's `/loki/api/v1/push`, protobuf + snappy
//! by default or JSON (optionally gzipped). Records become streams by label set; labels are
//! checked against Loki's rules first (fixed where they can be, refused and counted where
//! not); record metadata is sent as structured metadata. Streams are spread over
//! `max_in_flight` lanes ([`lane`]) that batch, retry and split; a batch is acknowledged
//! upstream only once Loki answered 2xx for every entry of it (or refused some for good).

mod client;
mod config;
mod lane;

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::Sink;
use crate::channel::Input;
use crate::dead_letter::{DeadLetter, DeadRecord, Reason};
use crate::event::{label_set, overlay_labels, prefix_within, AckStatus, Label, LogBatch};
use crate::loki::encoded::{EncodedEntries, EncodedStream};
use crate::loki::labels::{self, LabelLimits, Refused};
use crate::loki::proto::Stream;
use crate::telemetry::{events, ComponentMetrics};

pub use client::ClientError;
pub use config::{LokiAuth, LokiCompression, LokiEncoding, LokiSinkConfig, LokiTls};

/// A stream's identity in a request: its tenant and its labels in selector form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub tenant: Option<String>,
    pub labels: Arc<str>,
}

/// Where a record label set goes: its stream and lane, or why it cannot be sent.
type Route = Result<(Arc<StreamKey>, usize), Refused>;

/// Bytes an entry takes besides its line and metadata text: its field tag and length,
/// the timestamp message, the line's tag and length, and a pair header or two.
const ENTRY_OVERHEAD_ESTIMATE: usize = 32;

/// Per lane, the streams of one batch bound for it with their entries.
type LaneParts = Vec<Vec<(Arc<StreamKey>, EncodedEntries)>>;

/// Label sets seen recently and what they became; cleared when it grows past this.
const STREAM_CACHE_LIMIT: usize = 10_000;

/// Parts a lane may have queued before the sink waits (backpressure).
const LANE_QUEUE: usize = 2;

/// The sink as its check left it: the config with its paths resolved and the HTTP client
/// built (a bad CA file, endpoint or credentials failed the check).
pub struct CheckedLokiSink {
    config: LokiSinkConfig,
    client: client::LokiClient,
}

impl Sink for CheckedLokiSink {
    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        let sink = LokiSink::new(self.config, self.client, metrics);
        Box::pin(sink.run(input))
    }
}

/// The running sink: label sets to streams to lanes.
pub struct LokiSink {
    config: LokiSinkConfig,
    shared: Arc<lane::Shared>,
    limits: LabelLimits,
    static_labels: Vec<Label>,
    streams: HashMap<Vec<Label>, Route>,
}

impl LokiSink {
    fn new(
        config: LokiSinkConfig,
        client: client::LokiClient,
        metrics: ComponentMetrics,
    ) -> LokiSink {
        let shared = Arc::new(lane::Shared {
            client,
            dead_letter: DeadLetter::new(config.dead_letter_path.clone(), &metrics.id),
            metrics,
            batch_max_bytes: config.batch_max_bytes.max(1),
            batch_wait: Duration::from_millis(config.batch_wait_ms),
            min_backoff: Duration::from_millis(config.min_backoff_ms.max(1)),
            max_backoff: Duration::from_millis(config.max_backoff_ms.max(config.min_backoff_ms)),
            max_retries: config.max_retries,
        });
        let limits = LabelLimits {
            max_names: config.max_label_names,
            max_value_bytes: config.max_label_value_bytes,
            ..LabelLimits::default()
        };
        LokiSink {
            static_labels: label_set(&config.labels),
            config,
            shared,
            limits,
            streams: HashMap::new(),
        }
    }

    /// Sends every batch of `input` to Loki; returns once the input closed and every lane
    /// has delivered (or given up on) what it holds.
    pub async fn run(mut self, mut input: Input) {
        let lanes = self.config.max_in_flight.max(1);
        let mut senders = Vec::with_capacity(lanes);
        let mut tasks = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (tx, rx) = mpsc::channel(LANE_QUEUE);
            senders.push(tx);
            tasks.push(tokio::spawn(lane::run(rx, self.shared.clone())));
        }
        let mut serial = 0u64;
        while let Some(mut batch) = input.recv().await {
            serial += 1;
            let metrics = &self.shared.metrics;
            metrics.received(batch.len(), batch.line_bytes());
            let acks = batch.take_acks();
            let (parts, refused) = self.split_by_lane(&batch, lanes);
            if refused > 0 {
                for ack in &acks {
                    ack.mark(AckStatus::Rejected);
                }
            }
            for (lane, streams) in parts.into_iter().enumerate() {
                if streams.is_empty() {
                    continue;
                }
                let part = lane::Part {
                    serial,
                    streams,
                    acks: acks.clone(),
                };
                if senders[lane].send(part).await.is_err() {
                    // The lane task died (a bug): the source must not think this delivered.
                    for ack in &acks {
                        ack.mark(AckStatus::Failed);
                    }
                }
            }
        }
        drop(senders);
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(component_id = %self.shared.metrics.id, error = %e, "a Loki sink lane failed");
            }
        }
    }

    /// The stream key and lane of a record label set, computed once per distinct set.
    fn stream_of(&mut self, record_labels: &[Label], lanes: usize) -> Route {
        if let Some(known) = self.streams.get(record_labels) {
            return known.clone();
        }
        if self.streams.len() >= STREAM_CACHE_LIMIT {
            self.streams.clear();
        }
        let mut merged = overlay_labels(&self.static_labels, record_labels.iter().cloned());
        let mut tenant = None;
        if let Some(name) = &self.config.tenant_label {
            if let Some(pos) = merged.iter().position(|(n, _)| n == name) {
                tenant = Some(merged.remove(pos).1).filter(|t| !t.is_empty());
            }
        }
        let tenant = tenant.or_else(|| self.config.tenant_id.clone());
        let metrics = &self.shared.metrics;
        let result = labels::sanitize(&merged, &self.limits).map(|(set, fixes)| {
            if fixes.renamed > 0 {
                events::component_error(
                    metrics,
                    "label_name_fixed",
                    "label names outside [a-zA-Z0-9_] were rewritten with `_`",
                );
            }
            if fixes.truncated > 0 {
                events::component_error(
                    metrics,
                    "label_value_truncated",
                    "label values over max_label_value_bytes were cut",
                );
            }
            let key = StreamKey {
                tenant,
                labels: labels::format(&set).into(),
            };
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            let lane = (h.finish() % lanes as u64) as usize;
            (Arc::new(key), lane)
        });
        if let Err(e) = &result {
            events::component_error(metrics, "labels_refused", &e.to_string());
        }
        self.streams.insert(record_labels.to_vec(), result.clone());
        result
    }

    /// The batch's entries grouped by lane and stream, in record order; returns how many
    /// records were refused (dead-lettered and counted).
    fn split_by_lane(&mut self, batch: &LogBatch, lanes: usize) -> (LaneParts, usize) {
        let set_info: Vec<_> = batch
            .label_sets
            .iter()
            .map(|set| self.stream_of(set, lanes))
            .collect();
        let mut parts: LaneParts = vec![Vec::new(); lanes];
        // Per label set: where its stream sits in its lane's part.
        let mut slot: Vec<Option<usize>> = vec![None; batch.label_sets.len()];
        let mut refused: Vec<Stream> = Vec::new();
        let mut truncated = 0usize;
        let max_line = self.config.max_line_bytes;
        // Each stream's entries are sized up front from its share of the batch's records,
        // instead of growing (and copying, and faulting in) their buffer as they go.
        let mut records_of = vec![0usize; batch.label_sets.len()];
        for set in &batch.label_set_of {
            records_of[*set as usize] += 1;
        }
        let per_record = (batch.line_bytes() + batch.metadata.len()) / batch.len().max(1)
            + ENTRY_OVERHEAD_ESTIMATE;
        for record in 0..batch.len() {
            let set = batch.label_set_of[record] as usize;
            let line = batch.line(record);
            let cut = prefix_within(line, max_line);
            if cut.len() < line.len() {
                truncated += 1;
            }
            let metadata = batch
                .metadata_pair_bytes(record)
                .map(|(k, v)| (metadata_name(k), v));
            let ts = batch.timestamps[record];
            match &set_info[set] {
                Ok((key, lane)) => {
                    let part = &mut parts[*lane];
                    let at = *slot[set].get_or_insert_with(|| {
                        let records = records_of[set];
                        let entries = EncodedEntries::with_capacity(records * per_record, records);
                        part.push((key.clone(), entries));
                        part.len() - 1
                    });
                    part[at].1.push(ts, cut.as_bytes(), metadata);
                }
                Err(_) => {
                    // Written like any entry, then read back for the dead-letter file.
                    let mut entries = EncodedEntries::default();
                    entries.push(ts, cut.as_bytes(), metadata);
                    let mut stream =
                        EncodedStream::new(labels::format(batch.labels(record)).into());
                    stream.push_part(entries);
                    refused.push(stream.decoded());
                }
            }
        }
        if truncated > 0 {
            events::lines_repaired(
                &self.shared.metrics,
                "truncated",
                truncated,
                "lines over max_line_bytes were cut",
            );
        }
        let refused_count = refused.len();
        if refused_count > 0 {
            let reason = set_info
                .iter()
                .find_map(|r| r.as_ref().err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            let why = Reason {
                reason: "labels_refused",
                error_kind: None,
                status: None,
                message: &reason,
                tenant: None,
            };
            set_aside(&self.shared, &refused, &why);
        }
        (parts, refused_count)
    }
}

/// Dead-letters the entries of `streams` and counts them as discarded for `why.reason`; a
/// dead-letter file that cannot be written is logged and counted as well.
fn set_aside(shared: &lane::Shared, streams: &[Stream], why: &Reason<'_>) {
    let records = dead_records(streams);
    if let Err(e) = shared.dead_letter.write_records(&records, why) {
        events::component_error(&shared.metrics, "dead_letter_failed", &e.to_string());
    }
    events::records_discarded(&shared.metrics, why.reason, records.len());
}

/// The entries of encoded streams as records, for the dead-letter file.
fn dead_records(streams: &[Stream]) -> Vec<DeadRecord> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut records = Vec::new();
    for stream in streams {
        let selector = text(&stream.labels);
        let labels = labels::parse(&selector).unwrap_or_default();
        for e in &stream.entries {
            records.push(DeadRecord {
                timestamp: e.nanos(),
                line: text(&e.line),
                labels: labels.clone(),
                metadata: e
                    .structured_metadata
                    .iter()
                    .map(|p| (text(&p.name), text(&p.value)))
                    .collect(),
            });
        }
    }
    records
}

/// A structured metadata key as Loki accepts it, borrowed when it already is.
fn metadata_name(key: &[u8]) -> Cow<'_, [u8]> {
    if labels::is_valid_name(key) {
        return Cow::Borrowed(key);
    }
    let key = String::from_utf8_lossy(key);
    Cow::Owned(labels::sanitize_name(&key).into_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Telemetry;

    #[test]
    fn records_whose_labels_are_refused_are_dead_lettered_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.jsonl");
        let config: LokiSinkConfig = toml::from_str(&format!(
            "endpoint = \"http://127.0.0.1:9\"\nmax_label_names = 1\n\
             dead_letter_path = \"{}\"",
            dead.display()
        ))
        .unwrap();
        let metrics = Telemetry::new().component("loki", "sink");
        let client = client::LokiClient::new(&config).unwrap();
        let mut sink = LokiSink::new(config, client, metrics);
        let mut batch = LogBatch::default();
        let ok = batch.intern_labels(&[("app".into(), "api".into())]);
        let too_many = batch.intern_labels(&[("a".into(), "1".into()), ("b".into(), "2".into())]);
        batch.push("kept", 1, ok, &[]);
        batch.push(
            "refused é",
            1_700_000_000_000_000_001,
            too_many,
            &[("trace-id", "t1")],
        );
        let (parts, refused) = sink.split_by_lane(&batch, 1);
        assert_eq!(refused, 1);
        let sent: usize = parts[0].iter().map(|(_, e)| e.len()).sum();
        assert_eq!(sent, 1);
        let row: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&dead).unwrap().trim()).unwrap();
        let record = &row["record"];
        assert_eq!(record["line"], "refused é");
        assert_eq!(record["timestamp"], 1_700_000_000_000_000_001i64);
        assert_eq!(record["labels"], serde_json::json!({"a": "1", "b": "2"}));
        assert_eq!(record["metadata"]["trace_id"], "t1");
        assert_eq!(row["reason"], "labels_refused");
    }
}
