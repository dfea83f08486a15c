//! The collector's own metrics (RED per component, plugin calls and failures, batch sizes,
//! channel depth) and the metrics plugins declare in the pipeline, all in one
//! prometheus-client registry rendered as OpenMetrics on /metrics.

use std::sync::{Arc, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::CounterWithExemplar;

use super::histogram::{PluginHistogram, PluginHistogramFamily};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Deserialize;

/// A metric a plugin may emit, declared in the pipeline (`[[transforms.NAME.metrics]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDecl {
    /// Metric name as exposed (counters get `_total` appended by OpenMetrics if missing).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetricKind,
    #[serde(default)]
    pub help: String,
    /// Label names, in the order the plugin passes their values.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Histogram bucket upper bounds, strictly increasing.
    #[serde(default)]
    pub buckets: Vec<f64>,
    /// The unit (`seconds`, `bytes`, ...); the name must end with it (before `_total` for a
    /// counter), as OpenMetrics requires.
    #[serde(default)]
    pub unit: Option<String>,
    /// Most label combinations (series) kept; past it, samples of new combinations go to
    /// one overflow series labelled `otel_metric_overflow="true"`, counted in
    /// `sluice_plugin_metric_overflow_total`.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

fn default_max_series() -> usize {
    MetricDecl::DEFAULT_MAX_SERIES
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl MetricDecl {
    /// Series a metric keeps unless its declaration says otherwise.
    pub const DEFAULT_MAX_SERIES: usize = 1000;
}

/// A valid Prometheus metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`; labels without `:`).
fn valid_name(name: &str, colons: bool) -> bool {
    !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (i > 0 && c.is_ascii_digit())
        })
}

impl MetricDecl {
    /// Checks the declaration; the problem with the key of the declaration it is about.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let base = match self.kind {
            MetricKind::Counter => self.name.strip_suffix("_total").unwrap_or(&self.name),
            MetricKind::Histogram | MetricKind::Gauge => &self.name,
        };
        if self.kind == MetricKind::Gauge && self.name.ends_with("_total") {
            return Err((
                "name",
                format!("a gauge's name `{}` must not end with `_total`", self.name),
            ));
        }
        if !valid_name(base, true) || base.starts_with("sluice_") {
            return Err((
                "name",
                format!(
                    "`{}` must match [a-zA-Z_:][a-zA-Z0-9_:]* and not start with `sluice_`",
                    self.name
                ),
            ));
        }
        if self.kind == MetricKind::Histogram
            && ["_total", "_bucket", "_sum", "_count", "_created"]
                .iter()
                .any(|s| self.name.ends_with(s))
        {
            return Err((
                "name",
                format!(
                    "a histogram's name `{}` must not end with a sample suffix",
                    self.name
                ),
            ));
        }
        if let Some(unit) = &self.unit {
            if !valid_name(unit, false) {
                return Err(("unit", format!("`{unit}` is not a valid unit name")));
            }
            if !base.ends_with(&format!("_{unit}")) {
                return Err((
                    "unit",
                    format!(
                        "the name `{}` must end with `_{unit}`{} for unit `{unit}`",
                        self.name,
                        if self.kind == MetricKind::Counter {
                            " (before `_total`)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for label in &self.labels {
            if !valid_name(label, false) || label.starts_with("__") {
                return Err(("labels", format!("`{label}` is not a valid label name")));
            }
            if ["component_id", "otel_metric_overflow"].contains(&label.as_str())
                || (self.kind == MetricKind::Histogram && label == "le")
            {
                return Err((
                    "labels",
                    format!("`{label}` is set by the collector; do not declare it"),
                ));
            }
            if !seen.insert(label) {
                return Err(("labels", format!("`{label}` is listed twice")));
            }
        }
        if self.kind == MetricKind::Histogram {
            if self.buckets.iter().any(|b| !b.is_finite()) {
                return Err((
                    "buckets",
                    "bucket bounds must be finite numbers (+Inf is added)".into(),
                ));
            }
            if self.buckets.windows(2).any(|w| w[0] >= w[1]) {
                return Err((
                    "buckets",
                    "bucket bounds must be strictly increasing".into(),
                ));
            }
        } else if !self.buckets.is_empty() {
            return Err(("buckets", "only histograms have buckets".into()));
        }
        if self.max_series == 0 {
            return Err(("max_series", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Kinds of plugin-declared metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Counter,
    Histogram,
    /// Set or moved by `gauge-set` / `gauge-add` (contract 0.1.2).
    Gauge,
}

/// Labels of every per-component metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component_id: String,
    pub component_kind: String,
}

/// A component plus a reason or kind (errors, discards).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub component_id: String,
    pub reason: String,
}

/// Dynamic label set of a plugin-declared metric or exemplar.
pub type DynLabels = Vec<(String, String)>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
}

fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 10))
}

fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 12))
}

fn ratio_histogram() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
}

/// Every metric family the collector itself owns.
#[derive(Clone)]
pub struct CoreMetrics {
    received_events: Family<ComponentLabels, Counter>,
    received_bytes: Family<ComponentLabels, Counter>,
    sent_events: Family<ComponentLabels, Counter>,
    sent_bytes: Family<ComponentLabels, Counter>,
    discarded_events: Family<ReasonLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    repaired_lines: Family<ReasonLabels, Counter>,
    batch_records: HistogramFamily<ComponentLabels>,
    channel_depth: Family<ComponentLabels, Gauge>,
    plugin_call_seconds: HistogramFamily<ComponentLabels>,
    plugin_cpu_seconds: Family<ComponentLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    plugin_errors: Family<ReasonLabels, Counter>,
    plugin_instances_started: Family<ComponentLabels, Counter>,
    plugin_log_messages_dropped: Family<ComponentLabels, Counter>,
    source_lost_bytes: Family<ComponentLabels, Counter>,
    buffer_bytes: Family<ComponentLabels, Gauge>,
    buffer_corrupt_bytes: Family<ComponentLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    sink_requests: Family<HttpLabels, Counter>,
    sink_retries: Family<ReasonLabels, Counter>,
    sink_backoff_requests: Family<ComponentLabels, Gauge>,
    sink_backoff_seconds: Family<ComponentLabels, FloatGauge>,
    sink_request_seconds: HistogramFamily<ComponentLabels>,
    sink_batch_fill: HistogramFamily<ComponentLabels>,
    config_reloads: Family<ResultLabels, Counter>,
    plugin_metric_overflow: Family<OverflowLabels, Counter>,
    series_refused: Family<OverflowLabels, Counter>,
}

/// A request waiting out a retry delay (see [`ComponentMetrics::backing_off`]).
pub struct BackoffGuard {
    waiting: Gauge,
}

impl Drop for BackoffGuard {
    fn drop(&mut self) {
        self.waiting.dec();
    }
}

/// A plugin metric whose series limit folded samples into its overflow series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OverflowLabels {
    pub component_id: String,
    pub metric: String,
}

/// `sluice_build_info`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    wasmtime: String,
}

/// The outcome of a config reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

/// Labels of push-endpoint request counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub component_id: String,
    pub status: String,
}

/// Handles to one component's counters, taken once at build time so the hot path does
/// no label lookup.
#[derive(Clone, Debug)]
pub struct ComponentMetrics {
    pub id: String,
    pub kind: String,
    pub received_events: Counter,
    pub received_bytes: Counter,
    pub sent_events: Counter,
    pub sent_bytes: Counter,
    pub batch_records: Histogram,
    /// Where its output is offered to `sluice tap` (sources and transforms; sinks emit
    /// nothing).
    tap: Option<super::tap::TapPoint>,
    core: CoreMetrics,
}

impl std::fmt::Debug for CoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoreMetrics")
    }
}

impl ComponentMetrics {
    /// Offers a batch this component emits to its open taps (one atomic load when none).
    #[inline]
    pub fn offer_tap(&self, events: &crate::event::Events) {
        if let Some(tap) = &self.tap {
            tap.offer(events);
        }
    }

    fn labels(&self) -> ComponentLabels {
        ComponentLabels {
            component_id: self.id.clone(),
            component_kind: self.kind.clone(),
        }
    }

    fn reason(&self, reason: &str) -> ReasonLabels {
        ReasonLabels {
            component_id: self.id.clone(),
            reason: reason.to_string(),
        }
    }

    /// Counts records and line bytes coming into the component.
    pub fn received(&self, records: usize, bytes: usize) {
        self.received_events.inc_by(records as u64);
        self.received_bytes.inc_by(bytes as u64);
    }

    /// Counts records and line bytes leaving the component, and the batch's size.
    pub fn sent(&self, records: usize, bytes: usize) {
        self.sent_events.inc_by(records as u64);
        self.sent_bytes.inc_by(bytes as u64);
        self.batch_records.observe(records as f64);
    }

    /// Counts records dropped for `reason`.
    pub fn discarded(&self, reason: &str, records: usize) {
        self.core
            .discarded_events
            .get_or_create(&self.reason(reason))
            .inc_by(records as u64);
    }

    /// Counts `samples` samples of metric `metric` refused at a series limit.
    pub fn series_refused(&self, metric: &str, samples: usize) {
        self.core
            .series_refused
            .get_or_create(&OverflowLabels {
                component_id: self.id.clone(),
                metric: metric.to_string(),
            })
            .inc_by(samples as u64);
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: &str) {
        self.core.errors.get_or_create(&self.reason(kind)).inc();
    }

    /// Counts a line kept but changed on the way in (`invalid_utf8`, `truncated`).
    pub fn repaired(&self, reason: &str, lines: usize) {
        self.core
            .repaired_lines
            .get_or_create(&self.reason(reason))
            .inc_by(lines as u64);
    }

    /// The gauge of this component's input channel depth (batches waiting).
    pub fn channel_depth(&self) -> Gauge {
        self.core
            .channel_depth
            .get_or_create(&self.labels())
            .clone()
    }

    /// The size gauge of this sink's disk buffer.
    pub fn buffer_bytes(&self) -> Gauge {
        self.core.buffer_bytes.get_or_create(&self.labels()).clone()
    }

    /// Counts bytes of a disk buffer cut off as torn or corrupt.
    pub fn buffer_corrupt(&self, bytes: u64) {
        self.core
            .buffer_corrupt_bytes
            .get_or_create(&self.labels())
            .inc_by(bytes);
    }

    /// The plugin call duration histogram of this transform.
    pub fn plugin_call_seconds(&self) -> Histogram {
        self.core
            .plugin_call_seconds
            .get_or_create(&self.labels())
            .clone()
    }

    /// The plugin CPU time counter of this transform, in seconds.
    pub fn plugin_cpu_seconds(&self) -> Counter<f64, std::sync::atomic::AtomicU64> {
        self.core
            .plugin_cpu_seconds
            .get_or_create(&self.labels())
            .clone()
    }

    /// Counts one failed plugin call of `kind` (trap, timeout, memory, error, invalid_output).
    pub fn plugin_error(&self, kind: &str) {
        self.core
            .plugin_errors
            .get_or_create(&self.reason(kind))
            .inc();
    }

    /// Counts one plugin instance started (the first, and each replacement).
    pub fn plugin_instance_started(&self) {
        self.core
            .plugin_instances_started
            .get_or_create(&self.labels())
            .inc();
    }

    /// Counts bytes a source lost for good.
    pub fn lost_bytes(&self, bytes: usize) {
        self.core
            .source_lost_bytes
            .get_or_create(&self.labels())
            .inc_by(bytes as u64);
    }

    /// Counts a plugin log message dropped by the rate limit.
    pub fn plugin_log_dropped(&self) {
        self.core
            .plugin_log_messages_dropped
            .get_or_create(&self.labels())
            .inc();
    }

    /// Counts one request a sink made, by the status it got (`error` when there was no
    /// answer), and its duration.
    pub fn sink_request(&self, status: &str, seconds: f64) {
        self.core
            .sink_requests
            .get_or_create(&HttpLabels {
                component_id: self.id.clone(),
                status: status.to_string(),
            })
            .inc();
        self.core
            .sink_request_seconds
            .get_or_create(&self.labels())
            .observe(seconds);
    }

    /// Counts one retry of a sink request, by why it was retried.
    pub fn sink_retry(&self, reason: &str) {
        self.core
            .sink_retries
            .get_or_create(&self.reason(reason))
            .inc();
    }

    /// A request about to wait `delay` before its retry: counted in
    /// `sluice_sink_backoff_requests` until the returned guard is dropped (the wait is
    /// over, or the request was abandoned), and `sluice_sink_backoff_seconds` set to the
    /// delay. `sluice top` and the status page show both as the sink's backoff state.
    pub fn backing_off(&self, delay: std::time::Duration) -> BackoffGuard {
        let waiting = self
            .core
            .sink_backoff_requests
            .get_or_create(&self.labels())
            .clone();
        waiting.inc();
        self.core
            .sink_backoff_seconds
            .get_or_create(&self.labels())
            .set(delay.as_secs_f64());
        BackoffGuard { waiting }
    }

    /// A request of this sink was delivered: its backoff delay is back to 0.
    pub fn backoff_over(&self) {
        self.core
            .sink_backoff_seconds
            .get_or_create(&self.labels())
            .set(0.0);
    }

    /// Observes how full a sink's request was (its bytes over the batch size limit).
    pub fn sink_batch_fill(&self, ratio: f64) {
        self.core
            .sink_batch_fill
            .get_or_create(&self.labels())
            .observe(ratio);
    }

    /// Counts one push request answered with `status`.
    pub fn http_request(&self, status: u16) {
        self.core
            .http_requests
            .get_or_create(&HttpLabels {
                component_id: self.id.clone(),
                status: status.to_string(),
            })
            .inc();
    }
}

/// A plugin counter: float values (a plugin may count seconds or bytes), with exemplars.
/// (prometheus-client types only its integer exemplar counter; this types the float one.)
#[derive(Debug, Clone, Default)]
pub struct FloatCounter(CounterWithExemplar<DynLabels, f64, std::sync::atomic::AtomicU64>);

impl prometheus_client::metrics::TypedMetric for FloatCounter {
    const TYPE: prometheus_client::metrics::MetricType =
        prometheus_client::metrics::MetricType::Counter;
}

impl prometheus_client::encoding::EncodeMetric for FloatCounter {
    fn encode(
        &self,
        encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}

/// A metric a plugin declared in the pipeline, ready to be updated.
#[derive(Clone, Debug)]
pub enum PluginMetric {
    Counter {
        label_names: Vec<String>,
        family: Family<DynLabels, FloatCounter>,
        guard: Arc<SeriesGuard>,
    },
    Histogram {
        label_names: Vec<String>,
        /// Rendered by sluice, after the registry (see [`super::histogram`]).
        family: PluginHistogramFamily,
        guard: Arc<SeriesGuard>,
    },
    Gauge {
        label_names: Vec<String>,
        family: Family<DynLabels, FloatGauge>,
        guard: Arc<SeriesGuard>,
    },
}

/// A plugin gauge: float values.
pub type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// A plugin metric's series limit: which label sets it holds, up to `max`; the rest go to
/// the overflow series. Memory stays bounded whatever label values a plugin sends.
#[derive(Debug)]
pub struct SeriesGuard {
    metric: String,
    max: usize,
    seen: std::sync::Mutex<std::collections::HashSet<DynLabels>>,
    overflow: Family<OverflowLabels, Counter>,
}

impl SeriesGuard {
    /// `labels` if the metric may hold their series, else the overflow series' labels with
    /// the overflow counter each of its samples is counted in.
    fn admit(&self, labels: DynLabels, component: &str) -> (DynLabels, Option<Counter>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&labels) {
            return (labels, None);
        }
        if seen.len() < self.max {
            seen.insert(labels.clone());
            return (labels, None);
        }
        drop(seen);
        let counter = self
            .overflow
            .get_or_create(&OverflowLabels {
                component_id: component.to_string(),
                metric: self.metric.clone(),
            })
            .clone();
        let folded = vec![
            ("component_id".to_string(), escape_label_value(component)),
            ("otel_metric_overflow".to_string(), "true".to_string()),
        ];
        (folded, Some(counter))
    }
}

/// Escapes a label value for the exposition format (prometheus-client does not).
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn exemplar(trace_id: Option<String>) -> Option<DynLabels> {
    trace_id.map(|t| {
        // OpenMetrics allows 128 UTF-8 characters of exemplar labels in total: cut the
        // value first, then escape it, so a cut never splits an escape sequence.
        let plain = t.len() <= 100 && !t.bytes().any(|b| matches!(b, b'"' | b'\\' | b'\n'));
        if plain {
            return vec![("trace_id".to_string(), t)]; // nothing to cut or escape
        }
        let cut: String = t.chars().take(100).collect();
        vec![("trace_id".to_string(), escape_label_value(&cut))]
    })
}

/// One series of a plugin metric, resolved once (labels built, escaped and admitted by the
/// series limit) so a plugin instance can keep it for the label values it sends again.
#[derive(Clone, Debug)]
pub enum Series {
    Counter(FloatCounter),
    Histogram(PluginHistogram),
    Gauge(FloatGauge),
    /// Folded into the overflow series: each sample is counted as such.
    Overflow(Box<Series>, Counter),
}

impl Series {
    /// Adds `value` (finite, positive) to a counter series.
    pub fn add(&self, value: f64, trace_id: Option<String>) {
        match self {
            Series::Counter(c) if value.is_finite() && value > 0.0 => {
                c.0.inc_by(value, exemplar(trace_id), None);
            }
            Series::Overflow(inner, overflow) => {
                overflow.inc();
                inner.add(value, trace_id);
            }
            _ => {}
        }
    }

    /// Observes `value` (finite) in a histogram series.
    pub fn observe(&self, value: f64, trace_id: Option<String>) {
        match self {
            Series::Histogram(h) if value.is_finite() => {
                h.observe_many(&[value], exemplar(trace_id))
            }
            Series::Overflow(inner, overflow) => {
                overflow.inc();
                inner.observe(value, trace_id);
            }
            _ => {}
        }
    }

    /// Observes each of `values` (finite ones) in a histogram series; the exemplar goes
    /// with the last.
    pub fn observe_many(&self, values: &[f64], trace_id: Option<String>) {
        match self {
            // One lock for all the values; the exemplar goes with the last (if finite).
            Series::Histogram(h) => h.observe_many(values, exemplar(trace_id)),
            Series::Overflow(inner, overflow) => {
                overflow.inc_by(values.len() as u64);
                inner.observe_many(values, trace_id);
            }
            _ => {}
        }
    }

    /// Sets a gauge series to `value` (finite), or with `add`, moves it by `value`.
    pub fn gauge(&self, value: f64, add: bool) {
        match self {
            Series::Gauge(g) if value.is_finite() => {
                if add {
                    g.inc_by(value);
                } else {
                    g.set(value);
                }
            }
            Series::Overflow(inner, overflow) => {
                overflow.inc();
                inner.gauge(value, add);
            }
            _ => {}
        }
    }
}

impl PluginMetric {
    /// Notes that transform `component` records this metric: its overflow counter exists at
    /// 0 from then on, so an alert on its `rate()` sees the first overflow.
    pub fn used_by(&self, component: &str) {
        let guard = self.guard();
        let _ = guard.overflow.get_or_create(&OverflowLabels {
            component_id: component.to_string(),
            metric: guard.metric.clone(),
        });
    }

    fn guard(&self) -> &SeriesGuard {
        match self {
            PluginMetric::Counter { guard, .. }
            | PluginMetric::Histogram { guard, .. }
            | PluginMetric::Gauge { guard, .. } => guard,
        }
    }

    /// The series for the label `values` a plugin in `component` sent (admitted by the
    /// series limit, or its overflow series).
    pub fn series(&self, component: &str, values: Vec<String>) -> Series {
        let (label_names, guard) = match self {
            PluginMetric::Counter {
                label_names, guard, ..
            } => (label_names, guard),
            PluginMetric::Histogram {
                label_names, guard, ..
            } => (label_names, guard),
            PluginMetric::Gauge {
                label_names, guard, ..
            } => (label_names, guard),
        };
        let labels = Self::labels(label_names, values, component);
        let (labels, overflow) = guard.admit(labels, component);
        let series = match self {
            PluginMetric::Counter { family, .. } => {
                Series::Counter(family.get_or_create(&labels).clone())
            }
            PluginMetric::Histogram { family, .. } => {
                Series::Histogram(family.get_or_create(&labels).clone())
            }
            PluginMetric::Gauge { family, .. } => {
                Series::Gauge(family.get_or_create(&labels).clone())
            }
        };
        match overflow {
            Some(counter) => Series::Overflow(Box::new(series), counter),
            None => series,
        }
    }

    /// The declared labels with the plugin's values (missing ones empty), then
    /// `component_id`: the transform that emitted the sample.
    fn labels(names: &[String], values: Vec<String>, component: &str) -> DynLabels {
        names
            .iter()
            .cloned()
            .zip(
                values
                    .into_iter()
                    .map(|v| escape_label_value(&v))
                    .chain(std::iter::repeat(String::new())),
            )
            .chain(std::iter::once((
                "component_id".to_string(),
                escape_label_value(component),
            )))
            .collect()
    }

    /// Adds `value` (finite, positive; fractions kept) to a counter; another type ignores
    /// it. (The host keeps [`PluginMetric::series`] per instance instead.)
    pub fn counter_add(
        &self,
        component: &str,
        values: Vec<String>,
        value: f64,
        trace_id: Option<String>,
    ) {
        if matches!(self, PluginMetric::Counter { .. }) && value.is_finite() && value > 0.0 {
            self.series(component, values).add(value, trace_id);
        }
    }
}

/// The registry and the collector's own metric families. Cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<RwLock<Registry>>,
    core: CoreMetrics,
    taps: super::tap::Taps,
    /// Plugin-declared metrics by name: two transforms may share one declaration.
    plugin_metrics:
        Arc<std::sync::Mutex<std::collections::HashMap<String, (MetricDecl, PluginMetric)>>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry with every core family registered under the `sluice_` prefix.
    pub fn new() -> Telemetry {
        // Plugin-declared metrics are exposed under their own names at the root; the
        // collector's own families live under the `sluice_` prefix.
        let mut registry = Registry::default();
        let core = CoreMetrics {
            received_events: Family::default(),
            received_bytes: Family::default(),
            sent_events: Family::default(),
            sent_bytes: Family::default(),
            discarded_events: Family::default(),
            errors: Family::default(),
            repaired_lines: Family::default(),
            batch_records: Family::new_with_constructor(size_histogram),
            channel_depth: Family::default(),
            plugin_call_seconds: Family::new_with_constructor(duration_histogram),
            plugin_cpu_seconds: Family::default(),
            plugin_errors: Family::default(),
            plugin_instances_started: Family::default(),
            plugin_log_messages_dropped: Family::default(),
            source_lost_bytes: Family::default(),
            buffer_bytes: Family::default(),
            buffer_corrupt_bytes: Family::default(),
            http_requests: Family::default(),
            sink_requests: Family::default(),
            sink_retries: Family::default(),
            sink_backoff_requests: Family::default(),
            sink_backoff_seconds: Family::default(),
            sink_request_seconds: Family::new_with_constructor(request_histogram),
            sink_batch_fill: Family::new_with_constructor(ratio_histogram),
            config_reloads: Family::default(),
            plugin_metric_overflow: Family::default(),
            series_refused: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("sluice");
        r.register(
            "component_received_events",
            "Records a component received",
            core.received_events.clone(),
        );
        r.register(
            "component_received_bytes",
            "Line bytes a component received",
            core.received_bytes.clone(),
        );
        r.register(
            "component_sent_events",
            "Records a component sent on",
            core.sent_events.clone(),
        );
        r.register(
            "component_sent_bytes",
            "Line bytes a component sent on",
            core.sent_bytes.clone(),
        );
        r.register(
            "component_discarded_events",
            "Records a component dropped, by reason",
            core.discarded_events.clone(),
        );
        r.register(
            "component_errors",
            "Errors a component hit, by kind",
            core.errors.clone(),
        );
        r.register(
            "component_repaired_lines",
            "Lines kept but changed (invalid UTF-8 replaced, cut to a length limit), by component",
            core.repaired_lines.clone(),
        );
        r.register(
            "component_batch_records",
            "Records per batch a component sent",
            core.batch_records.clone(),
        );
        r.register(
            "component_channel_depth",
            "Batches waiting in a component's input channel",
            core.channel_depth.clone(),
        );
        r.register(
            "plugin_call_duration_seconds",
            "Wall time of one plugin process call",
            core.plugin_call_seconds.clone(),
        );
        r.register(
            "plugin_cpu_seconds",
            "CPU time of the threads running this transform's plugin calls (guest code and the \
             host's copying in and out)",
            core.plugin_cpu_seconds.clone(),
        );
        r.register(
            "plugin_errors",
            "Failed plugin calls by kind (trap, timeout, memory, error, invalid_output)",
            core.plugin_errors.clone(),
        );
        r.register(
            "plugin_instances_started",
            "Plugin instances started: the first ones and every replacement after a failure",
            core.plugin_instances_started.clone(),
        );
        r.register(
            "buffer_size_bytes",
            "Bytes a sink's disk buffer holds (segments not yet acknowledged by the sink)",
            core.buffer_bytes.clone(),
        );
        r.register(
            "buffer_corrupt_bytes",
            "Bytes of a sink's disk buffer found torn or corrupt (checksum) and cut off, never replayed",
            core.buffer_corrupt_bytes.clone(),
        );
        r.register(
            "source_lost_bytes",
            "Bytes a source could not read and knows it lost (a file truncated before its last line was read, with no rotated copy to read it from)",
            core.source_lost_bytes.clone(),
        );
        r.register(
            "plugin_log_messages_dropped",
            "Plugin log messages dropped by the rate limit",
            core.plugin_log_messages_dropped.clone(),
        );
        r.register(
            "http_requests",
            "Push requests answered, by status",
            core.http_requests.clone(),
        );
        r.register(
            "sink_requests",
            "Requests a sink made, by the status it got (error: no answer)",
            core.sink_requests.clone(),
        );
        r.register(
            "sink_retries",
            "Sink requests retried, by reason (429, 5xx, connection, timeout)",
            core.sink_retries.clone(),
        );
        r.register(
            "sink_backoff_requests",
            "Requests of a sink waiting out a retry delay now",
            core.sink_backoff_requests.clone(),
        );
        r.register(
            "sink_backoff_seconds",
            "The delay of a sink's latest retry wait; 0 once a request is delivered",
            core.sink_backoff_seconds.clone(),
        );
        r.register(
            "sink_request_duration_seconds",
            "Wall time of one sink request, answer included",
            core.sink_request_seconds.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads asked for, by result (success, failure: the old pipeline kept running)",
            core.config_reloads.clone(),
        );
        r.register(
            "plugin_metric_overflow",
            "Samples of a plugin metric folded into its overflow series (otel_metric_overflow=\"true\") because it held max_series series",
            core.plugin_metric_overflow.clone(),
        );
        r.register(
            "series_refused",
            "Samples of new series a metrics sink refused because the metric already held its max_series series (or the sink its max_total_series)",
            core.series_refused.clone(),
        );
        let build_info: Family<BuildLabels, Gauge> = Family::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                wasmtime: env!("SLUICE_WASMTIME_VERSION").to_string(),
            })
            .set(1);
        r.register(
            "build_info",
            "The collector's version and its wasmtime's; always 1",
            build_info,
        );
        for result in ["success", "failure"] {
            let _ = core.config_reloads.get_or_create(&ResultLabels {
                result: result.to_string(),
            });
        }
        r.register(
            "sink_batch_fill_ratio",
            "Bytes of a sink request over the sink's batch size limit",
            core.sink_batch_fill.clone(),
        );
        let tap_dropped = Family::default();
        r.register(
            "tap_dropped_samples",
            "Samples a `sluice tap` reader was too slow to take (dropped, never waited for)",
            tap_dropped.clone(),
        );
        Telemetry {
            registry: Arc::new(RwLock::new(registry)),
            taps: super::tap::Taps::new(tap_dropped),
            core,
            plugin_metrics: Default::default(),
        }
    }

    /// The components' taps (`sluice tap`).
    pub fn taps(&self) -> &super::tap::Taps {
        &self.taps
    }

    /// Counts one config reload with `result` (`success` or `failure`).
    pub fn config_reload(&self, result: &str) {
        self.core
            .config_reloads
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counter handles for the component `id` of `kind` (`source`, `transform`, `sink`).
    pub fn component(&self, id: &str, kind: &str) -> ComponentMetrics {
        let labels = ComponentLabels {
            component_id: id.to_string(),
            component_kind: kind.to_string(),
        };
        let c = &self.core;
        // Counters alerts take rate() of exist at 0 from the start, not from the first event.
        let reason = |r: &str| ReasonLabels {
            component_id: id.to_string(),
            reason: r.to_string(),
        };
        let (discards, plugin_errors): (&[&str], &[&str]) = match kind {
            "transform" => (
                &["plugin_failed", "dead_lettered"],
                &["trap", "timeout", "memory", "error", "invalid_output"],
            ),
            "sink" => (&["rejected", "retries_exhausted", "write_failed"], &[]),
            _ => (&[], &[]),
        };
        for r in discards {
            let _ = c.discarded_events.get_or_create(&reason(r));
        }
        for r in plugin_errors {
            let _ = c.plugin_errors.get_or_create(&reason(r));
        }
        if kind == "sink" {
            // The backoff state reads "none" before the first retry, not "unknown".
            let _ = c.sink_backoff_requests.get_or_create(&labels);
            let _ = c.sink_backoff_seconds.get_or_create(&labels);
        }
        if kind == "source" {
            let _ = c.source_lost_bytes.get_or_create(&labels);
            for r in ["invalid_utf8", "truncated"] {
                let _ = c.repaired_lines.get_or_create(&reason(r));
            }
        }
        ComponentMetrics {
            id: id.to_string(),
            kind: kind.to_string(),
            received_events: c.received_events.get_or_create(&labels).clone(),
            received_bytes: c.received_bytes.get_or_create(&labels).clone(),
            sent_events: c.sent_events.get_or_create(&labels).clone(),
            sent_bytes: c.sent_bytes.get_or_create(&labels).clone(),
            batch_records: c.batch_records.get_or_create(&labels).clone(),
            tap: (kind != "sink").then(|| self.taps.point(id)),
            core: c.clone(),
        }
    }

    /// Registers a plugin-declared metric (without prefix) and returns its handle. A name
    /// declared again with the same kind and labels shares the first registration; any
    /// other redeclaration is an error.
    pub fn plugin_metric(&self, decl: &MetricDecl) -> Result<PluginMetric, (&'static str, String)> {
        decl.check()?;
        let name = decl.name.strip_suffix("_total").unwrap_or(&decl.name);
        let mut known = self.plugin_metrics.lock().expect("plugin metrics lock");
        if let Some((first, metric)) = known.get(name) {
            if first.kind == decl.kind
                && first.labels == decl.labels
                && first.buckets == decl.buckets
                && first.unit == decl.unit
            {
                return Ok(metric.clone());
            }
            return Err((
                "name",
                format!(
                    "metric `{}` is declared again with another type, labels, buckets or unit",
                    decl.name
                ),
            ));
        }
        let metric = self.register_plugin_metric(name, decl);
        known.insert(name.to_string(), (decl.clone(), metric.clone()));
        Ok(metric)
    }

    fn register_plugin_metric(&self, name: &str, decl: &MetricDecl) -> PluginMetric {
        let mut registry = self.registry.write().expect("metrics registry lock");
        let guard = Arc::new(SeriesGuard {
            metric: name.to_string(),
            max: decl.max_series.max(1),
            seen: Default::default(),
            overflow: self.core.plugin_metric_overflow.clone(),
        });
        let unit = decl
            .unit
            .as_ref()
            .map(|u| prometheus_client::registry::Unit::Other(u.clone()));
        let help = if decl.help.is_empty() {
            format!("Declared in the pipeline for a plugin ({})", name)
        } else {
            decl.help.clone()
        };
        let declared_name = name;
        let name = match &unit {
            // The registry appends the unit itself.
            Some(_) => name
                .strip_suffix(&format!("_{}", decl.unit.as_deref().unwrap_or_default()))
                .unwrap_or(name),
            None => name,
        };
        match decl.kind {
            MetricKind::Counter => {
                let family = Family::default();
                match unit {
                    Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
                    None => registry.register(name, help, family.clone()),
                }
                PluginMetric::Counter {
                    label_names: decl.labels.clone(),
                    family,
                    guard,
                }
            }
            MetricKind::Histogram => {
                let buckets = if decl.buckets.is_empty() {
                    vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]
                } else {
                    decl.buckets.clone()
                };
                // Not in the registry: rendered after it by `render_openmetrics`, under
                // the declared name (which ends with the unit).
                let family =
                    PluginHistogramFamily::new(declared_name, &help, decl.unit.as_deref(), buckets);
                PluginMetric::Histogram {
                    label_names: decl.labels.clone(),
                    family,
                    guard,
                }
            }
            MetricKind::Gauge => {
                let family: Family<DynLabels, FloatGauge> = Family::default();
                match unit {
                    Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
                    None => registry.register(name, help, family.clone()),
                }
                PluginMetric::Gauge {
                    label_names: decl.labels.clone(),
                    family,
                    guard,
                }
            }
        }
    }

    /// The whole registry in the OpenMetrics text format (ends with `# EOF`), the
    /// process metrics included.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        {
            let registry = self.registry.read().expect("metrics registry lock");
            prometheus_client::encoding::text::encode_registry(&mut out, &registry)
                .expect("writing to a String cannot fail");
        } // released before the plugin metrics' lock, which `plugin_metric` takes first
        let histograms: Vec<PluginHistogramFamily> = self
            .plugin_metrics
            .lock()
            .expect("plugin metrics lock")
            .values()
            .filter_map(|(_, metric)| match metric {
                PluginMetric::Histogram { family, .. } => Some(family.clone()),
                _ => None,
            })
            .collect();
        for family in histograms {
            family.render(&mut out);
        }
        out.push_str(&super::exposition::process_metrics());
        prometheus_client::encoding::text::encode_eof(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    /// The whole registry in `format`.
    pub fn render(&self, format: super::exposition::Format) -> String {
        let openmetrics = self.render_openmetrics();
        match format {
            super::exposition::Format::OpenMetrics => openmetrics,
            super::exposition::Format::Text => super::exposition::to_text_format(&openmetrics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(toml_text: &str) -> MetricDecl {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn declarations_are_checked_field_by_field() {
        let ok = |t: &str| decl(t).check();
        assert_eq!(ok("name = \"req_total\"\ntype = \"counter\""), Ok(()));
        assert_eq!(
            ok("name = \"latency_seconds\"\ntype = \"histogram\"\nunit = \"seconds\"\nbuckets = [0.1, 1.0]"),
            Ok(())
        );
        assert_eq!(
            ok("name = \"sent_bytes_total\"\ntype = \"counter\"\nunit = \"bytes\""),
            Ok(())
        );
        let field = |t: &str| decl(t).check().unwrap_err().0;
        assert_eq!(field("name = \"9x\"\ntype = \"counter\""), "name");
        assert_eq!(field("name = \"sluice_x\"\ntype = \"counter\""), "name");
        assert_eq!(field("name = \"x_total\"\ntype = \"histogram\""), "name");
        assert_eq!(
            field("name = \"latency\"\ntype = \"histogram\"\nunit = \"seconds\""),
            "unit"
        );
        assert_eq!(
            field("name = \"x\"\ntype = \"histogram\"\nbuckets = [1.0, 1.0]"),
            "buckets"
        );
        assert_eq!(
            field("name = \"x\"\ntype = \"counter\"\nbuckets = [1.0]"),
            "buckets"
        );
        assert_eq!(
            field("name = \"x\"\ntype = \"histogram\"\nlabels = [\"le\"]"),
            "labels"
        );
        assert_eq!(
            field("name = \"x\"\ntype = \"counter\"\nlabels = [\"a\", \"a\"]"),
            "labels"
        );
        assert_eq!(
            field("name = \"x\"\ntype = \"counter\"\nmax_series = 0"),
            "max_series"
        );
    }

    #[test]
    fn counters_keep_fractions_and_the_series_limit_folds_the_rest() {
        let telemetry = Telemetry::new();
        let metric = telemetry
            .plugin_metric(&decl(
                "name = \"work_seconds_total\"\ntype = \"counter\"\nunit = \"seconds\"\nlabels = [\"user\"]\nmax_series = 2",
            ))
            .unwrap();
        for user in 0..10_000 {
            metric.counter_add("t", vec![format!("user{user}")], 0.25, None);
        }
        let text = telemetry.render_openmetrics();
        let sample = |prefix: &str| metric_value_for_test(&text, prefix);
        assert_eq!(
            sample("work_seconds_total{user=\"user0\",component_id=\"t\"}"),
            Some(0.25)
        );
        assert_eq!(
            sample("work_seconds_total{user=\"user1\",component_id=\"t\"}"),
            Some(0.25)
        );
        assert_eq!(sample("work_seconds_total{user=\"user2\""), None);
        assert_eq!(
            sample("work_seconds_total{component_id=\"t\",otel_metric_overflow=\"true\"}"),
            Some(2499.5)
        );
        assert_eq!(
            sample(
                "sluice_plugin_metric_overflow_total{component_id=\"t\",metric=\"work_seconds\"}"
            ),
            Some(9998.0)
        );
        assert!(text.contains("# UNIT work_seconds seconds"), "{text}");
    }

    #[test]
    fn counters_alerts_rate_exist_at_zero_before_the_first_event() {
        let telemetry = Telemetry::new();
        let metric = telemetry
            .plugin_metric(&decl("name = \"hits_total\"\ntype = \"counter\""))
            .unwrap();
        metric.used_by("t");
        let _source = telemetry.component("app", "source");
        let text = telemetry.render_openmetrics();
        for zero in [
            "sluice_plugin_metric_overflow_total{component_id=\"t\",metric=\"hits\"}",
            "sluice_component_repaired_lines_total{component_id=\"app\",reason=\"invalid_utf8\"}",
            "sluice_component_repaired_lines_total{component_id=\"app\",reason=\"truncated\"}",
            "sluice_source_lost_bytes_total{component_id=\"app\"",
        ] {
            assert_eq!(
                metric_value_for_test(&text, zero),
                Some(0.0),
                "{zero}:\n{text}"
            );
        }
    }

    #[test]
    fn gauges_set_and_move_and_histograms_take_many_values_at_once() {
        let telemetry = Telemetry::new();
        let gauge = telemetry
            .plugin_metric(&decl(
                "name = \"queue_depth\"\ntype = \"gauge\"\nlabels = [\"q\"]",
            ))
            .unwrap();
        let depth = gauge.series("t", vec!["a".into()]);
        depth.gauge(5.5, false);
        depth.gauge(-2.0, true);
        let histogram = telemetry
            .plugin_metric(&decl(
                "name = \"latency\"\ntype = \"histogram\"\nbuckets = [1.0, 2.0]",
            ))
            .unwrap();
        histogram
            .series("t", vec![])
            .observe_many(&[0.5, 1.5, 3.0, f64::NAN], Some("abc".into()));
        let text = telemetry.render_openmetrics();
        let sample = |prefix: &str| metric_value_for_test(&text, prefix);
        assert_eq!(sample("queue_depth{q=\"a\",component_id=\"t\"}"), Some(3.5));
        assert_eq!(sample("latency_count{component_id=\"t\"}"), Some(3.0));
        assert_eq!(
            sample("latency_bucket{le=\"1.0\",component_id=\"t\"}"),
            Some(1.0)
        );
        assert!(
            decl("name = \"x_total\"\ntype = \"gauge\"")
                .check()
                .is_err(),
            "a gauge is not named like a counter"
        );
    }

    #[test]
    fn a_long_exemplar_is_cut_before_it_is_escaped() {
        let quoted = "\"".repeat(150);
        let labels = exemplar(Some(quoted)).unwrap();
        let value = &labels[0].1;
        assert_eq!(value, &"\\\"".repeat(100), "100 whole escapes, none split");
    }

    fn metric_value_for_test(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}
