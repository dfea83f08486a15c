//! End-to-end: request ids on the API server. A push's W3C `traceparent` and `X-Request-Id`
//! come back on the response, a request id is made when none came, the collector's own log
//! line about a refused push carries the sender's trace id and request id, and with
//! `request_trace_metadata` the pushed records without a trace id of their own carry the
//! request's.

mod common;

use std::time::Duration;

use common::*;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const REFUSED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn pushes_carry_their_ids_to_the_response_the_log_and_the_records() {
    let mut sluice = Running::start(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
[sources.push]
type = "http"
request_trace_metadata = true
[sinks.out]
type = "file"
inputs = ["push"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
    );
    let client = reqwest::blocking::Client::new();
    let push = |body: &str, content_type: &str, headers: &[(&str, &str)]| {
        let mut r = client
            .post(sluice.url("/ingest"))
            .header("content-type", content_type)
            .body(body.to_string())
            .timeout(Duration::from_secs(30));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().unwrap()
    };

    // Ids given: returned as they came.
    let ok = push(
        "{\"msg\":\"no trace id of its own\"}\n{\"msg\":\"has one\",\"trace_id\":\"x\"}",
        "application/x-ndjson",
        &[("traceparent", TRACEPARENT), ("x-request-id", "req-42")],
    );
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-request-id"], "req-42");
    assert_eq!(ok.headers()["traceparent"], TRACEPARENT);

    // None given: a request id is made.
    let made = push("plain line", "text/plain", &[]);
    assert_eq!(made.status(), 200);
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(made.headers().get("traceparent").is_none());

    // A refused push: its log line names the sender's ids.
    let bad = push(
        "{not json",
        "application/json",
        &[("traceparent", REFUSED), ("x-request-id", "req-bad")],
    );
    assert_eq!(bad.status(), 400);
    let line = sluice
        .wait_for_log(
            Duration::from_secs(5),
            &["bad_body", "0af7651916cd43dd8448eb211c80319c"],
        )
        .unwrap_or_else(|| panic!("no log line with the trace id:\n{}", sluice.log()));
    assert!(line.contains("req-bad"), "{line}");

    // Other routes too.
    let metrics = client.get(sluice.url("/metrics")).send().unwrap();
    assert!(metrics.headers().contains_key("x-request-id"));

    sluice.stop_ok();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(sluice.dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["metadata"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(rows[0]["metadata"]["span_id"], "00f067aa0ba902b7");
    assert_eq!(
        rows[1]["metadata"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "the http source does not lift JSON fields to metadata; the request's trace id is added"
    );
    assert!(
        rows[2]["metadata"].get("trace_id").is_none(),
        "no traceparent, no trace id"
    );
}

/// `parse` splits a `traceparent` field into metadata `trace_id` and `span_id`, validates
/// W3C ids (an invalid one is counted and stays in the line, unlifted), and `sluice
/// validate` warns about a per-request field made a label.
#[test]
fn parse_lifts_w3c_trace_context_and_validate_warns_about_id_labels() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    std::fs::write(
        &input,
        "{\"msg\":\"ok\",\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}\n\
         {\"msg\":\"bad\",\"trace_id\":\"zz-not-hex\"}\n",
    )
    .unwrap();
    let config = |labels: &str| {
        format!(
            r#"
data_dir = "{data}"
[api]
enabled = false
[sources.app]
type = "file"
include = ["{input}"]
stop_at_eof = true
checkpoint = false
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ labels = [{labels}], metadata = ["trace_id"], trace_ids = ["trace_id"], traceparent = "traceparent" }}
[sinks.out]
type = "file"
inputs = ["parse"]
path = "{out}"
encoding = "json"
"#,
            data = dir.path().join("data").display(),
            input = input.display(),
            parse = plugin("parse").display(),
            out = dir.path().join("out.jsonl").display(),
        )
    };
    let path = dir.path().join("id_label.toml");
    std::fs::write(&path, config("\"request_id\"")).unwrap();
    let validated = sluice().arg("validate").arg(&path).output().unwrap();
    let log = String::from_utf8_lossy(&validated.stderr);
    assert!(validated.status.success(), "{log}");
    assert!(
        log.contains("`request_id` looks like a per-request value"),
        "{log}"
    );

    let run = run_to_end(dir.path(), &config(""));
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(!log.contains("per-request value"), "{log}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows[0]["metadata"]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(rows[0]["metadata"]["span_id"], "00f067aa0ba902b7");
    assert!(rows[1]["metadata"].get("trace_id").is_none());
    assert!(rows[1]["line"].as_str().unwrap().contains("zz-not-hex"));
}
