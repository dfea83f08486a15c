//! End-to-end: the tracing demo's flow (docs/tracing.md, `make demo`). The demo backend
//! (examples/demo-app) serves a checkout sent with a known `traceparent`; sluice follows
//! its request log through parse -> redact-pii -> red-metrics into the Loki test double.
//! That trace id is then found in the records Loki got (as structured metadata, never a
//! label, with the line's PII redacted), as an exemplar on sluice's /metrics (OpenMetrics),
//! and in sluice's own log line about a push to it that carried the same traceparent. The
//! request counts sluice derives from the log equal the app's own /metrics.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use loki_receiver::Receiver;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The demo backend, on its own runtime; dropped, it stops.
struct DemoApp {
    addr: std::net::SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl DemoApp {
    fn start(log: &std::path::Path) -> DemoApp {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let options = demo_app::Options {
            log: demo_app::LogTo::File(log.to_path_buf()),
            service_name: "demo-app".into(),
        };
        runtime.spawn(async move {
            demo_app::serve(listener, options, std::future::pending())
                .await
                .unwrap()
        });
        DemoApp {
            addr,
            _runtime: runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// The `http_server_request_duration_seconds_count` samples of an exposition, by their
/// label text (`http_request_method="GET",...`, sorted; without sluice's `component_id`,
/// which names the transform a plugin metric comes from).
fn request_counts(exposition: &str) -> BTreeMap<String, f64> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("http_server_request_duration_seconds_count{"))
        .filter_map(|rest| {
            let (labels, value) = rest.split_once("} ")?;
            let mut pairs: Vec<&str> = labels
                .split(',')
                .filter(|p| !p.is_empty() && !p.starts_with("component_id="))
                .collect();
            pairs.sort_unstable();
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some((pairs.join(","), value))
        })
        .collect()
}

#[test]
fn a_traceparent_sent_to_the_demo_app_is_found_in_loki_on_exemplars_and_in_sluices_log() {
    let app_dir = tempfile::tempdir().unwrap();
    let app_log = app_dir.path().join("app.log");
    std::fs::write(&app_log, "").unwrap();
    let app = DemoApp::start(&app_log);
    let receiver = Receiver::start("127.0.0.1:0");

    // pipelines/demo.toml's chain, on the test's paths, plus a push route.
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.app]
type = "file"
include = ["{log}"]
labels = {{ job = "demo" }}
filename_label = false
poll_interval_ms = 50
[sources.push]
type = "http"
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ format = "json", labels = ["level", "service_name"], timestamp = "ts", metadata = ["trace_id", "span_id", "request_id"], trace_ids = ["trace_id", "span_id"] }}
[transforms.redact]
type = "wasm"
inputs = ["parse"]
plugin = "{redact}"
[transforms.red]
type = "wasm"
inputs = ["redact"]
plugin = "{red}"
config = {{ method = "method", route = "route", status = "status", duration = "duration_ms", duration_unit = "ms" }}
[sinks.loki]
type = "loki"
inputs = ["red"]
endpoint = "{loki}"
[sinks.pushed]
type = "blackhole"
inputs = ["push"]
"#,
        log = app_log.display(),
        parse = plugin("parse").display(),
        redact = plugin("redact_pii").display(),
        red = plugin("red_metrics").display(),
        loki = receiver.endpoint(),
    );
    let mut sluice = Running::start(&config);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Some traffic with traces of its own, then the checkout with the known traceparent
    // (the last checkout, so its exemplars are the latest on their buckets).
    for i in 0..20 {
        let r = client
            .get(app.url(&format!("/api/users/{}", 990 + i)))
            .send()
            .unwrap();
        assert!([200, 404].contains(&r.status().as_u16()));
    }
    let checkout = client
        .post(app.url("/api/checkout"))
        .header("traceparent", TRACEPARENT)
        .header("x-request-id", "demo-checkout-1")
        .send()
        .unwrap();
    assert_eq!(checkout.status(), 200);
    assert_eq!(checkout.headers()["x-request-id"], "demo-checkout-1");
    let answered = checkout.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        answered.starts_with(&format!("00-{TRACE_ID}-")),
        "the app answers in the same trace: {answered}"
    );
    // 20 user lookups, the checkout, and the payment it called over HTTP.
    assert!(
        receiver.wait_for_entries(22, Duration::from_secs(60)),
        "Loki got {} of 22 entries; sluice log:\n{}",
        receiver.entry_count(),
        sluice.log()
    );

    // In Loki: both spans of the trace, by structured metadata, the PII redacted.
    let traced: Vec<_> = receiver
        .streams()
        .into_iter()
        .flat_map(|((_, labels), entries)| entries.into_iter().map(move |e| (labels.clone(), e)))
        .filter(|(_, e)| {
            e.metadata
                .iter()
                .any(|(k, v)| k == "trace_id" && v == TRACE_ID)
        })
        .collect();
    assert_eq!(
        traced.len(),
        2,
        "the checkout and its payment call: {traced:#?}"
    );
    for (labels, entry) in &traced {
        assert_eq!(
            labels.get("service_name").map(String::as_str),
            Some("demo-app")
        );
        assert_eq!(labels.get("job").map(String::as_str), Some("demo"));
        assert!(
            !labels
                .keys()
                .any(|k| k.contains("trace") || k.contains("span") || k.contains("request")),
            "ids are never labels: {labels:?}"
        );
        for pii in [
            "alice@example.com",
            "4111 1111 1111 1111",
            "5555 5555 5555 4444",
        ] {
            assert!(
                !entry.line.contains(pii),
                "`{pii}` reached Loki: {}",
                entry.line
            );
        }
        assert!(entry.line.contains("<email>"), "{}", entry.line);
        assert!(entry.line.contains("<credit_card>"), "{}", entry.line);
        assert!(
            entry.line.contains(TRACE_ID),
            "the trace id itself is kept: {}",
            entry.line
        );
        let meta: BTreeMap<_, _> = entry.metadata.iter().cloned().collect();
        assert_eq!(meta["request_id"], "demo-checkout-1");
        assert_eq!(meta["span_id"].len(), 16);
    }
    let routes: Vec<_> = traced
        .iter()
        .map(|(_, e)| serde_json::from_str::<serde_json::Value>(&e.line).unwrap()["route"].clone())
        .collect();
    assert!(routes.contains(&"/api/checkout".into()) && routes.contains(&"/api/payment".into()));
    // The checkout's span is the parent of the payment's: the call carried the trace on.
    let checkout_span = answered.split('-').nth(2).unwrap();
    let payment_line = traced
        .iter()
        .map(|(_, e)| serde_json::from_str::<serde_json::Value>(&e.line).unwrap())
        .find(|l| l["route"] == "/api/payment")
        .unwrap();
    assert_ne!(
        payment_line["parent_span_id"], checkout_span,
        "a client span sits between"
    );
    assert_eq!(payment_line["trace_id"], TRACE_ID);

    // On sluice's /metrics: the trace id as the exemplar of the checkout's bucket, in
    // OpenMetrics only.
    let exposition = |accept: &str| {
        client
            .get(sluice.url("/metrics"))
            .header("accept", accept)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let open_metrics = exposition("application/openmetrics-text; version=1.0.0");
    for route in ["/api/checkout", "/api/payment"] {
        let bucket = open_metrics
            .lines()
            .filter(|l| l.starts_with("http_server_request_duration_seconds_bucket{"))
            .filter(|l| l.contains(&format!("http_route=\"{route}\"")))
            .find(|l| l.contains(" # {"))
            .unwrap_or_else(|| panic!("no exemplar on a {route} bucket:\n{open_metrics}"));
        assert!(
            bucket.contains(&format!("trace_id=\"{TRACE_ID}\"")),
            "the exemplar is the request's trace: {bucket}"
        );
    }
    let text = exposition("text/plain");
    assert!(!text.contains(" # {"), "no exemplars in the text format");

    // What sluice derived from the log equals what the app counted itself, series by series
    // (the same names and labels, so a dashboard works on either).
    let derived = request_counts(&text);
    let own = request_counts(
        &client
            .get(app.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert!(own.len() >= 3, "{own:?}");
    assert_eq!(
        derived, own,
        "red-metrics from the log vs the app's own metrics"
    );

    // A push to sluice with the same traceparent, refused: sluice's log line about it
    // carries the sender's trace id.
    let refused = client
        .post(sluice.url("/ingest"))
        .header("content-type", "application/json")
        .header("traceparent", TRACEPARENT)
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["traceparent"], TRACEPARENT);
    let line = sluice
        .wait_for_log(
            Duration::from_secs(10),
            &["component_id\":\"push", TRACE_ID],
        )
        .unwrap_or_else(|| panic!("no log line with the trace id:\n{}", sluice.log()));
    assert!(
        !line.contains("{not json"),
        "record contents are never logged: {line}"
    );
    sluice.stop_ok();
}
