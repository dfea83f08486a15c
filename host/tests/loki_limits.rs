//! End-to-end: Loki as it really behaves, against the receiver's strict (Loki-default)
//! limits. Loki answers a push by its last stream's error only, so an entry refused in an
//! earlier stream vanishes behind a 204: the sink must catch what it can know before
//! sending (the out-of-order window, too old, too new, metadata limits), keep heavy streams
//! where their throttling is answered, and count `service_name` as Loki does.

mod common;

use std::time::Duration;

use common::*;
use loki_receiver::{wire, RateLimit, Receiver};
use prost::Message;

const HOUR_NS: i64 = 3_600_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A protobuf + snappy push of `streams`: (selector, [(timestamp ns, line)]).
fn push_body(streams: &[(&str, Vec<(i64, &str)>)]) -> Vec<u8> {
    let request = wire::PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| wire::StreamAdapter {
                labels: labels.to_string(),
                entries: entries
                    .iter()
                    .map(|(ts, line)| wire::EntryAdapter {
                        timestamp: Some(wire::GoogleTimestamp {
                            seconds: ts.div_euclid(1_000_000_000),
                            nanos: ts.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: line.to_string(),
                        structured_metadata: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

fn post(url: &str, body: Vec<u8>) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// A relay: loki_push -> loki sink, dead letters in `{dir}/dead.jsonl`.
fn relay(endpoint: &str) -> Running {
    Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.agents]
type = "loki_push"
[sinks.loki]
type = "loki"
inputs = ["agents"]
endpoint = "{endpoint}"
dead_letter_path = "{{dir}}/dead.jsonl"
min_backoff_ms = 50
max_backoff_ms = 500
"#
    ))
}

fn dead_rows(relay: &Running) -> Vec<serde_json::Value> {
    std::fs::read_to_string(relay.dir.path().join("dead.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn lines_of_receiver(receiver: &Receiver) -> Vec<String> {
    let mut lines: Vec<String> = receiver
        .streams()
        .values()
        .flatten()
        .map(|e| e.line.clone())
        .collect();
    lines.sort();
    lines
}

/// The issue's case: a push whose first stream holds an entry two hours behind that
/// stream's newest. Straight to Loki it gets 204 and the entry is gone; through sluice the
/// entry is dead-lettered and counted, the pusher is told (400), and nothing vanishes.
#[test]
fn a_stale_entry_in_an_early_stream_is_dead_lettered_never_lost_behind_a_204() {
    let now = now_ns();
    let body = || {
        push_body(&[
            (
                "{app=\"a\"}",
                vec![(now, "a fresh"), (now - 2 * HOUR_NS, "a two hours behind")],
            ),
            ("{app=\"b\"}", vec![(now, "b fresh")]),
        ])
    };

    // What Loki does with it (the receiver models it): 204, one entry silently dropped.
    let loki = Receiver::start("127.0.0.1:0");
    let (status, _) = post(&format!("{}/loki/api/v1/push", loki.endpoint()), body());
    assert_eq!(status, 204);
    assert_eq!(loki.silently_dropped(), 1);
    assert_eq!(lines_of_receiver(&loki), ["a fresh", "b fresh"]);

    // Through sluice.
    let receiver = Receiver::start("127.0.0.1:0");
    let mut relay = relay(&receiver.endpoint());
    let (status, answer) = post(&relay.url("/loki/api/v1/push"), body());
    assert_eq!(
        status, 400,
        "the pusher hears of the refused entry: {answer}"
    );
    assert!(receiver.wait_for_entries(2, Duration::from_secs(10)));
    assert_eq!(lines_of_receiver(&receiver), ["a fresh", "b fresh"]);
    assert_eq!(receiver.silently_dropped(), 0, "nothing lost behind a 204");
    assert_eq!(
        receiver.refused().values().sum::<usize>(),
        0,
        "{:?}",
        receiver.refused()
    );
    let rows = dead_rows(&relay);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["reason"], "too_far_behind");
    assert_eq!(rows[0]["record"]["line"], "a two hours behind");
    assert_eq!(rows[0]["record"]["labels"]["app"], "a");
    assert_eq!(
        relay.metric(
            "sluice_component_discarded_events_total{component_id=\"loki\",reason=\"too_far_behind\"}"
        ),
        Some(1.0)
    );

    // The relay keeps working for the next push, and the window holds across pushes.
    let (status, _) = post(
        &relay.url("/loki/api/v1/push"),
        push_body(&[
            ("{app=\"a\"}", vec![(now + 1, "a later")]),
            (
                "{app=\"a\"}",
                vec![(now - 3 * HOUR_NS, "a three hours behind")],
            ),
        ]),
    );
    assert_eq!(status, 400);
    assert!(receiver.wait_for_entries(3, Duration::from_secs(10)));
    assert_eq!(dead_rows(&relay).len(), 2);
    assert_eq!(receiver.silently_dropped(), 0);
    let (ok, stderr) = relay.stop();
    assert!(ok, "{stderr}");
}

/// Loki does not count `service_name` toward its 15 label names; neither does sluice.
#[test]
fn service_name_rides_on_top_of_fifteen_labels() {
    let receiver = Receiver::start("127.0.0.1:0");
    let mut relay = relay(&receiver.endpoint());
    let fifteen: Vec<String> = (0..15).map(|i| format!("l{i:02}=\"v\"")).collect();
    let with_service = format!("{{service_name=\"api\", {}}}", fifteen.join(", "));
    let now = now_ns();
    let (status, answer) = post(
        &relay.url("/loki/api/v1/push"),
        push_body(&[(with_service.as_str(), vec![(now, "fits")])]),
    );
    assert_eq!(status, 204, "{answer}");
    assert!(receiver.wait_for_entries(1, Duration::from_secs(10)));
    let streams = receiver.streams();
    let (_, labels) = streams.keys().next().unwrap();
    assert_eq!(labels.len(), 16);
    assert_eq!(labels["service_name"], "api");

    // Sixteen names besides service_name are one too many, for Loki and for sluice.
    let sixteen = format!(
        "{{service_name=\"api\", {}, l15=\"v\"}}",
        fifteen.join(", ")
    );
    let (status, _) = post(
        &relay.url("/loki/api/v1/push"),
        push_body(&[(sixteen.as_str(), vec![(now, "one label too many")])]),
    );
    assert_eq!(status, 400);
    let rows = dead_rows(&relay);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["reason"], "labels_refused");
    assert_eq!(receiver.entry_count(), 1);
    let (ok, stderr) = relay.stop();
    assert!(ok, "{stderr}");
}

/// A per-stream rate limit that a heavy stream hits (with requests smaller than the limit's
/// burst, as with Loki's defaults: 1 MiB requests, 15 MB burst): every entry of both streams arrives,
/// none dropped behind another stream's 204 (the heavy stream goes last in each request, and
/// after Loki's first per-stream 429 the sink sends one stream per request).
#[test]
fn a_throttled_heavy_stream_loses_nothing_behind_a_light_one() {
    let limits = loki_receiver::Limits::default().per_stream_rate_limit(Some(RateLimit {
        bytes_per_sec: 200_000.0,
        burst: 150_000,
    }));
    let receiver = Receiver::start_with("127.0.0.1:0", limits);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let n = 1200;
    let mut text = String::new();
    for i in 0..n {
        // Heavy lines of 1 KB for app=heavy, short ones for app=light, interleaved.
        if i % 2 == 0 {
            text.push_str(&format!(
                "{{\"app\":\"heavy\",\"seq\":{i},\"pad\":\"{}\"}}\n",
                "x".repeat(1000)
            ));
        } else {
            text.push_str(&format!("{{\"app\":\"light\",\"seq\":{i}}}\n"));
        }
    }
    std::fs::write(&input, text).unwrap();
    let mut agent = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.app]
type = "file"
include = ["{input}"]
filename_label = false
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ format = "json", labels = ["app"] }}
[sinks.loki]
type = "loki"
inputs = ["parse"]
endpoint = "{endpoint}"
max_in_flight = 1
batch_max_bytes = 50000
min_backoff_ms = 50
max_backoff_ms = 300
"#,
        input = input.display(),
        parse = plugin("parse").display(),
        endpoint = receiver.endpoint(),
    ));
    let arrived = receiver.wait_for_entries(n, Duration::from_secs(60));
    assert_eq!(
        receiver.silently_dropped(),
        0,
        "refused {:?}",
        receiver.refused()
    );
    assert!(arrived, "only {} of {n} arrived", receiver.entry_count());
    assert!(
        receiver.requests().get(&429).copied().unwrap_or(0) > 0,
        "the limit was hit: {:?}",
        receiver.requests()
    );
    let sent = agent
        .metric("sluice_component_sent_events_total{component_id=\"loki\",component_kind=\"sink\"}")
        .unwrap_or(0.0);
    assert_eq!(sent, n as f64);
    let (ok, stderr) = agent.stop();
    assert!(ok, "{stderr}");
}
