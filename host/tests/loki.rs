//! End-to-end: the `loki` sink and the `loki_push` source against a receiver that speaks
//! Loki's wire protocol (tests/loki-receiver): every record arrives once, in order per
//! stream, with its labels and structured metadata, through throttling, failures, outages,
//! partial rejections, and an agent -> central relay; broken pushes get Loki's answers.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::*;
use loki_receiver::wire;
use loki_receiver::{Fault, Receiver};
use prost::Message;

const APPS: usize = 4;

/// Writes `n` JSON lines: app svc{i % APPS}, a sequence number, a trace id and a
/// timestamp that grows with the sequence.
fn write_lines(path: &std::path::Path, n: usize, mark: impl Fn(usize) -> bool) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let base = now_ns() - 3_600_000_000_000;
    for i in 0..n {
        writeln!(
            f,
            r#"{{"ts":{},"app":"svc{}","seq":{i},"trace_id":"{:032x}","msg":"line {i} é \"q\"{}"}}"#,
            base + i as i64,
            i % APPS,
            i * 7919 + 1,
            if mark(i) { " REJECTME" } else { "" }
        )
        .unwrap();
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// file (JSON lines) -> parse (app label, trace_id metadata, ts) -> loki sink.
fn agent_config(input: &std::path::Path, endpoint: &str, sink_extra: &str) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.app]
type = "file"
include = ["{input}"]
filename_label = false
labels = {{ job = "e2e" }}
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ format = "json", labels = ["app"], metadata = ["trace_id"], timestamp = "ts" }}
[sinks.loki]
type = "loki"
inputs = ["parse"]
endpoint = "{endpoint}"
labels = {{ cluster = "test" }}
min_backoff_ms = 100
max_backoff_ms = 2000
{sink_extra}
"#,
        input = input.display(),
        parse = plugin("parse").display(),
    )
}

/// Checks that the receiver holds exactly the `n` lines written by [`write_lines`] (minus
/// the `skipped` ones), each once, in order per stream, with exact labels and metadata.
fn assert_all_arrived(
    receiver: &Receiver,
    n: usize,
    skipped: impl Fn(usize) -> bool,
    tenant: Option<&str>,
) {
    let streams = receiver.streams();
    assert_eq!(
        streams.len(),
        APPS,
        "one stream per app: {:?}",
        streams.keys()
    );
    let mut total = 0;
    for ((t, labels), entries) in &streams {
        assert_eq!(t.as_deref(), tenant);
        let app = &labels["app"];
        let want: BTreeMap<String, String> =
            [("app", app.as_str()), ("cluster", "test"), ("job", "e2e")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(labels, &want);
        let app_index: usize = app.trim_start_matches("svc").parse().unwrap();
        let expected: Vec<usize> = (0..n)
            .filter(|i| i % APPS == app_index && !skipped(*i))
            .collect();
        let seqs: Vec<usize> = entries
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.line).unwrap();
                v["seq"].as_u64().unwrap() as usize
            })
            .collect();
        assert_eq!(seqs.len(), expected.len(), "{app}: count");
        assert!(
            seqs == expected,
            "{app}: entries out of order or duplicated"
        );
        for (e, i) in entries.iter().zip(&expected) {
            assert_eq!(
                e.metadata,
                vec![("trace_id".to_string(), format!("{:032x}", i * 7919 + 1))]
            );
            assert!(
                e.line.contains(&format!("line {i} é \\\"q\\\"")),
                "{}",
                e.line
            );
        }
        let ts: Vec<i64> = entries.iter().map(|e| e.ts).collect();
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{app}: timestamps not increasing"
        );
        total += entries.len();
    }
    assert_eq!(total, (0..n).filter(|i| !skipped(*i)).count());
}

/// 100k records through file -> parse -> loki (protobuf + snappy) arrive once each.
#[test]
fn hundred_thousand_records_arrive_once_with_labels_order_and_metadata() {
    let receiver = Receiver::start("127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 100_000;
    write_lines(&input, n, |_| false);
    let mut sluice = Running::start(&agent_config(&input, &receiver.endpoint(), ""));
    assert!(
        receiver.wait_for_entries(n, Duration::from_secs(120)),
        "only {} of {n} arrived",
        receiver.entry_count()
    );
    // Every request answered: the sink counted all n as sent, so nothing more is coming.
    sluice
        .wait_for_metric(
            Duration::from_secs(10),
            "sluice_component_sent_events_total{component_id=\"loki\",component_kind=\"sink\"}",
            n as f64,
        )
        .expect("the sink counted every record sent");
    assert_all_arrived(&receiver, n, |_| false, None);
    assert_eq!(receiver.duplicates(), 0);
    let text = sluice.get("/metrics").unwrap().1;
    assert_eq!(
        metric_value(
            &text,
            "sluice_component_sent_events_total{component_id=\"loki\",component_kind=\"sink\"}"
        ),
        Some(n as f64),
        "{text}"
    );
    let (ok, stderr) = sluice.stop();
    assert!(ok, "{stderr}");
}

/// The JSON encoding with gzip carries the same records.
#[test]
fn json_gzip_encoding_delivers_the_same_records() {
    let receiver = Receiver::start("127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 5_000;
    write_lines(&input, n, |_| false);
    let mut sluice = Running::start(&agent_config(
        &input,
        &receiver.endpoint(),
        "encoding = \"json\"\ncompression = \"gzip\"\ntenant_id = \"team-json\"",
    ));
    assert!(receiver.wait_for_entries(n, Duration::from_secs(60)));
    sluice.stop_ok(); // drained: nothing more in flight
    assert_all_arrived(&receiver, n, |_| false, Some("team-json"));
    assert_eq!(receiver.duplicates(), 0, "every record once");
}

/// 429s (with Retry-After), 500s and a 30 s outage cost no record; the retry metrics
/// say what happened.
#[test]
fn throttling_failures_and_an_outage_lose_nothing() {
    let receiver = Receiver::start("127.0.0.1:0");
    receiver.fail_next([
        Fault::Throttle {
            retry_after_secs: Some(1),
        },
        Fault::Throttle {
            retry_after_secs: None,
        },
        Fault::Fail,
        Fault::Fail,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 20_000;
    write_lines(&input, n, |_| false);
    let mut sluice = Running::start(&agent_config(&input, &receiver.endpoint(), ""));
    assert!(receiver.wait_for_entries(n, Duration::from_secs(60)));
    let retries = |reason: &str| {
        sluice
            .metric(&format!(
                "sluice_sink_retries_total{{component_id=\"loki\",reason=\"{reason}\"}}"
            ))
            .unwrap_or(0.0)
    };
    assert!(retries("429") >= 2.0, "429 retries: {}", retries("429"));
    assert!(retries("5xx") >= 2.0, "5xx retries: {}", retries("5xx"));

    // Now the receiver goes away for 30 s while more lines are written.
    let connection_retries_before = retries("connection");
    receiver.go_down_for(Duration::from_secs(30));
    let addr = receiver.addr;
    wait_for(Duration::from_secs(5), || {
        std::net::TcpStream::connect(addr).is_err().then_some(())
    })
    .expect("the receiver stopped listening");
    let more = 10_000;
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        let base = now_ns() - 1_000_000_000_000;
        for i in n..n + more {
            writeln!(
                f,
                r#"{{"ts":{},"app":"svc{}","seq":{i},"trace_id":"{:032x}","msg":"line {i} é \"q\""}}"#,
                base + i as i64,
                i % APPS,
                i * 7919 + 1
            )
            .unwrap();
        }
    }
    // The sink meets the outage (connection refused) and keeps retrying.
    wait_for(Duration::from_secs(20), || {
        (retries("connection") > connection_retries_before).then_some(())
    })
    .expect("the sink retried through the outage");
    // Meanwhile the operator's view says so: /api/status (what `sluice top` and the status
    // page show) has the sink backing off, and the gauge counts the waiting requests.
    let sink_state = |sluice: &Running| -> Option<String> {
        let (code, body) = sluice.get("/api/status").ok()?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        let loki = status["components"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == "loki")?
            .clone();
        (code == 200).then(|| loki["sink_state"].as_str().unwrap_or("").to_string())
    };
    let backing_off = wait_for(Duration::from_secs(20), || {
        sink_state(&sluice).filter(|s| s.starts_with("backing off: "))
    })
    .expect("the status API shows the sink backing off");
    assert!(backing_off.contains(" s ("), "{backing_off}");
    wait_for(Duration::from_secs(10), || {
        (sluice
            .metric("sluice_sink_backoff_requests{component_id=\"loki\",component_kind=\"sink\"}")
            .unwrap_or(0.0)
            >= 1.0)
            .then_some(())
    })
    .expect("sluice_sink_backoff_requests counts the waiting requests");
    assert!(
        receiver.wait_for_entries(n + more, Duration::from_secs(90)),
        "only {} arrived after the outage",
        receiver.entry_count()
    );
    let recovered = wait_for(Duration::from_secs(10), || {
        sink_state(&sluice).filter(|s| s.starts_with("ok ("))
    })
    .expect("the status API shows the sink recovered");
    assert!(recovered.ends_with("retries)"), "{recovered}");
    assert_eq!(
        sluice
            .metric("sluice_sink_backoff_requests{component_id=\"loki\",component_kind=\"sink\"}"),
        Some(0.0)
    );
    assert!(retries("connection") >= 1.0);
    let stored: usize = receiver.streams().values().map(Vec::len).sum();
    assert_eq!(stored, n + more);
    assert_eq!(receiver.duplicates(), 0, "nothing was sent twice");
    let (ok, stderr) = sluice.stop();
    assert!(ok, "{stderr}");
}

/// Loki refusing some entries of a batch (400) drops only those: they go to the
/// dead-letter file, and every other entry arrives once.
#[test]
fn a_partial_400_drops_only_the_bad_entries() {
    let receiver = Receiver::start("127.0.0.1:0");
    receiver.reject_lines_containing("REJECTME");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 2_000;
    let bad = |i: usize| i % 500 == 7;
    write_lines(&input, n, bad);
    let dead = dir.path().join("dead.jsonl");
    let mut sluice = Running::start(&agent_config(
        &input,
        &receiver.endpoint(),
        &format!("dead_letter_path = \"{}\"", dead.display()),
    ));
    let good = (0..n).filter(|i| !bad(*i)).count();
    assert!(receiver.wait_for_entries(good, Duration::from_secs(60)));
    let dead_rows = wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&dead).ok()?;
        (text.lines().count() >= 4).then_some(text)
    })
    .expect("the rejected entries are dead-lettered");
    let rows: Vec<serde_json::Value> = dead_rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert!(row["record"]["line"].as_str().unwrap().contains("REJECTME"));
        assert_eq!(row["status"], 400);
        assert_eq!(row["record"]["labels"]["app"], "svc3");
    }
    assert_eq!(
        sluice.metric(
            "sluice_component_discarded_events_total{component_id=\"loki\",reason=\"rejected\"}"
        ),
        Some(4.0)
    );
    assert_all_arrived(&receiver, n, bad, None);
    sluice.stop_ok();
}

/// Agent -> central relay: one sluice pushes to another's loki_push source, which pushes
/// to Loki; every record arrives with its metadata, and the tenant passes through.
#[test]
fn agent_to_central_relay_delivers_every_record() {
    let receiver = Receiver::start("127.0.0.1:0");
    let central = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.agents]
type = "loki_push"
token = "relay-secret"
tenant_label = "__tenant__"
[sinks.loki]
type = "loki"
inputs = ["agents"]
endpoint = "{}"
tenant_label = "__tenant__"
min_backoff_ms = 100
"#,
        receiver.endpoint()
    ));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 30_000;
    write_lines(&input, n, |_| false);
    let mut agent = Running::start(&agent_config(
        &input,
        &format!("http://127.0.0.1:{}", central.port),
        "tenant_id = \"team-a\"\nauth = { bearer_token = \"relay-secret\" }",
    ));
    assert!(
        receiver.wait_for_entries(n, Duration::from_secs(90)),
        "only {} of {n} arrived",
        receiver.entry_count()
    );
    central
        .wait_for_metric(
            Duration::from_secs(10),
            "sluice_component_sent_events_total{component_id=\"loki\",component_kind=\"sink\"}",
            n as f64,
        )
        .expect("the central sink counted every record sent");
    assert_all_arrived(&receiver, n, |_| false, Some("team-a"));
    assert_eq!(receiver.duplicates(), 0, "every record once");
    assert_eq!(
        central
            .metric("sluice_http_requests_total{component_id=\"agents\",status=\"204\"}")
            .map(|v| v > 0.0),
        Some(true)
    );
    agent.stop_ok();
}

fn push(port: u16, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/loki/api/v1/push"))
        .timeout(Duration::from_secs(30))
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn protobuf_body(labels: &str, lines: &[&str]) -> Vec<u8> {
    protobuf_body_at(1_700_000_000, labels, lines)
}

/// [`protobuf_body`] with entries at `seconds` (a Loki sink refuses entries older than a
/// week, as Loki does).
fn protobuf_body_at(seconds: i64, labels: &str, lines: &[&str]) -> Vec<u8> {
    let request = wire::PushRequest {
        streams: vec![wire::StreamAdapter {
            labels: labels.into(),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| wire::EntryAdapter {
                    timestamp: Some(wire::GoogleTimestamp {
                        seconds,
                        nanos: i as i32,
                    }),
                    line: l.to_string(),
                    structured_metadata: vec![wire::LabelPairAdapter {
                        name: "request_id".into(),
                        value: format!("r{i}"),
                    }],
                })
                .collect(),
            hash: 0,
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

/// Corrupt, truncated, oversized and unauthenticated pushes get Loki's answers; the
/// collector keeps serving and the good pushes around them arrive.
#[test]
fn broken_pushes_get_the_right_status_and_the_collector_keeps_serving() {
    let sluice = Running::start(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
[sources.push]
type = "loki_push"
token = "t0ken"
max_body_bytes = 65536
max_decompressed_bytes = 262144
[sinks.out]
type = "file"
inputs = ["push"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
    );
    let auth = ("authorization", "Bearer t0ken");
    let pb = ("content-type", "application/x-protobuf");
    let good = protobuf_body(r#"{app="api", env="prod"}"#, &["one", "two"]);

    assert_eq!(push(sluice.port, &[pb], good.clone()).0, 401, "no token");
    assert_eq!(
        push(
            sluice.port,
            &[pb, ("authorization", "Bearer nope")],
            good.clone()
        )
        .0,
        401
    );
    let (status, text) = push(sluice.port, &[pb, auth], b"\xff\x00garbage".to_vec());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("protobuf push body"), "{text}");
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 5);
    assert_eq!(push(sluice.port, &[pb, auth], truncated).0, 400);
    let not_proto = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    assert_eq!(push(sluice.port, &[pb, auth], not_proto).0, 400);
    let (status, text) = push(
        sluice.port,
        &[pb, auth],
        protobuf_body("{app=unquoted}", &["x"]),
    );
    assert_eq!(status, 400);
    assert!(text.contains("streams[0]"), "{text}");
    let json = ("content-type", "application/json");
    let (status, text) = push(
        sluice.port,
        &[json, auth],
        br#"{"streams":[{"stream":{"a":"b"},"values":[["x","y"]]}]}"#.to_vec(),
    );
    assert_eq!(status, 400);
    assert!(text.contains("timestamp"), "{text}");
    assert_eq!(
        push(sluice.port, &[json, auth], b"{\"streams\": [".to_vec()).0,
        400
    );
    assert_eq!(
        push(sluice.port, &[pb, auth], vec![0u8; 70_000]).0,
        413,
        "over max_body_bytes"
    );
    // A small body that would decompress past the limit: a snappy bomb.
    let bomb = snap::raw::Encoder::new()
        .compress_vec(&vec![b'a'; 512 << 10])
        .unwrap();
    assert!(bomb.len() < 65536);
    assert_eq!(push(sluice.port, &[pb, auth], bomb).0, 413);
    let (status, text) = push(
        sluice.port,
        &[pb, auth, ("content-encoding", "br")],
        good.clone(),
    );
    assert_eq!(status, 400, "{text}");

    // The server still works, and good pushes (protobuf, and gzipped JSON) arrive.
    assert_eq!(push(sluice.port, &[pb, auth], good).0, 204);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"streams":[{"stream":{"app":"web"},"values":[["1700000000000000009","three",{"trace_id":"t9"}]]}]}"#)
        .unwrap();
    let (status, text) = push(
        sluice.port,
        &[json, auth, ("content-encoding", "gzip")],
        gz.finish().unwrap(),
    );
    assert_eq!(status, 204, "{text}");
    let out = sluice.dir.path().join("out.jsonl");
    let text = wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|t| t.lines().count() == 3)
    })
    .expect("three records written");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["line"], "one");
    assert_eq!(
        rows[0]["labels"],
        serde_json::json!({"app": "api", "env": "prod"})
    );
    assert_eq!(rows[0]["metadata"], serde_json::json!({"request_id": "r0"}));
    assert_eq!(rows[0]["timestamp"], 1_700_000_000_000_000_000i64);
    assert_eq!(rows[1]["metadata"], serde_json::json!({"request_id": "r1"}));
    assert_eq!(rows[2]["labels"], serde_json::json!({"app": "web"}));
    assert_eq!(rows[2]["metadata"], serde_json::json!({"trace_id": "t9"}));
    assert_eq!(sluice.get("/healthz").unwrap().0, 200);
    assert_eq!(
        sluice.metric("sluice_http_requests_total{component_id=\"push\",status=\"400\"}"),
        Some(7.0)
    );
    assert_eq!(
        sluice.metric("sluice_http_requests_total{component_id=\"push\",status=\"413\"}"),
        Some(2.0)
    );
    assert_eq!(
        sluice.metric("sluice_http_requests_total{component_id=\"push\",status=\"401\"}"),
        Some(2.0)
    );
}

/// When Loki is unreachable the pipeline fills up: pushes beyond what it can hold get 429
/// (with Retry-After) after `queue_timeout_ms`, the ones it holds get 503 once
/// `ack_timeout_secs` passes without delivery; none gets 204.
#[test]
fn a_stuck_pipeline_answers_429_and_503_never_204() {
    let dead = free_port();
    let sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "loki_push"
queue_timeout_ms = 300
ack_timeout_secs = 3
[sinks.loki]
type = "loki"
inputs = ["push"]
endpoint = "http://127.0.0.1:{dead}"
max_in_flight = 1
min_backoff_ms = 1000
"#
    ));
    let port = sluice.port;
    // A first push gets the sink's only lane stuck retrying; then 29 more arrive.
    let pushes: Vec<_> = (0..30)
        .map(|i| {
            if i == 1 {
                // The first push has reached the sink, which is retrying it.
                sluice
                    .wait_for_metric(
                        Duration::from_secs(10),
                        "sluice_sink_retries_total{component_id=\"loki\",reason=\"connection\"}",
                        1.0,
                    )
                    .expect("the lane is stuck retrying");
            }
            std::thread::spawn(move || {
                let body = protobuf_body_at(
                    now_ns() / 1_000_000_000,
                    r#"{app="stuck"}"#,
                    &[&format!("push {i}")],
                );
                let r = reqwest::blocking::Client::new()
                    .post(format!("http://127.0.0.1:{port}/loki/api/v1/push"))
                    .header("content-type", "application/x-protobuf")
                    .timeout(Duration::from_secs(30))
                    .body(body)
                    .send()
                    .unwrap();
                let retry_after = r.headers().get("retry-after").is_some();
                (r.status().as_u16(), retry_after)
            })
        })
        .collect();
    let answers: Vec<(u16, bool)> = pushes.into_iter().map(|t| t.join().unwrap()).collect();
    let count = |s: u16| answers.iter().filter(|(status, _)| *status == s).count();
    assert_eq!(count(204), 0, "{answers:?}");
    assert!(count(429) >= 1, "{answers:?}");
    assert!(count(503) >= 1, "{answers:?}");
    assert_eq!(count(429) + count(503), 30, "{answers:?}");
    assert!(
        answers.iter().all(|(s, ra)| *s != 429 || *ra),
        "429 carries Retry-After"
    );
    assert_eq!(sluice.get("/healthz").unwrap().0, 200);
}
