//! The `kubernetes_logs` source: a node agent's view of its pods' logs. Reads the files the
//! kubelet keeps under `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log`, decodes
//! each line as CRI (`cri.rs`) or Docker json-file (`docker.rs`), joins the parts of lines
//! the runtime split (`lines.rs`), and labels each record with its namespace, pod and
//! container (from the path, `path.rs`), its stream, and the node.
//!
//! The reading itself is the `file` source's (`super::file`, through its
//! [`FileFormat`](super::file::FileFormat) extension): new files found, appends followed,
//! checkpoints after delivery, and the kubelet's rotation: it renames `0.log` to
//! `0.log.<date>` and has the runtime reopen `0.log`; the renamed file is read to its end and
//! the new one from its start; older rotated files are gzipped, and never read (their lines
//! were read before). A rotated file found at start-up is read only from where a checkpoint
//! of it says (rotated while the collector was stopped), else skipped: it was read before,
//! or it is history from before this collector ran.
//!
//! With a `kubernetes_api` table, each pod's labels and annotations (those named) are looked
//! up once in the API server (`api.rs`) and added to its records.

mod api;
mod cri;
mod docker;
pub mod lines;
mod path;

use std::collections::BTreeMap;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::file::{FileFormat, FileSourceConfig, Opened, ReadFrom};
use super::{default_max_line_bytes, BatchConfig, BuiltSource, Source, SourceContext};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::Label;
use crate::telemetry::ComponentMetrics;
pub use lines::Format;

/// `type = "kubernetes_logs"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesLogsSourceConfig {
    /// Where the kubelet keeps pod logs.
    #[serde(default = "default_pods_dir")]
    pub pods_dir: String,
    /// The line format: `auto` (per line: JSON is Docker json-file, anything else CRI),
    /// `cri` or `docker`.
    #[serde(default = "default_format")]
    pub format: Format,
    /// The `node` label. Default: the `NODE_NAME` environment variable (set it from the
    /// downward API, `spec.nodeName`); without either, records have no `node` label.
    #[serde(default)]
    pub node_name: Option<String>,
    /// Namespaces to read (glob patterns; empty: all).
    #[serde(default)]
    pub include_namespaces: Vec<String>,
    /// Namespaces to skip (glob patterns).
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    /// Containers to read (glob patterns on the container name; empty: all).
    #[serde(default)]
    pub include_containers: Vec<String>,
    /// Containers to skip (glob patterns on the container name).
    #[serde(default)]
    pub exclude_containers: Vec<String>,
    /// Where to start in a log file read for the first time (no checkpoint).
    #[serde(default = "default_read_from")]
    pub read_from: ReadFrom,
    /// Stop once every file is read to its end (a one-shot import of a copy of a node's
    /// pod logs) instead of following them.
    #[serde(default)]
    pub stop_at_eof: bool,
    /// Remember read positions in `DATA_DIR/checkpoints/NAME.json` once delivered.
    #[serde(default = "yes")]
    pub checkpoint: bool,
    /// How often to look for appended data and new files, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How long a rotated-away file is still read once it stops growing, in milliseconds.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// Static labels for every record (they win over the source's labels of the same name).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Longest record (a joined line included); longer ones are cut and counted.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Enrichment from the Kubernetes API (off unless this table is there).
    #[serde(default)]
    pub kubernetes_api: Option<api::ApiConfig>,
}

fn default_pods_dir() -> String {
    "/var/log/pods".into()
}
fn default_format() -> Format {
    Format::Auto
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
fn yes() -> bool {
    true
}

/// The environment variable the `node` label defaults to.
const NODE_NAME_ENV: &str = "NODE_NAME";

/// Namespace and container filters.
struct Filters {
    include_namespaces: Option<GlobSet>,
    exclude_namespaces: GlobSet,
    include_containers: Option<GlobSet>,
    exclude_containers: GlobSet,
}

impl Filters {
    fn accepts(&self, pod: &path::PodPath) -> bool {
        self.include_namespaces
            .as_ref()
            .is_none_or(|s| s.is_match(&pod.namespace))
            && !self.exclude_namespaces.is_match(&pod.namespace)
            && self
                .include_containers
                .as_ref()
                .is_none_or(|s| s.is_match(&pod.container))
            && !self.exclude_containers.is_match(&pod.container)
    }
}

/// The patterns of `key` as one set; the index of a bad one with its error.
fn glob_set(key: &str, patterns: &[String], errors: &mut Vec<CheckError>) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        match Glob::new(p) {
            Ok(g) => {
                b.add(g);
            }
            Err(e) => errors.push(CheckError::at(&format!("{key}.{i}"), format!("not a valid glob: {e}"))),
        }
    }
    b.build().unwrap_or_else(|e| {
        errors.push(CheckError::at(key, e.to_string()));
        GlobSet::empty()
    })
}

/// A checked `kubernetes_logs` source.
struct KubernetesLogs {
    pods_dir: std::path::PathBuf,
    /// The file source's part: which files, how they are followed and checkpointed.
    files: FileSourceConfig,
    filters: Filters,
    node: Option<String>,
    format: Format,
    api: Option<api::Api>,
}

impl ComponentConfig<dyn Source> for KubernetesLogsSourceConfig {
    fn check(self, ctx: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        let mut errors = Vec::new();
        let pods_dir = ctx.resolve(Path::new(&self.pods_dir));
        let pods_dir_text = pods_dir.to_string_lossy();
        if glob::Pattern::escape(&pods_dir_text) != pods_dir_text {
            errors.push(CheckError::at(
                "pods_dir",
                "must not hold glob characters (`*?[]`)",
            ));
        }
        if self.max_line_bytes == 0 {
            errors.push(CheckError::at("max_line_bytes", "must be at least 1"));
        }
        let some = |set: GlobSet, patterns: &[String]| (!patterns.is_empty()).then_some(set);
        let filters = Filters {
            include_namespaces: some(
                glob_set("include_namespaces", &self.include_namespaces, &mut errors),
                &self.include_namespaces,
            ),
            exclude_namespaces: glob_set("exclude_namespaces", &self.exclude_namespaces, &mut errors),
            include_containers: some(
                glob_set("include_containers", &self.include_containers, &mut errors),
                &self.include_containers,
            ),
            exclude_containers: glob_set("exclude_containers", &self.exclude_containers, &mut errors),
        };
        let node = match self.node_name {
            Some(n) if n.is_empty() => {
                errors.push(CheckError::at("node_name", "must not be empty (leave it out for $NODE_NAME)"));
                None
            }
            Some(n) => Some(n),
            None => std::env::var(NODE_NAME_ENV).ok().filter(|n| !n.is_empty()),
        };
        let api = self
            .kubernetes_api
            .and_then(|a| a.check("kubernetes_api", ctx, &mut errors));
        if !errors.is_empty() {
            return Err(CheckErrors(errors));
        }
        let files = FileSourceConfig {
            // Live files, and rotated ones (`0.log.<date>`) only to finish what a checkpoint
            // says is left of them (`resume_only`: renamed while the source was stopped). A
            // file rotated while running is read to its end by following the rename.
            include: ["*/*/*.log", "*/*/*.log.*"]
                .iter()
                .map(|g| pods_dir.join(g).to_string_lossy().into_owned())
                .collect(),
            exclude: Vec::new(),
            read_from: self.read_from,
            stop_at_eof: self.stop_at_eof,
            checkpoint: self.checkpoint,
            poll_interval_ms: self.poll_interval_ms,
            rotate_wait_ms: self.rotate_wait_ms,
            labels: self.labels,
            filename_label: false,
            batch: self.batch,
            max_line_bytes: self.max_line_bytes,
            multiline: None,
            read_compressed: false,
        };
        Ok(Box::new(KubernetesLogs {
            pods_dir,
            files,
            filters,
            node,
            format: self.format,
            api,
        }))
    }
}

impl Source for KubernetesLogs {
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        let this = *self;
        if !this.pods_dir.is_dir() {
            tracing::warn!(component_id = %ctx.name, pods_dir = %this.pods_dir.display(),
                "pods_dir is not a directory (yet): is the node's /var/log/pods mounted? Looking again every second");
        }
        if this.node.is_none() {
            tracing::info!(component_id = %ctx.name,
                "no node_name and no NODE_NAME in the environment: records get no node label");
        }
        let format = PodLogs {
            filters: this.filters,
            node: this.node,
            format: this.format,
            max_line_bytes: this.files.max_line_bytes,
            metrics: ctx.metrics.clone(),
            api: this.api,
        };
        BuiltSource {
            task: Some(Box::pin(super::file::run_with(
                this.files,
                Some(Box::new(format)),
                ctx,
            ))),
            route: None,
        }
    }
}

/// The [`FileFormat`] of pod log files.
struct PodLogs {
    filters: Filters,
    node: Option<String>,
    format: Format,
    max_line_bytes: usize,
    metrics: ComponentMetrics,
    api: Option<api::Api>,
}

impl FileFormat for PodLogs {
    fn accept(&self, path: &Path) -> bool {
        path::parse(path).is_some_and(|pod| self.filters.accepts(&pod))
    }

    fn resume_only(&self, path: &Path) -> bool {
        path::parse(path).is_some_and(|pod| pod.rotated)
    }

    fn open(&mut self, path: &Path) -> Opened {
        let pod = path::parse(path).expect("accepted paths are pod log paths");
        let enriched = self
            .api
            .as_mut()
            .and_then(|api| api.pod(&pod.namespace, &pod.pod, &self.metrics))
            .unwrap_or_default();
        let mut labels: Vec<Label> = vec![
            ("namespace".into(), pod.namespace),
            ("pod".into(), pod.pod),
            ("container".into(), pod.container),
        ];
        if let Some(node) = &self.node {
            labels.push(("node".into(), node.clone()));
        }
        // The pod's own labels after these: a label of the same name keeps the value above.
        labels.extend(enriched.labels);
        let mut metadata = vec![("pod_uid".to_string(), pod.uid)];
        metadata.extend(enriched.metadata);
        Opened {
            labels,
            // Indexed by `Stream` (what the decoder's records name).
            label_sets: [cri::Stream::Stdout, cri::Stream::Stderr]
                .map(|s| vec![("stream".to_string(), s.name().to_string())])
                .to_vec(),
            metadata,
            decoder: Box::new(lines::ContainerLines::new(
                self.format,
                self.max_line_bytes,
                self.metrics.clone(),
            )),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn filters(include_ns: &[&str], exclude_ns: &[&str], include_c: &[&str], exclude_c: &[&str]) -> Filters {
        let mut errors = Vec::new();
        let set = |key: &str, p: &[&str], errors: &mut Vec<CheckError>| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            (glob_set(key, &p, errors), !p.is_empty())
        };
        let (inc_ns, some_ns) = set("include_namespaces", include_ns, &mut errors);
        let (inc_c, some_c) = set("include_containers", include_c, &mut errors);
        let f = Filters {
            include_namespaces: some_ns.then_some(inc_ns),
            exclude_namespaces: set("exclude_namespaces", exclude_ns, &mut errors).0,
            include_containers: some_c.then_some(inc_c),
            exclude_containers: set("exclude_containers", exclude_c, &mut errors).0,
        };
        assert!(errors.is_empty());
        f
    }

    fn pod(namespace: &str, container: &str) -> path::PodPath {
        path::PodPath {
            namespace: namespace.into(),
            pod: "p".into(),
            uid: "u".into(),
            container: container.into(),
            rotated: false,
        }
    }

    #[test]
    fn namespaces_and_containers_are_included_then_excluded() {
        let f = filters(&["shop", "pay*"], &["payments-test"], &[], &["istio-*"]);
        assert!(f.accepts(&pod("shop", "app")));
        assert!(f.accepts(&pod("payments", "app")));
        assert!(!f.accepts(&pod("payments-test", "app")), "excluded wins");
        assert!(!f.accepts(&pod("default", "app")), "not included");
        assert!(!f.accepts(&pod("shop", "istio-proxy")));
        let only_app = filters(&[], &[], &["app"], &[]);
        assert!(only_app.accepts(&pod("any", "app")));
        assert!(!only_app.accepts(&pod("any", "sidecar")));
        let all = filters(&[], &[], &[], &[]);
        assert!(all.accepts(&pod("kube-system", "coredns")));
    }
}
