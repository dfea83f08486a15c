//! [`PluginInstance`]: one sandboxed instance of a plugin in its own store, with a memory cap
//! and a deadline on every call (the host functions it imports are in `host.rs`).
//!
//! Sandbox: the WASI context has no preopened directories, no sockets and no environment
//! except the variables a pipeline grants by name; the plugin's stdout and stderr go nowhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::WasiCtx;

use super::bindings::{
    LogTransform, MetricTransform, WitBatch, WitMetricBatch, WitMetricFamily, WitMetricType,
};
use super::engine::{LoadedPlugin, EPOCH_TICK};
use super::host::{MemoryCap, MetricRecorder, PluginHostContext, PluginState};
use super::stderr_tail::StderrTail;
use super::PluginError;
use crate::event::metrics::{MetricFamily, MetricType};
use crate::event::{LogBatch, MetricBatch};

/// Limits and grants for the instances of one transform.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    /// The `config` table as JSON, passed to `init`.
    pub config_json: String,
    /// Wall-clock limit of one `process` call (`init` gets ten times as long).
    pub timeout: Duration,
    /// Linear memory cap per instance, in MiB.
    pub memory_limit_mb: usize,
    /// Environment variables visible to the plugin.
    pub allow_env: Vec<String>,
}

/// One running instance of a plugin. Not shared across threads: each worker owns one.
pub struct PluginInstance {
    store: Store<PluginState>,
    logs: Option<LogTransform>,
    metrics: Option<MetricTransform>,
    timeout: Duration,
    memory_limit_mb: usize,
}

fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
}

impl PluginInstance {
    /// An instance outside any pipeline, for tools and benchmarks (`sluice plugin`, the
    /// boundary benchmarks): its own throwaway metrics, a 10 s call deadline, no
    /// environment, `memory_limit_mb` of linear memory; `recorder` captures the metrics the
    /// plugin emits without declarations.
    pub fn standalone(
        plugin: &LoadedPlugin,
        config_json: &str,
        memory_limit_mb: usize,
        recorder: Option<Arc<MetricRecorder>>,
    ) -> Result<PluginInstance, PluginError> {
        let telemetry = crate::telemetry::Telemetry::new();
        let host = Arc::new(PluginHostContext {
            component: telemetry.component("plugin", "transform"),
            metrics: Vec::new(),
            telemetry: Some(telemetry.clone()),
            recorder,
            secrets: Default::default(),
        });
        let settings = InstanceSettings {
            config_json: config_json.to_owned(),
            timeout: Duration::from_secs(10),
            memory_limit_mb,
            allow_env: Vec::new(),
        };
        PluginInstance::start(plugin, &settings, host)
    }

    /// Instantiates `plugin` in a fresh sandboxed store and runs its `init`.
    pub fn start(
        plugin: &LoadedPlugin,
        settings: &InstanceSettings,
        host: Arc<PluginHostContext>,
    ) -> Result<PluginInstance, PluginError> {
        let mut wasi = WasiCtx::builder();
        for name in &settings.allow_env {
            if let Ok(value) = std::env::var(name) {
                wasi.env(name, value);
            }
        }
        let stderr = StderrTail::default();
        wasi.stderr(stderr.clone());
        let max_bytes = settings.memory_limit_mb.saturating_mul(1 << 20);
        let state = PluginState {
            stderr,
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes,
                exceeded: false,
                total_bytes: 0,
                peak_bytes: 0,
            },
            host: host.clone(),
            log_window: Instant::now(),
            log_count: 0,
            series: Default::default(),
            metrics: host.metrics.clone(),
            in_init: true,
        };
        let mut store = Store::new(&plugin.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(deadline_ticks(settings.timeout * 10));
        let fail = |store: &Store<PluginState>, e| {
            classify(store, e, settings.timeout * 10, settings.memory_limit_mb)
        };
        let component = match plugin.pre.instantiate(&mut store) {
            Ok(c) => c,
            Err(e) => return Err(fail(&store, e)),
        };
        let logs = match plugin.logs.as_ref().map(|i| i.load(&mut store, &component)) {
            Some(Err(e)) => return Err(fail(&store, e)),
            loaded => loaded.and_then(Result::ok),
        };
        let metrics = match plugin
            .metrics
            .as_ref()
            .map(|i| i.load(&mut store, &component))
        {
            Some(Err(e)) => return Err(fail(&store, e)),
            loaded => loaded.and_then(Result::ok),
        };
        let mut instance = PluginInstance {
            logs,
            metrics,
            store,
            timeout: settings.timeout,
            memory_limit_mb: settings.memory_limit_mb,
        };
        // Both worlds export the same `init`.
        let result = match (&instance.logs, &instance.metrics) {
            (Some(l), _) => l.call_init(&mut instance.store, &settings.config_json),
            (None, Some(m)) => m.call_init(&mut instance.store, &settings.config_json),
            (None, None) => unreachable!("loading refuses a plugin of neither world"),
        };
        instance.store.data_mut().in_init = false;
        match result {
            Ok(Ok(())) => {
                host.component.plugin_instance_started();
                Ok(instance)
            }
            Ok(Err(message)) => Err(PluginError::Init(message)),
            Err(e) => Err(classify(
                &instance.store,
                e,
                settings.timeout * 10,
                settings.memory_limit_mb,
            )),
        }
    }

    /// The most linear memory this instance has held so far, over all its memories, in
    /// bytes.
    pub fn peak_memory_bytes(&self) -> usize {
        self.store.data().memory.peak_bytes
    }

    /// Runs the plugin on `batch`. On success the batch's columns are replaced by the
    /// plugin's output (its acknowledgements stay); on failure the batch is left as it was,
    /// so the caller's `on_error` policy can still pass it on.
    pub fn process(&mut self, batch: &mut LogBatch) -> Result<(), PluginError> {
        let input = WitBatch {
            lines: std::mem::take(&mut batch.lines),
            line_ends: std::mem::take(&mut batch.line_ends),
            timestamps: std::mem::take(&mut batch.timestamps),
            label_sets: std::mem::take(&mut batch.label_sets),
            label_set_of: std::mem::take(&mut batch.label_set_of),
            metadata: std::mem::take(&mut batch.metadata),
            metadata_ends: std::mem::take(&mut batch.metadata_ends),
            record_metadata_ends: std::mem::take(&mut batch.record_metadata_ends),
        };
        let Some(bindings) = &self.logs else {
            restore(batch, input);
            return Err(PluginError::Unsupported("logs", "process"));
        };
        self.store.set_epoch_deadline(deadline_ticks(self.timeout));
        let result = bindings.call_process(&mut self.store, &input);
        restore(batch, input);
        match result {
            Ok(Ok(output)) => {
                let mut candidate = LogBatch::default();
                restore(&mut candidate, output);
                batch.take_plugin_output(candidate)?;
                Ok(())
            }
            Ok(Err(message)) => Err(PluginError::Returned(message)),
            Err(e) => Err(classify(&self.store, e, self.timeout, self.memory_limit_mb)),
        }
    }

    /// Runs the plugin on a metric batch, as [`PluginInstance::process`] does on logs: on
    /// success the batch's columns are the plugin's (checked), its acknowledgements stay.
    pub fn process_metrics(&mut self, batch: &mut MetricBatch) -> Result<(), PluginError> {
        let Some(bindings) = &self.metrics else {
            return Err(PluginError::Unsupported("metrics", "process-metrics"));
        };
        let input = WitMetricBatch {
            label_sets: std::mem::take(&mut batch.label_sets),
            series_of: std::mem::take(&mut batch.series_of),
            values: std::mem::take(&mut batch.values),
            timestamps: std::mem::take(&mut batch.timestamps),
            families: batch.families.drain(..).map(wit_family).collect(),
        };
        self.store.set_epoch_deadline(deadline_ticks(self.timeout));
        let result = bindings.call_process_metrics(&mut self.store, &input);
        restore_metrics(batch, input);
        match result {
            Ok(Ok(output)) => {
                let mut candidate = MetricBatch::default();
                restore_metrics(&mut candidate, output);
                candidate.validate()?;
                candidate.acks = batch.take_acks();
                *batch = candidate;
                Ok(())
            }
            Ok(Err(message)) => Err(PluginError::Returned(message)),
            Err(e) => Err(classify(&self.store, e, self.timeout, self.memory_limit_mb)),
        }
    }

    /// Whether the plugin exports `process` (logs) and `process-metrics` (metrics).
    pub fn signals(&self) -> (bool, bool) {
        (self.logs.is_some(), self.metrics.is_some())
    }
}

fn wit_family(f: MetricFamily) -> WitMetricFamily {
    WitMetricFamily {
        name: f.name,
        kind: match f.kind {
            MetricType::Counter => WitMetricType::Counter,
            MetricType::Gauge => WitMetricType::Gauge,
            MetricType::Histogram => WitMetricType::Histogram,
            MetricType::GaugeHistogram => WitMetricType::GaugeHistogram,
            MetricType::Summary => WitMetricType::Summary,
            MetricType::Info => WitMetricType::Info,
            MetricType::StateSet => WitMetricType::StateSet,
            MetricType::Unknown => WitMetricType::Unknown,
        },
        help: f.help,
        unit: f.unit,
    }
}

fn host_family(f: WitMetricFamily) -> MetricFamily {
    MetricFamily {
        name: f.name,
        kind: match f.kind {
            WitMetricType::Counter => MetricType::Counter,
            WitMetricType::Gauge => MetricType::Gauge,
            WitMetricType::Histogram => MetricType::Histogram,
            WitMetricType::GaugeHistogram => MetricType::GaugeHistogram,
            WitMetricType::Summary => MetricType::Summary,
            WitMetricType::Info => MetricType::Info,
            WitMetricType::StateSet => MetricType::StateSet,
            WitMetricType::Unknown => MetricType::Unknown,
        },
        help: f.help,
        unit: f.unit,
    }
}

fn restore_metrics(batch: &mut MetricBatch, wit: WitMetricBatch) {
    batch.label_sets = wit.label_sets;
    batch.series_of = wit.series_of;
    batch.values = wit.values;
    batch.timestamps = wit.timestamps;
    batch.families = wit.families.into_iter().map(host_family).collect();
}

fn restore(batch: &mut LogBatch, wit: WitBatch) {
    batch.lines = wit.lines;
    batch.line_ends = wit.line_ends;
    batch.timestamps = wit.timestamps;
    batch.label_sets = wit.label_sets;
    batch.label_set_of = wit.label_set_of;
    batch.metadata = wit.metadata;
    batch.metadata_ends = wit.metadata_ends;
    batch.record_metadata_ends = wit.record_metadata_ends;
}

/// Turns a wasmtime error from a call into the failure kind it stands for.
fn classify(
    store: &Store<PluginState>,
    error: wasmtime::Error,
    timeout: Duration,
    memory_limit_mb: usize,
) -> PluginError {
    // Out of memory: the cap refused growth, the engine could not grow, or the guest's
    // allocator said so on its standard error before aborting (a request too large to try).
    if store.data().memory.exceeded || store.data().stderr.says_out_of_memory() {
        return PluginError::Memory(memory_limit_mb);
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Timeout(timeout.as_millis() as u64);
    }
    PluginError::Trap(trap_detail(&error))
}

/// A trap's cause first (what went wrong: "wasm `unreachable` instruction executed"), then
/// the innermost frames of its backtrace; never a whole backtrace, never without the cause.
fn trap_detail(error: &wasmtime::Error) -> String {
    let cause = error.root_cause().to_string();
    let text = format!("{error:#}");
    let frames: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.trim().parse::<u32>().is_ok())
        })
        .take(3)
        .collect();
    if frames.is_empty() {
        cause
    } else {
        format!("{cause} (innermost frames: {})", frames.join(" | "))
    }
}
