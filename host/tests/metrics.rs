//! End-to-end: /metrics is valid OpenMetrics when asked for (checked with the Python
//! prometheus_client parser, an independent implementation) and the Prometheus text format
//! otherwise (checked with Debian's `promtool check metrics`); plugin metrics keep their
//! fractions and counts across a reload and stay within their series limit; /healthz and
//! /ready answer.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::prometheus::promtool_accepts;
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
max_series = 1
[sinks.out]
type = "blackhole"
inputs = ["redact"]
"#,
        redact = plugin("redact_pii").display()
    );
    let mut running = Running::start(&config);
    assert_eq!(running.get("/healthz").unwrap().0, 200);
    assert_eq!(
        running
            .post("/ingest", "text/plain", "mail a@b.example.com\nip 10.1.1.1")
            .0,
        200
    );
    let response = reqwest::blocking::Client::new()
        .get(running.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .unwrap();
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
    // max_series = 1: the first rule's series is kept, the second folds into the overflow
    // series, and the fold is counted.
    assert_eq!(
        metric_value(
            &text,
            "redactions_total{component_id=\"redact\",otel_metric_overflow=\"true\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "sluice_plugin_metric_overflow_total{component_id=\"redact\",metric=\"redactions\"}"
        ),
        Some(1.0)
    );
    // Counters alerts take rate() of exist before their first event.
    for zero in [
        "sluice_component_discarded_events_total{component_id=\"out\",reason=\"rejected\"} 0",
        "sluice_plugin_errors_total{component_id=\"redact\",reason=\"trap\"} 0",
        "sluice_config_reloads_total{result=\"failure\"} 0",
    ] {
        assert!(text.contains(zero), "{zero} missing");
    }
    for family in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "sluice_build_info{version=",
    ] {
        assert!(text.contains(family), "{family} missing");
    }

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

    // Without an Accept header: the Prometheus text format, which promtool accepts as is.
    let response = reqwest::blocking::get(running.url("/metrics")).unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().unwrap();
    assert!(!text.contains("# EOF") && !text.contains("_created"));
    assert!(text.contains("# TYPE redactions_total counter"), "{text}");
    promtool_accepts(&text);

    // Plugin metrics carry on across a reload, like the collector's own.
    let r = reqwest::blocking::Client::new()
        .post(running.url("/-/reload"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    running
        .wait_for_metric(
            std::time::Duration::from_secs(30),
            "sluice_config_reloads_total{result=\"success\"}",
            1.0,
        )
        .expect("reloaded");
    wait_for(std::time::Duration::from_secs(30), || {
        running.get("/ready").ok().filter(|(s, _)| *s == 200)
    })
    .expect("ready again");
    assert_eq!(
        running
            .post("/ingest", "text/plain", "mail c@d.example.com")
            .0,
        200
    );
    assert_eq!(
        running.metric("redactions_total{rule=\"email\",component_id=\"redact\"}"),
        Some(2.0)
    );
    running.stop_ok();
}
