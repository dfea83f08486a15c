//! The `loki` sink: pushes records to Grafana Loki's `/loki/api/v1/push`, protobuf + snappy
//! by default or JSON (optionally gzipped). Records become streams by label set; labels are
//! checked against Loki's rules first (fixed where they can be, refused and counted where
//! not); record metadata is sent as structured metadata. Streams are spread over
//! `max_in_flight` lanes ([`lane`]) that batch, retry and split; a batch is acknowledged
//! upstream only once Loki answered 2xx for every entry of it (or refused some for good).

mod client;
mod config;
mod entry_checks;
mod lane;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::Sink;
use crate::channel::Input;
use crate::dead_letter::{DeadLetter, DeadRecord, Reason};
use entry_checks::{EntryLimits, NewestByStream};
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

/// A batch's label set as sent: its stream, lane and slot among the batch's streams, or
/// why its labels are refused.
type SetRoute = Result<(Arc<StreamKey>, usize, usize), Refused>;

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
    entry_limits: EntryLimits,
    /// Each stream's newest entry sent, for the out-of-order window.
    newest: NewestByStream,
}

/// Streams whose newest timestamp the sink remembers (see [`NewestByStream`]).
const NEWEST_LIMIT: usize = 100_000;

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
            max_streams_per_request: config.max_streams_per_request,
        });
        const S: i64 = 1_000_000_000;
        let secs = |s: u64| (s.min(i64::MAX as u64 / S as u64) as i64) * S;
        let entry_limits = EntryLimits {
            out_of_order_window_ns: secs(config.out_of_order_window_secs),
            max_age_ns: secs(config.reject_old_samples_max_age_secs),
            grace_ns: secs(config.creation_grace_period_secs),
            max_metadata_bytes: config.max_structured_metadata_bytes,
            max_metadata_entries: config.max_structured_metadata_entries,
        };
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
            entry_limits,
            newest: NewestByStream::new(NEWEST_LIMIT),
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
        while let Some(mut batch) = input.recv_logs().await {
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
    /// records were refused: for their labels, or for what Loki would refuse about the
    /// entry ([`entry_checks`]); those are dead-lettered and counted.
    fn split_by_lane(&mut self, batch: &LogBatch, lanes: usize) -> (LaneParts, usize) {
        // Per label set: its stream, lane and the stream's slot in `newest_local` (label
        // sets that became the same stream share a slot, so the window is applied per
        // stream), or why its labels are refused.
        let mut stream_slots: Vec<Arc<StreamKey>> = Vec::new();
        let mut newest_local: Vec<Option<i64>> = Vec::new();
        let routes: Vec<SetRoute> = batch
            .label_sets
            .iter()
            .map(|set| {
                let (key, lane) = self.stream_of(set, lanes)?;
                let slot = match stream_slots.iter().position(|k| *k == key) {
                    Some(i) => i,
                    None => {
                        newest_local.push(self.newest.get(&key));
                        stream_slots.push(key.clone());
                        stream_slots.len() - 1
                    }
                };
                Ok((key, lane, slot))
            })
            .collect();
        let now = crate::event::now_ns();
        let mut parts: LaneParts = vec![Vec::new(); lanes];
        // Per label set: where its stream sits in its lane's part.
        let mut placed: Vec<Option<usize>> = vec![None; batch.label_sets.len()];
        // Refused entries by reason: the message and the entries as streams.
        let mut refused: BTreeMap<&'static str, (String, Vec<Stream>)> = BTreeMap::new();
        let mut refused_count = 0usize;
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
        // A record's metadata pairs with their names made valid for Loki, once per record
        // (the encoder reads them twice: to size the entry, then to write it).
        let mut pairs: Vec<(Cow<'_, [u8]>, &[u8])> = Vec::new();
        for record in 0..batch.len() {
            let set = batch.label_set_of[record] as usize;
            let line = batch.line(record);
            let cut = prefix_within(line, max_line);
            if cut.len() < line.len() {
                truncated += 1;
            }
            pairs.clear();
            pairs.extend(
                batch
                    .metadata_pair_bytes(record)
                    .map(|(k, v)| (metadata_name(k), v)),
            );
            let metadata = pairs.iter().map(|(k, v)| (k.as_ref(), *v));
            let ts = batch.timestamps[record];
            let verdict = match &routes[set] {
                Ok((key, lane, slot)) => self
                    .entry_limits
                    .check(now, newest_local[*slot], ts, batch.metadata_size(record))
                    .map(|()| (key, *lane, *slot))
                    .map_err(|r| (r.reason(), r.message().to_string())),
                Err(e) => Err(("labels_refused", e.to_string())),
            };
            match verdict {
                Ok((key, lane, slot)) => {
                    let newest = &mut newest_local[slot];
                    *newest = Some(newest.map_or(ts, |n| n.max(ts)));
                    let part = &mut parts[lane];
                    let at = *placed[set].get_or_insert_with(|| {
                        let records = records_of[set];
                        let entries = EncodedEntries::with_capacity(records * per_record, records);
                        part.push((key.clone(), entries));
                        part.len() - 1
                    });
                    part[at].1.push(ts, cut.as_bytes(), metadata);
                }
                Err((reason, message)) => {
                    // Written like any entry, then read back for the dead-letter file.
                    let mut entries = EncodedEntries::default();
                    entries.push(ts, cut.as_bytes(), metadata);
                    let mut stream =
                        EncodedStream::new(labels::format(batch.labels(record)).into());
                    stream.push_part(entries);
                    refused
                        .entry(reason)
                        .or_insert_with(|| (message, Vec::new()))
                        .1
                        .push(stream.decoded());
                    refused_count += 1;
                }
            }
        }
        for (key, newest) in stream_slots.iter().zip(newest_local) {
            if let Some(ts) = newest {
                self.newest.observe(key, ts);
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
        for (reason, (message, streams)) in &refused {
            let why = Reason {
                reason,
                error_kind: None,
                status: None,
                message,
                tenant: None,
            };
            set_aside(&self.shared, streams, &why);
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
             reject_old_samples_max_age_secs = 0\ndead_letter_path = \"{}\"",
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

    #[test]
    fn metadata_names_go_out_as_they_are_or_made_valid() {
        let config: LokiSinkConfig = toml::from_str("endpoint = \"http://127.0.0.1:9\"").unwrap();
        let metrics = Telemetry::new().component("loki", "sink");
        let client = client::LokiClient::new(&config).unwrap();
        let mut sink = LokiSink::new(config, client, metrics);
        let now = crate::event::now_ns();
        let mut batch = LogBatch::default();
        let set = batch.intern_labels(&[("app".into(), "api".into())]);
        batch.push("valid names", now, set, &[("trace_id", "t1"), ("user", "u")]);
        batch.push("one to rename", now, set, &[("span_id", "s1"), ("http.method", "GET")]);
        batch.push("none", now, set, &[]);
        batch.push("valid again", now, set, &[("req_id", "r1")]);
        let (parts, refused) = sink.split_by_lane(&batch, 1);
        assert_eq!(refused, 0);
        // Read back as the dead-letter file reads entries: metadata as text pairs.
        let streams: Vec<Stream> = parts[0]
            .iter()
            .map(|(_, entries)| Stream {
                labels: Vec::new(),
                entries: entries.decoded(),
                hash: 0,
            })
            .collect();
        let records = dead_records(&streams);
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].metadata, pairs(&[("trace_id", "t1"), ("user", "u")]));
        assert_eq!(records[1].metadata, pairs(&[("span_id", "s1"), ("http_method", "GET")]));
        assert!(records[2].metadata.is_empty());
        assert_eq!(records[3].metadata, pairs(&[("req_id", "r1")]));
        assert_eq!(records[1].line, "one to rename");
    }

    #[test]
    fn entries_loki_would_refuse_are_dead_lettered_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.jsonl");
        let config: LokiSinkConfig = toml::from_str(&format!(
            "endpoint = \"http://127.0.0.1:9\"\ndead_letter_path = \"{}\"",
            dead.display()
        ))
        .unwrap();
        let metrics = Telemetry::new().component("loki", "sink");
        let client = client::LokiClient::new(&config).unwrap();
        let mut sink = LokiSink::new(config, client, metrics);
        let now = crate::event::now_ns();
        let hour = 3_600_000_000_000i64;
        let mut batch = LogBatch::default();
        let a = batch.intern_labels(&[("app".into(), "a".into())]);
        let b = batch.intern_labels(&[("app".into(), "b".into())]);
        batch.push("a newest", now, a, &[]);
        batch.push("a two hours behind", now - 2 * hour, a, &[]);
        batch.push("b alone two hours back", now - 2 * hour, b, &[]);
        batch.push("a from the future", now + hour, a, &[]);
        batch.push("a far too old", now - 24 * 8 * hour, a, &[]);
        let (parts, refused) = sink.split_by_lane(&batch, 1);
        assert_eq!(refused, 3);
        let sent: usize = parts[0].iter().map(|(_, e)| e.len()).sum();
        assert_eq!(sent, 2, "the newest of a and the only entry of b");
        // The window carries over to the next batch of the same stream.
        let mut next = LogBatch::default();
        let a = next.intern_labels(&[("app".into(), "a".into())]);
        next.push("a still behind", now - 2 * hour, a, &[]);
        assert_eq!(sink.split_by_lane(&next, 1).1, 1);
        let reasons: Vec<(String, String)> = std::fs::read_to_string(&dead)
            .unwrap()
            .lines()
            .map(|l| {
                let row: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    row["reason"].as_str().unwrap().to_string(),
                    row["record"]["line"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let has = |reason: &str, line: &str| {
            reasons.iter().any(|(r, l)| r == reason && l == line)
        };
        assert!(has("too_far_behind", "a two hours behind"), "{reasons:?}");
        assert!(has("too_new", "a from the future"), "{reasons:?}");
        assert!(has("too_old", "a far too old"), "{reasons:?}");
        assert!(has("too_far_behind", "a still behind"), "{reasons:?}");
        assert_eq!(reasons.len(), 4);
    }
}
