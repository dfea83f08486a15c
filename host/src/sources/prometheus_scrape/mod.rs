//! The `prometheus_scrape` source: scrapes Prometheus / OpenMetrics endpoints as Prometheus
//! does and sends their samples on as metrics. Targets come from `endpoints` and from
//! file-based discovery (`file_sd`, reread when a file changes); each is scraped on its own
//! schedule (`target.rs`), its body parsed by Content-Type (`parse.rs`), its samples given
//! `job`, `instance` and the target's labels, with `up`, `scrape_duration_seconds` and
//! `scrape_samples_scraped` reported per scrape and staleness markers for series that end
//! (`staleness.rs`). docs/metrics.md describes the keys.
//!
//! A scrape cannot be retried, so its samples carry no acknowledgement.

pub mod discovery;
pub mod parse;
pub mod staleness;
pub mod target;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::discovery::{FileDiscovery, ScrapeTarget};
use self::target::{Bearer, ScrapeSettings, Shared, TargetRunner};
use super::{BuiltSource, Source, SourceContext};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::Signal;
use crate::telemetry::events;

/// `type = "prometheus_scrape"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusScrapeSourceConfig {
    /// URLs to scrape (`http://127.0.0.1:9100/metrics`); `instance` is the URL's
    /// `host:port`.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Globs of file_sd JSON files (relative to the config file's directory), Prometheus's
    /// `file_sd_configs` format: `[{"targets": ["host:port"], "labels": {"k": "v"}}]`.
    #[serde(default)]
    pub file_sd: Vec<String>,
    /// How often file_sd files are checked for changes, in seconds.
    #[serde(default = "default_file_sd_refresh")]
    pub file_sd_refresh_secs: u64,
    /// The `job` label (default: the component's name).
    #[serde(default)]
    pub job: Option<String>,
    /// How often each target is scraped, in seconds.
    #[serde(default = "default_interval")]
    pub scrape_interval_secs: u64,
    /// How long a scrape may take, in seconds (at most the interval).
    #[serde(default = "default_timeout")]
    pub scrape_timeout_secs: u64,
    /// Keep an exposed label that clashes with a target label (`job`, `instance`, file_sd
    /// labels) instead of renaming it `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Keep the timestamps the target exposes (else every sample gets the scrape's time).
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    /// Sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// A file holding the bearer token, read at every scrape (relative to the config file's
    /// directory).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// A scrape exposing more samples fails (up = 0), as Prometheus's `sample_limit`.
    #[serde(default = "default_max_samples")]
    pub max_samples_per_scrape: usize,
    /// A larger response body (after decompression) fails the scrape.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

fn default_file_sd_refresh() -> u64 {
    5
}
fn default_interval() -> u64 {
    15
}
fn default_timeout() -> u64 {
    10
}
fn yes() -> bool {
    true
}
fn default_max_samples() -> usize {
    50_000
}
fn default_max_body() -> usize {
    64 << 20
}

/// The checked source.
pub struct PrometheusScrape {
    settings: ScrapeSettings,
    client: reqwest::Client,
    endpoints: Vec<ScrapeTarget>,
    /// Absolute globs.
    file_sd: Vec<String>,
    file_sd_refresh: Duration,
    job: String,
}

impl ComponentConfig<dyn Source> for PrometheusScrapeSourceConfig {
    fn check(self, ctx: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        let mut errors = Vec::new();
        if self.endpoints.is_empty() && self.file_sd.is_empty() {
            errors.push(CheckError::at(
                "endpoints",
                "no targets: set `endpoints` or `file_sd` (or both)",
            ));
        }
        let job = self.job.clone().unwrap_or_else(|| ctx.name.to_string());
        if job.is_empty() {
            errors.push(CheckError::at("job", "must not be empty"));
        }
        let mut endpoints = Vec::new();
        for (i, url) in self.endpoints.iter().enumerate() {
            match discovery::target_from_url(url, &job) {
                Ok(t) => endpoints.push(t),
                Err(e) => errors.push(CheckError::at(&format!("endpoints.{i}"), e)),
            }
        }
        let mut file_sd = Vec::new();
        for (i, pattern) in self.file_sd.iter().enumerate() {
            let resolved = ctx.resolve(std::path::Path::new(pattern));
            let resolved = resolved.to_string_lossy().into_owned();
            match glob::Pattern::new(&resolved) {
                Ok(_) => file_sd.push(resolved),
                Err(e) => errors.push(CheckError::at(
                    &format!("file_sd.{i}"),
                    format!("`{pattern}` is not a valid glob: {e}"),
                )),
            }
        }
        if self.scrape_interval_secs == 0 {
            errors.push(CheckError::at("scrape_interval_secs", "must be at least 1"));
        }
        if self.scrape_timeout_secs == 0 {
            errors.push(CheckError::at("scrape_timeout_secs", "must be at least 1"));
        } else if self.scrape_timeout_secs > self.scrape_interval_secs {
            errors.push(CheckError::at(
                "scrape_timeout_secs",
                format!(
                    "{}s is longer than scrape_interval_secs ({}s); a scrape must end before the next",
                    self.scrape_timeout_secs, self.scrape_interval_secs
                ),
            ));
        }
        if self.file_sd_refresh_secs == 0 {
            errors.push(CheckError::at("file_sd_refresh_secs", "must be at least 1"));
        }
        for (key, value) in [
            ("max_samples_per_scrape", self.max_samples_per_scrape),
            ("max_body_bytes", self.max_body_bytes),
        ] {
            if value == 0 {
                errors.push(CheckError::at(key, "must be at least 1"));
            }
        }
        let bearer = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(_), Some(_)) => {
                errors.push(CheckError::at(
                    "bearer_token_file",
                    "set `bearer_token` or `bearer_token_file`, not both",
                ));
                None
            }
            (Some(token), None) => Some(Bearer::Token(token.clone())),
            (None, Some(path)) => {
                let path = ctx.resolve(path);
                if let Err(e) = std::fs::read_to_string(&path) {
                    errors.push(CheckError::at(
                        "bearer_token_file",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
                Some(Bearer::File(path))
            }
            (None, None) => None,
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CheckError::at("", format!("cannot build the HTTP client: {e}")));
        let client = match client {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let (Some(client), true) = (client, errors.is_empty()) else {
            return Err(CheckErrors(errors));
        };
        Ok(Box::new(PrometheusScrape {
            settings: ScrapeSettings {
                interval: Duration::from_secs(self.scrape_interval_secs),
                timeout: Duration::from_secs(self.scrape_timeout_secs),
                honor_labels: self.honor_labels,
                honor_timestamps: self.honor_timestamps,
                max_samples: self.max_samples_per_scrape,
                max_body_bytes: self.max_body_bytes,
                bearer,
            },
            client,
            endpoints,
            file_sd,
            file_sd_refresh: Duration::from_secs(self.file_sd_refresh_secs),
            job,
        }))
    }
}

impl Source for PrometheusScrape {
    fn signal(&self) -> Signal {
        Signal::Metrics
    }

    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: Some(Box::pin(run(*self, ctx))),
            route: None,
        }
    }
}

/// A running target task.
struct Running {
    /// Cancelled when the target leaves discovery.
    removed: CancellationToken,
    task: JoinHandle<()>,
}

/// Runs one task per target until shutdown, rereading file_sd files and starting and
/// ending target tasks as they change.
async fn run(source: PrometheusScrape, ctx: SourceContext) {
    let shared = Arc::new(Shared {
        settings: source.settings,
        client: source.client,
        out: ctx.out.clone(),
        metrics: ctx.metrics.clone(),
    });
    let statics: BTreeSet<ScrapeTarget> = source.endpoints.into_iter().collect();
    let mut discovery = (!source.file_sd.is_empty())
        .then(|| FileDiscovery::new(source.file_sd, source.job.clone()));
    let mut running: HashMap<ScrapeTarget, Running> = HashMap::new();
    let mut ending: Vec<JoinHandle<()>> = Vec::new();
    let mut first = true;
    loop {
        let mut desired = statics.clone();
        let mut changed = first;
        if let Some(d) = discovery.as_mut() {
            let (files_changed, problems) = d.refresh();
            for problem in problems {
                events::component_error(&ctx.metrics, "file_sd_invalid", &problem);
            }
            changed |= files_changed;
            desired.extend(d.targets());
        }
        if changed {
            reconcile(&mut running, &mut ending, desired, &shared, &ctx.shutdown);
            tracing::info!(
                component_id = %ctx.name,
                targets = running.len(),
                "prometheus_scrape: scraping"
            );
        }
        first = false;
        ending.retain(|t| !t.is_finished());
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep(source.file_sd_refresh), if discovery.is_some() => {}
        }
    }
    // Every target task sees the shutdown and returns without markers.
    for (_, r) in running {
        let _ = r.task.await;
    }
    for task in ending {
        let _ = task.await;
    }
}

/// Starts a task for each target in `desired` that has none and ends those of targets no
/// longer in it (they send their staleness markers, then return).
fn reconcile(
    running: &mut HashMap<ScrapeTarget, Running>,
    ending: &mut Vec<JoinHandle<()>>,
    desired: BTreeSet<ScrapeTarget>,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) {
    let gone: Vec<ScrapeTarget> = running
        .keys()
        .filter(|t| !desired.contains(*t))
        .cloned()
        .collect();
    for target in gone {
        if let Some(r) = running.remove(&target) {
            r.removed.cancel();
            ending.push(r.task);
        }
    }
    for target in desired {
        if running.contains_key(&target) {
            continue;
        }
        let removed = CancellationToken::new();
        let runner = TargetRunner::new(target.clone(), shared.clone());
        let task = tokio::spawn(runner.run(shutdown.clone(), removed.clone()));
        running.insert(target, Running { removed, task });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str) -> Result<Box<dyn Source>, CheckErrors> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "abc\n").unwrap();
        crate::component::check_toml::<dyn Source, PrometheusScrapeSourceConfig>(
            "scrape",
            dir.path(),
            toml_text,
        )
    }

    fn keys(toml_text: &str) -> Vec<(String, String)> {
        match check(toml_text) {
            Ok(_) => vec![],
            Err(CheckErrors(errors)) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
        }
    }

    #[test]
    fn a_good_config_checks_and_produces_metrics() {
        let source = check(
            "endpoints = [\"http://127.0.0.1:9100/metrics\"]\nfile_sd = [\"targets/*.json\"]\nbearer_token_file = \"token\"\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(source.signal(), Signal::Metrics);
    }

    #[test]
    fn check_refuses_what_cannot_run_at_its_key() {
        let k = keys("");
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].0, "endpoints");
        let k = keys("endpoints = [\"http://a:1/m\", \"ftp://b/m\", \"nope\"]\n");
        let at: Vec<&str> = k.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(at, vec!["endpoints.1", "endpoints.2"]);
        let k = keys("endpoints = [\"http://a:1/m\"]\nscrape_interval_secs = 5\nscrape_timeout_secs = 6\n");
        assert_eq!(k[0].0, "scrape_timeout_secs");
        assert!(k[0].1.contains("longer than scrape_interval_secs (5s)"), "{k:?}");
        let k = keys("endpoints = [\"http://a:1/m\"]\nbearer_token = \"x\"\nbearer_token_file = \"token\"\n");
        assert_eq!(k[0].0, "bearer_token_file");
        let k = keys("endpoints = [\"http://a:1/m\"]\nbearer_token_file = \"missing\"\n");
        assert_eq!(k[0].0, "bearer_token_file");
        let k = keys("file_sd = [\"[\"]\n");
        assert_eq!(k[0].0, "file_sd.0");
        let k = keys("endpoints = [\"http://a:1/m\"]\nmax_samples_per_scrape = 0\njob = \"\"\n");
        let at: Vec<&str> = k.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(at, vec!["job", "max_samples_per_scrape"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<PrometheusScrapeSourceConfig>("endpoint = []\n").unwrap_err();
        assert!(e.message().contains("unknown field `endpoint`"), "{e}");
    }
}
