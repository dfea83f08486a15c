//! End-to-end: /metrics is valid OpenMetrics (checked with the Python prometheus_client
//! parser, an independent implementation), /healthz and /ready answer.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn metrics_parse_as_openmetrics() {
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[transforms.redact]
type = "wasm"
inputs = ["push"]
plugin = "{redact}"
[[transforms.redact.metrics]]
name = "redactions_total"
type = "counter"
help = "Values redacted, by rule"
labels = ["rule"]
[sinks.out]
type = "blackhole"
inputs = ["redact"]
"#,
        redact = plugin("redact_pii").display()
    );
    let running = Running::start(&config);
    assert_eq!(running.get("/healthz").unwrap().0, 200);
    assert_eq!(
        running
            .post("/ingest", "text/plain", "mail a@b.example.com\nip 10.1.1.1")
            .0,
        200
    );
    let response = reqwest::blocking::get(running.url("/metrics")).unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().unwrap();
    assert!(text.ends_with("# EOF\n"));
    for family in [
        "sluice_component_received_events",
        "sluice_component_sent_bytes",
        "sluice_plugin_call_duration_seconds",
        "sluice_component_batch_records",
        "sluice_component_channel_depth",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    assert_eq!(
        metric_value(
            &text,
            "redactions_total{rule=\"email\",component_id=\"redact\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "redactions_total{rule=\"ipv4\",component_id=\"redact\"}"
        ),
        Some(1.0)
    );

    let mut parser = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nfams = list(p(sys.stdin.read()))\nprint(len(fams))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "OpenMetrics parse failed (pip install prometheus-client?): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(families >= 10, "{families} families");
}
