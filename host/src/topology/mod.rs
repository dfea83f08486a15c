//! Builds the running pipeline from a checked config and runs it: plugins loaded, one
//! bounded channel per consumer, a task per component, the API server with the push
//! routes, and an orderly shutdown (sources stop, in-flight batches drain through
//! transforms to sinks, within `shutdown_timeout_secs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channel::{channel, Fanout, Input, Output};
use crate::component::{self, CheckContext, CheckErrors, Kind};
use crate::config::{
    ComponentTable, ConfigError, ConfigErrors, Graph, LoadedConfig, NodeKind, Schema,
};
use crate::event::Signal;
use crate::runtime::PluginRuntime;
use crate::server::{self, ReloadSender};
use crate::sinks::{self, Sink};
use crate::sources::{self, Source, SourceContext};
use crate::telemetry::Telemetry;
use crate::transforms::{self, run_chain, Transform};

/// The component registries (`sources::KINDS`, `transforms::KINDS`, `sinks::KINDS`) as the
/// schema config loading checks each component's table against.
pub struct Registry;

/// The one schema of this build.
pub static SCHEMA: Registry = Registry;

impl Schema for Registry {
    fn kinds(&self, section: NodeKind) -> Vec<&'static str> {
        match section {
            NodeKind::Source => sources::KINDS.iter().map(|k| k.name).collect(),
            NodeKind::Transform => transforms::KINDS.iter().map(|k| k.name).collect(),
            NodeKind::Sink => sinks::KINDS.iter().map(|k| k.name).collect(),
        }
    }

    fn parse(&self, section: NodeKind, kind: &str, options: toml::Value) -> Result<(), String> {
        let parsed = match section {
            NodeKind::Source => component::find(sources::KINDS, kind).map(|k| k.parse(options)),
            NodeKind::Transform => {
                component::find(transforms::KINDS, kind).map(|k| k.parse(options))
            }
            NodeKind::Sink => component::find(sinks::KINDS, kind).map(|k| k.parse(options)),
        };
        parsed.unwrap_or_else(|| Err(format!("unknown variant `{kind}`")))
    }
}

/// Reads and checks the pipeline file at `path` against this build's component kinds.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    crate::config::load(path, &SCHEMA)
}

/// What checking one section needs: the loaded file and everything a check may use.
struct Checker<'a> {
    loaded: &'a LoadedConfig,
    base_dir: PathBuf,
    runtime: &'a PluginRuntime,
    telemetry: &'a Telemetry,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// Checks every component of `section` with its kind from `kinds`.
    fn section<B: ?Sized>(
        &mut self,
        section: NodeKind,
        tables: &BTreeMap<String, ComponentTable>,
        kinds: &[Kind<B>],
    ) -> BTreeMap<String, Box<B>> {
        let mut built = BTreeMap::new();
        for (name, table) in tables {
            let ctx = CheckContext {
                name,
                base_dir: &self.base_dir,
                data_dir: &self.loaded.config.data_dir,
                telemetry: self.telemetry,
                runtime: self.runtime,
                secrets: &self.loaded.secrets,
            };
            let Some(kind) = component::find(kinds, &table.kind) else {
                // Loading refused unknown kinds already.
                self.errors.push(self.loaded.error_at(
                    &[section.section(), name, "type"],
                    &format!("unknown variant `{}`", table.kind),
                ));
                continue;
            };
            match kind.check(table.options.clone(), &ctx) {
                Ok(component) => {
                    built.insert(name.clone(), component);
                }
                Err(CheckErrors(errors)) => {
                    for e in errors {
                        let mut path = vec![section.section(), name.as_str()];
                        path.extend(e.key.split('.').filter(|k| !k.is_empty()));
                        self.errors.push(self.loaded.error_at(&path, &e.message));
                    }
                }
            }
        }
        built
    }
}

/// Loads every plugin and starts one instance of each; all failures are reported, each
/// located at the transform's `plugin`, `config` or `metrics` key.
pub fn build_transforms(
    loaded: &LoadedConfig,
    runtime: &PluginRuntime,
    telemetry: &Telemetry,
) -> Result<BTreeMap<String, Box<dyn Transform>>, ConfigErrors> {
    let mut checker = Checker {
        loaded,
        base_dir: loaded.base_dir(),
        runtime,
        telemetry,
        errors: Vec::new(),
    };
    let built = checker.section(
        NodeKind::Transform,
        &loaded.config.transforms,
        transforms::KINDS,
    );
    if checker.errors.is_empty() {
        Ok(built)
    } else {
        Err(ConfigErrors(checker.errors))
    }
}

/// A pipeline whose every component was checked and built: what can fail about a config
/// before it runs has failed here (plugins loaded and initialised, sink clients built,
/// globs and routes checked). `sluice validate`, the reload check and `sluice run` all go
/// through [`prepare`]; a reload prepares the new pipeline while the old one still runs,
/// then runs what it prepared (each plugin initialised once).
pub struct Prepared {
    loaded: LoadedConfig,
    /// `[api.tls]`, loaded.
    api_tls: Option<Arc<rustls::ServerConfig>>,
    sources: BTreeMap<String, Box<dyn Source>>,
    transforms: BTreeMap<String, Box<dyn Transform>>,
    sinks: BTreeMap<String, Box<dyn Sink>>,
}

impl Prepared {
    /// The config it was prepared from.
    pub fn loaded(&self) -> &LoadedConfig {
        &self.loaded
    }

    /// The files whose change should reload the pipeline: its config file and every file
    /// a component names for that (plugins).
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.loaded.file.clone()];
        for t in self.transforms.values() {
            files.extend(t.watched_files());
        }
        files
    }
}

/// Creates `data_dir` and checks every component of `loaded` (loading and initialising
/// plugins); every failure is reported, located at its key.
pub fn prepare(loaded: LoadedConfig, telemetry: &Telemetry) -> Result<Prepared, ConfigErrors> {
    let data_dir = &loaded.config.data_dir;
    if let Err(e) = std::fs::create_dir_all(data_dir) {
        let message = format!("cannot create `{}`: {e}", data_dir.display());
        return Err(ConfigErrors(vec![loaded.error_at(&["data_dir"], &message)]));
    }
    let runtime = PluginRuntime::for_data_dir(data_dir)
        .map_err(|e| ConfigErrors(vec![loaded.error_at(&[], &format!("{e:#}"))]))?;
    let mut checker = Checker {
        loaded: &loaded,
        base_dir: loaded.base_dir(),
        runtime: &runtime,
        telemetry,
        errors: Vec::new(),
    };
    let config = &loaded.config;
    let sources = checker.section(NodeKind::Source, &config.sources, sources::KINDS);
    let transforms = checker.section(NodeKind::Transform, &config.transforms, transforms::KINDS);
    let sinks = checker.section(NodeKind::Sink, &config.sinks, sinks::KINDS);

    // What no single component can see: routes against each other and the server, and
    // the signal on each edge.
    let mut routes: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let served = sources
        .iter()
        .filter_map(|(name, s)| Some(("sources", name, s.push_path()?, "a push source")))
        .chain(
            sinks
                .iter()
                .filter_map(|(name, s)| Some(("sinks", name, s.serve_path()?, "this sink"))),
        );
    for (section, name, path, what) in served {
        if !config.api.enabled {
            checker.errors.push(loaded.error_at(
                &[section, name],
                &format!("{what} serves on the API server, but `[api] enabled = false`"),
            ));
        }
        if let Some((other_section, other)) = routes.insert(path, (section, name)) {
            let other_kind = if other_section == "sources" {
                "source"
            } else {
                "sink"
            };
            checker.errors.push(loaded.error_at(
                &[section, name, "path"],
                &format!("`{path}` is also the path of {other_kind} `{other}`"),
            ));
        }
    }
    check_signals(&loaded, &sources, &transforms, &sinks, &mut checker.errors);
    let api_tls = config.api.tls.as_ref().and_then(|t| {
        let resolve = |p: &Path| checker.base_dir.join(p);
        let ca = t.client_ca_file.as_deref().map(resolve);
        match server::tls::server_config(
            &resolve(&t.crt_file),
            &resolve(&t.key_file),
            ca.as_deref(),
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                checker
                    .errors
                    .push(loaded.error_at(&["api", "tls", e.key], &e.message));
                None
            }
        }
    });
    for (name, table) in &config.sinks {
        if let Some(crate::config::BufferConfig::Disk { max_size, .. }) = &table.buffer {
            if max_size.0 < MIN_DISK_BUFFER {
                checker.errors.push(loaded.error_at(
                    &["sinks", name, "buffer", "max_size"],
                    &format!(
                        "a disk buffer needs at least {MIN_DISK_BUFFER} bytes (1MiB), got {}",
                        max_size.0
                    ),
                ));
            }
        }
    }
    let errors = std::mem::take(&mut checker.errors);
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Prepared {
        loaded,
        api_tls,
        sources,
        transforms,
        sinks,
    })
}

/// The smallest disk buffer a sink may have.
const MIN_DISK_BUFFER: u64 = 1 << 20;

/// Checks that every component takes the signal (logs or metrics) its inputs produce:
/// a metrics source cannot feed a Loki sink, nor a log-only plugin. A transform carries
/// its inputs' signal, so they must agree.
fn check_signals(
    loaded: &LoadedConfig,
    sources: &BTreeMap<String, Box<dyn Source>>,
    transforms: &BTreeMap<String, Box<dyn Transform>>,
    sinks: &BTreeMap<String, Box<dyn Sink>>,
    errors: &mut Vec<ConfigError>,
) {
    let config = &loaded.config;
    let mut produced: BTreeMap<&str, Signal> = sources
        .iter()
        .map(|(n, s)| (n.as_str(), s.signal()))
        .collect();
    let refusal =
        |section: &str, name: &str, kind: &str, input: &str, signal: Signal, takes: &[Signal]| {
            let takes: Vec<&str> = takes.iter().map(|s| s.as_str()).collect();
            loaded.error_at(
                &[section, name, "inputs"],
                &format!(
                    "`{input}` produces {}, but this {} (`{kind}`) takes only {}",
                    signal.as_str(),
                    &section[..section.len() - 1],
                    takes.join(" and ")
                ),
            )
        };
    for name in Graph::of(config).transforms_in_order() {
        let (Some(t), Some(table)) = (transforms.get(&name), config.transforms.get(&name)) else {
            continue;
        };
        let takes = t.signals();
        let mut carried: Option<Signal> = None;
        for input in &table.inputs {
            let Some(&signal) = produced.get(input.as_str()) else {
                continue; // unknown inputs were reported by the graph check
            };
            if !takes.contains(&signal) {
                errors.push(refusal(
                    "transforms",
                    &name,
                    &table.kind,
                    input,
                    signal,
                    &takes,
                ));
            } else if carried.is_some_and(|c| c != signal) {
                errors.push(loaded.error_at(
                    &["transforms", &name, "inputs"],
                    "its inputs mix logs and metrics; a transform takes one signal",
                ));
            } else {
                carried = Some(signal);
            }
        }
        if let Some(signal) = carried {
            let key = transforms.keys().find(|k| **k == name).expect("present");
            produced.insert(key.as_str(), signal);
        }
    }
    for (name, sink) in sinks {
        let Some(table) = config.sinks.get(name) else {
            continue;
        };
        for input in &table.inputs {
            if let Some(&signal) = produced.get(input.as_str()) {
                if !sink.accepts().contains(&signal) {
                    errors.push(refusal(
                        "sinks",
                        name,
                        &table.kind,
                        input,
                        signal,
                        sink.accepts(),
                    ));
                }
            }
        }
    }
}

/// Runs the pipeline until `shutdown` is cancelled or every source has finished, then
/// drains it. Returns an error if it cannot start or the drain outlives its deadline.
/// `telemetry` outlives the run (a reload keeps the counters); `reload`, when given, is
/// where `POST /-/reload` sends its requests.
pub async fn run(
    prepared: Prepared,
    shutdown: CancellationToken,
    telemetry: Telemetry,
    reload: Option<ReloadSender>,
) -> anyhow::Result<()> {
    let Prepared {
        loaded,
        api_tls,
        sources,
        mut transforms,
        sinks,
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
    let mut routes = Vec::new();
    for (name, mut sink) in sinks {
        routes.extend(sink.route());
        let input = inputs.remove(&name).expect("a channel per sink");
        let metrics = telemetry.component(&name, "sink");
        let buffer = config.sinks.get(&name).and_then(|t| t.buffer.as_ref());
        let (input, buffer_tasks) =
            crate::buffer::attach(buffer, input, &config.data_dir, &name, &metrics)
                .map_err(|e| anyhow::anyhow!("sink `{name}`: cannot open its disk buffer: {e}"))?;
        for task in buffer_tasks {
            downstream.spawn(task);
        }
        sink_metrics.push(metrics.clone());
        downstream.spawn(sink.run(input, metrics));
    }
    for chain in &chains {
        let stages: Vec<Box<dyn Transform>> = chain
            .iter()
            .map(|name| transforms.remove(name).expect("built above"))
            .collect();
        let input = inputs.remove(&chain[0]).expect("a channel per chain");
        let last = chain.last().expect("chains are not empty");
        downstream.spawn(run_chain(stages, input, fanout(last)));
    }

    let source_stop = CancellationToken::new();
    let mut source_tasks = JoinSet::new();
    let mut push_routes = 0;
    for (name, source) in sources {
        let metrics = telemetry.component(&name, "source");
        let built = source.start(SourceContext {
            out: fanout(&name).tapped(metrics.clone()),
            metrics,
            shutdown: source_stop.clone(),
            data_dir: config.data_dir.clone(),
            name,
        });
        if let Some(task) = built.task {
            source_tasks.spawn(task);
        }
        if let Some(route) = built.route {
            routes.push(route);
            push_routes += 1;
        }
    }
    // Only the components hold senders now, so channels close as producers finish.
    drop(outputs);

    let ready = Arc::new(AtomicBool::new(false));
    let server_stop = CancellationToken::new();
    let has_push_routes = push_routes > 0;
    let server = if config.api.enabled {
        let (_, task) = server::start(
            config.api.address,
            telemetry.clone(),
            ready.clone(),
            server::PipelineRoutes {
                push_routes: routes,
                view: pipeline_view(config),
            },
            server_stop.clone(),
            reload,
            server::ApiAuth {
                token: config.api.token.clone(),
                protect_metrics: config.api.protect_metrics,
                tls: api_tls,
            },
        )
        .await?;
        Some(task)
    } else {
        None // `prepare` refused push sources without the server
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

/// The pipeline's components and edges for the status page.
fn pipeline_view(config: &crate::config::Config) -> server::status::PipelineView {
    let sections = [
        ("source", &config.sources),
        ("transform", &config.transforms),
        ("sink", &config.sinks),
    ];
    let nodes = sections
        .into_iter()
        .flat_map(|(section, tables)| {
            tables
                .iter()
                .map(move |(name, table)| server::status::NodeView {
                    name: name.clone(),
                    section,
                    kind: table.kind.clone(),
                    plugin: table
                        .options
                        .get("plugin")
                        .and_then(|p| p.as_str())
                        .and_then(|p| std::path::Path::new(p).file_name())
                        .map(|f| f.to_string_lossy().into_owned()),
                    inputs: table.inputs.clone(),
                })
        })
        .collect();
    server::status::PipelineView { nodes }
}
