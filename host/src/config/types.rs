//! The shared configuration: the top-level keys and each component's table as written
//! (`type`, `inputs`, and the rest of its keys for its kind to read). Component kinds keep
//! their own config structs beside their code (`sources/`, `transforms/`, `sinks/`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// A whole pipeline file, after checking.
#[derive(Debug, Clone)]
pub struct Config {
    /// Checkpoints, disk buffers and the compiled-plugin cache live here.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    /// How long a shutdown may take to flush what is in flight.
    pub shutdown_timeout_secs: u64,
    pub sources: BTreeMap<String, ComponentTable>,
    pub transforms: BTreeMap<String, ComponentTable>,
    pub sinks: BTreeMap<String, ComponentTable>,
    /// Pipeline unit tests (`sluice test`).
    pub tests: Vec<super::TestCase>,
}

/// One component's table: its `type`, its `inputs` (transforms and sinks), and every other
/// key, which the kind's own config struct reads (see `crate::component`).
#[derive(Debug, Clone)]
pub struct ComponentTable {
    pub kind: String,
    pub inputs: Vec<String>,
    /// The table without `type` and `inputs`.
    pub options: toml::Value,
}

/// The keys at the top of the file other than the component sections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopLevel {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/sluice")
}

fn default_shutdown_timeout() -> u64 {
    30
}

/// `[api]`: the collector's one HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address for /metrics, /healthz, /ready and the push endpoints.
    #[serde(default = "default_api_address")]
    pub address: SocketAddr,
    /// Set to false to run without the server (no push sources then).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When set, `POST /-/reload` (the server's one route that changes state) requires
    /// `Authorization: Bearer <token>`. Use `${ENV}` or `${file:PATH}`. Push sources have
    /// tokens of their own.
    #[serde(default)]
    pub token: Option<String>,
    /// Require the token on `/metrics` as well (Prometheus: `authorization: { credentials:
    /// ... }`). `/healthz` and `/ready` stay open for probes.
    #[serde(default)]
    pub protect_metrics: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: default_api_address(),
            enabled: true,
            token: None,
            protect_metrics: false,
        }
    }
}

fn default_api_address() -> SocketAddr {
    "127.0.0.1:9598".parse().expect("valid default address")
}

fn yes() -> bool {
    true
}
