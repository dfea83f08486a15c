//! [`MetricBatch`]: a columnar batch of metric samples, in the shape of the plugin
//! contract's `metric-batch` (wit/sluice.wit), and the family metadata that goes with it.
//!
//! The model is Prometheus's: a series is a label set that holds its name as `__name__`,
//! a sample is one value of a series at a time (milliseconds since the epoch). A histogram
//! is its `_bucket` (with `le`), `_sum` and `_count` series, as in the exposition formats
//! and remote write 1.0. Family metadata (type, help, unit) is kept by family name beside
//! the samples; a sample's family is found from its name (`foo_total` belongs to `foo`).
//! Relabelling `__name__` therefore loses the metadata of the renamed series, as it does
//! in Prometheus.

use super::{Ack, Label};

/// The label that holds a series' metric name.
pub const NAME_LABEL: &str = "__name__";

/// The bit pattern Prometheus uses for a staleness marker: a sample with this value says
/// the series ended (its target went away, or stopped exposing it). A NaN, so compare
/// bits with [`is_stale`], never values.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker's value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True if `value` is a staleness marker (not merely any NaN).
pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// A metric family's type, as the exposition formats name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// The name in a `# TYPE` line (OpenMetrics spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The type named in a `# TYPE` line of either format (`untyped` is the text format's
    /// `unknown`); None for a name neither format has.
    pub fn parse(name: &str) -> Option<MetricType> {
        Some(match name {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The suffixes a sample name of a family of this type may add to the family name.
    pub fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            _ => &[],
        }
    }
}

/// What a batch knows about one metric family.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// The family name (`http_requests`, for samples `http_requests_total`).
    pub name: String,
    pub kind: MetricType,
    pub help: String,
    /// The unit (`seconds`), empty if none was declared.
    pub unit: String,
}

/// A batch of metric samples stored as columns.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricBatch {
    /// Distinct series of this batch: label sets sorted by name, each holding `__name__`.
    pub label_sets: Vec<Vec<Label>>,
    /// Per sample: index into `label_sets`.
    pub series_of: Vec<u32>,
    /// Per sample: its value (a staleness marker is [`stale_nan`]).
    pub values: Vec<f64>,
    /// Per sample: milliseconds since the Unix epoch.
    pub timestamps: Vec<i64>,
    /// Metadata of the families of this batch's samples, each name once.
    pub families: Vec<MetricFamily>,
    /// Acknowledgements of the source batches this batch holds samples of.
    pub acks: Vec<Ack>,
}

/// What is wrong with a metric batch that breaks the column rules.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricBatchError {
    #[error("column `{column}` has {found} entries for {samples} samples")]
    ColumnLength {
        column: &'static str,
        found: usize,
        samples: usize,
    },
    #[error("sample {index} refers to series {series}, but the batch has {sets}")]
    BadSeries {
        index: usize,
        series: u32,
        sets: usize,
    },
    #[error("series {index} has no `__name__` label, or an empty one")]
    NoName { index: usize },
    #[error("series {index} is not sorted by label name, or repeats a label")]
    Unsorted { index: usize },
}

impl MetricBatch {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Roughly the bytes the batch's samples stand for (label text of each sample's series
    /// plus its value and timestamp): what `*_bytes` counters count for metrics.
    pub fn approx_bytes(&self) -> usize {
        let set_bytes: Vec<usize> = self
            .label_sets
            .iter()
            .map(|s| s.iter().map(|(k, v)| k.len() + v.len()).sum())
            .collect();
        self.series_of
            .iter()
            .map(|&s| set_bytes.get(s as usize).copied().unwrap_or(0) + 16)
            .sum()
    }

    /// Index of `labels` (sorted, holding `__name__`) in `label_sets`, added if new.
    /// Linear in the number of series: callers building large batches keep their own index
    /// and push with [`MetricBatch::push_series`].
    pub fn intern_series(&mut self, labels: &[Label]) -> u32 {
        if let Some(i) = self.label_sets.iter().position(|s| s == labels) {
            return i as u32;
        }
        self.push_series(labels.to_vec())
    }

    /// Adds a series without looking for an equal one; returns its index.
    pub fn push_series(&mut self, labels: Vec<Label>) -> u32 {
        self.label_sets.push(labels);
        (self.label_sets.len() - 1) as u32
    }

    /// Adds one sample of series `series`.
    pub fn push(&mut self, series: u32, value: f64, timestamp_ms: i64) {
        self.series_of.push(series);
        self.values.push(value);
        self.timestamps.push(timestamp_ms);
    }

    /// The metric name of series `series`.
    pub fn series_name(&self, series: u32) -> &str {
        series_name(&self.label_sets[series as usize])
    }

    /// Adds `family` unless a family of that name is already known.
    pub fn add_family(&mut self, family: MetricFamily) {
        if !self.families.iter().any(|f| f.name == family.name) {
            self.families.push(family);
        }
    }

    /// The family metadata sample name `name` belongs to, if the batch has it: a family
    /// named `name`, or named `name` less a suffix its type allows (`foo` for `foo_total`).
    pub fn family_of(&self, name: &str) -> Option<&MetricFamily> {
        family_of(&self.families, name)
    }

    /// Takes the acknowledgements out of the batch (to settle them after a write).
    pub fn take_acks(&mut self) -> Vec<Ack> {
        std::mem::take(&mut self.acks)
    }

    /// Moves `other`'s samples, series, families and acknowledgements into this batch.
    pub fn append(&mut self, mut other: MetricBatch) {
        let base = self.label_sets.len() as u32;
        self.label_sets.append(&mut other.label_sets);
        self.series_of
            .extend(other.series_of.iter().map(|s| s + base));
        self.values.append(&mut other.values);
        self.timestamps.append(&mut other.timestamps);
        for f in other.families {
            self.add_family(f);
        }
        self.acks.append(&mut other.acks);
    }

    /// Checks the column rules: one entry per sample in each column, series indices in
    /// range, every series named and sorted.
    pub fn validate(&self) -> Result<(), MetricBatchError> {
        let samples = self.values.len();
        for (column, found) in [
            ("series-of", self.series_of.len()),
            ("timestamps", self.timestamps.len()),
        ] {
            if found != samples {
                return Err(MetricBatchError::ColumnLength {
                    column,
                    found,
                    samples,
                });
            }
        }
        let sets = self.label_sets.len();
        for (index, &series) in self.series_of.iter().enumerate() {
            if series as usize >= sets {
                return Err(MetricBatchError::BadSeries {
                    index,
                    series,
                    sets,
                });
            }
        }
        for (index, set) in self.label_sets.iter().enumerate() {
            if series_name(set).is_empty() {
                return Err(MetricBatchError::NoName { index });
            }
            if set.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(MetricBatchError::Unsorted { index });
            }
        }
        Ok(())
    }
}

/// The value of `__name__` in a label set (empty if it has none).
pub fn series_name(labels: &[Label]) -> &str {
    labels
        .iter()
        .find(|(k, _)| k == NAME_LABEL)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The family in `families` that sample name `name` belongs to (see
/// [`MetricBatch::family_of`]).
pub fn family_of<'a>(families: &'a [MetricFamily], name: &str) -> Option<&'a MetricFamily> {
    if let Some(f) = families.iter().find(|f| f.name == name) {
        return Some(f);
    }
    families.iter().find(|f| {
        name.strip_prefix(f.name.as_str())
            .is_some_and(|suffix| f.kind.sample_suffixes().contains(&suffix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, labels: &[(&str, &str)]) -> Vec<Label> {
        let mut set: Vec<Label> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        set.push((NAME_LABEL.to_string(), name.to_string()));
        set.sort();
        set
    }

    #[test]
    fn a_staleness_marker_is_told_apart_from_other_nans() {
        assert!(is_stale(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale(f64::NAN));
        assert!(!is_stale(1.0));
    }

    #[test]
    fn samples_find_their_family_through_the_suffixes_its_type_allows() {
        let mut b = MetricBatch::default();
        b.add_family(MetricFamily {
            name: "http_requests".into(),
            kind: MetricType::Counter,
            ..Default::default()
        });
        b.add_family(MetricFamily {
            name: "latency_seconds".into(),
            kind: MetricType::Histogram,
            ..Default::default()
        });
        assert_eq!(
            b.family_of("http_requests_total").unwrap().name,
            "http_requests"
        );
        assert_eq!(
            b.family_of("latency_seconds_bucket").unwrap().name,
            "latency_seconds"
        );
        assert!(b.family_of("http_requests_bucket").is_none());
        assert!(b.family_of("other").is_none());
    }

    #[test]
    fn validate_finds_broken_columns_and_series() {
        let mut b = MetricBatch::default();
        let s = b.push_series(series("up", &[("job", "a")]));
        b.push(s, 1.0, 1000);
        assert_eq!(b.validate(), Ok(()));
        b.timestamps.pop();
        assert!(matches!(
            b.validate(),
            Err(MetricBatchError::ColumnLength { .. })
        ));
        b.timestamps.push(1000);
        b.series_of[0] = 3;
        assert!(matches!(
            b.validate(),
            Err(MetricBatchError::BadSeries { .. })
        ));
        b.series_of[0] = 0;
        b.label_sets[0].reverse();
        assert_eq!(b.validate(), Err(MetricBatchError::Unsorted { index: 0 }));
        b.label_sets[0] = vec![("job".into(), "a".into())];
        assert_eq!(b.validate(), Err(MetricBatchError::NoName { index: 0 }));
    }

    #[test]
    fn append_renumbers_the_series_of_the_appended_batch() {
        let mut a = MetricBatch::default();
        let s = a.push_series(series("a", &[]));
        a.push(s, 1.0, 1);
        let mut b = MetricBatch::default();
        let s = b.push_series(series("b", &[]));
        b.push(s, 2.0, 2);
        a.append(b);
        assert_eq!(a.series_name(a.series_of[1]), "b");
        assert_eq!(a.validate(), Ok(()));
    }
}
