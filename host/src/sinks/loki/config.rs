//! The `loki` sink's config (`[sinks.NAME]` with `type = "loki"`) and its check: the
//! endpoint, credentials and TLS files are read and the HTTP client built here, so a config
//! the sink cannot work with is refused before anything runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::client::LokiClient;
use super::{CheckedLokiSink, Sink};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};

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

/// `[sinks.NAME.auth]`: credentials for Loki (or the gateway in front of it).
pub type LokiAuth = crate::sinks::http_client::HttpAuth;

/// `[sinks.NAME.tls]`.
pub type LokiTls = crate::sinks::http_client::HttpTls;

/// `type = "loki"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiSinkConfig {
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
    /// Loki's out-of-order window (`max_chunk_age` / 2; 1 hour by default): an entry older
    /// than its stream's newest entry sent by this sink minus this is dead-lettered instead
    /// of sent (Loki would refuse it, silently when its stream is not the request's last).
    /// 0 turns the check off.
    #[serde(default = "default_loki_out_of_order_window")]
    pub out_of_order_window_secs: u64,
    /// Loki's `reject_old_samples_max_age` (1 week): older entries are dead-lettered. 0: off
    /// (for a Loki with `reject_old_samples = false`).
    #[serde(default = "default_loki_max_age")]
    pub reject_old_samples_max_age_secs: u64,
    /// Loki's `creation_grace_period` (10 minutes): entries further in the future are
    /// dead-lettered. 0: off.
    #[serde(default = "default_loki_grace")]
    pub creation_grace_period_secs: u64,
    /// Loki's `max_structured_metadata_size` (64 KiB of names and values) and
    /// `max_structured_metadata_entries_count` (128): an entry with more is dead-lettered.
    /// 0: off.
    #[serde(default = "default_loki_metadata_bytes")]
    pub max_structured_metadata_bytes: usize,
    #[serde(default = "default_loki_metadata_entries")]
    pub max_structured_metadata_entries: usize,
    /// At most this many streams in one push request (0: no limit). Loki answers a push by
    /// its last stream's error only, so what a per-stream rate limit refuses in an earlier
    /// stream is lost behind a 204; with 1, every refusal is answered (more, smaller
    /// requests). Without it the sink puts each request's heaviest stream last and, once
    /// Loki has answered a per-stream rate limit, sends one stream per request for five
    /// minutes (docs/loki.md).
    #[serde(default)]
    pub max_streams_per_request: usize,
}

/// Loki's default `max_line_size`.
fn default_max_line_bytes() -> usize {
    256 * 1024
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
fn default_loki_out_of_order_window() -> u64 {
    3600
}
fn default_loki_max_age() -> u64 {
    7 * 86_400
}
fn default_loki_grace() -> u64 {
    600
}
fn default_loki_metadata_bytes() -> usize {
    64 * 1024
}
fn default_loki_metadata_entries() -> usize {
    128
}

impl ComponentConfig<dyn Sink> for LokiSinkConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        if let Some(p) = &mut self.dead_letter_path {
            *p = ctx.resolve(p);
        }
        if let Some(p) = &mut self.tls.ca_file {
            *p = ctx.resolve(p);
        }
        let client = LokiClient::new(&self).map_err(|e| CheckError::at(e.key(), e.to_string()))?;
        Ok(Box::new(CheckedLokiSink {
            config: self,
            client,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the sink config `toml_text` with the config file in `dir`.
    fn check_in(dir: &std::path::Path, toml_text: &str) -> Result<(), CheckErrors> {
        crate::component::check_toml::<dyn Sink, LokiSinkConfig>("loki", dir, toml_text).map(drop)
    }

    fn check(toml_text: &str) -> Result<(), CheckErrors> {
        check_in(tempfile::tempdir().unwrap().path(), toml_text)
    }

    fn key_of(result: Result<(), CheckErrors>) -> String {
        let errors = result.expect_err("the check fails").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].key.clone()
    }

    #[test]
    fn what_the_client_cannot_work_with_fails_the_check_at_its_key() {
        assert!(check("endpoint = \"http://127.0.0.1:3100\"").is_ok());
        assert_eq!(key_of(check("endpoint = \"loki:3100\"")), "endpoint");
        assert_eq!(key_of(check("endpoint = \"http://exa mple:3100\"")), "endpoint");
        assert_eq!(key_of(check("endpoint = \"http://\"")), "endpoint");
        assert_eq!(
            key_of(check(
                "endpoint = \"http://x\"\ntls = { ca_file = \"missing.pem\" }"
            )),
            "tls.ca_file"
        );
        assert_eq!(
            key_of(check(
                "endpoint = \"http://x\"\nauth = { password = \"p\" }"
            )),
            "auth"
        );
    }

    #[test]
    fn a_relative_ca_file_is_read_from_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let checked = check_in(
            dir.path(),
            "endpoint = \"http://x\"\ntls = { ca_file = \"ca.pem\" }",
        );
        let errors = checked.expect_err("not PEM").0;
        assert!(
            errors[0].message.contains("is not a PEM certificate"),
            "found and read, then refused: {errors:?}"
        );
    }
}
