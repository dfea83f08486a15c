//! Optional enrichment from the Kubernetes API: `GET /api/v1/namespaces/{ns}/pods/{pod}`
//! once per pod (cached), with the service account's bearer token and CA by default; the
//! pod labels named in `pod_labels` become record labels (names made label-safe:
//! `app.kubernetes.io/name` -> `app_kubernetes_io_name`) and the annotations named in
//! `annotations` become metadata. A failed lookup is counted and logged; the pod's records
//! are still sent, without the enrichment, and the pod is asked for again after a pause.
//! When the server cannot be reached (refused, timed out), no pod is asked for during that
//! pause either, so an API outage delays reading by one timeout, not one per pod.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::component::{CheckContext, CheckError};
use crate::sources::prometheus_scrape::target::describe;
use crate::event::Label;
use crate::telemetry::{events, ComponentMetrics};

/// The in-cluster service account files.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// `[sources.NAME.kubernetes_api]`: enrichment is on when this table is there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The API server. Default: in the cluster, from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`, else `https://kubernetes.default.svc`.
    #[serde(default)]
    pub api_server: Option<String>,
    /// A file holding the bearer token (read for each request: projected tokens rotate).
    #[serde(default = "default_token_file")]
    pub token_file: String,
    /// CA certificates (PEM) the API server's certificate is checked against (https only).
    #[serde(default = "default_ca_file")]
    pub ca_file: String,
    /// Pod labels to copy to every record of the pod's containers.
    #[serde(default)]
    pub pod_labels: Vec<String>,
    /// Pod annotations to copy to every record's metadata.
    #[serde(default)]
    pub annotations: Vec<String>,
    /// Longest a lookup may take, in milliseconds (the pod's file waits for it once).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_token_file() -> String {
    format!("{SERVICE_ACCOUNT}/token")
}
fn default_ca_file() -> String {
    format!("{SERVICE_ACCOUNT}/ca.crt")
}
fn default_timeout_ms() -> u64 {
    5000
}

/// How long a failed lookup is remembered before the pod is asked for again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How many pods are remembered (a node runs at most a few hundred).
const CACHE_SIZE: usize = 4096;

/// What a pod adds to its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    pub labels: Vec<Label>,
    pub metadata: Vec<(String, String)>,
}

/// A checked client of the API server.
pub struct Api {
    server: String,
    token_file: PathBuf,
    client: reqwest::Client,
    pod_labels: Vec<(String, String)>,
    annotations: Vec<String>,
    cache: HashMap<(String, String), (Option<PodInfo>, Instant)>,
    /// Set when the server could not be reached: no lookups until then.
    unreachable_until: Option<Instant>,
}

impl ApiConfig {
    /// Checks the table (`key` is its name in the source's table) and builds the client.
    pub fn check(self, key: &str, ctx: &CheckContext<'_>, errors: &mut Vec<CheckError>) -> Option<Api> {
        let at = |k: &str| format!("{key}.{k}");
        let server = self.api_server.clone().unwrap_or_else(|| {
            match (
                std::env::var("KUBERNETES_SERVICE_HOST"),
                std::env::var("KUBERNETES_SERVICE_PORT"),
            ) {
                (Ok(host), Ok(port)) if host.contains(':') => format!("https://[{host}]:{port}"),
                (Ok(host), Ok(port)) => format!("https://{host}:{port}"),
                _ => "https://kubernetes.default.svc".into(),
            }
        });
        let server = server.trim_end_matches('/').to_string();
        let https = match reqwest::Url::parse(&server) {
            Ok(u) if u.scheme() == "https" => true,
            Ok(u) if u.scheme() == "http" => false,
            Ok(u) => {
                errors.push(CheckError::at(&at("api_server"), format!("`{}` is not http or https", u.scheme())));
                return None;
            }
            Err(e) => {
                errors.push(CheckError::at(&at("api_server"), format!("`{server}`: {e}")));
                return None;
            }
        };
        let token_file = ctx.resolve(Path::new(&self.token_file));
        if let Err(e) = std::fs::read(&token_file) {
            errors.push(CheckError::at(&at("token_file"), format!("{}: {e}", token_file.display())));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_millis(self.timeout_ms.max(1)))
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")));
        if https {
            let ca = ctx.resolve(Path::new(&self.ca_file));
            let certs = std::fs::read(&ca)
                .map_err(|e| e.to_string())
                .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()))
                .and_then(|certs| if certs.is_empty() { Err("no certificate in it".into()) } else { Ok(certs) });
            match certs {
                Ok(certs) => {
                    for cert in certs {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Err(e) => errors.push(CheckError::at(&at("ca_file"), format!("{}: {e}", ca.display()))),
            }
        }
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                errors.push(CheckError::at(key, format!("cannot build the HTTP client: {e}")));
                return None;
            }
        };
        Some(Api {
            server,
            token_file,
            client,
            pod_labels: self.pod_labels.iter().map(|l| (l.clone(), label_name(l))).collect(),
            annotations: self.annotations,
            cache: HashMap::new(),
            unreachable_until: None,
        })
    }
}

/// A pod label's name as a record label name: every character outside `[A-Za-z0-9_]`
/// becomes `_`, and a leading digit gets a `_` before it.
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A failed lookup.
struct Failure {
    message: String,
    /// The server could not be reached (refused, timed out), rather than answered no.
    unreachable: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            unreachable: false,
        }
    }
}

/// The part of a v1 Pod this reads.
#[derive(Deserialize)]
struct Pod {
    metadata: PodMetadata,
}

#[derive(Deserialize)]
struct PodMetadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl Api {
    /// What the pod adds to its records (None: the lookup failed, counted and logged).
    /// Blocks the calling thread (the file reader's) for at most `timeout_ms`.
    pub fn pod(&mut self, namespace: &str, pod: &str, metrics: &ComponentMetrics) -> Option<PodInfo> {
        let key = (namespace.to_string(), pod.to_string());
        match self.cache.get(&key) {
            Some((Some(info), _)) => return Some(info.clone()),
            Some((None, at)) if at.elapsed() < RETRY_AFTER => return None,
            _ => {}
        }
        let got = match self.unreachable_until {
            Some(until) if Instant::now() < until => Err(Failure {
                message: "the API server could not be reached lately; not asked".into(),
                unreachable: false,
            }),
            _ => self.fetch(namespace, pod),
        };
        let info = match got {
            Ok(info) => Some(info),
            Err(Failure { message: e, unreachable }) => {
                if unreachable {
                    self.unreachable_until = Some(Instant::now() + RETRY_AFTER);
                }
                events::component_error(
                    metrics,
                    "enrichment_failed",
                    &format!("pod {namespace}/{pod}: {e} (its records are sent without the pod's labels)"),
                );
                None
            }
        };
        if self.cache.len() >= CACHE_SIZE {
            self.cache.clear();
        }
        self.cache.insert(key, (info.clone(), Instant::now()));
        info
    }

    fn fetch(&self, namespace: &str, pod: &str) -> Result<PodInfo, Failure> {
        let token = std::fs::read_to_string(&self.token_file)
            .map_err(|e| format!("token file {}: {e}", self.token_file.display()))?;
        let url = format!("{}/api/v1/namespaces/{namespace}/pods/{pod}", self.server);
        let request = self
            .client
            .get(&url)
            .bearer_auth(token.trim())
            .header("accept", "application/json");
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("no runtime to ask the API server on: {e}"))?;
        let body = handle.block_on(async move {
            let failed = |e: reqwest::Error| Failure {
                message: format!("GET {url}: {}", describe(&e)),
                unreachable: e.is_connect() || e.is_timeout(),
            };
            let response = request.send().await.map_err(failed)?;
            let status = response.status();
            let body = response.bytes().await.map_err(failed)?;
            if !status.is_success() {
                return Err(Failure::from(format!("GET {url}: {status}")));
            }
            Ok(body)
        })?;
        let pod: Pod =
            serde_json::from_slice(&body).map_err(|e| format!("not a v1 Pod: {e}"))?;
        Ok(self.info(pod.metadata))
    }

    fn info(&self, meta: PodMetadata) -> PodInfo {
        let labels = self
            .pod_labels
            .iter()
            .filter_map(|(name, as_label)| meta.labels.get(name).map(|v| (as_label.clone(), v.clone())))
            .collect();
        let metadata = self
            .annotations
            .iter()
            .filter_map(|name| meta.annotations.get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        PodInfo { labels, metadata }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_label_names_become_label_safe() {
        assert_eq!(label_name("app"), "app");
        assert_eq!(label_name("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(label_name("1st-tier"), "_1st_tier");
    }

    /// A server that accepts connections and never answers: the first lookup waits for the
    /// timeout, the next pods are not asked for (each still counted as failed).
    #[test]
    fn an_unreachable_server_costs_one_timeout_not_one_per_pod() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "t").unwrap();
        let mut api = Api {
            server: format!("http://127.0.0.1:{port}"),
            token_file,
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap(),
            pod_labels: vec![],
            annotations: vec![],
            cache: HashMap::new(),
            unreachable_until: None,
        };
        let telemetry = crate::telemetry::Telemetry::new();
        let metrics = telemetry.component("k8s", "kubernetes_logs");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _in_runtime = runtime.enter();
        let started = Instant::now();
        assert_eq!(api.pod("shop", "a", &metrics), None);
        assert!(started.elapsed() >= Duration::from_millis(300));
        let again = Instant::now();
        for pod in ["b", "c", "d"] {
            assert_eq!(api.pod("shop", pod, &metrics), None);
        }
        assert!(again.elapsed() < Duration::from_millis(100), "{:?}", again.elapsed());
        let text = telemetry.render_openmetrics();
        assert!(
            text.lines().any(|l| l.contains("errors_total")
                && l.contains("enrichment_failed")
                && l.ends_with(" 4")),
            "{text}"
        );
        drop(listener);
    }
}
