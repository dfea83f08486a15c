//! The typed configuration: one struct per component kind, closed enums tagged by `type`,
//! unknown keys refused, every default explicit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A whole pipeline file, after checking.
#[derive(Debug, Clone)]
pub struct Config {
    /// Checkpoints, disk buffers and the compiled-plugin cache live here.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    /// How long a shutdown may take to flush what is in flight.
    pub shutdown_timeout_secs: u64,
    pub sources: BTreeMap<String, SourceConfig>,
    pub transforms: BTreeMap<String, TransformConfig>,
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Pipeline unit tests (`sluice test`).
    pub tests: Vec<crate::unit_test::TestCase>,
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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: default_api_address(),
            enabled: true,
        }
    }
}

fn default_api_address() -> SocketAddr {
    "127.0.0.1:9598".parse().expect("valid default address")
}

fn yes() -> bool {
    true
}

/// How a source cuts its input into batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most records in one batch.
    #[serde(default = "default_batch_records")]
    pub max_records: usize,
    /// Most line bytes in one batch.
    #[serde(default = "default_batch_bytes")]
    pub max_bytes: usize,
    /// Longest a record waits for its batch to fill, in milliseconds.
    #[serde(default = "default_batch_wait")]
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: default_batch_records(),
            max_bytes: default_batch_bytes(),
            timeout_ms: default_batch_wait(),
        }
    }
}

fn default_batch_records() -> usize {
    1024
}
fn default_batch_bytes() -> usize {
    1 << 20
}
fn default_batch_wait() -> u64 {
    100
}
fn default_max_line_bytes() -> usize {
    256 * 1024
}

/// `[sources.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Lines from standard input.
    Stdin(StdinSourceConfig),
    /// Lines appended to files matched by globs.
    File(FileSourceConfig),
    /// NDJSON, JSON arrays or text lines POSTed to the API server.
    Http(HttpSourceConfig),
    /// Loki push requests (Promtail, Alloy, Docker's driver, another sluice).
    LokiPush(LokiPushSourceConfig),
}

impl SourceConfig {
    /// The `type` name of this source.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Stdin(_) => "stdin",
            SourceConfig::File(_) => "file",
            SourceConfig::Http(_) => "http",
            SourceConfig::LokiPush(_) => "loki_push",
        }
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let SourceConfig::File(f) = self {
            for pattern in f.include.iter_mut().chain(f.exclude.iter_mut()) {
                if !Path::new(pattern.as_str()).is_absolute() {
                    *pattern = base.join(&*pattern).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// `type = "stdin"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSourceConfig {
    /// Static labels for every record.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Longer lines are truncated (and counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

/// Where a file source starts in a file it has not read before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    Beginning,
    End,
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to read.
    pub include: Vec<String>,
    /// Glob patterns of files to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in a newly found file.
    #[serde(default = "default_read_from")]
    pub read_from: ReadFrom,
    /// Stop once every file has been read to its end (a one-shot import) instead of
    /// following appends.
    #[serde(default)]
    pub stop_at_eof: bool,
    /// Remember read positions in `DATA_DIR/checkpoints/NAME.json` once delivered, and
    /// resume from them after a restart. With false every run starts at `read_from`.
    #[serde(default = "yes")]
    pub checkpoint: bool,
    /// How often to look for appended data and new files, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// After a followed file is renamed or deleted (rotation), how long it is still read
    /// once it stops growing, for writers that have not reopened the path yet, in
    /// milliseconds. The new file at the path is read from its start meanwhile.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// Static labels for every record (the `filename` label is added unless disabled).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Add a `filename` label with the file's path.
    #[serde(default = "yes")]
    pub filename_label: bool,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_read_from() -> ReadFrom {
    ReadFrom::Beginning
}
fn default_poll_ms() -> u64 {
    250
}
fn default_rotate_wait_ms() -> u64 {
    5000
}

/// `type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// The route on the API server.
    #[serde(default = "default_http_path")]
    pub path: String,
    /// When set, requests must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    /// Take the record's line from this field of each JSON object instead of the whole
    /// object.
    #[serde(default)]
    pub message_field: Option<String>,
    /// Static labels for every record.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Larger bodies get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How long a request waits for its records to be delivered before it gets 503.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_secs: u64,
}

fn default_http_path() -> String {
    "/ingest".into()
}
fn default_max_body() -> usize {
    10 << 20
}
fn default_ack_timeout() -> u64 {
    30
}

/// `type = "loki_push"`: serves Loki's push API on the API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiPushSourceConfig {
    /// The route on the API server.
    #[serde(default = "default_loki_push_path")]
    pub path: String,
    /// When set, requests must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    /// Keep the request's `X-Scope-OrgID` as this label (a `__`-prefixed name passes it to a
    /// `loki` sink's `tenant_label` without it becoming a stream label in Loki).
    #[serde(default)]
    pub tenant_label: Option<String>,
    /// Labels added to every record (a pushed label of the same name wins).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Larger bodies (as sent, compressed) get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bodies that decompress to more get 413.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How long a request may wait for room in the pipeline before it gets 429.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// How long a request waits for its records to be delivered before it gets 503.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_secs: u64,
}

fn default_loki_push_path() -> String {
    crate::loki::PUSH_PATH.into()
}
fn default_max_decompressed() -> usize {
    100 << 20
}
fn default_queue_timeout() -> u64 {
    1000
}

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

/// A metric a plugin may emit, declared in the pipeline (`[[transforms.NAME.metrics]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDecl {
    /// Metric name as exposed (counters get `_total` appended by OpenMetrics if missing).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetricKind,
    #[serde(default)]
    pub help: String,
    /// Label names, in the order the plugin passes their values.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Histogram bucket upper bounds.
    #[serde(default)]
    pub buckets: Vec<f64>,
}

/// Kinds of plugin-declared metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Counter,
    Histogram,
}

/// `[transforms.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformConfig {
    /// A WebAssembly component plugin.
    Wasm(WasmTransformConfig),
}

impl TransformConfig {
    /// The components this transform reads from.
    pub fn inputs(&self) -> &[String] {
        match self {
            TransformConfig::Wasm(w) => &w.inputs,
        }
    }

    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        "wasm"
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let TransformConfig::Wasm(w) = self;
        if w.plugin.is_relative() {
            w.plugin = base.join(&w.plugin);
        }
        if let Some(p) = &mut w.dead_letter_path {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// `type = "wasm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmTransformConfig {
    pub inputs: Vec<String>,
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

/// How a sink writes a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The line only.
    #[default]
    Raw,
    /// The whole record as one JSON object: timestamp, line, labels, metadata.
    Json,
}

/// `[sinks.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// Writes records to standard output.
    Stdout(StdoutSinkConfig),
    /// Appends records to a file.
    File(FileSinkConfig),
    /// Counts and discards records.
    Blackhole(BlackholeSinkConfig),
    /// Pushes records to Grafana Loki.
    Loki(Box<LokiSinkConfig>),
}

impl SinkConfig {
    /// The components this sink reads from.
    pub fn inputs(&self) -> &[String] {
        match self {
            SinkConfig::Stdout(s) => &s.inputs,
            SinkConfig::File(s) => &s.inputs,
            SinkConfig::Blackhole(s) => &s.inputs,
            SinkConfig::Loki(s) => &s.inputs,
        }
    }

    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Blackhole(_) => "blackhole",
            SinkConfig::Loki(_) => "loki",
        }
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match self {
            SinkConfig::File(f) => resolve(&mut f.path),
            SinkConfig::Loki(l) => {
                l.dead_letter_path.as_mut().map(resolve);
                l.tls.ca_file.as_mut().map(resolve);
            }
            _ => {}
        }
    }
}

/// `type = "stdout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    pub inputs: Vec<String>,
    #[serde(default)]
    pub encoding: Encoding,
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub inputs: Vec<String>,
    pub path: PathBuf,
    #[serde(default)]
    pub encoding: Encoding,
    /// fsync after every batch before acknowledging it.
    #[serde(default)]
    pub fsync: bool,
}

/// `type = "blackhole"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeSinkConfig {
    pub inputs: Vec<String>,
}

/// How the `loki` sink encodes a push request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LokiEncoding {
    /// Protobuf with snappy block compression (what Promtail and Alloy send).
    #[default]
    Protobuf,
    /// Loki's JSON push format.
    Json,
}

/// Body compression of JSON pushes (protobuf is always snappy-compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LokiCompression {
    #[default]
    None,
    Gzip,
}

/// `[sinks.NAME.auth]`: credentials for Loki (or the gateway in front of it). Use
/// `${ENV}` or `${file:PATH}` for the secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiAuth {
    /// Basic auth user (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer token.
    #[serde(default)]
    pub bearer_token: Option<String>,
}

/// `[sinks.NAME.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiTls {
    /// PEM file of a CA to trust besides the built-in roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `type = "loki"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiSinkConfig {
    pub inputs: Vec<String>,
    /// Loki's base URL (`http://loki:3100`); the push path is added unless the URL already
    /// ends with it.
    pub endpoint: String,
    /// Labels added to every stream (a record's own label of the same name wins).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub encoding: LokiEncoding,
    /// For `encoding = "json"` only.
    #[serde(default)]
    pub compression: LokiCompression,
    /// Static tenant (`X-Scope-OrgID`).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Take the tenant from this label of each record (falls back to `tenant_id`); the
    /// label is not sent as a stream label.
    #[serde(default)]
    pub tenant_label: Option<String>,
    #[serde(default)]
    pub auth: LokiAuth,
    #[serde(default)]
    pub tls: LokiTls,
    /// Per-request timeout.
    #[serde(default = "default_loki_timeout")]
    pub timeout_secs: u64,
    /// A request is sent once its entries reach this many bytes...
    #[serde(default = "default_loki_batch_bytes")]
    pub batch_max_bytes: usize,
    /// ...or its first entry has waited this long.
    #[serde(default = "default_loki_batch_wait")]
    pub batch_wait_ms: u64,
    /// Requests in flight at once. Streams are spread over this many lanes, each sending
    /// one request at a time, so entries stay in order per stream.
    #[serde(default = "default_loki_in_flight")]
    pub max_in_flight: usize,
    /// First retry delay; it doubles (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_loki_min_backoff")]
    pub min_backoff_ms: u64,
    #[serde(default = "default_loki_max_backoff")]
    pub max_backoff_ms: u64,
    /// Give up on a request after this many retries (its records are counted as dropped and
    /// their sources told the delivery failed). Unset: retry until Loki takes them.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Entries Loki refuses for good (400) are appended here as JSON lines.
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
    /// Lines longer than this are cut (Loki's default `max_line_size` is 256 KiB).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Loki's label limits, checked before sending.
    #[serde(default = "default_loki_max_label_names")]
    pub max_label_names: usize,
    #[serde(default = "default_loki_max_label_value")]
    pub max_label_value_bytes: usize,
}

fn default_loki_timeout() -> u64 {
    10
}
fn default_loki_batch_bytes() -> usize {
    1 << 20
}
fn default_loki_batch_wait() -> u64 {
    50
}
fn default_loki_in_flight() -> usize {
    4
}
fn default_loki_min_backoff() -> u64 {
    500
}
fn default_loki_max_backoff() -> u64 {
    30_000
}
fn default_loki_max_label_names() -> usize {
    15
}
fn default_loki_max_label_value() -> usize {
    2048
}
