//! End-to-end: `sluice top` in a real terminal (tmux from Debian: send keys, capture the
//! pane) against a running sluice with records flowing: the pane shows every component with
//! non-zero rates and the redactions by rule, a key sorts by its column, `q` exits and gives the terminal back, and a
//! collector that cannot be reached is said on screen.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::tmux::{tmux_or_skip, Tmux};
use common::*;

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
