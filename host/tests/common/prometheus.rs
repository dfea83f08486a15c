//! A real Prometheus for the tests: Debian's `prometheus` 2.42, started on 127.0.0.1 with a
//! temp data dir (`.ci/run` installs it), killed when dropped.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use super::free_port;

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (host:port) every second, exemplars stored.
    pub fn start(target: &str) -> Prometheus {
        Prometheus::start_with(&format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: sluice\n    static_configs:\n      - targets: ['{target}']\n"
        ))
    }

    /// Starts Prometheus with the config file `yaml`, exemplars stored and the remote
    /// write receiver on.
    pub fn start_with(yaml: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, yaml).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (Debian's prometheus package; .ci/run installs it)");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// Waits (up to 30 s) until Prometheus answers `/-/ready`; fails the test otherwise.
    pub fn wait_ready(&self) {
        let port = self.port;
        let ready = super::wait_for(std::time::Duration::from_secs(30), || {
            reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
                .ok()
                .filter(|r| r.status().is_success())
        });
        assert!(ready.is_some(), "prometheus did not become ready");
    }

    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Option<serde_json::Value> {
        let r = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .query(params)
            .send()
            .ok()?;
        let json: serde_json::Value = r.json().ok()?;
        (json["status"] == "success").then(|| json["data"].clone())
    }

    /// An instant query's samples: (labels, value).
    pub fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self
            .api("/api/v1/query", &[("query", promql)])
            .unwrap_or_else(|| panic!("query failed: {promql}"));
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let value = s["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }
}

/// Fails the test unless `promtool check metrics` (the reference) accepts `text`.
pub fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
