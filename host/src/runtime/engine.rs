//! [`PluginRuntime`]: the shared wasmtime engine and linker, the epoch ticker that enforces
//! call deadlines, and [`LoadedPlugin`], a component checked against the contract and
//! pre-instantiated once so that each instance is cheap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, EngineWeak};

use super::bindings::{LogTransform, LogTransformIndices, MetricTransformIndices};
use super::cache::{self, CacheOutcome};
use super::contract::{self, ContractInfo};
use super::host::PluginState;
use super::PluginError;

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The engine, linker and compiled-component cache shared by every transform.
#[derive(Clone)]
pub struct PluginRuntime {
    engine: Engine,
    linker: Arc<Linker<PluginState>>,
    cache_dir: Option<PathBuf>,
}

/// A component that compiled, links against the host and exports at least one of the
/// contract's worlds (`log-transform`, `metric-transform`).
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(super) pre: wasmtime::component::InstancePre<PluginState>,
    /// Where its `log-transform` exports are, if it has them.
    pub(super) logs: Option<Arc<LogTransformIndices>>,
    /// Where its `metric-transform` exports are, if it has them.
    pub(super) metrics: Option<Arc<MetricTransformIndices>>,
    pub(super) engine: Engine,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Size of the component in bytes.
    pub size: usize,
    /// How long compiling (or loading from the cache) took.
    pub load_time: Duration,
    /// Whether it came from the on-disk cache.
    pub cache: CacheOutcome,
    /// The contract version it was built for and its import and export names.
    pub contract: ContractInfo,
}

impl PluginRuntime {
    /// A runtime whose compiled components are cached in `cache_dir` (none: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<PluginRuntime> {
        Self::build(cache_dir, true)
    }

    /// The runtime of a pipeline with `data_dir`: compiled components are cached in
    /// `DATA_DIR/plugin-cache` when it can be created.
    pub fn for_data_dir(data_dir: &Path) -> anyhow::Result<PluginRuntime> {
        let cache = data_dir.join("plugin-cache");
        let cache = std::fs::create_dir_all(&cache).ok().map(|_| cache);
        PluginRuntime::new(cache)
    }

    /// A runtime whose compiled code has no epoch checks, so call deadlines are never
    /// enforced and a plugin that loops forever hangs its caller. For benchmarks only
    /// (`examples/plugin_ab.rs` measures what the checks cost); the collector never uses it.
    pub fn without_deadlines() -> anyhow::Result<PluginRuntime> {
        Self::build(None, false)
    }

    fn build(cache_dir: Option<PathBuf>, deadlines: bool) -> anyhow::Result<PluginRuntime> {
        let mut config = Config::new();
        config.epoch_interruption(deadlines);
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if std::env::var_os("SLUICE_WASM_PERFMAP").is_some() {
            // For profiling plugins: `perf` finds JIT code through /tmp/perf-PID.map.
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let wasm_err =
            |e: wasmtime::Error| anyhow::anyhow!("cannot set up the plugin engine: {e:#}");
        let engine = Engine::new(&config).map_err(wasm_err)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wasm_err)?;
        LogTransform::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(wasm_err)?;
        spawn_epoch_ticker(engine.weak());
        Ok(PluginRuntime {
            engine,
            linker: Arc::new(linker),
            cache_dir,
        })
    }

    /// The engine (for tests and tools).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles (or loads from cache) and pre-instantiates the component at `path`.
    pub fn load(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let shown = path.display().to_string();
        let wasm = std::fs::read(path).map_err(|source| PluginError::Read {
            path: shown.clone(),
            source,
        })?;
        self.load_bytes(&wasm, path)
    }

    /// As [`PluginRuntime::load`], from bytes already read from `path`.
    pub fn load_bytes(&self, wasm: &[u8], path: &Path) -> Result<LoadedPlugin, PluginError> {
        let shown = path.display().to_string();
        let started = Instant::now();
        let on_compile = || {
            tracing::info!(
                plugin = %shown,
                bytes = wasm.len(),
                "compiling plugin (first load of this build: seconds, up to ~30 s for Python or JavaScript components; cached for the next start)"
            )
        };
        let (component, outcome) =
            cache::load(&self.engine, self.cache_dir.as_deref(), wasm, on_compile).map_err(
                |e| PluginError::Compile {
                    path: shown.clone(),
                    detail: format!("{e:#}"),
                },
            )?;
        let load_time = started.elapsed();
        // The version check comes first: a plugin of another major version would otherwise
        // fail below with a linker message that does not say why.
        let version = |detail: String| PluginError::Version {
            path: shown.clone(),
            detail,
        };
        let info = contract::inspect(&self.engine, &component).map_err(version)?;
        if let Some(found) = info.version {
            contract::compatible(found, contract::host_version()).map_err(version)?;
        }
        let contract = |e: wasmtime::Error| PluginError::Contract {
            path: shown.clone(),
            detail: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(contract)?;
        // A plugin exports `process` (logs), `process-metrics` (metrics) or both; an
        // export of the right name but the wrong type is refused, not ignored.
        let exports = |name: &str| info.exports.iter().any(|e| e == name);
        let logs = LogTransformIndices::new(&pre);
        let metrics = MetricTransformIndices::new(&pre);
        let (logs, metrics) = match (logs, metrics) {
            (Err(e), _) if exports("process") => return Err(contract(e)),
            (_, Err(e)) if exports("process-metrics") => {
                return Err(PluginError::MetricContract {
                    path: shown.clone(),
                    detail: format!("{e:#}"),
                })
            }
            (Err(e), Err(_)) => return Err(contract(e)),
            (logs, metrics) => (logs.ok().map(Arc::new), metrics.ok().map(Arc::new)),
        };
        Ok(LoadedPlugin {
            pre,
            logs,
            metrics,
            engine: self.engine.clone(),
            path: path.to_path_buf(),
            size: wasm.len(),
            load_time,
            cache: outcome,
            contract: info,
        })
    }
}

impl LoadedPlugin {
    /// The signals the plugin takes: logs if it exports `process`, metrics if it exports
    /// `process-metrics`.
    pub fn signals(&self) -> Vec<crate::event::Signal> {
        let mut signals = Vec::new();
        if self.logs.is_some() {
            signals.push(crate::event::Signal::Logs);
        }
        if self.metrics.is_some() {
            signals.push(crate::event::Signal::Metrics);
        }
        signals
    }
}

/// Advances the epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn spawn_epoch_ticker(engine: EngineWeak) {
    let spawned = std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the plugin deadline ticker");
    }
}
