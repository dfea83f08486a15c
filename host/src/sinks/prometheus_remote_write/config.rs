//! The `prometheus_remote_write` sink's config (`[sinks.NAME]` with
//! `type = "prometheus_remote_write"`) and its check: the endpoint, extra headers,
//! credentials and TLS files are read and the HTTP client built here, so a config the sink
//! cannot work with is refused before anything runs. Defaults follow Prometheus's
//! `queue_config` where it has one.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::RemoteWriteClient;
use super::CheckedRemoteWriteSink;
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::sinks::http_client::{HttpAuth, HttpTls};
use crate::sinks::Sink;

/// `[sinks.NAME.batch]`: when a request is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// A request is sent once it holds this many samples (Prometheus's
    /// `max_samples_per_send`)...
    #[serde(default = "default_max_samples")]
    pub max_samples: usize,
    /// ...or its first sample has waited this long (Prometheus's `batch_send_deadline`).
    #[serde(default = "default_batch_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_samples: default_max_samples(),
            timeout_ms: default_batch_timeout_ms(),
        }
    }
}

/// `type = "prometheus_remote_write"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteSinkConfig {
    /// The receiver's full write URL: `http://prometheus:9090/api/v1/write` (Prometheus with
    /// `--web.enable-remote-write-receiver`), `http://mimir/api/v1/push`, ...
    pub endpoint: String,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Per-request timeout (Prometheus's `remote_timeout`).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// First retry delay; it doubles (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Give up on a request still not accepted this long after its first try: its samples
    /// are counted as discarded (`retries_exhausted`) and their sources told the delivery
    /// failed. Unset: retry until the receiver takes it (as Prometheus does), holding the
    /// sources back meanwhile.
    #[serde(default)]
    pub max_retry_duration_secs: Option<u64>,
    /// Tenant sent as `X-Scope-OrgID` (Mimir, Cortex).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Extra headers sent with every request. The protocol's own headers (`Content-Type`,
    /// `Content-Encoding`, `X-Prometheus-Remote-Write-Version`, `User-Agent`) and
    /// `Authorization` (use `auth`) cannot be set here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: HttpAuth,
    #[serde(default)]
    pub tls: HttpTls,
    /// Send each request's families' type, help and unit along with its samples.
    #[serde(default = "default_send_metadata")]
    pub send_metadata: bool,
}

fn default_max_samples() -> usize {
    2000
}
fn default_batch_timeout_ms() -> u64 {
    5000
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_min_backoff_ms() -> u64 {
    30
}
fn default_max_backoff_ms() -> u64 {
    5000
}
fn default_send_metadata() -> bool {
    true
}

impl ComponentConfig<dyn Sink> for RemoteWriteSinkConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        let mut errors = Vec::new();
        if self.batch.max_samples == 0 {
            errors.push(CheckError::at("batch.max_samples", "must be at least 1"));
        }
        if self.max_backoff_ms < self.min_backoff_ms {
            errors.push(CheckError::at(
                "max_backoff_ms",
                format!(
                    "{} is less than min_backoff_ms ({})",
                    self.max_backoff_ms, self.min_backoff_ms
                ),
            ));
        }
        if let Some(p) = &mut self.tls.ca_file {
            *p = ctx.resolve(p);
        }
        match RemoteWriteClient::new(&self) {
            Ok(client) if errors.is_empty() => Ok(Box::new(CheckedRemoteWriteSink {
                config: self,
                client,
            })),
            Ok(_) => Err(CheckErrors(errors)),
            Err(e) => {
                errors.push(CheckError::at(e.key(), e.to_string()));
                Err(CheckErrors(errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_in(dir: &std::path::Path, toml_text: &str) -> Result<(), CheckErrors> {
        crate::component::check_toml::<dyn Sink, RemoteWriteSinkConfig>("rw", dir, toml_text)
            .map(drop)
    }

    fn check(toml_text: &str) -> Result<(), CheckErrors> {
        check_in(tempfile::tempdir().unwrap().path(), toml_text)
    }

    fn keys_of(result: Result<(), CheckErrors>) -> Vec<String> {
        let errors = result.expect_err("the check fails").0;
        errors.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn defaults_follow_prometheus_queue_config() {
        let c: RemoteWriteSinkConfig = toml::from_str("endpoint = \"http://x/api/v1/write\"").unwrap();
        assert_eq!(c.batch.max_samples, 2000);
        assert_eq!(c.batch.timeout_ms, 5000);
        assert_eq!(c.request_timeout_secs, 30);
        assert_eq!((c.min_backoff_ms, c.max_backoff_ms), (30, 5000));
        assert_eq!(c.max_retry_duration_secs, None);
        assert!(c.send_metadata);
        assert!(toml::from_str::<RemoteWriteSinkConfig>(
            "endpoint = \"http://x\"\nbatch = { max_sample = 3 }"
        )
        .is_err());
    }

    #[test]
    fn what_the_client_cannot_work_with_fails_the_check_at_its_key() {
        assert!(check("endpoint = \"http://127.0.0.1:9090/api/v1/write\"").is_ok());
        assert_eq!(keys_of(check("endpoint = \"prometheus:9090\"")), ["endpoint"]);
        assert_eq!(keys_of(check("endpoint = \"http://\"")), ["endpoint"]);
        assert_eq!(
            keys_of(check(
                "endpoint = \"http://x\"\ntls = { ca_file = \"missing.pem\" }"
            )),
            ["tls.ca_file"]
        );
        assert_eq!(
            keys_of(check(
                "endpoint = \"http://x\"\nauth = { user = \"u\", bearer_token = \"t\" }"
            )),
            ["auth"]
        );
        assert_eq!(
            keys_of(check(
                "endpoint = \"http://x\"\nheaders = { \"Content-Encoding\" = \"gzip\" }"
            )),
            ["headers"]
        );
        assert_eq!(
            keys_of(check(
                "endpoint = \"http://x\"\nheaders = { \"bad name\" = \"v\" }"
            )),
            ["headers"]
        );
        assert_eq!(
            keys_of(check(
                "endpoint = \"x\"\nbatch = { max_samples = 0 }\nmin_backoff_ms = 10\nmax_backoff_ms = 1"
            )),
            ["batch.max_samples", "max_backoff_ms", "endpoint"]
        );
    }
}
