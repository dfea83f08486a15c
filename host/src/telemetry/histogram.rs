//! Plugin histograms: a family of series that takes a plugin's values a batch at a time.
//!
//! prometheus-client's histogram with exemplars takes two locks per observed value (its
//! exemplar lock and its histogram's own), and its API has no way to add many values at
//! once; red-metrics observes one value per request, so those locks were the largest part
//! of the metric step's host time. A [`PluginHistogram`] takes all of a host call's values
//! under one lock. Its exemplar type cannot be built outside that crate, so these families
//! are not in its registry: [`PluginHistogramFamily::render`] writes them in the OpenMetrics
//! text exactly as prometheus-client writes its own histograms (a unit test renders the
//! same observations both ways and compares), after the registry's families.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use super::metrics::DynLabels;

/// One series: sum, count, per-bucket counts (the last is `+Inf`) and per-bucket exemplar.
#[derive(Clone, Debug)]
pub struct PluginHistogram(Arc<Mutex<HistogramState>>);

#[derive(Debug)]
struct HistogramState {
    /// Upper bounds, without `+Inf`.
    bounds: Arc<Vec<f64>>,
    sum: f64,
    count: u64,
    /// Non-cumulative counts, one per bound and one for `+Inf`.
    counts: Vec<u64>,
    /// The last exemplar of each bucket: its labels and value.
    exemplars: Vec<Option<(DynLabels, f64)>>,
}

impl PluginHistogram {
    fn new(bounds: Arc<Vec<f64>>) -> PluginHistogram {
        let buckets = bounds.len() + 1;
        PluginHistogram(Arc::new(Mutex::new(HistogramState {
            bounds,
            sum: 0.0,
            count: 0,
            counts: vec![0; buckets],
            exemplars: vec![None; buckets],
        })))
    }

    /// Observes each finite value of `values`; `exemplar`, when given, goes with the last
    /// one (if it is finite). A value falls in the first bucket whose bound is at least it.
    pub fn observe_many(&self, values: &[f64], exemplar: Option<DynLabels>) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        let mut last_bucket = None;
        for &v in values {
            if !v.is_finite() {
                last_bucket = None;
                continue;
            }
            let bucket = state.bounds.partition_point(|b| *b < v);
            state.counts[bucket] += 1;
            state.sum += v;
            state.count += 1;
            last_bucket = Some((bucket, v));
        }
        if let (Some((bucket, v)), Some(labels)) = (last_bucket, exemplar) {
            state.exemplars[bucket] = Some((labels, v));
        }
    }
}

/// The series of one plugin histogram, by label set, with the metric's name, help, unit
/// and buckets. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct PluginHistogramFamily(Arc<FamilyInner>);

#[derive(Debug)]
struct FamilyInner {
    /// The name as exposed (with its unit).
    name: String,
    help: String,
    unit: Option<String>,
    bounds: Arc<Vec<f64>>,
    series: RwLock<HashMap<DynLabels, PluginHistogram>>,
}

impl PluginHistogramFamily {
    /// A family exposed as `name` (already ending with the unit, when one is given) with
    /// bucket upper bounds `bounds` (`+Inf` is added).
    pub fn new(
        name: &str,
        help: &str,
        unit: Option<&str>,
        bounds: Vec<f64>,
    ) -> PluginHistogramFamily {
        PluginHistogramFamily(Arc::new(FamilyInner {
            name: name.to_string(),
            help: help.to_string(),
            unit: unit.map(str::to_string),
            bounds: Arc::new(bounds),
            series: RwLock::default(),
        }))
    }

    /// The series of `labels`, created empty on first use.
    pub fn get_or_create(&self, labels: &DynLabels) -> PluginHistogram {
        if let Some(h) = self
            .0
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(labels)
        {
            return h.clone();
        }
        self.0
            .series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(labels.clone())
            .or_insert_with(|| PluginHistogram::new(self.0.bounds.clone()))
            .clone()
    }

    /// Appends the family in the OpenMetrics text format, as prometheus-client renders a
    /// registered histogram family (help with a closing period, `le` first in a bucket's
    /// labels, bounds and sums by `dtoa`).
    pub fn render(&self, out: &mut String) {
        let f = &*self.0;
        let name = &f.name;
        let _ = writeln!(out, "# HELP {name} {}.", f.help);
        let _ = writeln!(out, "# TYPE {name} histogram");
        if let Some(unit) = &f.unit {
            let _ = writeln!(out, "# UNIT {name} {unit}");
        }
        let mut float = dtoa::Buffer::new();
        let series = f.series.read().unwrap_or_else(|e| e.into_inner());
        for (labels, h) in series.iter() {
            let state = h.0.lock().unwrap_or_else(|e| e.into_inner());
            let mut label_text = String::new();
            write_labels(&mut label_text, labels);
            let braced = if label_text.is_empty() {
                String::new()
            } else {
                format!("{{{label_text}}}")
            };
            let _ = writeln!(out, "{name}_sum{braced} {}", float.format(state.sum));
            let _ = writeln!(out, "{name}_count{braced} {}", state.count);
            let mut cumulative = 0u64;
            for (i, count) in state.counts.iter().enumerate() {
                cumulative += count;
                let le = match state.bounds.get(i) {
                    Some(b) => float.format(*b).to_string(),
                    None => "+Inf".to_string(),
                };
                let sep = if label_text.is_empty() { "" } else { "," };
                let _ = write!(
                    out,
                    "{name}_bucket{{le=\"{le}\"{sep}{label_text}}} {cumulative}"
                );
                if let Some((exemplar, value)) = &state.exemplars[i] {
                    out.push_str(" # {");
                    write_labels(out, exemplar);
                    let _ = write!(out, "}} {}", float.format(*value));
                }
                out.push('\n');
            }
        }
    }
}

/// `name="value"` pairs joined by commas (values are stored escaped).
fn write_labels(out: &mut String, labels: &DynLabels) {
    for (i, (k, v)) in labels.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}{k}=\"{v}\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode_registry;
    use prometheus_client::metrics::exemplar::HistogramWithExemplars;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::registry::{Registry, Unit};

    /// The same observations give the same text as prometheus-client's own histogram
    /// family with exemplars, line for line (series order aside).
    #[test]
    fn renders_as_prometheus_client_does() {
        let bounds = vec![0.005, 0.01, 0.1, 1.0, 10.0];
        let series: Vec<DynLabels> = vec![
            vec![
                ("route".to_string(), "/a".to_string()),
                ("component_id".to_string(), "red".to_string()),
            ],
            vec![
                ("route".to_string(), "/b \\\"q\\\"".to_string()),
                ("component_id".to_string(), "red".to_string()),
            ],
        ];
        let trace = |t: &str| Some(vec![("trace_id".to_string(), t.to_string())]);
        let batches: Vec<(usize, Vec<f64>, Option<DynLabels>)> = vec![
            (0, vec![0.001, 0.5, 3.0, 100.0], trace("t1")),
            (0, vec![0.005, 0.0123], trace("t2")),
            (1, vec![1.0, f64::NAN, 2e-9], None),
            (1, vec![7.25], trace("t3")),
            (0, vec![0.05], None),
        ];

        let ours = PluginHistogramFamily::new(
            "req_seconds",
            "Request time",
            Some("seconds"),
            bounds.clone(),
        );
        for (s, values, exemplar) in &batches {
            ours.get_or_create(&series[*s])
                .observe_many(values, exemplar.clone());
        }
        let mut mine = String::new();
        ours.render(&mut mine);

        let theirs: Family<DynLabels, HistogramWithExemplars<DynLabels>, _> =
            Family::new_with_constructor(move || {
                HistogramWithExemplars::new(bounds.clone().into_iter())
            });
        let mut registry = Registry::default();
        registry.register_with_unit("req", "Request time", Unit::Seconds, theirs.clone());
        for (s, values, exemplar) in &batches {
            let h = theirs.get_or_create(&series[*s]);
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            for (i, v) in finite.iter().enumerate() {
                let last = i + 1 == finite.len() && values.last().is_some_and(|l| l.is_finite());
                h.observe(*v, if last { exemplar.clone() } else { None }, None);
            }
        }
        let mut expected = String::new();
        encode_registry(&mut expected, &registry).unwrap();

        let sorted = |text: &str| {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort();
            lines.join("\n")
        };
        assert!(mine.contains("# {trace_id=\"t2\"} 0.0123"), "{mine}");
        assert_eq!(
            sorted(&mine),
            sorted(&expected),
            "ours:\n{mine}\ntheirs:\n{expected}"
        );
    }
}
