//! The `wasm` transform: runs a plugin on every batch with a pool of sandboxed instances
//! (one per worker thread), keeping batch order. A failed call is handled by `on_error`:
//! `pass` forwards the batch unchanged, `drop` discards it, `dead_letter` writes it to a
//! JSON-lines file; each is counted. A trapped, timed-out or out-of-memory instance is
//! replaced before the next batch.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::oneshot;

use crate::channel::{Fanout, Input};
use crate::config::{OnError, WasmTransformConfig};
use crate::event::LogBatch;
use crate::runtime::{
    InstanceSettings, LoadedPlugin, PluginError, PluginHostContext, PluginInstance, PluginRuntime,
};
use crate::telemetry::cpu::thread_cpu_seconds;
use crate::telemetry::{events, ComponentMetrics, Telemetry};

/// A transform ready to run: its plugin loaded and one instance started (so a broken
/// plugin or config fails at start-up, not on the first batch).
pub struct WasmTransform {
    pub name: String,
    plugin: LoadedPlugin,
    settings: InstanceSettings,
    host: Arc<PluginHostContext>,
    on_error: OnError,
    dead_letter_path: PathBuf,
    workers: usize,
    metrics: ComponentMetrics,
    first_instance: Option<PluginInstance>,
}

/// Why a transform could not be built, with the config key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BuildError {
    /// `plugin`, `config` or `metrics`: the key of `[transforms.NAME]` to point at.
    pub key: &'static str,
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
    ) -> Result<WasmTransform, BuildError> {
        let metrics = telemetry.component(name, "transform");
        let mut declared = Vec::new();
        for decl in &config.metrics {
            let metric = telemetry.plugin_metric(decl).map_err(|error| BuildError {
                key: "metrics",
                error,
            })?;
            declared.push((decl.name.clone(), metric));
        }
        let plugin = runtime.load(&config.plugin).map_err(|e| BuildError {
            key: "plugin",
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
            key: "config",
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
            recorder: None,
        });
        let first =
            PluginInstance::start(&plugin, &settings, host.clone()).map_err(|e| BuildError {
                key: if matches!(e, PluginError::Init(_)) {
                    "config"
                } else {
                    "plugin"
                },
                error: e.to_string(),
            })?;
        Ok(WasmTransform {
            name: name.to_string(),
            dead_letter_path: config
                .dead_letter_path
                .clone()
                .unwrap_or_else(|| data_dir.join("dead_letter").join(format!("{name}.jsonl"))),
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
            dead_letter_path: self.dead_letter_path.clone(),
            metrics: self.metrics.clone(),
            instance: self.first_instance.take(),
            retry_at: None,
        }
    }

    /// Processes one batch on the calling thread (used by `sluice test`).
    pub fn process_blocking(&mut self, batch: LogBatch) -> LogBatch {
        let mut worker = self.worker();
        let out = worker.process(batch);
        self.first_instance = worker.instance.take();
        out
    }

    /// How many worker threads (instances) this transform runs.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// Runs `stages` (transforms where each feeds only the next, or one transform alone; see
/// `Graph::transform_chains`) fused, keeping batch order: every worker thread holds an
/// instance of each stage and takes a batch through all of them in turn. Against a thread
/// and channel per stage this saves the hand-offs between stages and keeps each batch in
/// the cache of one core (bench/RESULTS.md). Each stage keeps its own metrics, `on_error`
/// policy and instance restarts; the stages must have the same number of workers.
pub async fn run_chain(mut stages: Vec<WasmTransform>, mut input: Input, out: Fanout) {
    let Some(first) = stages.first() else { return };
    let name = first.name.clone();
    let workers = first.workers;
    let received = first.metrics.clone();
    let sent = stages.last().expect("not empty").metrics.clone();
    if stages.len() > 1 {
        tracing::info!(
            transforms = ?stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            "transforms fused: each batch goes through them on one thread"
        );
    }
    let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(workers);
    let mut threads = Vec::new();
    for i in 0..workers {
        let mut chain: Vec<Worker> = stages.iter_mut().map(WasmTransform::worker).collect();
        let jobs = jobs_rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wasm-{name}-{i}"))
            .spawn(move || {
                for job in jobs {
                    let _ = job.reply.send(process_chain(&mut chain, job.batch));
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                tracing::error!(component_id = %name, error = %e, "cannot start a plugin worker")
            }
        }
    }
    drop(jobs_rx);
    if threads.is_empty() {
        return;
    }
    let in_flight_limit = workers * 2;
    let mut in_flight = FuturesOrdered::new();
    let mut input_open = true;
    loop {
        tokio::select! {
            batch = input.recv(), if input_open && in_flight.len() < in_flight_limit => {
                let Some(batch) = batch else { input_open = false; continue; };
                received.received(batch.len(), batch.line_bytes());
                let (reply, result) = oneshot::channel();
                let tx = jobs_tx.clone();
                let job = Job { batch, reply };
                // The job queue holds `workers` jobs; waiting for room blocks, so hand it
                // to the blocking pool.
                let queued = tokio::task::spawn_blocking(move || tx.send(job).is_ok()).await;
                if !matches!(queued, Ok(true)) {
                    break;
                }
                in_flight.push_back(result);
            }
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let Ok(batch) = done else { break };
                if batch.is_empty() && batch.acks.is_empty() {
                    continue;
                }
                let (records, bytes) = (batch.len(), batch.line_bytes());
                if out.send(batch).await.is_err() {
                    break;
                }
                sent.sent(records, bytes);
            }
            else => break,
        }
    }
    drop(jobs_tx);
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
}

/// One batch through every stage of a chain; the first stage's `received` and the last
/// stage's `sent` are counted by the caller, the counts between stages here.
fn process_chain(chain: &mut [Worker], mut batch: LogBatch) -> LogBatch {
    let last = chain.len() - 1;
    for (i, stage) in chain.iter_mut().enumerate() {
        if i > 0 {
            if batch.is_empty() {
                break;
            }
            stage.metrics.received(batch.len(), batch.line_bytes());
        }
        batch = stage.process(batch);
        if i < last {
            stage.metrics.sent(batch.len(), batch.line_bytes());
        }
    }
    batch
}

struct Job {
    batch: LogBatch,
    reply: oneshot::Sender<LogBatch>,
}

/// One worker's instance and policy. Lives on its worker thread.
struct Worker {
    plugin: LoadedPlugin,
    settings: InstanceSettings,
    host: Arc<PluginHostContext>,
    on_error: OnError,
    dead_letter_path: PathBuf,
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
                match write_dead_letter(&self.dead_letter_path, &batch, &error) {
                    Ok(()) => {
                        events::records_discarded(&self.metrics, "dead_lettered", records);
                        drop_records(batch)
                    }
                    Err(e) => {
                        // Losing records silently is worse than passing them on.
                        events::component_error(
                            &self.metrics,
                            "dead_letter_failed",
                            &format!(
                                "{}: {e}; passing the batch on",
                                self.dead_letter_path.display()
                            ),
                        );
                        batch
                    }
                }
            }
        }
    }
}

/// An empty batch that still carries the acknowledgements of the records it dropped.
fn drop_records(mut batch: LogBatch) -> LogBatch {
    LogBatch {
        acks: batch.take_acks(),
        ..Default::default()
    }
}

fn write_dead_letter(path: &Path, batch: &LogBatch, error: &PluginError) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = Vec::new();
    for record in batch.records() {
        out.extend_from_slice(b"{\"error_kind\":");
        serde_json::to_writer(&mut out, error.kind())?;
        out.extend_from_slice(b",\"record\":");
        crate::encode::json_record(&record, &mut out);
        out.extend_from_slice(b"}\n");
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&out)?;
    file.sync_data()
}
