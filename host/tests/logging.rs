//! End-to-end: sluice's own log. JSON lines when stderr is not a terminal (every other test
//! reads them so), human-readable lines with `--log-format text`; the first load of a plugin
//! says it is compiling before it does, and the next start says the cache was hit; the API
//! server's line says where the status page and /metrics are.

mod common;

use common::*;

fn validate(config: &std::path::Path, extra: &[&str]) -> String {
    let out = sluice()
        .args(extra)
        .arg("validate")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A config in `dir`: stdin -> the plugin `plugin` -> blackhole; its path.
fn stdin_through(dir: &std::path::Path, plugin_name: &str) -> std::path::PathBuf {
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}/data\"\n[sources.in]\ntype = \"stdin\"\n[transforms.p]\ntype = \"wasm\"\ninputs = [\"in\"]\nplugin = \"{}\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"p\"]\n",
            dir.display(),
            plugin(plugin_name).display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn plugin_compiles_are_announced_and_the_log_format_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let config = stdin_through(dir.path(), "parse");
    let first = validate(&config, &[]);
    let compiling = first
        .lines()
        .position(|l| l.contains("compiling plugin"))
        .unwrap_or_else(|| panic!("no compile notice:\n{first}"));
    let loaded = first
        .lines()
        .position(|l| l.contains("plugin loaded"))
        .unwrap();
    assert!(compiling < loaded, "announced before it happens:\n{first}");
    for line in first.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON on a pipe ({e}): {line}"));
    }
    let second = validate(&config, &["--log-format", "text"]);
    assert!(!second.contains("compiling plugin"), "{second}");
    assert!(
        second.contains("plugin loaded") && second.contains("Hit"),
        "{second}"
    );
    assert!(
        second.lines().all(|l| !l.starts_with('{')),
        "text lines:\n{second}"
    );
    let bad = sluice()
        .args(["--log-format", "xml", "validate"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("auto, json or text"));
}

#[test]
fn the_api_server_line_says_where_to_look() {
    let mut sluice = Running::start(
        "data_dir = \"{dir}/data\"\n[api]\naddress = \"127.0.0.1:{port}\"\n[sources.in]\ntype = \"http\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
    );
    let line = sluice
        .wait_for_log(std::time::Duration::from_secs(5), &["API server listening"])
        .unwrap();
    let port = sluice.port;
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/\"")),
        "{line}"
    );
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/metrics")),
        "{line}"
    );
    sluice.stop_ok();
}

/// With no `--log-format`, a terminal gets human-readable lines: `sluice validate` run in a
/// real terminal (a tmux pane, so stderr is a TTY) logs text, not JSON.
#[test]
fn a_terminal_gets_text_lines_without_asking() {
    if !common::tmux::tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = stdin_through(dir.path(), "identity");
    let binary = env!("CARGO_BIN_EXE_sluice");
    // The pane stays open after validate exits, to be read; DONE marks the end.
    let tmux = common::tmux::Tmux::start(&format!(
        "sh -c '{binary} validate {}; echo DONE; sleep 60'",
        config.display()
    ))
    .expect("tmux runs");
    let pane = tmux
        .wait_for(|p| p.contains("DONE"))
        .unwrap_or_else(|| panic!("validate did not finish:\n{}", tmux.pane()));
    let logged: Vec<&str> = pane
        .lines()
        .take_while(|l| !l.starts_with("DONE"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!logged.is_empty(), "nothing logged:\n{pane}");
    assert!(
        logged.iter().all(|l| !l.trim_start().starts_with('{')),
        "JSON on a terminal:\n{pane}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l.contains("INFO") && l.contains("plugin loaded")),
        "no human-readable `plugin loaded` line:\n{pane}"
    );
}
