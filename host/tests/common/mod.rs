//! Helpers for the end-to-end tests: they run the real `sluice` binary on pipelines written
//! to a temp dir, with the plugins `make plugins` built into dist/.

#![allow(dead_code)]

pub mod prometheus;
pub mod tls;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// Runs a file source on `input` (read to its end; `source_keys` are more of its TOML
/// lines) through `transforms` (TOML tables, the first reading `app`) into a file sink
/// that reads `last` and writes `encoding`, and returns what the sink wrote.
pub fn run_file_to_file(
    dir: &Path,
    input: &Path,
    source_keys: &str,
    transforms: &str,
    last: &str,
    encoding: &str,
) -> String {
    let out = dir.join("sink.out");
    let config = format!(
        "{head}stop_at_eof = true\n{source_keys}\n{transforms}\n[sinks.out]\ntype = \"file\"\n\
         inputs = [\"{last}\"]\npath = \"{out}\"\nencoding = \"{encoding}\"\n",
        head = file_source_head(&dir.join("data"), &input.display().to_string(), false),
        out = out.display(),
    );
    run_to_end(dir, &config);
    std::fs::read_to_string(&out).unwrap()
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
/// Values the tests hand sluice as secrets (`${ENV}`, `${file:...}`): no test's collector
/// may print one, whatever the test checks ([`Running::stop`] looks in every log).
pub const TEST_SECRETS: &[&str] = &[
    "t0ken-value",
    "api-t0ken-never-printed-7731",
    "s3cr3t-token-value-0042",
    "not-a-number-s3cr3t",
];

pub struct Running {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Everything the collector wrote to stderr so far (its JSON log), read while it runs
    /// so that a chatty collector never blocks on a full pipe.
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Reads `from` to its end on a thread, appending to `into` (None: discards).
fn drain(
    mut from: impl std::io::Read + Send + 'static,
    into: Option<Arc<Mutex<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if let Some(into) = &into {
                        into.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        }
    })
}

impl Running {
    /// Writes `config` (with `{dir}` and `{port}` substituted) and starts `sluice run`,
    /// waiting until it is ready. `{port}` is a port free a moment ago; if another process
    /// took it before the collector bound it, the start is retried on another.
    pub fn start(config: &str) -> Running {
        let mut dir = tempfile::tempdir().unwrap();
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let text = config
                .replace("{dir}", dir.path().to_str().unwrap())
                .replace("{port}", &port.to_string());
            let path = dir.path().join("pipeline.toml");
            std::fs::write(&path, text).unwrap();
            let mut child = sluice()
                .arg("run")
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = Arc::new(Mutex::new(String::new()));
            let readers = vec![
                drain(child.stdout.take().unwrap(), None),
                drain(child.stderr.take().unwrap(), Some(stderr.clone())),
            ];
            let mut running = Running {
                child,
                port,
                dir: std::mem::replace(&mut dir, tempfile::tempdir().unwrap()),
                stderr,
                readers,
            };
            let ready = wait_for(Duration::from_secs(30), || {
                if running.get("/ready").ok().is_some_and(|(s, _)| s == 200) {
                    return Some(true);
                }
                running.exited().then_some(false)
            });
            match ready {
                Some(true) => return running,
                Some(false) if running.log().contains("cannot listen on") => {
                    // The port was taken between free_port and the bind: try another.
                    last_log = running.log();
                    dir = std::mem::replace(&mut running.dir, tempfile::tempdir().unwrap());
                    continue;
                }
                _ => panic!("the collector did not become ready:\n{}", running.log()),
            }
        }
        panic!("no free port after 5 tries:\n{last_log}");
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The collector's log (stderr) so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the log holds a line containing every one of `parts`; the line.
    pub fn wait_for_log(&self, timeout: Duration, parts: &[&str]) -> Option<String> {
        wait_for(timeout, || {
            self.log()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_string)
        })
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

    /// Waits until the metric `prefix` reaches at least `at_least`; its value.
    pub fn wait_for_metric(&self, timeout: Duration, prefix: &str, at_least: f64) -> Option<f64> {
        wait_for(timeout, || self.metric(prefix).filter(|v| *v >= at_least))
    }

    /// Sends SIGTERM and waits for the exit; returns (success, stderr). A test must look at
    /// both: a crash while draining is a failure.
    #[must_use = "a crash at exit goes unseen unless the result is checked"]
    pub fn stop(&mut self) -> (bool, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let log = self.log();
        for secret in TEST_SECRETS {
            assert!(
                !log.contains(secret),
                "a test secret (`{secret}`) is in what sluice printed:\n{log}"
            );
        }
        (status.success(), log)
    }

    /// [`Running::stop`], failing the test unless the collector drained and exited 0;
    /// returns its log.
    pub fn stop_ok(&mut self) -> String {
        let (ok, stderr) = self.stop();
        assert!(ok, "the collector did not stop cleanly:\n{stderr}");
        stderr
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

/// The committed offset of `file` in the checkpoint file at `path` (None: no file, or no
/// entry for it). Fails the test when the file exists but is not the format it should be.
pub fn offset_of(path: &Path, file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display()));
    let files = json["files"]
        .as_object()
        .unwrap_or_else(|| panic!("no `files` object in {text}"));
    let entry = files.get(file.to_str().unwrap())?;
    Some(
        entry["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("no numeric `offset` in {entry}")),
    )
}
