//! The data that flows through a pipeline: [`LogBatch`], a columnar batch of log records in
//! the same shape as the plugin contract's `log-batch` (wit/sluice.wit), and [`Ack`], the
//! acknowledgement a batch carries from its source to the sinks that take it.
//!
//! Columns rather than records: a source appends straight into one line buffer, and handing a
//! batch to a plugin moves a few buffers without per-record work.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

pub mod metrics;

pub use metrics::MetricBatch;

/// What a component's output carries: log records or metric samples. Each edge of a
/// pipeline carries one signal; `topology::prepare` refuses a consumer that does not take
/// the signal its inputs produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Logs,
    Metrics,
}

impl Signal {
    /// The name used in messages and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }
}

/// One batch on a channel: log records or metric samples.
#[derive(Debug, Clone, PartialEq)]
pub enum Events {
    Logs(LogBatch),
    Metrics(MetricBatch),
}

impl Events {
    /// Which signal the batch carries.
    pub fn signal(&self) -> Signal {
        match self {
            Events::Logs(_) => Signal::Logs,
            Events::Metrics(_) => Signal::Metrics,
        }
    }

    /// Records or samples in the batch.
    pub fn len(&self) -> usize {
        match self {
            Events::Logs(b) => b.len(),
            Events::Metrics(b) => b.len(),
        }
    }

    /// True if the batch holds no records or samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes `*_bytes` counters count: line bytes of records, or roughly the label and
    /// value bytes of samples.
    pub fn byte_size(&self) -> usize {
        match self {
            Events::Logs(b) => b.line_bytes(),
            Events::Metrics(b) => b.approx_bytes(),
        }
    }

    /// The acknowledgements the batch carries.
    pub fn acks(&self) -> &[Ack] {
        match self {
            Events::Logs(b) => &b.acks,
            Events::Metrics(b) => &b.acks,
        }
    }

    /// Takes the acknowledgements out of the batch.
    pub fn take_acks(&mut self) -> Vec<Ack> {
        match self {
            Events::Logs(b) => b.take_acks(),
            Events::Metrics(b) => b.take_acks(),
        }
    }
}

impl From<LogBatch> for Events {
    fn from(b: LogBatch) -> Self {
        Events::Logs(b)
    }
}

impl From<MetricBatch> for Events {
    fn from(b: MetricBatch) -> Self {
        Events::Metrics(b)
    }
}

/// One label: a name and its value.
pub type Label = (String, String);

/// Static labels from a config table as a sorted label set.
pub fn label_set(labels: &std::collections::BTreeMap<String, String>) -> Vec<Label> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A batch of log records stored as columns (see the `log-batch` record in wit/sluice.wit for
/// the exact layout). Offsets are `u32`: a batch is bounded far below 4 GiB by the batchers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogBatch {
    /// Every line, back to back.
    pub lines: String,
    /// End offset of each record's line in `lines`.
    pub line_ends: Vec<u32>,
    /// Per record: nanoseconds since the Unix epoch.
    pub timestamps: Vec<i64>,
    /// Distinct label sets of this batch, each sorted by name.
    pub label_sets: Vec<Vec<Label>>,
    /// Per record: index into `label_sets`.
    pub label_set_of: Vec<u32>,
    /// Every metadata key and value, back to back.
    pub metadata: String,
    /// End offsets in `metadata`, alternating key, value.
    pub metadata_ends: Vec<u32>,
    /// Per record: end index (exclusive) of its metadata pairs.
    pub record_metadata_ends: Vec<u32>,
    /// Acknowledgements of the source batches this batch holds records of.
    pub acks: Vec<Ack>,
}

/// What is wrong with a batch that breaks the column rules (a plugin's output, usually).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("column `{column}` has {found} entries for {records} records")]
    ColumnLength {
        column: &'static str,
        found: usize,
        records: usize,
    },
    #[error("column `{column}` entry {index} is out of order or out of bounds")]
    BadOffset { column: &'static str, index: usize },
    #[error("offset {offset} in column `{column}` is not on a UTF-8 character boundary")]
    NotCharBoundary { column: &'static str, offset: u32 },
    #[error("record {index} refers to label set {set}, but the batch has {sets}")]
    BadLabelSet { index: usize, set: u32, sets: usize },
}

/// A read-only view of one record of a batch.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    batch: &'a LogBatch,
    index: usize,
}

impl<'a> RecordRef<'a> {
    /// The record's line.
    pub fn line(&self) -> &'a str {
        self.batch.line(self.index)
    }
    /// Nanoseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.batch.timestamps[self.index]
    }
    /// The record's labels, sorted by name.
    pub fn labels(&self) -> &'a [Label] {
        self.batch.labels(self.index)
    }
    /// The value of label `name`, if set.
    pub fn label(&self, name: &str) -> Option<&'a str> {
        self.labels()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The record's structured metadata pairs.
    pub fn metadata(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.batch.metadata_pairs(self.index)
    }
    /// The value of metadata key `key`, if set.
    pub fn metadata_value(&self, key: &str) -> Option<&'a str> {
        self.metadata().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

fn start_of(ends: &[u32], i: usize) -> usize {
    if i == 0 {
        0
    } else {
        ends[i - 1] as usize
    }
}

impl LogBatch {
    /// An empty batch with room for `records` records of `bytes` line bytes in total.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        LogBatch {
            lines: String::with_capacity(bytes),
            line_ends: Vec::with_capacity(records),
            timestamps: Vec::with_capacity(records),
            label_set_of: Vec::with_capacity(records),
            record_metadata_ends: Vec::with_capacity(records),
            ..Default::default()
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.line_ends.len()
    }

    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.line_ends.is_empty()
    }

    /// Bytes of line text in the batch (what the byte counters count).
    pub fn line_bytes(&self) -> usize {
        self.lines.len()
    }

    /// Record `i`'s line.
    pub fn line(&self, i: usize) -> &str {
        &self.lines[start_of(&self.line_ends, i)..self.line_ends[i] as usize]
    }

    /// Record `i`'s labels.
    pub fn labels(&self, i: usize) -> &[Label] {
        &self.label_sets[self.label_set_of[i] as usize]
    }

    /// Record `i`'s metadata pairs.
    pub fn metadata_pairs(&self, i: usize) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        self.metadata_spans(i)
            .map(|(key, value)| (&self.metadata[key], &self.metadata[value]))
    }

    /// Record `i`'s metadata pairs as bytes: [`LogBatch::metadata_pairs`] without a
    /// character-boundary check per slice (the sink encodes every pair of every record).
    pub fn metadata_pair_bytes(
        &self,
        i: usize,
    ) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
        let bytes = self.metadata.as_bytes();
        self.metadata_spans(i)
            .map(move |(key, value)| (&bytes[key], &bytes[value]))
    }

    /// Record `i`'s metadata size: its number of pairs and the bytes of their keys and
    /// values together (constant time: the pairs are contiguous).
    pub fn metadata_size(&self, i: usize) -> (usize, usize) {
        let first = start_of(&self.record_metadata_ends, i);
        let last = self.record_metadata_ends[i] as usize;
        if first == last {
            return (0, 0);
        }
        let start = start_of(&self.metadata_ends, 2 * first);
        let end = self.metadata_ends[2 * last - 1] as usize;
        (last - first, end - start)
    }

    /// Where record `i`'s metadata keys and values are in `metadata`.
    fn metadata_spans(
        &self,
        i: usize,
    ) -> impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)> + Clone + '_ {
        let first = start_of(&self.record_metadata_ends, i);
        let last = self.record_metadata_ends[i] as usize;
        (first..last).map(move |p| {
            let key_start = start_of(&self.metadata_ends, 2 * p);
            let key_end = self.metadata_ends[2 * p] as usize;
            let value_end = self.metadata_ends[2 * p + 1] as usize;
            (key_start..key_end, key_end..value_end)
        })
    }

    /// A view of record `i`.
    pub fn record(&self, i: usize) -> RecordRef<'_> {
        RecordRef {
            batch: self,
            index: i,
        }
    }

    /// Views of every record, in order.
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        (0..self.len()).map(move |i| self.record(i))
    }

    /// Index of `labels` (sorted by name) in this batch's label sets, adding it if new.
    pub fn intern_labels(&mut self, labels: &[Label]) -> u32 {
        if let Some(i) = self.label_sets.iter().position(|s| s == labels) {
            return i as u32;
        }
        self.label_sets.push(labels.to_vec());
        (self.label_sets.len() - 1) as u32
    }

    /// Adds the metadata pair `key = value` to every record that has no `key` yet (a push
    /// request's trace id on records that carry none of their own).
    pub fn add_metadata_where_missing(&mut self, key: &str, value: &str) {
        let mut metadata =
            String::with_capacity(self.metadata.len() + self.len() * (key.len() + value.len()));
        let mut ends = Vec::with_capacity(self.metadata_ends.len() + self.len() * 2);
        let mut record_ends = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let mut has = false;
            for (k, v) in self.metadata_pairs(i) {
                has |= k == key;
                metadata.push_str(k);
                ends.push(metadata.len() as u32);
                metadata.push_str(v);
                ends.push(metadata.len() as u32);
            }
            if !has {
                metadata.push_str(key);
                ends.push(metadata.len() as u32);
                metadata.push_str(value);
                ends.push(metadata.len() as u32);
            }
            record_ends.push((ends.len() / 2) as u32);
        }
        self.metadata = metadata;
        self.metadata_ends = ends;
        self.record_metadata_ends = record_ends;
    }

    /// Appends one record. `label_set` must come from [`LogBatch::intern_labels`].
    pub fn push(&mut self, line: &str, timestamp: i64, label_set: u32, metadata: &[(&str, &str)]) {
        self.push_with(line, timestamp, label_set, metadata)
    }

    /// [`LogBatch::push`] with metadata pairs of any string type (owned pairs a source keeps
    /// per file, without building a slice of borrowed ones per record).
    pub fn push_with<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        line: &str,
        timestamp: i64,
        label_set: u32,
        metadata: &[(K, V)],
    ) {
        self.lines.push_str(line);
        self.line_ends.push(self.lines.len() as u32);
        self.timestamps.push(timestamp);
        self.label_set_of.push(label_set);
        for (k, v) in metadata {
            self.metadata.push_str(k.as_ref());
            self.metadata_ends.push(self.metadata.len() as u32);
            self.metadata.push_str(v.as_ref());
            self.metadata_ends.push(self.metadata.len() as u32);
        }
        self.record_metadata_ends
            .push((self.metadata_ends.len() / 2) as u32);
    }

    /// Moves every record (and acknowledgement) of `other` to the end of this batch.
    pub fn append(&mut self, mut other: LogBatch) {
        if self.is_empty() && self.acks.is_empty() {
            let acks = std::mem::take(&mut self.acks);
            *self = other;
            self.acks.extend(acks);
            return;
        }
        let line_base = self.lines.len() as u32;
        let meta_base = self.metadata.len() as u32;
        let pair_base = (self.metadata_ends.len() / 2) as u32;
        let set_map: Vec<u32> = other
            .label_sets
            .iter()
            .map(|set| self.intern_labels(set))
            .collect();
        self.lines.push_str(&other.lines);
        self.line_ends
            .extend(other.line_ends.iter().map(|e| e + line_base));
        self.timestamps.extend_from_slice(&other.timestamps);
        self.label_set_of
            .extend(other.label_set_of.iter().map(|s| set_map[*s as usize]));
        self.metadata.push_str(&other.metadata);
        self.metadata_ends
            .extend(other.metadata_ends.iter().map(|e| e + meta_base));
        self.record_metadata_ends
            .extend(other.record_metadata_ends.iter().map(|e| e + pair_base));
        self.acks.append(&mut other.acks);
    }

    /// Replaces this batch's columns with `output`, the columns a plugin returned for it,
    /// once they pass [`LogBatch::validate`]; the acknowledgements stay. On error the batch
    /// is left as it was.
    ///
    /// `output` may keep the lines (contract 0.1.1): with `lines` and `line-ends` empty
    /// while its other columns hold records, it says the records are this batch's, in the
    /// same order and with the same lines, so this batch's lines are kept instead of being
    /// copied back out of the guest and checked again. It must then have exactly as many
    /// records as this batch.
    pub fn take_plugin_output(&mut self, mut output: LogBatch) -> Result<(), BatchError> {
        let keeps_lines =
            output.lines.is_empty() && output.line_ends.is_empty() && !output.timestamps.is_empty();
        // Metadata kept (0.1.4): with the lines kept, all three metadata columns empty say
        // each record's metadata is what it was sent with (before 0.1.4 an empty
        // `record-metadata-ends` with records was invalid, so no older output reads so).
        let keeps_metadata = keeps_lines
            && output.record_metadata_ends.is_empty()
            && output.metadata_ends.is_empty()
            && output.metadata.is_empty();
        if keeps_lines {
            if output.timestamps.len() != self.len() {
                return Err(BatchError::ColumnLength {
                    column: "timestamps",
                    found: output.timestamps.len(),
                    records: self.len(),
                });
            }
            output.lines = std::mem::take(&mut self.lines);
            output.line_ends = std::mem::take(&mut self.line_ends);
        }
        if keeps_metadata {
            output.metadata = std::mem::take(&mut self.metadata);
            output.metadata_ends = std::mem::take(&mut self.metadata_ends);
            output.record_metadata_ends = std::mem::take(&mut self.record_metadata_ends);
        }
        if let Err(e) = output.validate_columns(!keeps_lines, !keeps_metadata) {
            if keeps_lines {
                self.lines = output.lines;
                self.line_ends = output.line_ends;
            }
            if keeps_metadata {
                self.metadata = output.metadata;
                self.metadata_ends = output.metadata_ends;
                self.record_metadata_ends = output.record_metadata_ends;
            }
            return Err(e);
        }
        output.acks = std::mem::take(&mut self.acks);
        *self = output;
        Ok(())
    }

    /// Checks the column rules of the contract; the host runs it on every plugin output.
    pub fn validate(&self) -> Result<(), BatchError> {
        self.validate_columns(true, true)
    }

    /// [`LogBatch::validate`]; without `lines` (or `metadata`), the line (or metadata)
    /// offsets are taken as good: they are the host's own, kept by a plugin that changed
    /// none.
    fn validate_columns(&self, lines: bool, metadata: bool) -> Result<(), BatchError> {
        let n = self.len();
        for (column, found) in [
            ("timestamps", self.timestamps.len()),
            ("label-set-of", self.label_set_of.len()),
            ("record-metadata-ends", self.record_metadata_ends.len()),
        ] {
            if found != n {
                return Err(BatchError::ColumnLength {
                    column,
                    found,
                    records: n,
                });
            }
        }
        if lines {
            check_ends("line-ends", &self.line_ends, &self.lines)?;
        }
        if !metadata {
            return self.check_label_set_indices();
        }
        check_ends("metadata-ends", &self.metadata_ends, &self.metadata)?;
        if !self.metadata_ends.len().is_multiple_of(2) {
            return Err(BatchError::ColumnLength {
                column: "metadata-ends",
                found: self.metadata_ends.len(),
                records: n,
            });
        }
        let pairs = (self.metadata_ends.len() / 2) as u32;
        let mut previous = 0;
        for (index, end) in self.record_metadata_ends.iter().enumerate() {
            if *end < previous || *end > pairs {
                return Err(BatchError::BadOffset {
                    column: "record-metadata-ends",
                    index,
                });
            }
            previous = *end;
        }
        if n > 0 && previous != pairs {
            return Err(BatchError::BadOffset {
                column: "record-metadata-ends",
                index: n - 1,
            });
        }
        self.check_label_set_indices()
    }

    fn check_label_set_indices(&self) -> Result<(), BatchError> {
        for (index, set) in self.label_set_of.iter().enumerate() {
            if *set as usize >= self.label_sets.len() {
                return Err(BatchError::BadLabelSet {
                    index,
                    set: *set,
                    sets: self.label_sets.len(),
                });
            }
        }
        Ok(())
    }

    /// Splits the batch's acknowledgements off, leaving it without any.
    pub fn take_acks(&mut self) -> Vec<Ack> {
        std::mem::take(&mut self.acks)
    }
}

fn check_ends(column: &'static str, ends: &[u32], text: &str) -> Result<(), BatchError> {
    // The common case, every offset good, in one loop without early exits (a plugin's
    // metadata has two offsets per pair, checked on every batch); the first bad offset is
    // then found by the loop below, which names it.
    let mut previous = 0;
    let mut bad = false;
    for &end in ends {
        // `is_char_boundary` is false past the end too.
        bad |= (end < previous) | !text.is_char_boundary(end as usize);
        previous = end;
    }
    if !bad && previous as usize == text.len() {
        return Ok(());
    }
    let mut previous = 0;
    for (index, end) in ends.iter().enumerate() {
        if *end < previous || *end as usize > text.len() {
            return Err(BatchError::BadOffset { column, index });
        }
        if !text.is_char_boundary(*end as usize) {
            return Err(BatchError::NotCharBoundary {
                column,
                offset: *end,
            });
        }
        previous = *end;
    }
    if previous as usize != text.len() {
        return Err(BatchError::BadOffset {
            column,
            index: ends.len(),
        });
    }
    Ok(())
}

/// `base` with every label of `over` set on top: a name in both takes `over`'s value. Used
/// where configured labels meet a record's or a pushed stream's own (the Loki sink's static
/// labels, the `loki_push` source's labels). The result is not sorted.
pub fn overlay_labels(base: &[Label], over: impl IntoIterator<Item = Label>) -> Vec<Label> {
    let mut set = base.to_vec();
    for (name, value) in over {
        set.retain(|(n, _)| *n != name);
        set.push((name, value));
    }
    set
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix_within(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The outcome a sink reports for the records of an acknowledged batch. Later outcomes never
/// improve an earlier one: one failed copy fails the whole source batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum AckStatus {
    /// Every copy reached its sink (or was dropped on purpose by policy).
    Delivered = 0,
    /// A sink refused records for good (they were counted and dead-lettered).
    Rejected = 1,
    /// A sink could not deliver; the source should let its sender retry.
    Failed = 2,
}

struct AckShared {
    status: AtomicU8,
    notify: Mutex<Option<oneshot::Sender<AckStatus>>>,
}

impl Drop for AckShared {
    fn drop(&mut self) {
        let status = match self.status.load(Ordering::Acquire) {
            0 => AckStatus::Delivered,
            1 => AckStatus::Rejected,
            _ => AckStatus::Failed,
        };
        if let Some(tx) = self.notify.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(status);
        }
    }
}

/// The acknowledgement of one source batch. Every copy (fan-out) and every batch that holds
/// some of its records keeps a clone; when the last clone is dropped the source learns the
/// worst status any sink reported. A batch dropped without a status counts as delivered only
/// if nothing marked it otherwise, so sinks mark failures explicitly.
#[derive(Clone)]
pub struct Ack(Arc<AckShared>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

impl PartialEq for Ack {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Ack {
    /// A new acknowledgement and the receiver that resolves when it is settled.
    pub fn new() -> (Ack, oneshot::Receiver<AckStatus>) {
        let (tx, rx) = oneshot::channel();
        (
            Ack(Arc::new(AckShared {
                status: AtomicU8::new(AckStatus::Delivered as u8),
                notify: Mutex::new(Some(tx)),
            })),
            rx,
        )
    }

    /// Records `status` for this acknowledgement if it is worse than what was recorded.
    pub fn mark(&self, status: AckStatus) {
        self.0.status.fetch_max(status as u8, Ordering::AcqRel);
    }
}

/// Marks every acknowledgement in `acks` with `status` and drops them.
pub fn settle(acks: Vec<Ack>, status: AckStatus) {
    for ack in acks {
        ack.mark(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three records with one label set; one acknowledgement.
    fn three() -> LogBatch {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[("job".into(), "a".into())]);
        for line in ["one", "two", "three"] {
            b.push(line, 7, set, &[]);
        }
        b.acks.push(Ack::new().0);
        b
    }

    /// `b`'s columns as a plugin would return them with the lines left out.
    fn without_lines(b: &LogBatch) -> LogBatch {
        LogBatch {
            timestamps: b.timestamps.clone(),
            label_sets: b.label_sets.clone(),
            label_set_of: b.label_set_of.clone(),
            metadata: b.metadata.clone(),
            metadata_ends: b.metadata_ends.clone(),
            record_metadata_ends: b.record_metadata_ends.clone(),
            ..LogBatch::default()
        }
    }

    #[test]
    fn metadata_size_counts_the_pairs_and_their_bytes() {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[]);
        b.push("a", 1, set, &[("k", "vv"), ("key", "v")]);
        b.push("b", 1, set, &[]);
        b.push("c", 1, set, &[("x", "yz")]);
        assert_eq!(b.metadata_size(0), (2, 7));
        assert_eq!(b.metadata_size(1), (0, 0));
        assert_eq!(b.metadata_size(2), (1, 3));
        for i in 0..3 {
            let pairs: Vec<_> = b.metadata_pairs(i).collect();
            let bytes: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert_eq!(b.metadata_size(i), (pairs.len(), bytes));
        }
    }

    #[test]
    fn plugin_output_that_keeps_the_lines_keeps_them_and_takes_the_rest() {
        let mut b = three();
        let mut out = without_lines(&b);
        out.timestamps = vec![1, 2, 3];
        b.take_plugin_output(out).unwrap();
        assert_eq!((b.line(0), b.line(2)), ("one", "three"));
        assert_eq!(b.timestamps, [1, 2, 3]);
        assert_eq!(b.acks.len(), 1, "the acknowledgements stay");
    }

    #[test]
    fn plugin_output_that_keeps_the_metadata_keeps_it_and_takes_the_rest() {
        let mut b = three();
        b.metadata = "kvk2v2".into();
        b.metadata_ends = vec![1, 2, 4, 6];
        b.record_metadata_ends = vec![1, 1, 2];
        let mut out = without_lines(&b);
        out.timestamps = vec![4, 5, 6];
        out.metadata.clear();
        out.metadata_ends.clear();
        out.record_metadata_ends.clear();
        b.take_plugin_output(out).unwrap();
        assert_eq!(b.metadata_pairs(2).collect::<Vec<_>>(), [("k2", "v2")]);
        assert_eq!((b.line(1), b.timestamps[1]), ("two", 5));
        // Metadata cannot be kept on its own: with the lines sent back, empty metadata
        // columns are a batch with the wrong number of entries.
        let mut out = without_lines(&b);
        out.lines = "abc".into();
        out.line_ends = vec![1, 2, 3];
        out.record_metadata_ends.clear();
        assert!(b.take_plugin_output(out).is_err());
        assert_eq!(
            b.metadata_pairs(0).collect::<Vec<_>>(),
            [("k", "v")],
            "left as it was"
        );
        // A bad output that kept both leaves both.
        let mut bad = without_lines(&b);
        bad.metadata.clear();
        bad.metadata_ends.clear();
        bad.record_metadata_ends.clear();
        bad.label_set_of[0] = 9;
        assert!(b.take_plugin_output(bad).is_err());
        assert_eq!((b.line(0), b.metadata_pairs(2).count()), ("one", 1));
    }

    #[test]
    fn plugin_output_with_its_own_lines_replaces_them() {
        let mut b = three();
        let mut out = without_lines(&b);
        out.lines = "ab".into();
        out.line_ends = vec![1, 1, 2];
        b.take_plugin_output(out).unwrap();
        assert_eq!((b.line(0), b.line(1), b.line(2)), ("a", "", "b"));
        // No records at all is an ordinary (empty) batch, not "lines kept".
        let mut b = three();
        b.take_plugin_output(LogBatch::default()).unwrap();
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn bad_plugin_output_leaves_the_batch_as_it_was() {
        let mut b = three();
        let mut fewer = without_lines(&b);
        fewer.timestamps.pop();
        fewer.label_set_of.pop();
        fewer.record_metadata_ends.pop();
        let e = b.take_plugin_output(fewer).unwrap_err();
        assert!(e.to_string().contains("2 entries for 3 records"), "{e}");
        let mut bad_set = without_lines(&b);
        bad_set.label_set_of[1] = 9;
        assert!(b.take_plugin_output(bad_set).is_err());
        assert_eq!((b.len(), b.line(1), b.timestamps[0]), (3, "two", 7));
        assert_eq!(b.acks.len(), 1);
    }

    #[test]
    fn overlaid_labels_win_and_base_labels_stay() {
        let l = |pairs: &[(&str, &str)]| -> Vec<Label> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let mut set = overlay_labels(
            &l(&[("job", "base"), ("env", "prod")]),
            l(&[("job", "app"), ("level", "info")]),
        );
        set.sort();
        assert_eq!(
            set,
            l(&[("env", "prod"), ("job", "app"), ("level", "info")])
        );
        assert_eq!(overlay_labels(&[], l(&[("a", "1")])), l(&[("a", "1")]));
    }

    fn sample() -> LogBatch {
        let mut b = LogBatch::default();
        let a = b.intern_labels(&[("app".into(), "api".into())]);
        let c = b.intern_labels(&[("app".into(), "db".into())]);
        b.push("first é", 1, a, &[("trace_id", "abc")]);
        b.push("second", 2, c, &[]);
        b.push("third", 3, a, &[("k", "v"), ("k2", "v2")]);
        b
    }

    #[test]
    fn records_read_back_their_columns() {
        let b = sample();
        assert_eq!(b.len(), 3);
        b.validate().unwrap();
        let r: Vec<_> = b.records().map(|r| r.line()).collect();
        assert_eq!(r, ["first é", "second", "third"]);
        assert_eq!(b.record(1).label("app"), Some("db"));
        assert_eq!(b.record(0).metadata_value("trace_id"), Some("abc"));
        assert_eq!(b.record(1).metadata().count(), 0);
        assert_eq!(
            b.record(2).metadata().collect::<Vec<_>>(),
            [("k", "v"), ("k2", "v2")]
        );
        assert_eq!(b.label_sets.len(), 2);
    }

    #[test]
    fn append_reinterns_labels_and_shifts_offsets() {
        let mut a = sample();
        let b = sample();
        a.append(b);
        a.validate().unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a.label_sets.len(), 2);
        assert_eq!(a.record(5).line(), "third");
        assert_eq!(a.record(5).metadata_value("k2"), Some("v2"));
        assert_eq!(a.record(4).label("app"), Some("db"));
    }

    #[test]
    fn validate_rejects_broken_columns() {
        let mut b = sample();
        b.timestamps.pop();
        assert!(matches!(b.validate(), Err(BatchError::ColumnLength { .. })));
        let mut b = sample();
        b.line_ends[0] = 7; // inside 'é'
        assert!(matches!(
            b.validate(),
            Err(BatchError::NotCharBoundary { .. })
        ));
        let mut b = sample();
        b.label_set_of[1] = 9;
        assert!(matches!(b.validate(), Err(BatchError::BadLabelSet { .. })));
    }

    #[test]
    fn prefix_within_never_splits_a_character() {
        assert_eq!(prefix_within("abé", 3), "ab");
        assert_eq!(prefix_within("abé", 4), "abé");
        assert_eq!(prefix_within("abc", 10), "abc");
    }

    #[tokio::test]
    async fn ack_reports_worst_status_after_last_clone() {
        let (ack, rx) = Ack::new();
        let copy = ack.clone();
        ack.mark(AckStatus::Delivered);
        drop(ack);
        copy.mark(AckStatus::Failed);
        drop(copy);
        assert_eq!(rx.await.unwrap(), AckStatus::Failed);
    }

    #[test]
    fn metadata_is_added_only_where_the_key_is_missing() {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[]);
        b.push("a", 1, set, &[("trace_id", "own"), ("x", "1")]);
        b.push("b", 2, set, &[]);
        b.add_metadata_where_missing("trace_id", "request");
        assert_eq!(b.record(0).metadata_value("trace_id"), Some("own"));
        assert_eq!(b.record(0).metadata_value("x"), Some("1"));
        assert_eq!(b.record(1).metadata_value("trace_id"), Some("request"));
        assert_eq!(b.validate(), Ok(()));
    }
}
