//! Where the targets come from: the `endpoints` list, and Prometheus's file-based service
//! discovery (`file_sd`): JSON files of target groups,
//! `[{"targets": ["host:port"], "labels": {"k": "v"}}]`, matched by globs and reread when
//! a file changes, appears or goes away.
//!
//! As in Prometheus, a group's `__scheme__` and `__metrics_path__` labels set the URL's
//! scheme and path, `__param_<name>` a URL parameter; other labels starting with `__` are
//! dropped; `job` and `instance` are set unless the group sets them (`instance` is the
//! target's `host:port`, the port defaulting to the scheme's). A file that cannot be read
//! or parsed keeps the targets it last gave (the error is reported), as in Prometheus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Deserialize;

use crate::event::Label;

/// One target: the URL to scrape and its target labels (sorted, holding `job` and
/// `instance`; these go on every sample scraped from it). Two targets are the same when
/// both are: a target whose labels change is another target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScrapeTarget {
    pub url: String,
    pub labels: Vec<Label>,
}

impl ScrapeTarget {
    /// The `instance` label's value.
    pub fn instance(&self) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == "instance")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// The target an `endpoints` entry names, or why it cannot be one.
pub fn target_from_url(url: &str, job: &str) -> Result<ScrapeTarget, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}`: the scheme must be http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // They would be logged with the URL; the token keys are never logged.
        return Err(format!(
            "`{}`: credentials in the URL are not supported; use bearer_token or bearer_token_file",
            parsed.host_str().unwrap_or_default()
        ));
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return Err(format!("`{url}`: no host")),
    };
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("`{url}`: no port"))?;
    // host_str writes an IPv6 address in brackets, as `host:port` needs it.
    let instance = format!("{host}:{port}");
    Ok(ScrapeTarget {
        url: parsed.to_string(),
        labels: vec![
            ("instance".to_string(), instance),
            ("job".to_string(), job.to_string()),
        ],
    })
}

/// One target group of a file_sd file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The target groups in the text of a file_sd file.
pub fn parse_groups(text: &str) -> Result<Vec<TargetGroup>, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The target at `address` (`host:port`, or `host`) with its group's `labels`.
pub fn target_from_group(
    address: &str,
    labels: &BTreeMap<String, String>,
    job: &str,
) -> Result<ScrapeTarget, String> {
    if address.is_empty()
        || address.contains(['/', '?', '#', '@'])
        || address.contains(char::is_whitespace)
    {
        return Err(format!("`{address}` is not a host:port"));
    }
    let scheme = labels.get("__scheme__").map(String::as_str).unwrap_or("http");
    let path = labels
        .get("__metrics_path__")
        .map(String::as_str)
        .unwrap_or("/metrics");
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut url = reqwest::Url::parse(&format!("{scheme}://{address}{path}"))
        .map_err(|e| format!("`{address}` (scheme `{scheme}`, path `{path}`): {e}"))?;
    let params: Vec<(&str, &str)> = labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("__param_")?, v.as_str())))
        .collect();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    let mut target = target_from_url(url.as_str(), job)?;
    let mut merged: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, v)| !k.starts_with("__") && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in target.labels {
        merged.entry(k).or_insert(v);
    }
    target.labels = merged.into_iter().collect();
    Ok(target)
}

/// What one file last gave.
struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    targets: Vec<ScrapeTarget>,
}

/// The file_sd files matched by the globs, and the targets each last gave.
pub struct FileDiscovery {
    patterns: Vec<String>,
    job: String,
    files: BTreeMap<PathBuf, FileState>,
}

impl FileDiscovery {
    /// Discovery over `patterns` (absolute globs, checked); nothing read yet.
    pub fn new(patterns: Vec<String>, job: String) -> FileDiscovery {
        FileDiscovery {
            patterns,
            job,
            files: BTreeMap::new(),
        }
    }

    /// Rereads the files that changed, appeared or went away since the last call. Returns
    /// whether the targets may have changed, and the problems found (a file that cannot be
    /// read or parsed keeps its last targets; a bad target in it is skipped).
    pub fn refresh(&mut self) -> (bool, Vec<String>) {
        let mut problems = Vec::new();
        let mut matched = BTreeSet::new();
        for pattern in &self.patterns {
            match glob::glob(pattern) {
                Ok(paths) => {
                    for path in paths {
                        match path {
                            Ok(p) if p.is_file() => {
                                matched.insert(p);
                            }
                            Ok(_) => {}
                            Err(e) => problems.push(format!("file_sd `{pattern}`: {e}")),
                        }
                    }
                }
                Err(e) => problems.push(format!("file_sd `{pattern}`: {e}")),
            }
        }
        let before = self.files.len();
        self.files.retain(|path, _| matched.contains(path));
        let mut changed = self.files.len() != before;
        for path in matched {
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!("file_sd {}: {e}", path.display()));
                    continue;
                }
            };
            let (modified, len) = (meta.modified().ok(), meta.len());
            if let Some(state) = self.files.get(&path) {
                if state.modified == modified && state.len == len && modified.is_some() {
                    continue;
                }
            }
            let read = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| parse_groups(&text));
            let groups = match read {
                Ok(groups) => groups,
                Err(e) => {
                    problems.push(format!("file_sd {}: {e}", path.display()));
                    // Keep the last targets; try again when the file changes.
                    if let Some(state) = self.files.get_mut(&path) {
                        state.modified = modified;
                        state.len = len;
                    } else {
                        self.files.insert(
                            path,
                            FileState {
                                modified,
                                len,
                                targets: Vec::new(),
                            },
                        );
                    }
                    continue;
                }
            };
            let mut targets = Vec::new();
            for group in &groups {
                for address in &group.targets {
                    match target_from_group(address, &group.labels, &self.job) {
                        Ok(t) => targets.push(t),
                        Err(e) => problems.push(format!("file_sd {}: {e}", path.display())),
                    }
                }
            }
            changed = true;
            self.files.insert(
                path,
                FileState {
                    modified,
                    len,
                    targets,
                },
            );
        }
        (changed, problems)
    }

    /// Every target the files give, each once.
    pub fn targets(&self) -> BTreeSet<ScrapeTarget> {
        self.files
            .values()
            .flat_map(|f| f.targets.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_endpoint_gives_job_and_instance_with_the_default_port() {
        let t = target_from_url("http://127.0.0.1:9100/metrics", "node").unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9100/metrics");
        assert_eq!(
            t.labels,
            labels(&[("instance", "127.0.0.1:9100"), ("job", "node")])
        );
        let t = target_from_url("https://example.com/m?x=1", "j").unwrap();
        assert_eq!(t.instance(), "example.com:443");
        assert_eq!(t.url, "https://example.com/m?x=1");
        assert!(target_from_url("ftp://h/metrics", "j").unwrap_err().contains("http or https"));
        assert!(target_from_url("not a url", "j").is_err());
        let e = target_from_url("http://me:pw-n0t-logged@h:1/m", "j").unwrap_err();
        assert!(e.contains("credentials in the URL") && !e.contains("pw-n0t-logged"), "{e}");
        assert!(target_from_url("http://", "j").is_err());
    }

    #[test]
    fn groups_parse_and_set_scheme_path_params_and_labels() {
        let text = r#"[
            {"targets": ["10.0.0.1:9100", "10.0.0.2"], "labels": {"env": "prod", "__meta_x": "dropped"}},
            {"targets": ["h:8443"], "labels": {"__scheme__": "https", "__metrics_path__": "/probe",
              "__param_module": "http_2xx", "job": "blackbox", "instance": "named", "empty": ""}},
            {"targets": []}
        ]"#;
        let groups = parse_groups(text).unwrap();
        assert_eq!(groups.len(), 3);
        let t = target_from_group(&groups[0].targets[0], &groups[0].labels, "node").unwrap();
        assert_eq!(t.url, "http://10.0.0.1:9100/metrics");
        assert_eq!(
            t.labels,
            labels(&[("env", "prod"), ("instance", "10.0.0.1:9100"), ("job", "node")])
        );
        let t = target_from_group(&groups[0].targets[1], &groups[0].labels, "node").unwrap();
        assert_eq!(t.instance(), "10.0.0.2:80");
        let t = target_from_group(&groups[1].targets[0], &groups[1].labels, "node").unwrap();
        assert_eq!(t.url, "https://h:8443/probe?module=http_2xx");
        assert_eq!(t.labels, labels(&[("instance", "named"), ("job", "blackbox")]));
    }

    #[test]
    fn bad_files_and_targets_are_refused_with_the_reason() {
        assert!(parse_groups("{}").is_err());
        assert!(parse_groups("[{\"targets\": \"h:1\"}]").is_err());
        assert!(parse_groups("[{\"targets\": [], \"lables\": {}}]")
            .unwrap_err()
            .contains("unknown field `lables`"));
        let none = BTreeMap::new();
        assert!(target_from_group("h:1/x", &none, "j").is_err());
        assert!(target_from_group("", &none, "j").is_err());
        assert!(target_from_group("h:notaport", &none, "j").is_err());
    }

    #[test]
    fn refresh_follows_files_that_change_appear_break_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = dir.path().join("*.json").to_str().unwrap().to_string();
        let mut d = FileDiscovery::new(vec![pattern], "j".into());
        assert_eq!(d.refresh(), (false, vec![]));
        assert!(d.targets().is_empty());

        let a = dir.path().join("a.json");
        std::fs::write(&a, r#"[{"targets": ["h1:1", "h2:2"]}]"#).unwrap();
        assert_eq!(d.refresh(), (true, vec![]));
        assert_eq!(d.targets().len(), 2);
        assert_eq!(d.refresh(), (false, vec![]), "nothing changed");

        // A broken rewrite keeps the last targets and says why.
        std::fs::write(&a, r#"[{"targets": ["h1:1""#).unwrap();
        let (_, problems) = d.refresh();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("a.json"), "{problems:?}");
        assert_eq!(d.targets().len(), 2);

        std::fs::write(&a, r#"[{"targets": ["h1:1"]}]"#).unwrap();
        let (changed, problems) = d.refresh();
        assert!(changed && problems.is_empty(), "{problems:?}");
        let urls: Vec<String> = d.targets().into_iter().map(|t| t.url).collect();
        assert_eq!(urls, vec!["http://h1:1/metrics".to_string()]);

        std::fs::remove_file(&a).unwrap();
        assert_eq!(d.refresh(), (true, vec![]));
        assert!(d.targets().is_empty());
    }
}
