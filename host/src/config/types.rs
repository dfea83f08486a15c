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
    /// A sink's `[sinks.NAME.buffer]` (None: the default, in memory).
    pub buffer: Option<BufferConfig>,
    /// The table without `type`, `inputs` and `buffer`.
    pub options: toml::Value,
}

/// `[sinks.NAME.buffer]`: where a sink's input waits while the sink is slow or down.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BufferConfig {
    /// The default: a bounded channel (`CHANNEL_BATCHES` batches); a sink that is down
    /// holds its inputs back.
    Memory,
    /// An append-only segment log under `DATA_DIR/buffers/NAME/`: batches are written
    /// (checksummed) before their sources are acknowledged, and deleted once the sink
    /// acknowledged them. Survives restarts and kill -9; a sink outage no longer holds the
    /// sources back until the buffer is full.
    Disk {
        /// Most bytes on disk (`268435456`, or with a unit: `"256MiB"`, `"1GB"`).
        #[serde(default = "default_buffer_max_size")]
        max_size: ByteSize,
        /// When the buffer is full: `block` (hold the inputs back, as the memory buffer
        /// does) or `drop_newest` (drop incoming batches, counted and logged).
        #[serde(default)]
        when_full: WhenFull,
        /// Flush each batch to the disk (fdatasync) before acknowledging it: survives a
        /// power loss, not only a crash, at a cost (docs/buffers.md). Off: a batch is
        /// acknowledged once written to the OS, which a kill -9 does not lose.
        #[serde(default)]
        fsync: bool,
    },
}

/// What a full disk buffer does with new batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    Block,
    DropNewest,
}

fn default_buffer_max_size() -> ByteSize {
    ByteSize(256 << 20)
}

/// A size in bytes, written as a number or a string with a unit (`"512MiB"`, `"1GB"`,
/// `"64KiB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl ByteSize {
    /// `"512MiB"` and the like: a number and one of B, KB, MB, GB, KiB, MiB, GiB.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size (use e.g. 268435456 or \"256MiB\")"))?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" => 1000,
            "MB" => 1000 * 1000,
            "GB" => 1000 * 1000 * 1000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"
                ))
            }
        };
        n.checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
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
    /// `[api.tls]`: serve HTTPS (and with `client_ca_file`, require client certificates).
    #[serde(default)]
    pub tls: Option<ApiTlsConfig>,
}

/// `[api.tls]`: PEM files, relative to the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsConfig {
    /// The server's certificate chain.
    pub crt_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate this CA signed (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: default_api_address(),
            enabled: true,
            token: None,
            protect_metrics: false,
            tls: None,
        }
    }
}

fn default_api_address() -> SocketAddr {
    "127.0.0.1:9598".parse().expect("valid default address")
}

fn yes() -> bool {
    true
}
