//! End-to-end: `sluice plugin inspect`, `sluice plugin test` and the contract version
//! check at load, with the Rust plugins `make plugins` builds.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

#[test]
fn inspect_reports_contract_world_size_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let output = sluice()
            .args(["plugin", "inspect"])
            .arg(plugin("enrich"))
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    let size = std::fs::metadata(plugin("enrich")).unwrap().len();
    for want in [
        "contract:    sluice:plugin@0.1.4 (this collector: sluice:plugin@0.1.4; compatible)",
        "world:       sluice:plugin/log-transform (exports: init, process)",
        "sluice:plugin/host@0.1.4",
        &format!("size:        {size} bytes"),
        "cache:       miss (compiled, now stored in",
        "instance:",
    ] {
        assert!(first.contains(want), "`{want}` missing from:\n{first}");
    }
    let second = run();
    assert!(second.contains("cache:       hit"), "{second}");
    assert!(second.contains("(from the cache)"), "{second}");
}

#[test]
fn test_prints_records_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(
        &input,
        "mail a@b.example.com and c@d.example.org\nip 10.1.1.1\nnothing\n",
    )
    .unwrap();
    let output = sluice()
        .args(["plugin", "test"])
        .arg(plugin("redact_pii"))
        .arg("--input")
        .arg(&input)
        .args(["--label", "app=web", "--batch", "2"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let records: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v.get("line").is_some()).collect();
    let got: Vec<&str> = records
        .iter()
        .map(|v| v["line"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["mail <email> and <email>", "ip <ipv4>", "nothing"]);
    assert!(records.iter().all(|v| v["labels"]["app"] == "web"));
    // Metrics need no declaration here: the plugin's `redactions_total` is recorded.
    let metrics: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v.get("metric").is_some()).collect();
    let email = metrics
        .iter()
        .find(|m| m["labels"][0] == "email")
        .unwrap_or_else(|| panic!("no email metric in {text}"));
    assert_eq!(email["metric"], "redactions_total");
    assert_eq!(email["type"], "counter");
    assert_eq!(email["value"], 2.0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 records in, 3 out, 2 batches"),
        "{stderr}"
    );
}

/// `--config` takes TOML as well as JSON, and `--records` feeds records printed by a
/// previous run (labels and metadata included) from stdin.
#[test]
fn test_takes_toml_config_and_records_from_stdin() {
    let mut child = sluice()
        .args(["plugin", "test"])
        .arg(plugin("enrich"))
        .args([
            "--config",
            "labels = { env = \"prod\" }\nfrom_metadata = { tenant = \"tenant_id\" }",
            "--records",
            "--input",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"timestamp\":5,\"line\":\"x\",\"labels\":{\"env\":\"dev\",\"app\":\"a\"},\"metadata\":{\"tenant_id\":\"t1\"}}\n",
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text.trim(),
        r#"{"timestamp":5,"line":"x","labels":{"app":"a","env":"prod","tenant":"t1"},"metadata":{"tenant_id":"t1"}}"#
    );
}

#[test]
fn test_reports_a_refused_config() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "x\n").unwrap();
    let output = sluice()
        .args(["plugin", "test"])
        .arg(plugin("enrich"))
        .args(["--config", r#"{"lables":{}}"#, "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("init refused its config") && stderr.contains("lables"),
        "{stderr}"
    );
}

/// A plugin built for an older patch version of the contract (0.1.0, before lines could
/// be kept) still links and runs: its `sluice:plugin/host@0.1.0` import is served by this
/// collector's 0.1.1 host interface, and its lines come back in full.
#[test]
fn a_plugin_of_an_older_patch_version_runs() {
    let older = plugin("older_patch");
    let inspect = sluice()
        .args(["plugin", "inspect"])
        .arg(&older)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(
        text.contains(
            "contract:    sluice:plugin@0.1.0 (this collector: sluice:plugin@0.1.4; compatible)"
        ),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "first\nsecond é\n").unwrap();
    let output = sluice()
        .args(["plugin", "test"])
        .arg(&older)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("built for sluice:plugin@0.1.0"), "{stderr}");
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["line"].as_str().map(str::to_string))
        .collect();
    assert_eq!(lines, ["first", "second é"]);
}

/// A plugin built for an unknown major version of the contract is refused at load, by
/// `validate` and by `plugin inspect`, with a message naming both versions.
#[test]
fn unknown_major_version_is_refused_naming_both() {
    let future = plugin("future_major");
    let output = sluice()
        .args(["plugin", "inspect"])
        .arg(&future)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for want in [
        "built for sluice:plugin@1.0.0 (major version 1)",
        "implements sluice:plugin@0.1.4 (major version 0)",
    ] {
        assert!(stderr.contains(want), "`{want}` missing from: {stderr}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
data_dir = "{dir}/data"
[api]
enabled = false
[sources.in]
type = "stdin"
[transforms.future]
type = "wasm"
inputs = ["in"]
plugin = "{future}"
[sinks.out]
type = "blackhole"
inputs = ["future"]
"#,
        dir = dir.path().display(),
        future = future.display()
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config).unwrap();
    let output = sluice().arg("validate").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("transforms.future.plugin") && stderr.contains("sluice:plugin@1.0.0"),
        "{stderr}"
    );
}
