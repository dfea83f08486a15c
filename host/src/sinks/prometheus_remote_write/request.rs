//! A remote-write request being filled: samples of incoming [`MetricBatch`]es grouped by
//! series (labels sorted by name), with the acknowledgements of every batch that put samples
//! in it and the metadata of its families, turned into a [`WriteRequest`] when it is sent.

use std::collections::HashMap;
use std::ops::Range;

use tokio::time::Instant;

use super::proto::{self, WriteRequest};
use crate::event::metrics::{family_of, series_name, MetricFamily};
use crate::event::{settle, Ack, AckStatus, Label, MetricBatch};

/// Bytes a sample stands for besides its labels (value and timestamp), as
/// [`MetricBatch::approx_bytes`] counts them.
const SAMPLE_BYTES: usize = 16;

/// One series of a request.
struct PendingSeries {
    labels: Vec<Label>,
    label_bytes: usize,
    samples: Vec<proto::Sample>,
}

/// The acknowledgements of a request's batches: settled with the request's outcome, or
/// marked failed if dropped unsettled (the sink's task aborted at a shutdown timeout
/// while retrying), so a source never takes samples that were not sent as delivered.
#[derive(Default)]
pub struct RequestAcks(Vec<Ack>);

impl RequestAcks {
    /// Marks every acknowledgement with `status`.
    pub fn settle(mut self, status: AckStatus) {
        settle(std::mem::take(&mut self.0), status);
    }
}

impl Drop for RequestAcks {
    fn drop(&mut self) {
        settle(std::mem::take(&mut self.0), AckStatus::Failed);
    }
}

/// A request being filled.
#[derive(Default)]
pub struct PendingRequest {
    series: Vec<PendingSeries>,
    index: HashMap<Vec<Label>, usize>,
    families: Vec<MetricFamily>,
    samples: usize,
    bytes: usize,
    acks: RequestAcks,
    /// When its first sample came (the batch timeout counts from here).
    first_at: Option<Instant>,
}

/// A request ready to send, with what settling and counting it needs.
pub struct ReadyRequest {
    pub write: WriteRequest,
    pub samples: usize,
    /// Label text of each sample's series plus 16 per sample (what `*_bytes` count).
    pub bytes: usize,
    pub acks: RequestAcks,
}

/// Samples a batch holds that point at a series it does not have.
#[derive(Debug, PartialEq, Eq)]
pub struct BadSeries(pub usize);

impl PendingRequest {
    /// Samples in the request.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// When its first sample came, if it has any.
    pub fn first_at(&self) -> Option<Instant> {
        self.first_at
    }

    /// Adds samples `range` of `batch`, a clone of the batch's acknowledgements and, with
    /// `metadata`, its families. Samples whose series index is out of range are skipped and
    /// counted in the result (the caller discards them loudly).
    pub fn add(
        &mut self,
        batch: &MetricBatch,
        range: Range<usize>,
        metadata: bool,
    ) -> Result<(), BadSeries> {
        if range.is_empty() {
            return Ok(());
        }
        self.first_at.get_or_insert_with(Instant::now);
        self.acks.0.extend(batch.acks.iter().cloned());
        if metadata {
            for family in &batch.families {
                if !self.families.iter().any(|f| f.name == family.name) {
                    self.families.push(family.clone());
                }
            }
        }
        // The request's slot of each of the batch's series, found once per series.
        let mut slots: Vec<Option<usize>> = vec![None; batch.label_sets.len()];
        let mut bad = 0;
        for i in range {
            let (Some(&series), Some(&value), Some(&timestamp)) = (
                batch.series_of.get(i),
                batch.values.get(i),
                batch.timestamps.get(i),
            ) else {
                bad += 1;
                continue;
            };
            let Some(labels) = batch.label_sets.get(series as usize) else {
                bad += 1;
                continue;
            };
            let slot = match slots[series as usize] {
                Some(slot) => slot,
                None => {
                    let slot = self.slot_of(labels);
                    slots[series as usize] = Some(slot);
                    slot
                }
            };
            let pending = &mut self.series[slot];
            pending.samples.push(proto::Sample { value, timestamp });
            self.samples += 1;
            self.bytes += pending.label_bytes + SAMPLE_BYTES;
        }
        if bad > 0 {
            return Err(BadSeries(bad));
        }
        Ok(())
    }

    fn slot_of(&mut self, labels: &[Label]) -> usize {
        if let Some(&slot) = self.index.get(labels) {
            return slot;
        }
        let mut sorted = labels.to_vec();
        // Batches keep their label sets sorted; a receiver requires it, so make sure.
        if !sorted.windows(2).all(|w| w[0].0 <= w[1].0) {
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let slot = self.series.len();
        self.series.push(PendingSeries {
            label_bytes: sorted.iter().map(|(k, v)| k.len() + v.len()).sum(),
            labels: sorted,
            samples: Vec::new(),
        });
        self.index.insert(labels.to_vec(), slot);
        slot
    }

    /// Takes what the request holds (None if it has no sample), leaving it empty.
    pub fn take(&mut self) -> Option<ReadyRequest> {
        if self.samples == 0 {
            // Acknowledgements of batches that brought no sample settle as they are.
            self.acks.0.clear();
            return None;
        }
        let taken = std::mem::take(self);
        let mut metadata = Vec::new();
        let mut timeseries = Vec::with_capacity(taken.series.len());
        for mut series in taken.series {
            if !taken.families.is_empty() {
                if let Some(f) = family_of(&taken.families, series_name(&series.labels)) {
                    if !metadata
                        .iter()
                        .any(|m: &proto::MetricMetadata| m.metric_family_name == f.name)
                    {
                        metadata.push(proto::MetricMetadata {
                            r#type: proto::WireMetricType::from(f.kind) as i32,
                            metric_family_name: f.name.clone(),
                            help: f.help.clone(),
                            unit: f.unit.clone(),
                        });
                    }
                }
            }
            // A receiver appends a series' samples in the order given and refuses one
            // older than the last: send them in time order (stable, so a staleness
            // marker stays after a sample of the same time).
            if !series
                .samples
                .windows(2)
                .all(|w| w[0].timestamp <= w[1].timestamp)
            {
                series.samples.sort_by_key(|s| s.timestamp);
            }
            timeseries.push(proto::TimeSeries {
                labels: series
                    .labels
                    .into_iter()
                    .map(|(name, value)| proto::Label { name, value })
                    .collect(),
                samples: series.samples,
            });
        }
        Some(ReadyRequest {
            write: WriteRequest {
                timeseries,
                metadata,
            },
            samples: taken.samples,
            bytes: taken.bytes,
            acks: taken.acks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::metrics::{stale_nan, MetricType, NAME_LABEL, STALE_NAN_BITS};

    fn labels(name: &str, job: &str) -> Vec<Label> {
        vec![
            (NAME_LABEL.to_string(), name.to_string()),
            ("job".to_string(), job.to_string()),
        ]
    }

    #[test]
    fn samples_are_grouped_by_series_in_time_order_with_their_family() {
        let mut batch = MetricBatch::default();
        let a = batch.push_series(labels("a_total", "x"));
        let b = batch.push_series(labels("b", "x"));
        batch.push(a, 1.0, 2000);
        batch.push(b, 5.0, 1000);
        batch.push(a, 0.5, 1000);
        batch.push(b, stale_nan(), 2000);
        batch.add_family(MetricFamily {
            name: "a".into(),
            kind: MetricType::Counter,
            help: "A things".into(),
            unit: String::new(),
        });
        batch.add_family(MetricFamily {
            name: "unused".into(),
            ..Default::default()
        });
        let mut pending = PendingRequest::default();
        pending.add(&batch, 0..4, true).unwrap();
        let ready = pending.take().unwrap();
        assert_eq!(ready.samples, 4);
        let series = &ready.write.timeseries;
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels[0].value, "a_total");
        let times: Vec<i64> = series[0].samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [1000, 2000]);
        assert_eq!(series[0].samples[0].value, 0.5);
        assert_eq!(series[1].samples[1].value.to_bits(), STALE_NAN_BITS);
        assert_eq!(ready.write.metadata.len(), 1, "only families with samples");
        assert_eq!(ready.write.metadata[0].metric_family_name, "a");
        assert_eq!(ready.write.metadata[0].r#type, 1);
        assert!(pending.take().is_none(), "taken empty");
    }

    #[test]
    fn acknowledgements_of_a_request_dropped_unsent_are_marked_failed() {
        let mut batch = MetricBatch::default();
        let s = batch.push_series(labels("m", "x"));
        batch.push(s, 1.0, 1);
        let (ack, mut rx) = Ack::new();
        batch.acks.push(ack);
        let mut pending = PendingRequest::default();
        pending.add(&batch, 0..1, false).unwrap();
        drop(batch);
        drop(pending.take());
        assert_eq!(rx.try_recv(), Ok(AckStatus::Failed));
    }

    #[test]
    fn unsorted_labels_are_sorted_and_bad_series_indices_counted() {
        let mut batch = MetricBatch::default();
        let s = batch.push_series(vec![
            ("z".to_string(), "1".to_string()),
            (NAME_LABEL.to_string(), "m".to_string()),
        ]);
        batch.push(s, 1.0, 1);
        batch.push(7, 1.0, 2);
        let mut pending = PendingRequest::default();
        assert_eq!(pending.add(&batch, 0..2, false), Err(BadSeries(1)));
        let ready = pending.take().unwrap();
        assert_eq!(ready.samples, 1);
        let names: Vec<&str> = ready.write.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, [NAME_LABEL, "z"]);
        assert!(ready.write.metadata.is_empty());
    }
}
