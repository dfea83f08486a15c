//! End-to-end: the `otlp` source (OTLP/HTTP logs at /v1/logs). The official OpenTelemetry
//! Python SDK and its OTLP HTTP exporter (PyPI) send logs from Python's `logging` inside a
//! span and through the Logs API, protobuf plain and gzip-encoded; each record arrives with
//! its body as the line, the allow-listed resource attributes and the severity as labels,
//! every other attribute, the scope and the trace and span ids as metadata, and redact-pii
//! downstream hides the email in the line and in the metadata; through the gateway shape
//! (otlp -> redact-pii -> loki) they reach the Loki double as streams by level with the
//! trace ids as structured metadata. Then the statuses, sent with
//! reqwest: OTLP/JSON, gzip, partial success, corrupt bodies (400, the collector stays up),
//! 401, 413, 415, and 429 with Retry-After when the pipeline is full.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value as Json;

/// Whether the SDK and exporter are importable; under CI (`CI` or
/// `SLUICE_REQUIRE_LANG_PLUGINS` set, as `.ci/run` does) their absence fails the test.
fn python_sdk_present() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let required = std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_some()
            || std::env::var_os("CI").is_some();
        assert!(
            !required,
            "the OpenTelemetry Python SDK is missing and CI requires it: pip install \
             opentelemetry-sdk opentelemetry-exporter-otlp-proto-http (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: the OpenTelemetry Python SDK is not installed (pip install \
             opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)"
        );
    }
    ok
}

/// What the SDK sender reports: the span's ids and the Logs API record's time.
struct Sent {
    trace_id: String,
    span_id: String,
    audit_time: i64,
}

/// Runs the SDK sender against `endpoint`.
fn send_with_sdk(endpoint: &str, token: &str, gzip: bool) -> Sent {
    let script = repo().join("host/tests/fixtures/otlp/send_logs.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(endpoint).args(["--token", token]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK sender failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Json = serde_json::from_str(stdout.trim()).unwrap();
    Sent {
        trace_id: result["trace_id"].as_str().unwrap().to_string(),
        span_id: result["span_id"].as_str().unwrap().to_string(),
        audit_time: result["audit_time"].as_i64().unwrap(),
    }
}

fn records(path: &std::path::Path) -> Vec<Json> {
    lines_of(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One record the sender emits: line, level, severity_text, record attributes, and
/// whether it was emitted inside the span.
type Expected = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
    bool,
);

fn string_map(v: &Json) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn python_sdk_logs_arrive_with_labels_metadata_and_trace_ids() {
    if !python_sdk_present() {
        return;
    }
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.otlp]
type = "otlp"
token = "t0ken-value"
[transforms.redact]
type = "wasm"
inputs = ["otlp"]
plugin = "{redact}"
[sinks.raw]
type = "file"
inputs = ["otlp"]
path = "{{dir}}/raw.jsonl"
encoding = "json"
[sinks.redacted]
type = "file"
inputs = ["redact"]
path = "{{dir}}/redacted.jsonl"
encoding = "json"
"#,
        redact = plugin("redact_pii").display()
    );
    let mut sluice = Running::start(&config);
    let endpoint = sluice.url("/v1/logs");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let plain = send_with_sdk(&endpoint, "t0ken-value", false);
    let gzip = send_with_sdk(&endpoint, "t0ken-value", true);
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    // The sender's exports were answered 200 only after the records were written.
    let raw = records(&sluice.dir.path().join("raw.jsonl"));
    assert_eq!(raw.len(), 10, "{raw:#?}");

    let resource_labels = [
        ("deployment_environment", "test"),
        ("k8s_namespace_name", "shop"),
        ("k8s_pod_name", "checkout-7d9f"),
        ("service_name", "checkout"),
    ];
    let expected: [Expected; 5] = [
        (
            "order placed",
            "info",
            Some("INFO"),
            &[("order_id", "42")],
            false,
        ),
        (
            "payment slow",
            "warn",
            Some("WARN"),
            &[("duration_ms", "1530.5")],
            true,
        ),
        (
            "payment failed for ann@example.com",
            "error",
            Some("ERROR"),
            &[("user_email", "ann@example.com"), ("retry", "true")],
            true,
        ),
        ("cache miss", "debug", Some("DEBUG"), &[], false),
        (
            r#"{"event":"refund","amount":12,"items":["a","b"]}"#,
            "fatal",
            None,
            &[("event_name", "refund.issued")],
            false,
        ),
    ];
    for (run, sent) in [plain, gzip].iter().enumerate() {
        let (trace_id, span_id) = (&sent.trace_id, &sent.span_id);
        let got = &raw[run * 5..run * 5 + 5];
        let instance = got[0]["metadata"]["service_instance_id"].as_str().unwrap();
        for (record, (line, level, severity, attributes, in_span)) in got.iter().zip(expected) {
            assert_eq!(record["line"], line, "{record}");
            let mut labels: BTreeMap<String, String> = resource_labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            labels.insert("level".into(), level.into());
            assert_eq!(string_map(&record["labels"]), labels, "{record}");

            let metadata = string_map(&record["metadata"]);
            let mut want: BTreeMap<&str, &str> = BTreeMap::from([
                ("telemetry_sdk_language", "python"),
                ("telemetry_sdk_name", "opentelemetry"),
                ("service_instance_id", instance),
                ("team", "payments"),
            ]);
            want.extend(attributes.iter().copied());
            if let Some(s) = severity {
                want.insert("severity_text", s);
            }
            if in_span {
                want.insert("trace_id", trace_id);
                want.insert("span_id", span_id);
            }
            let scope_logging = !line.starts_with('{');
            if scope_logging {
                // Python's logging: the logger's name is the scope, and the SDK adds where
                // the call was made.
                want.insert("scope_name", "checkout.payments");
                want.insert("code_function_name", "main");
                want.insert("code_file_path", metadata["code_file_path"].as_str());
                want.insert("code_line_number", metadata["code_line_number"].as_str());
                assert!(metadata["code_file_path"].ends_with("send_logs.py"));
            } else {
                want.insert("scope_name", "checkout.audit");
                want.insert("scope_version", "1.2.0");
            }
            want.insert(
                "telemetry_sdk_version",
                metadata["telemetry_sdk_version"].as_str(),
            );
            let want: BTreeMap<String, String> = want
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(metadata, want, "{record}");
            let ts = record["timestamp"].as_i64().unwrap();
            if scope_logging {
                assert!(
                    (started..=ended).contains(&ts),
                    "{ts} not in {started}..{ended}"
                );
            } else {
                assert_eq!(ts, sent.audit_time);
            }
        }
    }
    assert_eq!(raw[1]["metadata"]["trace_id"].as_str().unwrap().len(), 32);
    assert_ne!(
        raw[1]["metadata"]["trace_id"],
        raw[6]["metadata"]["trace_id"]
    );

    // Downstream, redact-pii hides the email in the line and in the attribute, and leaves
    // the trace ids alone.
    let redacted = records(&sluice.dir.path().join("redacted.jsonl"));
    assert_eq!(redacted.len(), 10);
    for r in &redacted {
        assert!(!r.to_string().contains("ann@example.com"), "{r}");
    }
    assert_eq!(redacted[2]["line"], "payment failed for <email>");
    assert_eq!(redacted[2]["metadata"]["user_email"], "<email>");
    assert_eq!(
        redacted[2]["metadata"]["trace_id"],
        raw[2]["metadata"]["trace_id"]
    );

    // One export per run (the sender flushes once).
    assert_eq!(
        sluice.metric("sluice_http_requests_total{component_id=\"otlp\",status=\"200\"}"),
        Some(2.0)
    );
    sluice.stop_ok();
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A protobuf request of `lines`, the record at `bad` (if any) with a 3-byte trace id.
fn proto_request(lines: &[&str], bad: Option<usize>) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "api")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: lines
                    .iter()
                    .enumerate()
                    .map(|(i, line)| LogRecord {
                        // No time: the time of arrival (a Loki sink takes it).
                        time_unix_nano: 0,
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(line.to_string())),
                        }),
                        trace_id: if Some(i) == bad {
                            vec![1, 2, 3]
                        } else {
                            vec![0xab; 16]
                        },
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn statuses_json_gzip_partial_success_and_corrupt_bodies() {
    std::env::set_var("SLUICE_TEST_OTLP_TOKEN", "s3cr3t-token-value-0042");
    let mut sluice = Running::start(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
[sources.otlp]
type = "otlp"
token = "${SLUICE_TEST_OTLP_TOKEN}"
max_body_bytes = 4000
max_decompressed_bytes = 20000
labels = { source = "otlp-test" }
[sinks.out]
type = "file"
inputs = ["otlp"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
    );
    let client = reqwest::blocking::Client::new();
    let url = sluice.url("/v1/logs");
    let send = |ct: &str, body: Vec<u8>, gz: bool, token: Option<&str>| {
        let mut r = client
            .post(&url)
            .header("content-type", ct)
            .timeout(Duration::from_secs(30));
        if gz {
            r = r.header("content-encoding", "gzip");
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.body(body).send().unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, r.bytes().unwrap().to_vec())
    };
    let token = Some("s3cr3t-token-value-0042");
    let json = "application/json";
    let proto = "application/x-protobuf";

    // OTLP/JSON as the specification writes it: answered in JSON, `{}` when all was taken.
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}},{"key":"host.name","value":{"stringValue":"h1"}},{"key":"region","value":{"stringValue":"eu"}}]},
      "scopeLogs":[{"scope":{"name":"web.http"},"logRecords":[
        {"timeUnixNano":"1700000000000000001","severityNumber":13,"body":{"stringValue":"GET /a 200"},"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","attributes":[{"key":"http.status","value":{"intValue":"200"}}]},
        {"observedTimeUnixNano":1700000000000000002,"severityText":"error","body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"boom"}}]}}}]}]}]}"#;
    let (s, ct, answer) = send(json, body.to_vec(), false, token);
    assert_eq!((s, ct.as_str(), answer.as_slice()), (200, json, &b"{}"[..]));
    let out = records(&sluice.dir.path().join("out.jsonl"));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["line"], "GET /a 200");
    assert_eq!(out[0]["timestamp"], 1_700_000_000_000_000_001i64);
    assert_eq!(
        string_map(&out[0]["labels"]),
        BTreeMap::from(
            [
                ("host_name", "h1"),
                ("level", "warn"),
                ("service_name", "web"),
                ("source", "otlp-test")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        )
    );
    assert_eq!(
        string_map(&out[0]["metadata"]),
        BTreeMap::from(
            [
                ("region", "eu"),
                ("scope_name", "web.http"),
                ("trace_id", "5b8efff798038103d269b633813fc60c"),
                ("span_id", "eee19b7ec3c1b174"),
                ("http_status", "200"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        )
    );
    assert_eq!(out[1]["line"], r#"{"msg":"boom"}"#);
    assert_eq!(out[1]["timestamp"], 1_700_000_000_000_000_002i64);
    assert_eq!(out[1]["labels"]["level"], "error");

    // A record with a bad trace id is rejected alone: 200 with partial_success, in JSON ...
    let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"kept"}},{"body":{"stringValue":"bad id"},"traceId":"abcd"}]}]}]}"#;
    let (s, _, answer) = send(json, gzip(body), true, token);
    assert_eq!(s, 200);
    let answer: Json = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("log_records[1]: trace_id has 2 bytes"),
        "{answer}"
    );
    // ... and in protobuf, gzip-encoded.
    let (s, ct, answer) = send(
        proto,
        gzip(&proto_request(&["p1", "p2", "p3"], Some(1))),
        true,
        token,
    );
    assert_eq!((s, ct.as_str()), (200, proto));
    let answer = ExportLogsServiceResponse::decode(answer.as_slice()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("trace_id has 3 bytes"));
    // Everything taken: an empty response (no partial_success).
    let (s, _, answer) = send(proto, proto_request(&["p4"], None), false, token);
    assert_eq!((s, answer.len()), (200, 0));

    // Refusals: each answered with a google.rpc.Status in the request's encoding, and none
    // takes the collector down.
    let (s, ct, answer) = send(proto, b"\x0a\xff\xff\xff\x0f".to_vec(), false, token);
    assert_eq!((s, ct.as_str()), (400, proto));
    assert!(!answer.is_empty());
    let (s, _, answer) = send(json, b"{\"resourceLogs\":[{".to_vec(), false, token);
    assert_eq!(s, 400);
    let answer: Json = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["code"], 3);
    assert!(
        answer["message"].as_str().unwrap().contains("OTLP/JSON"),
        "{answer}"
    );
    // Not valid hex: the body does not decode.
    let (s, _, _) = send(
        json,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#.to_vec(),
        false,
        token,
    );
    assert_eq!(s, 400);
    assert_eq!(send(proto, b"not gzip".to_vec(), true, token).0, 400);
    assert_eq!(send("text/plain", b"hello".to_vec(), false, token).0, 415);
    assert_eq!(send(proto, proto_request(&["x"], None), false, None).0, 401);
    assert_eq!(
        send(proto, proto_request(&["x"], None), false, Some("wrong")).0,
        401
    );
    let big: Vec<String> = (0..200)
        .map(|i| format!("line {i} {}", "y".repeat(40)))
        .collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    let big = proto_request(&big, None);
    assert!(big.len() > 4000);
    assert_eq!(send(proto, big, false, token).0, 413);
    // Small compressed, too large once decompressed.
    let bomb = gzip(&vec![0u8; 100_000]);
    assert!(bomb.len() < 4000);
    assert_eq!(send(proto, bomb, true, token).0, 413);
    // Still serving.
    assert_eq!(
        send(proto, proto_request(&["after"], None), false, token).0,
        200
    );

    let out = records(&sluice.dir.path().join("out.jsonl"));
    let lines: Vec<&str> = out.iter().map(|r| r["line"].as_str().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "GET /a 200",
            r#"{"msg":"boom"}"#,
            "kept",
            "p1",
            "p3",
            "p4",
            "after"
        ]
    );
    assert_eq!(out[3]["metadata"]["trace_id"], "ab".repeat(16));
    let metric = |m: &str| sluice.metric(m).unwrap_or(0.0);
    assert_eq!(
        metric("sluice_component_discarded_events_total{component_id=\"otlp\",reason=\"otlp_invalid_record\"}"),
        2.0
    );
    for (status, n) in [
        ("200", 5.0),
        ("400", 4.0),
        ("401", 2.0),
        ("413", 2.0),
        ("415", 1.0),
    ] {
        assert_eq!(
            metric(&format!(
                "sluice_http_requests_total{{component_id=\"otlp\",status=\"{status}\"}}"
            )),
            n,
            "status {status}"
        );
    }
    let log = sluice.stop_ok();
    assert!(!log.contains("ann@example.com") && !log.contains("GET /a 200"));
}

/// While the sink is down and the pipeline is full, exports are refused promptly with 429
/// and `Retry-After` (retryable in OTLP), never a 200.
#[test]
fn a_full_pipeline_answers_429_with_retry_after() {
    let dead = free_port();
    let sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.otlp]
type = "otlp"
queue_timeout_ms = 500
ack_timeout_secs = 60
[sinks.loki]
type = "loki"
inputs = ["otlp"]
endpoint = "http://127.0.0.1:{dead}"
"#
    ));
    let url = sluice.url("/v1/logs");
    let (tx, rx) = std::sync::mpsc::channel();
    let line = "x".repeat(100);
    let lines: Vec<&str> = (0..5000).map(|_| line.as_str()).collect();
    let body = proto_request(&lines, None);
    for _ in 0..64 {
        let (tx, url, body) = (tx.clone(), url.clone(), body.clone());
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let r = reqwest::blocking::Client::new()
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .timeout(Duration::from_secs(90))
                .send();
            if let Ok(r) = r {
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let _ = tx.send((r.status().as_u16(), started.elapsed(), retry));
            }
        });
    }
    drop(tx);
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no export was answered while the sink was down");
    let mut refused = vec![first];
    while let Ok(r) = rx.recv_timeout(Duration::from_secs(3)) {
        refused.push(r);
    }
    for (status, elapsed, retry) in &refused {
        assert_eq!(*status, 429);
        assert!(
            *elapsed < Duration::from_secs(10),
            "answered after {elapsed:?}"
        );
        assert_eq!(retry.as_deref(), Some("1"));
    }
    drop(sluice); // SIGKILL: the exports still waiting for delivery need not drain
}

/// The gateway of pipelines/otlp-gateway.toml (otlp -> redact-pii -> loki), end to end: the
/// Python SDK's records reach the Loki double with the resource attributes and the level as
/// stream labels, and the trace ids and other attributes as structured metadata, redacted.
#[test]
fn python_sdk_through_the_otlp_gateway_to_loki() {
    if !python_sdk_present() {
        return;
    }
    let receiver = loki_receiver::Receiver::start("127.0.0.1:0");
    let mut sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.otlp]
type = "otlp"
token = "t0ken-value"
[transforms.redact]
type = "wasm"
inputs = ["otlp"]
plugin = "{redact}"
[sinks.loki]
type = "loki"
inputs = ["redact"]
endpoint = "{endpoint}"
"#,
        redact = plugin("redact_pii").display(),
        endpoint = receiver.endpoint(),
    ));
    let sent = send_with_sdk(&sluice.url("/v1/logs"), "t0ken-value", true);
    // The export was answered 200 only once Loki had the entries.
    let streams = receiver.streams();
    let mut by_level = BTreeMap::new();
    for ((tenant, labels), entries) in &streams {
        assert_eq!(tenant, &None);
        let mut rest = labels.clone();
        let level = rest.remove("level").expect("a level label");
        assert_eq!(
            rest,
            BTreeMap::from(
                [
                    ("deployment_environment", "test"),
                    ("k8s_namespace_name", "shop"),
                    ("k8s_pod_name", "checkout-7d9f"),
                    ("service_name", "checkout"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
            )
        );
        assert_eq!(entries.len(), 1, "{labels:?}: {entries:?}");
        by_level.insert(level, entries[0].clone());
    }
    let levels: Vec<&str> = by_level.keys().map(String::as_str).collect();
    assert_eq!(levels, ["debug", "error", "fatal", "info", "warn"]);
    let error = &by_level["error"];
    assert_eq!(error.line, "payment failed for <email>");
    let metadata: BTreeMap<&str, &str> = error
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(metadata["trace_id"], sent.trace_id);
    assert_eq!(metadata["span_id"], sent.span_id);
    assert_eq!(metadata["user_email"], "<email>");
    assert_eq!(metadata["team"], "payments");
    assert_eq!(metadata["severity_text"], "ERROR");
    assert_eq!(by_level["fatal"].ts, sent.audit_time);
    assert!(!format!("{streams:?}").contains("ann@example.com"));

    // A record Loki refuses for good (two years old): the sink dead-letters it and the
    // export is answered 400, which OTLP senders do not retry.
    let r = reqwest::blocking::Client::new()
        .post(sluice.url("/v1/logs"))
        .bearer_auth("t0ken-value")
        .header("content-type", "application/json")
        .body(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","body":{"stringValue":"too old"}}]}]}]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let status: Json = r.json().unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("refused downstream"),
        "{status}"
    );
    sluice.stop_ok();
}
