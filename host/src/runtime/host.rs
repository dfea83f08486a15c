//! The host side of the plugin contract: what one plugin store holds ([`PluginState`]: the
//! WASI context, the memory cap, the transform's metrics) and the functions the contract
//! imports (`log`, `metric-id`, `counter-add`, `histogram-observe`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{Host, Level, WitMetricDecl, WitMetricType};
use crate::config::Secrets;
use crate::telemetry::metrics::{MetricDecl, MetricKind, PluginMetric, Series};
use crate::telemetry::ComponentMetrics;

/// What the host functions of one transform's instances share: the transform's metrics and
/// the plugin metrics declared for it.
#[derive(Debug)]
pub struct PluginHostContext {
    pub component: ComponentMetrics,
    /// Metrics declared in the pipeline TOML, by id (their index).
    pub metrics: Vec<(MetricDecl, PluginMetric)>,
    /// Where metrics a plugin declares itself (`declare-metric`) are registered; None
    /// refuses them.
    pub telemetry: Option<crate::telemetry::Telemetry>,
    /// When set, every metric name the plugin asks for gets an id (after the declared
    /// ones) and its samples are recorded here rather than exported (`sluice plugin test`).
    pub recorder: Option<Arc<MetricRecorder>>,
    /// Secrets substituted into the pipeline (a plugin's config may hold some): scrubbed
    /// from every message the plugin logs.
    pub secrets: Secrets,
}

/// One sample a plugin emitted through `counter-add` or `histogram-observe`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    /// The name the plugin looked up with `metric-id`.
    pub name: String,
    /// `counter` or `histogram`.
    pub kind: &'static str,
    /// The label values it passed.
    pub labels: Vec<String>,
    pub value: f64,
    pub trace_id: Option<String>,
}

/// Records the metrics a plugin emits without declaring them (see
/// [`PluginHostContext::recorder`]).
#[derive(Debug, Default)]
pub struct MetricRecorder {
    names: Mutex<Vec<String>>,
    samples: Mutex<Vec<MetricSample>>,
}

impl MetricRecorder {
    /// The samples recorded so far, in call order.
    pub fn samples(&self) -> Vec<MetricSample> {
        self.samples.lock().expect("metric recorder lock").clone()
    }

    fn id(&self, name: &str) -> usize {
        let mut names = self.names.lock().expect("metric recorder lock");
        match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push(name.to_owned());
                names.len() - 1
            }
        }
    }

    fn record(
        &self,
        id: usize,
        kind: &'static str,
        labels: Vec<String>,
        value: f64,
        trace_id: Option<String>,
    ) {
        let Some(name) = self
            .names
            .lock()
            .expect("metric recorder lock")
            .get(id)
            .cloned()
        else {
            return;
        };
        self.samples
            .lock()
            .expect("metric recorder lock")
            .push(MetricSample {
                name,
                kind,
                labels,
                value,
                trace_id,
            });
    }
}

/// Caps linear memory and remembers whether the cap was hit, so that the trap that follows
/// can be reported as running out of memory.
pub(super) struct MemoryCap {
    pub(super) max_bytes: usize,
    pub(super) exceeded: bool,
    /// Linear memory of every memory of the instance, in bytes, and its high mark.
    pub(super) total_bytes: usize,
    pub(super) peak_bytes: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.max_bytes);
        }
        self.total_bytes += desired.saturating_sub(current);
        self.peak_bytes = self.peak_bytes.max(self.total_bytes);
        Ok(true)
    }

    /// Growth that the engine itself could not make (past what a 32-bit memory may
    /// reserve, e.g. one 2 GiB allocation) is running out of memory as much as growth the
    /// cap refused; the guest sees `memory.grow` fail and usually aborts.
    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.exceeded = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Messages a plugin may log per second before the host drops (and counts) the rest.
const LOG_MESSAGES_PER_SECOND: u32 = 50;

/// The data of one plugin store.
pub struct PluginState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) memory: MemoryCap,
    pub(super) host: Arc<PluginHostContext>,
    pub(super) log_window: Instant,
    pub(super) log_count: u32,
    /// The metrics this instance may use, by id: the TOML's, then those its `init`
    /// declared (each instance declares its own; the same declaration gives the same
    /// registered metric).
    pub(super) metrics: Vec<(MetricDecl, PluginMetric)>,
    /// True while `init` runs: `declare-metric` is refused at any other time.
    pub(super) in_init: bool,
    /// The series this instance sent samples to, by metric id and label values: a sample
    /// for a known series skips building, escaping and admitting its labels.
    pub(super) series: HashMap<u32, HashMap<Vec<String>, Series>>,
    /// The end of what the plugin wrote to standard error (never logged).
    pub(super) stderr: super::stderr_tail::StderrTail,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::TypesHost for PluginState {}

impl Host for PluginState {
    fn log(&mut self, level: Level, message: String) {
        if self.log_window.elapsed() >= Duration::from_secs(1) {
            self.log_window = Instant::now();
            self.log_count = 0;
        }
        self.log_count += 1;
        if self.log_count > LOG_MESSAGES_PER_SECOND {
            crate::telemetry::events::plugin_logs_dropped(&self.host.component);
            return;
        }
        let message = self
            .host
            .secrets
            .scrub(crate::event::prefix_within(&message, 1024));
        let id = &self.host.component.id;
        match level {
            Level::Trace => tracing::trace!(component_id = %id, plugin_message = %message),
            Level::Debug => tracing::debug!(component_id = %id, plugin_message = %message),
            Level::Info => tracing::info!(component_id = %id, plugin_message = %message),
            Level::Warn => tracing::warn!(component_id = %id, plugin_message = %message),
            Level::Error => tracing::error!(component_id = %id, plugin_message = %message),
        }
    }

    fn metric_id(&mut self, name: String) -> Option<u32> {
        let declared = self.metrics.iter().position(|(d, _)| d.name == name);
        let recorded = || {
            let recorder = self.host.recorder.as_ref()?;
            Some(self.metrics.len() + recorder.id(&name))
        };
        declared.or_else(recorded).map(|i| i as u32)
    }

    fn declare_metric(&mut self, decl: WitMetricDecl) -> Result<u32, String> {
        if !self.in_init {
            return Err("declare-metric is only allowed during init".into());
        }
        let kind = match decl.kind {
            WitMetricType::Counter => MetricKind::Counter,
            WitMetricType::Gauge => MetricKind::Gauge,
            WitMetricType::Histogram => MetricKind::Histogram,
            other => {
                return Err(format!(
                    "metric `{}`: a plugin declares counters, gauges or histograms, not {other:?}",
                    decl.name
                ))
            }
        };
        if let Some(i) = self.metrics.iter().position(|(d, _)| d.name == decl.name) {
            // Declared in the TOML (or already by this init): that declaration stands.
            let known = &self.metrics[i].0;
            if known.kind != kind || known.labels != decl.labels {
                return Err(format!(
                    "metric `{}` is declared in the pipeline as a {:?} with labels {:?}, but the plugin declares a {kind:?} with labels {:?}",
                    decl.name, known.kind, known.labels, decl.labels
                ));
            }
            return Ok(i as u32);
        }
        if let Some(recorder) = &self.host.recorder {
            return Ok((self.metrics.len() + recorder.id(&decl.name)) as u32);
        }
        let Some(telemetry) = &self.host.telemetry else {
            return Err("this host takes no metric declarations".into());
        };
        let decl = MetricDecl {
            name: decl.name,
            kind,
            help: decl.help,
            labels: decl.labels,
            buckets: decl.buckets,
            unit: decl.unit,
            max_series: MetricDecl::DEFAULT_MAX_SERIES,
        };
        let metric = telemetry
            .plugin_metric(&decl)
            .map_err(|(field, e)| format!("metric `{}`: `{field}`: {e}", decl.name))?;
        metric.used_by(&self.host.component.id);
        self.metrics.push((decl, metric));
        Ok((self.metrics.len() - 1) as u32)
    }

    fn counter_add(
        &mut self,
        metric: u32,
        labels: Vec<String>,
        value: f64,
        trace_id: Option<String>,
    ) {
        if let Some(series) = self.series(metric, &labels) {
            series.add(value, trace_id);
        } else if let Some((recorder, id)) = self.recorded(metric) {
            recorder.record(id, "counter", labels, value, trace_id);
        }
    }

    fn histogram_observe(
        &mut self,
        metric: u32,
        labels: Vec<String>,
        value: f64,
        trace_id: Option<String>,
    ) {
        if let Some(series) = self.series(metric, &labels) {
            series.observe(value, trace_id);
        } else if let Some((recorder, id)) = self.recorded(metric) {
            recorder.record(id, "histogram", labels, value, trace_id);
        }
    }

    fn histogram_observe_many(
        &mut self,
        metric: u32,
        labels: Vec<String>,
        values: Vec<f64>,
        trace_id: Option<String>,
    ) {
        if let Some(series) = self.series(metric, &labels) {
            series.observe_many(&values, trace_id);
        } else if let Some((recorder, id)) = self.recorded(metric) {
            let last = values.len().saturating_sub(1);
            for (i, value) in values.into_iter().enumerate() {
                let trace = if i == last { trace_id.clone() } else { None };
                recorder.record(id, "histogram", labels.clone(), value, trace);
            }
        }
    }

    fn gauge_set(&mut self, metric: u32, labels: Vec<String>, value: f64) {
        self.gauge(metric, labels, value, false);
    }

    fn gauge_add(&mut self, metric: u32, labels: Vec<String>, value: f64) {
        self.gauge(metric, labels, value, true);
    }
}

/// Series an instance keeps resolved; past this many the cache starts over (a plugin
/// sending ever new label values gains nothing from it; the series limit bounds the rest).
const SERIES_CACHE_LIMIT: usize = 4096;

impl PluginState {
    /// A gauge sample: set (or with `add`, moved) on its series, or recorded.
    fn gauge(&mut self, metric: u32, labels: Vec<String>, value: f64, add: bool) {
        if let Some(series) = self.series(metric, &labels) {
            series.gauge(value, add);
        } else if let Some((recorder, id)) = self.recorded(metric) {
            let kind = if add { "gauge_add" } else { "gauge_set" };
            recorder.record(id, kind, labels, value, None);
        }
    }

    /// For a metric id past the declared ones (`sluice plugin test`): the recorder and the
    /// id it knows the metric by.
    fn recorded(&self, metric: u32) -> Option<(&MetricRecorder, usize)> {
        let recorder = self.host.recorder.as_deref()?;
        let id = (metric as usize).checked_sub(self.metrics.len())?;
        Some((recorder, id))
    }

    /// The series of declared metric `metric` for label `values` (None: not declared).
    fn series(&mut self, metric: u32, values: &[String]) -> Option<Series> {
        let (_, declared) = self.metrics.get(metric as usize)?;
        let known = self.series.entry(metric).or_default();
        if let Some(series) = known.get(values) {
            return Some(series.clone()); // one lookup; the clone is a reference count
        }
        if known.len() >= SERIES_CACHE_LIMIT {
            known.clear();
        }
        let series = declared.series(&self.host.component.id, values.to_vec());
        known.insert(values.to_vec(), series.clone());
        Some(series)
    }
}
