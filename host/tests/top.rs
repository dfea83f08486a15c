//! End-to-end: `sluice top` in a real terminal (tmux from Debian: send keys, capture the
//! pane) against a running sluice with records flowing: the pane shows every component with
//! non-zero rates and the redactions by rule, a key sorts by its column, `q` exits and gives the terminal back, and a
//! collector that cannot be reached is said on screen.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A tmux server of the test's own (its own socket), with one session running `command`.
struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    fn start(command: &str) -> Option<Tmux> {
        let socket = format!("sluice-top-{}-{}", std::process::id(), free_port());
        let tmux = Tmux {
            socket,
            session: "top",
        };
        let ok = tmux
            .cmd(&[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "top",
                "-x",
                "200",
                "-y",
                "30",
                command,
            ])
            .ok()?;
        assert!(
            ok.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        Some(tmux)
    }

    fn cmd(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
    }

    fn pane(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", self.session])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", self.session, keys]).unwrap();
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", self.session])
            .is_ok_and(|o| o.status.success())
    }

    fn wait_for(&self, what: impl Fn(&str) -> bool) -> Option<String> {
        wait_for(Duration::from_secs(15), || {
            let pane = self.pane();
            what(&pane).then_some(pane)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn tmux_or_skip() -> bool {
    let has = Command::new("tmux").arg("-V").output().is_ok();
    if !has && std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_none() {
        eprintln!("tmux is not installed: sluice top not checked");
    }
    has || std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_some()
}

/// The first number on the row of `component` (its in/s).
fn in_rate(pane: &str, component: &str) -> Option<f64> {
    let row = pane
        .lines()
        .find(|l| l.split_whitespace().next() == Some(component))?;
    row.split_whitespace()
        .skip(1)
        .find_map(|t| t.parse::<f64>().ok())
}

#[test]
fn top_shows_every_component_with_live_rates_sorts_and_quits() {
    if !tmux_or_skip() {
        return;
    }
    let mut sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[transforms.parse]
type = "wasm"
inputs = ["push"]
plugin = "{}"
config = {{ format = "json", labels = ["level"] }}
[transforms.redact]
type = "wasm"
inputs = ["parse"]
plugin = "{}"
[[transforms.redact.metrics]]
name = "redactions_total"
type = "counter"
labels = ["rule"]
[sinks.out]
type = "blackhole"
inputs = ["redact"]
"#,
        plugin("parse").display(),
        plugin("redact_pii").display()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let url = sluice.url("/ingest");
    let traffic = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        while !flag.load(Ordering::Relaxed) {
            let _ = client
                .post(&url)
                .header("content-type", "application/x-ndjson")
                .body("{\"level\":\"info\",\"user\":\"ann@example.com\"}\n{\"level\":\"warn\"}")
                .send();
            std::thread::sleep(Duration::from_millis(30));
        }
    });

    let binary = env!("CARGO_BIN_EXE_sluice");
    let tmux = Tmux::start(&format!("{binary} top --url {}", sluice.url(""))).expect("tmux runs");
    let pane = tmux
        .wait_for(|p| {
            ["push", "parse", "redact", "out"]
                .iter()
                .all(|c| in_rate(p, c).is_some_and(|r| r > 0.0))
                && p.lines()
                    .any(|l| l.starts_with("redact ") && l.contains("email:"))
        })
        .unwrap_or_else(|| panic!("no live rates for every component:\n{}", tmux.pane()));
    assert!(pane.contains("sluice top"), "{pane}");
    assert!(pane.contains("wasm (parse.wasm)"), "{pane}");

    // `n` sorts by name: out, parse, push, redact.
    tmux.keys("n");
    let sorted = tmux
        .wait_for(|p| {
            let order: Vec<&str> = p
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|w| ["push", "parse", "redact", "out"].contains(w))
                .collect();
            order == ["out", "parse", "push", "redact"]
        })
        .unwrap_or_else(|| panic!("not sorted by name:\n{}", tmux.pane()));
    assert!(sorted.contains("component [n]"), "{sorted}");

    tmux.keys("q");
    assert!(
        wait_for(Duration::from_secs(10), || (!tmux.alive()).then_some(())).is_some(),
        "top did not exit on q:\n{}",
        tmux.pane()
    );
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    sluice.stop_ok();
}

#[test]
fn top_says_when_it_cannot_reach_the_collector() {
    if !tmux_or_skip() {
        return;
    }
    let binary = env!("CARGO_BIN_EXE_sluice");
    let port = free_port();
    let tmux =
        Tmux::start(&format!("{binary} top --url http://127.0.0.1:{port}")).expect("tmux runs");
    tmux.wait_for(|p| p.contains("cannot reach sluice at") && p.contains("retrying"))
        .unwrap_or_else(|| panic!("no clear message:\n{}", tmux.pane()));
    tmux.keys("C-c");
    assert!(
        wait_for(Duration::from_secs(10), || (!tmux.alive()).then_some(())).is_some(),
        "top did not exit on Ctrl-C"
    );
}
