//! [`Metrics`]: the view of a `metric-batch` a metric plugin works on (contract 0.1.3).
//!
//! A batch is a list of series (label sets holding `__name__`) and samples pointing at
//! them. Plugins mostly change series, not samples: relabel, redact a label value, drop a
//! series. So the view hands out the series to change in place ([`Metrics::series_mut`],
//! [`Metrics::retain_series`]); [`Metrics::into_reply`] then puts the batch back in the
//! contract's shape (each set sorted by name, series that became equal merged, samples of
//! dropped series gone).

use std::collections::HashMap;

use crate::bindings::sluice::plugin::types::{MetricBatch, MetricFamily};

/// One label of a series: name and value.
pub type Label = (String, String);

/// The label that holds a series' metric name.
pub const NAME_LABEL: &str = "__name__";

/// A metric batch as a plugin sees it.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    batch: MetricBatch,
    /// Per series: false once dropped.
    kept: Vec<bool>,
}

impl From<MetricBatch> for Metrics {
    fn from(batch: MetricBatch) -> Self {
        let kept = vec![true; batch.label_sets.len()];
        Metrics { batch, kept }
    }
}

impl Metrics {
    /// Samples in the batch (of series not dropped so far, and of dropped ones until
    /// [`Metrics::into_reply`]).
    pub fn len(&self) -> usize {
        self.batch.values.len()
    }

    /// True if the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.batch.values.is_empty()
    }

    /// Every series of the batch (label sets sorted by name; a dropped series is still
    /// listed until the reply).
    pub fn series(&self) -> &[Vec<Label>] {
        &self.batch.label_sets
    }

    /// The series to change in place. A set left unsorted or with a repeated label is
    /// sorted and deduplicated (the last value wins) by [`Metrics::into_reply`]; a set left
    /// without `__name__` is dropped there.
    pub fn series_mut(&mut self) -> &mut [Vec<Label>] {
        &mut self.batch.label_sets
    }

    /// Keeps only the series `keep` says yes to; the samples of the others are dropped.
    pub fn retain_series(&mut self, mut keep: impl FnMut(&[Label]) -> bool) {
        for (set, kept) in self.batch.label_sets.iter().zip(self.kept.iter_mut()) {
            if *kept && !keep(set) {
                *kept = false;
            }
        }
    }

    /// Drops series `index` and its samples.
    pub fn drop_series(&mut self, index: usize) {
        if let Some(kept) = self.kept.get_mut(index) {
            *kept = false;
        }
    }

    /// Samples as (series index, value, milliseconds since the epoch).
    pub fn samples(&self) -> impl Iterator<Item = (usize, f64, i64)> + '_ {
        self.batch
            .series_of
            .iter()
            .zip(&self.batch.values)
            .zip(&self.batch.timestamps)
            .map(|((&s, &v), &t)| (s as usize, v, t))
    }

    /// The family metadata of the batch.
    pub fn families(&self) -> &[MetricFamily] {
        &self.batch.families
    }

    /// The family metadata, to rename or drop families.
    pub fn families_mut(&mut self) -> &mut Vec<MetricFamily> {
        &mut self.batch.families
    }

    /// The batch in the contract's shape: each set sorted by name with one value per
    /// label, series without a name dropped, equal series merged, samples of dropped
    /// series removed, and series no sample refers to left out.
    pub fn into_reply(self) -> MetricBatch {
        let Metrics { batch, kept } = self;
        let MetricBatch {
            label_sets,
            series_of,
            values,
            timestamps,
            families,
        } = batch;
        // Old series index -> new one (None: dropped).
        let mut new_index: Vec<Option<u32>> = Vec::with_capacity(label_sets.len());
        let mut seen: HashMap<Vec<Label>, u32> = HashMap::new();
        let mut out_sets: Vec<Vec<Label>> = Vec::new();
        for (mut set, kept) in label_sets.into_iter().zip(kept) {
            normalise(&mut set);
            let named = set.iter().any(|(k, v)| k == NAME_LABEL && !v.is_empty());
            if !kept || !named {
                new_index.push(None);
                continue;
            }
            let index = *seen.entry(set).or_insert_with_key(|set| {
                out_sets.push(set.clone());
                (out_sets.len() - 1) as u32
            });
            new_index.push(Some(index));
        }
        let mut reply = MetricBatch {
            label_sets: out_sets,
            series_of: Vec::with_capacity(series_of.len()),
            values: Vec::with_capacity(values.len()),
            timestamps: Vec::with_capacity(timestamps.len()),
            families,
        };
        for ((s, v), t) in series_of.into_iter().zip(values).zip(timestamps) {
            if let Some(Some(n)) = new_index.get(s as usize) {
                reply.series_of.push(*n);
                reply.values.push(v);
                reply.timestamps.push(t);
            }
        }
        reply
    }
}

/// Sorts a label set by name and keeps one value per name (the last one given).
fn normalise(set: &mut Vec<Label>) {
    if set.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    // A stable sort keeps equal names in the order given, so the last is the latest.
    set.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Label> = Vec::with_capacity(set.len());
    for label in set.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == label.0 => *last = label,
            _ => out.push(label),
        }
    }
    *set = out;
}

/// The value of label `name` in `set`, if present.
pub fn label<'a>(set: &'a [Label], name: &str) -> Option<&'a str> {
    set.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Sets label `name` to `value` in `set` (added if missing; the set is re-sorted by the
/// reply).
pub fn set_label(set: &mut Vec<Label>, name: &str, value: String) {
    match set.iter_mut().find(|(k, _)| k == name) {
        Some(l) => l.1 = value,
        None => set.push((name.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)]) -> Vec<Label> {
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn batch() -> Metrics {
        Metrics::from(MetricBatch {
            label_sets: vec![
                series(&[("__name__", "a"), ("user", "x")]),
                series(&[("__name__", "a"), ("user", "y")]),
                series(&[("__name__", "b")]),
            ],
            series_of: vec![0, 1, 2, 0],
            values: vec![1.0, 2.0, 3.0, 4.0],
            timestamps: vec![10, 10, 10, 20],
            families: Vec::new(),
        })
    }

    #[test]
    fn series_made_equal_are_merged_and_their_samples_kept() {
        let mut m = batch();
        for set in m.series_mut() {
            set.retain(|(k, _)| k != "user");
        }
        let reply = m.into_reply();
        assert_eq!(reply.label_sets.len(), 2);
        assert_eq!(reply.series_of, vec![0, 0, 1, 0]);
        assert_eq!(reply.values, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn dropped_and_unnamed_series_lose_their_samples() {
        let mut m = batch();
        m.retain_series(|s| label(s, "user") != Some("y"));
        m.series_mut()[2].clear();
        let reply = m.into_reply();
        assert_eq!(
            reply.label_sets,
            vec![series(&[("__name__", "a"), ("user", "x")])]
        );
        assert_eq!(reply.values, vec![1.0, 4.0]);
        assert_eq!(reply.timestamps, vec![10, 20]);
    }

    #[test]
    fn changed_sets_are_sorted_with_one_value_per_name() {
        let mut m = batch();
        set_label(&mut m.series_mut()[2], "aaa", "1".into());
        m.series_mut()[2].push(("aaa".into(), "2".into()));
        let reply = m.into_reply();
        assert_eq!(
            reply.label_sets[2],
            series(&[("__name__", "b"), ("aaa", "2")])
        );
    }
}
