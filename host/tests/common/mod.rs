//! Helpers for the end-to-end tests: they run the real `sluice` binary on pipelines written
//! to a temp dir, with the plugins `make plugins` built into dist/.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A built plugin component; fails with a hint when `make plugins` has not run.
pub fn plugin(name: &str) -> PathBuf {
    let test_plugin = ["wrong_world", "future_major", "older_patch"].contains(&name);
    let dir = if name.starts_with("bad_") || test_plugin {
        "dist/test-plugins"
    } else {
        "dist/plugins"
    };
    let path = repo().join(dir).join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make plugins` (or `make test`) first",
        path.display()
    );
    path
}

/// The sluice binary under test: this build's, or `SLUICE_UNDER_TEST` (to show a test
/// fails on another build, e.g. the one before a fix).
pub fn sluice() -> Command {
    match std::env::var_os("SLUICE_UNDER_TEST") {
        Some(other) => Command::new(other),
        None => Command::new(env!("CARGO_BIN_EXE_sluice")),
    }
}

/// Writes `config` to `dir/p.toml` and runs `sluice run` on it to its end (the pipeline's
/// sources must stop by themselves), failing the test with sluice's log unless it exits 0.
/// Returns the process output (stdout is discarded; stderr is sluice's log).
pub fn run_to_end(dir: &Path, config: &str) -> std::process::Output {
    let path = dir.join("p.toml");
    std::fs::write(&path, config).unwrap();
    let output = sluice()
        .arg("run")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sluice run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The opening of a test pipeline: `data_dir`, the API server (with `serve_api`, on the
/// port [`Running::start`] picks; else off) and a `file` source named `app` on `include`.
/// Tests write the source's other keys, then their transforms and sinks, after it.
pub fn file_source_head(data_dir: &Path, include: &str, serve_api: bool) -> String {
    let api = if serve_api {
        "address = \"127.0.0.1:{port}\""
    } else {
        "enabled = false"
    };
    format!(
        "data_dir = \"{}\"\n[api]\n{api}\n[sources.app]\ntype = \"file\"\ninclude = [\"{include}\"]\n",
        data_dir.display()
    )
}

/// Appends `line 000000`, `line 000001`, ... for the numbers in `range` to `path` (created
/// if missing).
pub fn append_lines(path: &Path, range: std::ops::Range<usize>) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in range {
        writeln!(f, "line {i:06}").unwrap();
    }
}

/// The lines of the file at `path` (none if it does not exist yet).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls `check` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running collector, stopped (SIGKILL) when dropped if still alive.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Running {
    /// Writes `config` (with `{dir}` and `{port}` substituted) and starts `sluice run`.
    pub fn start(config: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let text = config
            .replace("{dir}", dir.path().to_str().unwrap())
            .replace("{port}", &port.to_string());
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, text).unwrap();
        let child = sluice()
            .arg("run")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let running = Running { child, port, dir };
        let ready = wait_for(Duration::from_secs(30), || {
            running.get("/ready").ok().filter(|(s, _)| *s == 200)
        });
        assert!(ready.is_some(), "the collector did not become ready");
        running
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn get(&self, path: &str) -> reqwest::Result<(u16, String)> {
        let r = reqwest::blocking::get(self.url(path))?;
        Ok((r.status().as_u16(), r.text()?))
    }

    pub fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let r = reqwest::blocking::Client::new()
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// The value of the metric sample whose line starts with `prefix` (name and labels).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics").ok()?;
        metric_value(&text, prefix)
    }

    /// Sends SIGTERM and waits for the exit; returns (success, stderr).
    pub fn stop(&mut self) -> (bool, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let output = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample line starting with `prefix` in an exposition.
pub fn metric_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l[prefix.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
