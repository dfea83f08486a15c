//! End-to-end: the Python (componentize-py), JavaScript (componentize-js) and C (clang +
//! wit-bindgen's C bindings) plugins run in the real collector (file source -> plugin -> file
//! sink) and behave like their Rust twins (`redact-pii` for the shared e-mail/IPv4 masking,
//! `enrich` for static and lifted labels).
//!
//! `make plugins-py plugins-js plugins-c` (or `make test`) builds them into dist/plugins.
//! `make test` builds them first and sets `SLUICE_REQUIRE_LANG_PLUGINS`, so there a missing
//! plugin fails the test. Only a bare `cargo test` without them skips, saying so loudly.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::*;

/// Input lines exercising the masking both redactors share: e-mails, IPv4 with and
/// without a port, dotted numbers that are not addresses, non-ASCII text around a match,
/// a JSON line, and a line with nothing to mask.
const REDACT_INPUT: &str = "\
login ok for alice.smith@example.com from 192.168.10.7
slow response for Bob+billing@Mail.Example.org from 10.0.0.255:8080
plain text line from 172.16.254.1 with version 1.2.3.4.5
not-an-ip 999.1.1.1 and nothing else
héllo wörld ünïcode user@example.com → 8.8.8.8 ✓
{\"level\":\"info\",\"msg\":\"login ok for carol@example.net\",\"client_ip\":\"192.168.10.7\"}
nothing to see here
";

const REDACT_WANT: &str = "\
login ok for <email> from <ipv4>
slow response for <email> from <ipv4>:8080
plain text line from <ipv4> with version 1.2.3.4.5
not-an-ip 999.1.1.1 and nothing else
héllo wörld ünïcode <email> → <ipv4> ✓
{\"level\":\"info\",\"msg\":\"login ok for <email>\",\"client_ip\":\"<ipv4>\"}
nothing to see here
";

/// The component `dist/plugins/NAME.wasm`, compiled into the shared cache, or None (after
/// saying why) when it was not built and `SLUICE_REQUIRE_LANG_PLUGINS` is unset.
fn lang_plugin(name: &str) -> Option<PathBuf> {
    let path = repo().join("dist/plugins").join(format!("{name}.wasm"));
    if path.exists() {
        warm(&path);
        return Some(path);
    }
    if std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_some() {
        panic!(
            "{} is missing and SLUICE_REQUIRE_LANG_PLUGINS is set: run `make plugins-py plugins-js plugins-c`",
            path.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED (not a pass): {} is not built. Run `make test`, or `make plugins-py \
         plugins-js plugins-c` first; `make test` sets SLUICE_REQUIRE_LANG_PLUGINS=1 so a \
         missing plugin fails there. ***\n",
        path.display()
    );
    None
}

/// The data dir whose plugin cache every run of this file shares, so that the large
/// Python/JS components (10-20 MB: an interpreter each) are compiled once, not per run.
fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins-lang")
}

/// Compiles `plugin` into the shared cache once per test process (`sluice plugin inspect
/// --data-dir`); tests wanting it meanwhile wait, so none compiles it a second time and no
/// collector start waits on a compile.
fn warm(plugin: &Path) {
    static WARMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut warmed = WARMED.lock().unwrap_or_else(|e| e.into_inner());
    if warmed.iter().any(|p| p == plugin) {
        return;
    }
    let output = sluice()
        .args(["plugin", "inspect"])
        .arg(plugin)
        .arg("--data-dir")
        .arg(shared_data())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "sluice plugin inspect {}: {}",
        plugin.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    warmed.push(plugin.to_path_buf());
}

/// A data dir for one run, its plugin cache the shared one.
fn data_dir(dir: &Path) -> PathBuf {
    let shared = shared_data().join("plugin-cache");
    std::fs::create_dir_all(&shared).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(&shared, data.join("plugin-cache")).unwrap();
    data
}

/// Runs `input` through file source -> the transforms in `transforms` (TOML, chained by
/// the caller through `inputs`, the last one named `last`) -> file sink with `encoding`,
/// and returns the sink's output.
fn run_pipeline(input: &str, source_extra: &str, transforms: &str, encoding: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let input_path = dir.path().join("in.log");
    std::fs::write(&input_path, input).unwrap();
    let out = dir.path().join("out.log");
    let config = format!(
        r#"
{head}stop_at_eof = true
filename_label = false
{source_extra}
{transforms}
[sinks.out]
type = "file"
inputs = ["last"]
path = "{out}"
encoding = "{encoding}"
"#,
        head = file_source_head(&data, &input_path.display().to_string(), false),
        out = out.display(),
    );
    let output = run_to_end(dir.path(), &config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("plugin_failed") && !stderr.contains("\"level\":\"ERROR\""),
        "the plugin failed a batch: {stderr}"
    );
    std::fs::read_to_string(&out).unwrap()
}

/// One wasm transform named `last` reading from `app`.
fn single(plugin: &Path, config: &str) -> String {
    format!(
        r#"
[transforms.last]
type = "wasm"
inputs = ["app"]
plugin = "{}"
config = {config}
memory_limit_mb = 256
"#,
        plugin.display()
    )
}

fn redact_masks_like_rust(name: &str) {
    let Some(plugin) = lang_plugin(name) else {
        return;
    };
    let got = run_pipeline(REDACT_INPUT, "", &single(&plugin, "{}"), "raw");
    assert_eq!(got, REDACT_WANT, "{name}");
    // The Rust twin, same pipeline, same input: the same output.
    let twin = run_pipeline(
        REDACT_INPUT,
        "",
        &single(&common::plugin("redact_pii"), "{}"),
        "raw",
    );
    assert_eq!(got, twin, "{name} differs from redact_pii");
    // Only the rules asked for.
    let got = run_pipeline(
        REDACT_INPUT,
        "",
        &single(&plugin, "{ rules = [\"ipv4\"] }"),
        "raw",
    );
    assert!(
        got.starts_with("login ok for alice.smith@example.com from <ipv4>\n"),
        "{got}"
    );
}

#[test]
fn python_redact_masks_like_rust() {
    redact_masks_like_rust("py_redact");
}

#[test]
fn js_redact_masks_like_rust() {
    redact_masks_like_rust("js_redact");
}

#[test]
fn c_redact_masks_like_rust() {
    redact_masks_like_rust("c_redact");
}

/// The JSON-encoded output records as (line, labels, metadata) without timestamps.
fn records(text: &str) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["line"].as_str().unwrap().to_owned(),
                v["labels"].clone(),
                v["metadata"].clone(),
            )
        })
        .collect()
}

const ENRICH_INPUT: &str = "\
{\"msg\":\"a\",\"tenant_id\":\"t1\"}
{\"msg\":\"b\",\"tenant_id\":\"t2\"}
{\"msg\":\"c\",\"tenant_id\":\"t1\"}
{\"msg\":\"d\",\"tenant_id\":\"t3\"}
{\"msg\":\"é\"}
";

/// parse (lifts `tenant_id` into metadata) -> enrich: static labels replace the source's,
/// metadata values become labels up to the cardinality guard, metadata survives.
fn enrich_pipeline(plugin: &Path) -> String {
    format!(
        r#"
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ format = "json", metadata = ["tenant_id"] }}
[transforms.last]
type = "wasm"
inputs = ["parse"]
plugin = "{plugin}"
memory_limit_mb = 256
config = {{ labels = {{ env = "prod", region = "eu" }}, from_metadata = {{ tenant = "tenant_id" }}, max_values_per_label = 2 }}
"#,
        parse = common::plugin("parse").display(),
        plugin = plugin.display()
    )
}

fn enrich_labels_like_rust(name: &str) {
    let Some(plugin) = lang_plugin(name) else {
        return;
    };
    let source = "labels = { app = \"web\", env = \"dev\" }";
    let got = records(&run_pipeline(
        ENRICH_INPUT,
        source,
        &enrich_pipeline(&plugin),
        "json",
    ));
    let tenants: Vec<Option<&str>> = got.iter().map(|(_, l, _)| l["tenant"].as_str()).collect();
    assert_eq!(
        tenants,
        [
            Some("t1"),
            Some("t2"),
            Some("t1"),
            Some("__overflow__"),
            None
        ],
        "{name}"
    );
    for (line, labels, _) in &got {
        assert_eq!(labels["app"], "web", "{name}: {line}");
        assert_eq!(labels["env"], "prod", "{name}: {line}");
        assert_eq!(labels["region"], "eu", "{name}: {line}");
    }
    assert_eq!(got[0].2["tenant_id"], "t1", "{name}: metadata kept");
    assert_eq!(got[4].0, "{\"msg\":\"é\"}");
    // The Rust twin gives the same records.
    let twin = records(&run_pipeline(
        ENRICH_INPUT,
        source,
        &enrich_pipeline(&common::plugin("enrich")),
        "json",
    ));
    assert_eq!(got, twin, "{name} differs from enrich");
}

#[test]
fn python_enrich_labels_like_rust() {
    enrich_labels_like_rust("py_enrich");
}

#[test]
fn js_enrich_labels_like_rust() {
    enrich_labels_like_rust("js_enrich");
}

#[test]
fn c_enrich_labels_like_rust() {
    enrich_labels_like_rust("c_enrich");
}

/// The host functions work from Python, JS and C: `metric-id` finds the declared counter
/// and `counter-add` counts what was masked, per rule.
#[test]
fn lang_plugins_emit_metrics() {
    for name in ["py_redact", "js_redact", "c_redact"] {
        let Some(plugin) = lang_plugin(name) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            r#"
data_dir = "{data}"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[transforms.redact]
type = "wasm"
inputs = ["push"]
plugin = "{plugin}"
memory_limit_mb = 256
[[transforms.redact.metrics]]
name = "redactions_total"
type = "counter"
help = "Values redacted, by rule"
labels = ["rule"]
[sinks.out]
type = "blackhole"
inputs = ["redact"]
"#,
            data = data_dir(dir.path()).display(),
            plugin = plugin.display()
        );
        let running = Running::start(&config);
        let (status, body) = running.post(
            "/ingest",
            "text/plain",
            "mail a@b.example.com and c@d.example.org\nip 10.1.1.1",
        );
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(
            running.metric("redactions_total{rule=\"email\",component_id=\"redact\"}"),
            Some(2.0),
            "{name}"
        );
        assert_eq!(
            running.metric("redactions_total{rule=\"ipv4\",component_id=\"redact\"}"),
            Some(1.0),
            "{name}"
        );
    }
}
