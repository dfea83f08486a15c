//! The plugin runtime: one wasmtime [`Engine`](wasmtime::Engine) and component
//! [`Linker`](wasmtime::component::Linker) shared by the whole collector
//! ([`PluginRuntime`]), components compiled once and cached on disk ([`cache`]), and
//! sandboxed instances with a time and memory limit per call ([`PluginInstance`]).
//!
//! A call that traps, runs past its deadline or outgrows its memory fails that batch only,
//! with a [`PluginError`] saying which; the caller replaces the instance.

mod bindings;
pub mod cache;
pub mod contract;
mod engine;
mod host;
mod instance;
mod stderr_tail;

pub use engine::{LoadedPlugin, PluginRuntime};
pub use host::{MetricRecorder, MetricSample, PluginHostContext};
pub use instance::{InstanceSettings, PluginInstance};

/// Why loading, starting or calling a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid WebAssembly component: {detail}")]
    Compile { path: String, detail: String },
    #[error("`{path}` does not implement the sluice:plugin@0.1 metric-transform world: {detail}")]
    MetricContract { path: String, detail: String },
    #[error("`{path}` does not implement the sluice:plugin@0.1 log-transform world: {detail}")]
    Contract { path: String, detail: String },
    #[error("`{path}` cannot be loaded: {detail}")]
    Version { path: String, detail: String },
    #[error("the plugin's init refused its config: {0}")]
    Init(String),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin call ran past its {0} ms limit")]
    Timeout(u64),
    #[error("the plugin went past its memory limit of {0} MiB")]
    Memory(usize),
    #[error("the plugin returned an error: {0}")]
    Returned(String),
    #[error("the plugin returned a malformed batch: {0}")]
    InvalidOutput(#[from] crate::event::BatchError),
    #[error("the plugin returned a malformed metric batch: {0}")]
    InvalidMetricOutput(#[from] crate::event::metrics::MetricBatchError),
    #[error("the plugin does not take {0} (it exports no `{1}`)")]
    Unsupported(&'static str, &'static str),
}

impl PluginError {
    /// The short kind used as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Read { .. } | PluginError::Compile { .. } => "load",
            PluginError::Contract { .. }
            | PluginError::MetricContract { .. }
            | PluginError::Version { .. }
            | PluginError::Unsupported(..) => "contract",
            PluginError::Init(_) => "init",
            PluginError::Trap(_) => "trap",
            PluginError::Timeout(_) => "timeout",
            PluginError::Memory(_) => "memory",
            PluginError::Returned(_) => "error",
            PluginError::InvalidOutput(_) | PluginError::InvalidMetricOutput(_) => "invalid_output",
        }
    }

    /// True when the instance cannot be called again and must be replaced.
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            PluginError::Trap(_) | PluginError::Timeout(_) | PluginError::Memory(_)
        )
    }
}
