//! The `wasm` transform: runs a plugin on every batch with a pool of sandboxed instances
//! (one per worker thread), keeping batch order. A failed call is handled by `on_error`:
//! `pass` forwards the batch unchanged, `drop` discards it, `dead_letter` writes it to a
//! JSON-lines file; each is counted. A trapped, timed-out or out-of-memory instance is
//! replaced before the next batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Stage, Transform};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::config::Secrets;
use crate::dead_letter::{DeadLetter, Reason};
use crate::event::{Events, LogBatch, MetricBatch, Signal};
use crate::runtime::{
    InstanceSettings, LoadedPlugin, PluginError, PluginHostContext, PluginInstance, PluginRuntime,
};
use crate::telemetry::cpu::thread_cpu_seconds;
use crate::telemetry::metrics::MetricDecl;
use crate::telemetry::{events, ComponentMetrics, Telemetry};

/// What a transform does with a batch whose plugin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Forward the batch unchanged (logs are never lost to a plugin bug).
    Pass,
    /// Drop the batch (counted).
    Drop,
    /// Write the batch to the transform's dead-letter file (counted).
    DeadLetter,
}

/// `type = "wasm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmTransformConfig {
    /// Path of the component (`.wasm`).
    pub plugin: PathBuf,
    /// The plugin's own settings, passed to its `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default = "default_on_error")]
    pub on_error: OnError,
    /// Where `on_error = "dead_letter"` writes failed batches (JSON lines). Defaults to
    /// `DATA_DIR/dead_letter/NAME.jsonl`.
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// Plugin instances working in parallel (output order is kept).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Wall-clock limit for one call, in milliseconds.
    #[serde(default = "default_plugin_timeout")]
    pub timeout_ms: u64,
    /// Linear memory limit per instance, in MiB.
    #[serde(default = "default_plugin_memory")]
    pub memory_limit_mb: usize,
    /// Environment variables the plugin may read (names; values come from the collector's
    /// environment). Nothing else from the environment is visible.
    #[serde(default)]
    pub allow_env: Vec<String>,
    /// Metrics the plugin may emit through `counter-add` / `histogram-observe`.
    #[serde(default)]
    pub metrics: Vec<MetricDecl>,
}

fn default_on_error() -> OnError {
    OnError::Pass
}
fn default_workers() -> usize {
    1
}
fn default_plugin_timeout() -> u64 {
    1000
}
fn default_plugin_memory() -> usize {
    64
}

impl ComponentConfig<dyn Transform> for WasmTransformConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Transform>, CheckErrors> {
        self.plugin = ctx.resolve(&self.plugin);
        if let Some(p) = &mut self.dead_letter_path {
            *p = ctx.resolve(p);
        }
        let built = WasmTransform::build(
            ctx.name,
            &self,
            ctx.runtime,
            ctx.telemetry,
            ctx.data_dir,
            ctx.secrets,
        )
            .map_err(|e| CheckError::at(&e.key, e.error))?;
        Ok(Box::new(built))
    }
}

/// A transform ready to run: its plugin loaded and one instance started (so a broken
/// plugin or config fails at start-up, not on the first batch).
pub struct WasmTransform {
    pub name: String,
    plugin: LoadedPlugin,
    settings: InstanceSettings,
    host: Arc<PluginHostContext>,
    on_error: OnError,
    dead_letter: Arc<DeadLetter>,
    workers: usize,
    metrics: ComponentMetrics,
    first_instance: Option<PluginInstance>,
}

/// Why a transform could not be built, with the config key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BuildError {
    /// `plugin`, `config` or `metrics.N.field`: the key of `[transforms.NAME]` to point at.
    pub key: String,
    pub error: String,
}

impl WasmTransform {
    /// Loads the plugin, registers its declared metrics and starts its first instance.
    pub fn build(
        name: &str,
        config: &WasmTransformConfig,
        runtime: &PluginRuntime,
        telemetry: &Telemetry,
        data_dir: &Path,
        secrets: &Secrets,
    ) -> Result<WasmTransform, BuildError> {
        let metrics = telemetry.component(name, "transform");
        let mut declared = Vec::new();
        for (i, decl) in config.metrics.iter().enumerate() {
            let metric = telemetry
                .plugin_metric(decl)
                .map_err(|(field, error)| BuildError {
                    key: format!("metrics.{i}.{field}"),
                    error,
                })?;
            metric.used_by(name);
            declared.push((decl.clone(), metric));
        }
        let plugin = runtime.load(&config.plugin).map_err(|e| BuildError {
            key: "plugin".into(),
            error: e.to_string(),
        })?;
        tracing::info!(
            component_id = name,
            plugin = %plugin.path.display(),
            bytes = plugin.size,
            load_ms = plugin.load_time.as_millis() as u64,
            cache = ?plugin.cache,
            "plugin loaded"
        );
        let config_json = serde_json::to_string(&config.config).map_err(|e| BuildError {
            key: "config".into(),
            error: format!("cannot pass the config to the plugin as JSON: {e}"),
        })?;
        let settings = InstanceSettings {
            config_json,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            memory_limit_mb: config.memory_limit_mb.max(1),
            allow_env: config.allow_env.clone(),
        };
        let host = Arc::new(PluginHostContext {
            component: metrics.clone(),
            metrics: declared,
            telemetry: Some(telemetry.clone()),
            recorder: None,
            secrets: secrets.clone(),
        });
        let first =
            PluginInstance::start(&plugin, &settings, host.clone()).map_err(|e| BuildError {
                key: if matches!(e, PluginError::Init(_)) {
                    "config".into()
                } else {
                    "plugin".into()
                },
                error: e.to_string(),
            })?;
        let dead_letter_path = config
            .dead_letter_path
            .clone()
            .unwrap_or_else(|| data_dir.join("dead_letter").join(format!("{name}.jsonl")));
        Ok(WasmTransform {
            name: name.to_string(),
            dead_letter: Arc::new(DeadLetter::new(Some(dead_letter_path), name)),
            plugin,
            settings,
            host,
            on_error: config.on_error,
            workers: config.workers.max(1),
            metrics,
            first_instance: Some(first),
        })
    }

    /// A worker: an instance slot plus what it needs to process batches on its own.
    fn worker(&mut self) -> Worker {
        Worker {
            plugin: self.plugin.clone(),
            settings: self.settings.clone(),
            host: self.host.clone(),
            on_error: self.on_error,
            dead_letter: self.dead_letter.clone(),
            metrics: self.metrics.clone(),
            instance: self.first_instance.take(),
            retry_at: None,
        }
    }

}

impl Transform for WasmTransform {
    fn name(&self) -> &str {
        &self.name
    }

    fn workers(&self) -> usize {
        self.workers
    }

    fn metrics(&self) -> &ComponentMetrics {
        &self.metrics
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        vec![self.plugin.path.clone()]
    }

    fn signals(&self) -> Vec<Signal> {
        self.plugin.signals()
    }

    fn worker(&mut self) -> Box<dyn Stage> {
        Box::new(WasmTransform::worker(self))
    }

    fn process_blocking(&mut self, batch: LogBatch) -> LogBatch {
        let mut worker = WasmTransform::worker(self);
        let out = Worker::process(&mut worker, batch);
        self.first_instance = worker.instance.take();
        out
    }
}

/// One worker's instance and policy. Lives on its worker thread.
struct Worker {
    plugin: LoadedPlugin,
    settings: InstanceSettings,
    host: Arc<PluginHostContext>,
    on_error: OnError,
    dead_letter: Arc<DeadLetter>,
    metrics: ComponentMetrics,
    instance: Option<PluginInstance>,
    /// After a failed restart, when to try again (batches meanwhile go to `on_error`).
    retry_at: Option<Instant>,
}

impl Worker {
    fn ensure_instance(&mut self) -> Option<&mut PluginInstance> {
        if self.instance.is_none() && self.retry_at.is_none_or(|t| Instant::now() >= t) {
            match PluginInstance::start(&self.plugin, &self.settings, self.host.clone()) {
                Ok(i) => {
                    self.instance = Some(i);
                    self.retry_at = None;
                }
                Err(e) => {
                    events::plugin_call_failed(&self.metrics, "restart", 0, &e.to_string());
                    self.retry_at = Some(Instant::now() + Duration::from_secs(1));
                }
            }
        }
        self.instance.as_mut()
    }

    fn process(&mut self, mut batch: LogBatch) -> LogBatch {
        let call_seconds = self.metrics.plugin_call_seconds();
        let cpu_seconds = self.metrics.plugin_cpu_seconds();
        let records = batch.len();
        let error = match self.ensure_instance() {
            None => PluginError::Trap("no healthy instance; restart pending".into()),
            Some(instance) => {
                let started = Instant::now();
                let cpu_before = thread_cpu_seconds();
                let result = instance.process(&mut batch);
                cpu_seconds.inc_by((thread_cpu_seconds() - cpu_before).max(0.0));
                call_seconds.observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(()) => return batch,
                    Err(e) => e,
                }
            }
        };
        events::plugin_call_failed(&self.metrics, error.kind(), records, &error.to_string());
        if error.poisons_instance() {
            self.instance = None;
        }
        match self.on_error {
            OnError::Pass => batch,
            OnError::Drop => {
                events::records_discarded(&self.metrics, "plugin_failed", records);
                drop_records(batch)
            }
            OnError::DeadLetter => {
                let message = error.to_string();
                let why = Reason {
                    reason: "dead_lettered",
                    error_kind: Some(error.kind()),
                    status: None,
                    message: &message,
                    tenant: None,
                };
                match self.dead_letter.write_batch(&batch, &why) {
                    Ok(()) => {
                        events::records_discarded(&self.metrics, "dead_lettered", records);
                        drop_records(batch)
                    }
                    Err(e) => {
                        // Losing records silently is worse than passing them on.
                        events::component_error(
                            &self.metrics,
                            "dead_letter_failed",
                            &format!("{e}; passing the batch on"),
                        );
                        batch
                    }
                }
            }
        }
    }
}

impl Worker {
    /// One metric batch through the plugin, with the same deadline, restart and
    /// `on_error` handling as logs; failed samples cannot be dead-lettered (the dead-letter
    /// file holds log records), so `dead_letter` drops them, counted and logged.
    fn process_metrics(&mut self, mut batch: MetricBatch) -> MetricBatch {
        let call_seconds = self.metrics.plugin_call_seconds();
        let cpu_seconds = self.metrics.plugin_cpu_seconds();
        let samples = batch.len();
        let error = match self.ensure_instance() {
            None => PluginError::Trap("no healthy instance; restart pending".into()),
            Some(instance) => {
                let started = Instant::now();
                let cpu_before = thread_cpu_seconds();
                let result = instance.process_metrics(&mut batch);
                cpu_seconds.inc_by((thread_cpu_seconds() - cpu_before).max(0.0));
                call_seconds.observe(started.elapsed().as_secs_f64());
                match result {
                    Ok(()) => return batch,
                    Err(e) => e,
                }
            }
        };
        events::plugin_call_failed(&self.metrics, error.kind(), samples, &error.to_string());
        if error.poisons_instance() {
            self.instance = None;
        }
        match self.on_error {
            OnError::Pass => batch,
            OnError::Drop | OnError::DeadLetter => {
                events::records_discarded(&self.metrics, "plugin_failed", samples);
                MetricBatch {
                    acks: batch.take_acks(),
                    ..Default::default()
                }
            }
        }
    }
}

impl Stage for Worker {
    fn process(&mut self, batch: Events) -> Events {
        match batch {
            Events::Logs(batch) => Events::Logs(Worker::process(self, batch)),
            Events::Metrics(batch) => Events::Metrics(self.process_metrics(batch)),
        }
    }

    fn metrics(&self) -> &ComponentMetrics {
        &self.metrics
    }
}

/// An empty batch that still carries the acknowledgements of the records it dropped.
fn drop_records(mut batch: LogBatch) -> LogBatch {
    LogBatch {
        acks: batch.take_acks(),
        ..Default::default()
    }
}
