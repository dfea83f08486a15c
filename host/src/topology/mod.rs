//! Builds the running pipeline from a checked config and runs it: plugins loaded, one
//! bounded channel per consumer, a task per component, the API server with the push
//! routes, and an orderly shutdown (sources stop, in-flight batches drain through
//! transforms to sinks, within `shutdown_timeout_secs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channel::{channel, Fanout, Input, Output};
use crate::config::{ConfigErrors, Graph, LoadedConfig, TransformConfig};
use crate::runtime::PluginRuntime;
use crate::sources::{self, SourceContext};
use crate::telemetry::Telemetry;
use crate::transforms::wasm::{run_chain, WasmTransform};
use crate::{server, sinks};

/// The plugin runtime for a config: compiled components are cached under `data_dir` when
/// it can be created.
pub fn plugin_runtime(data_dir: &Path) -> anyhow::Result<PluginRuntime> {
    let cache = data_dir.join("plugin-cache");
    let cache = std::fs::create_dir_all(&cache).ok().map(|_| cache);
    PluginRuntime::new(cache)
}

/// Loads every plugin and starts one instance of each; all failures are reported, each
/// located at the transform's `plugin`, `config` or `metrics` key.
pub fn build_transforms(
    loaded: &LoadedConfig,
    runtime: &PluginRuntime,
    telemetry: &Telemetry,
) -> Result<BTreeMap<String, WasmTransform>, ConfigErrors> {
    let mut built = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, config) in &loaded.config.transforms {
        let TransformConfig::Wasm(wasm) = config;
        match WasmTransform::build(name, wasm, runtime, telemetry, &loaded.config.data_dir) {
            Ok(t) => {
                built.insert(name.clone(), t);
            }
            Err(e) => errors.push(loaded.error_at(&["transforms", name, e.key], &e.error)),
        }
    }
    if errors.is_empty() {
        Ok(built)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A pipeline whose plugins are loaded and initialised: everything about a config that can
/// fail before it runs has been checked. A reload prepares the new pipeline while the old
/// one still runs, then runs what it prepared (each plugin initialised once).
pub struct Prepared {
    loaded: LoadedConfig,
    transforms: BTreeMap<String, WasmTransform>,
}

impl Prepared {
    /// The config it was prepared from.
    pub fn loaded(&self) -> &LoadedConfig {
        &self.loaded
    }
}

/// Creates `data_dir` and loads and initialises every plugin of `loaded`.
pub fn prepare(loaded: LoadedConfig, telemetry: &Telemetry) -> anyhow::Result<Prepared> {
    let data_dir = &loaded.config.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data_dir `{}`", data_dir.display()))?;
    let runtime = plugin_runtime(data_dir)?;
    let transforms =
        build_transforms(&loaded, &runtime, telemetry).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Prepared { loaded, transforms })
}

/// Runs the pipeline until `shutdown` is cancelled or every source has finished, then
/// drains it. Returns an error if it cannot start or the drain outlives its deadline.
/// `telemetry` outlives the run (a reload keeps the counters); `reload`, when given, is
/// where `POST /-/reload` sends its requests.
pub async fn run(
    prepared: Prepared,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    reload: Option<crate::reload::ReloadSender>,
) -> anyhow::Result<()> {
    let Prepared {
        loaded,
        mut transforms,
    } = prepared;
    let config = &loaded.config;
    let graph = Graph::of(config);
    // Transforms in a straight line run fused (see `run_chain`).
    let chains = graph.transform_chains(|a, b| transforms[a].workers() == transforms[b].workers());

    // One input channel per consumer: each chain's first transform and each sink (a fused
    // stage after the first is fed inside its chain).
    let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
    let mut inputs: BTreeMap<String, Input> = BTreeMap::new();
    for (name, kind) in chains
        .iter()
        .map(|chain| (&chain[0], "transform"))
        .chain(config.sinks.keys().map(|n| (n, "sink")))
    {
        let (tx, rx) = channel(telemetry.component(name, kind).channel_depth());
        outputs.insert(name.clone(), tx);
        inputs.insert(name.clone(), rx);
    }
    let fanout = |name: &str| {
        Fanout::new(
            graph
                .consumers(name)
                .iter()
                .map(|c| outputs[c].clone())
                .collect(),
        )
    };

    let mut downstream = JoinSet::new();
    let mut sink_metrics = Vec::new();
    for (name, sink) in &config.sinks {
        let input = inputs.remove(name).expect("a channel per sink");
        let metrics = telemetry.component(name, "sink");
        sink_metrics.push(metrics.clone());
        let task = sinks::build(sink, input, metrics)
            .map_err(|e| loaded.error_at(&["sinks", name], &e))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        downstream.spawn(task);
    }
    for chain in &chains {
        let stages: Vec<WasmTransform> = chain
            .iter()
            .map(|name| transforms.remove(name).expect("built above"))
            .collect();
        let input = inputs.remove(&chain[0]).expect("a channel per chain");
        let last = chain.last().expect("chains are not empty");
        downstream.spawn(run_chain(stages, input, fanout(last)));
    }

    let source_stop = CancellationToken::new();
    let mut source_tasks = JoinSet::new();
    let mut routes = Vec::new();
    for (name, source) in &config.sources {
        let built = sources::build(
            source,
            SourceContext {
                name: name.clone(),
                metrics: telemetry.component(name, "source"),
                out: fanout(name),
                shutdown: source_stop.clone(),
                data_dir: config.data_dir.clone(),
            },
        );
        if let Some(task) = built.task {
            source_tasks.spawn(task);
        }
        if let Some(route) = built.route {
            routes.push(route);
        }
    }
    // Only the components hold senders now, so channels close as producers finish.
    drop(outputs);

    let ready = Arc::new(AtomicBool::new(false));
    let server_stop = CancellationToken::new();
    let has_push_routes = !routes.is_empty();
    let server = if config.api.enabled {
        let (_, task) = server::start(
            config.api.address,
            telemetry.clone(),
            ready.clone(),
            routes,
            server_stop.clone(),
            reload,
        )
        .await?;
        Some(task)
    } else {
        anyhow::ensure!(
            !has_push_routes,
            "a push source needs the API server, but `[api] enabled = false`"
        );
        None
    };
    ready.store(true, Ordering::Release);
    tracing::info!(
        sources = config.sources.len(),
        transforms = config.transforms.len(),
        sinks = config.sinks.len(),
        "pipeline running"
    );

    // Run until told to stop, or until every source is done (and none can be pushed to).
    let finished_alone = tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = async {
            while source_tasks.join_next().await.is_some() {}
            if has_push_routes { std::future::pending::<()>().await }
        } => true,
    };
    ready.store(false, Ordering::Release);
    tracing::info!(
        reason = if finished_alone {
            "sources finished"
        } else {
            "signal"
        },
        "shutting down: draining the pipeline"
    );
    let deadline = Duration::from_secs(config.shutdown_timeout_secs);
    let drained = tokio::time::timeout(deadline, async {
        source_stop.cancel();
        while source_tasks.join_next().await.is_some() {}
        server_stop.cancel();
        if let Some(server) = server {
            let _ = server.await;
        }
        while downstream.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => {
            for name in config.transforms.keys() {
                let m = telemetry.component(name, "transform");
                tracing::info!(
                    component_id = %m.id,
                    records = m.sent_events.get(),
                    plugin_cpu_seconds = m.plugin_cpu_seconds().get(),
                    "transform total"
                );
            }
            for m in &sink_metrics {
                tracing::info!(
                    component_id = %m.id,
                    records = m.sent_events.get(),
                    bytes = m.sent_bytes.get(),
                    "sink total"
                );
            }
            tracing::info!("pipeline drained; bye");
            Ok(())
        }
        Err(_) => anyhow::bail!(
            "the pipeline did not drain within shutdown_timeout_secs = {}; records in flight may be lost",
            config.shutdown_timeout_secs
        ),
    }
}
