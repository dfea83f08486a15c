//! The sink's run loop against a scripted receiver on 127.0.0.1 (axum): what it sends, how
//! it retries 503 and 429 (with Retry-After), what a 400 does, and what its batches'
//! acknowledgements and the collector's counters say afterwards.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use prost::Message;

use super::*;
use crate::channel::{channel, Fanout};
use crate::event::metrics::{stale_nan, NAME_LABEL, STALE_NAN_BITS};
use crate::event::{Ack, Label, LogBatch};
use crate::telemetry::exposition::Format;
use crate::telemetry::Telemetry;

/// One answer of the receiver: status, Retry-After, body.
type Answer = (u16, Option<&'static str>, &'static str);

#[derive(Default)]
struct Receiver {
    /// Answers to give, in order; 204 once they run out.
    script: VecDeque<Answer>,
    /// Every request: its headers, its decoded body and the status it was answered.
    requests: Vec<(HeaderMap, proto::WriteRequest, u16)>,
}

/// Starts the receiver; returns its write URL.
async fn start(script: Vec<Answer>) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        script: script.into(),
        requests: Vec::new(),
    }));
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = shared.clone();
            async move {
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .expect("a snappy block body");
                let write = proto::WriteRequest::decode(raw.as_slice()).expect("a WriteRequest");
                let mut state = state.lock().unwrap();
                let (status, retry_after, message) = state.script.pop_front().unwrap_or((204, None, ""));
                state.requests.push((headers, write, status));
                let mut response = axum::http::Response::builder()
                    .status(StatusCode::from_u16(status).unwrap());
                if let Some(after) = retry_after {
                    response = response.header("Retry-After", after);
                }
                response.body(axum::body::Body::from(message)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}/api/v1/write"), state)
}

fn config(endpoint: &str, extra: &str) -> RemoteWriteSinkConfig {
    toml::from_str(&format!(
        "endpoint = \"{endpoint}\"\nmin_backoff_ms = 5\nmax_backoff_ms = 20\n{extra}"
    ))
    .unwrap()
}

fn series(name: &str, job: &str) -> Vec<Label> {
    vec![
        (NAME_LABEL.to_string(), name.to_string()),
        ("job".to_string(), job.to_string()),
    ]
}

/// `n` samples of each of `names`, one second apart, with an acknowledgement.
fn batch(names: &[&str], n: usize) -> (MetricBatch, tokio::sync::oneshot::Receiver<AckStatus>) {
    let mut b = MetricBatch::default();
    for name in names {
        let s = b.push_series(series(name, "test"));
        for i in 0..n {
            b.push(s, i as f64, 1_000_000 + i as i64 * 1000);
        }
    }
    let (ack, rx) = Ack::new();
    b.acks.push(ack);
    (b, rx)
}

/// Runs the sink on `batches` until its input closes; the telemetry it counted into.
async fn run_sink(config: RemoteWriteSinkConfig, batches: Vec<Events>) -> Telemetry {
    let telemetry = Telemetry::new();
    let metrics = telemetry.component("rw", "sink");
    let client = RemoteWriteClient::new(&config).unwrap();
    let sink = RemoteWriteSink::new(&config, client, metrics.clone());
    let (output, input) = channel(metrics.channel_depth());
    let task = tokio::spawn(sink.run(input));
    let fanout = Fanout::new(vec![output]);
    for b in batches {
        fanout.send(b).await.unwrap();
    }
    drop(fanout);
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the sink finishes once its input closes")
        .unwrap();
    telemetry
}

/// The value of the first series in the text exposition starting with `prefix`.
fn metric(telemetry: &Telemetry, prefix: &str) -> Option<f64> {
    telemetry
        .render(Format::Text)
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn status(rx: tokio::sync::oneshot::Receiver<AckStatus>) -> AckStatus {
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the acknowledgement settles")
        .expect("settled, not lost")
}

#[tokio::test]
async fn samples_are_sent_with_the_protocol_headers_in_requests_of_max_samples() {
    let (url, receiver) = start(vec![]).await;
    let (b, ack) = batch(&["a", "b", "c"], 10);
    let telemetry = run_sink(
        config(&url, "tenant_id = \"t1\"\nheaders = { X-Extra = \"yes\" }\nbatch = { max_samples = 12 }"),
        vec![b.into()],
    )
    .await;
    assert_eq!(status(ack).await, AckStatus::Delivered);
    let receiver = receiver.lock().unwrap();
    let sizes: Vec<usize> = receiver
        .requests
        .iter()
        .map(|(_, w, _)| w.timeseries.iter().map(|t| t.samples.len()).sum())
        .collect();
    assert_eq!(sizes, [12, 12, 6]);
    let (headers, first, _) = &receiver.requests[0];
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert_eq!(headers["x-scope-orgid"], "t1");
    assert_eq!(headers["x-extra"], "yes");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("sluice/"));
    assert_eq!(first.timeseries[0].labels[0].name, NAME_LABEL);
    assert_eq!(first.timeseries[1].samples.len(), 2, "b's first two samples");
    assert_eq!(
        metric(&telemetry, "sluice_component_sent_events_total{component_id=\"rw\""),
        Some(30.0)
    );
    assert_eq!(
        metric(&telemetry, "sluice_component_received_events_total{component_id=\"rw\""),
        Some(30.0)
    );
}

#[tokio::test]
async fn a_batch_waits_at_most_the_batch_timeout() {
    let (url, receiver) = start(vec![]).await;
    let telemetry = Telemetry::new();
    let metrics = telemetry.component("rw", "sink");
    let config = config(&url, "batch = { timeout_ms = 50 }");
    let client = RemoteWriteClient::new(&config).unwrap();
    let sink = RemoteWriteSink::new(&config, client, metrics.clone());
    let (output, input) = channel(metrics.channel_depth());
    let task = tokio::spawn(sink.run(input));
    let fanout = Fanout::new(vec![output]);
    let (b, ack) = batch(&["a"], 3);
    fanout.send(b).await.unwrap();
    // Sent on time while the input stays open.
    assert_eq!(status(ack).await, AckStatus::Delivered);
    assert_eq!(receiver.lock().unwrap().requests.len(), 1);
    drop(fanout);
    task.await.unwrap();
}

#[tokio::test]
async fn a_503_and_a_429_are_retried_and_retry_after_is_honoured() {
    let (url, receiver) = start(vec![(503, None, "busy"), (429, Some("1"), "slow down")]).await;
    let (b, ack) = batch(&["a"], 5);
    let started = std::time::Instant::now();
    let telemetry = run_sink(config(&url, ""), vec![b.into()]).await;
    assert_eq!(status(ack).await, AckStatus::Delivered);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the Retry-After second"
    );
    let receiver = receiver.lock().unwrap();
    let statuses: Vec<u16> = receiver.requests.iter().map(|r| r.2).collect();
    assert_eq!(statuses, [503, 429, 204]);
    assert_eq!(receiver.requests[0].1, receiver.requests[2].1, "the same request resent");
    let retries = |reason: &str| {
        metric(
            &telemetry,
            &format!("sluice_sink_retries_total{{component_id=\"rw\",reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(retries("5xx"), Some(1.0));
    assert_eq!(retries("429"), Some(1.0));
    assert_eq!(
        metric(&telemetry, "sluice_component_sent_events_total{component_id=\"rw\""),
        Some(5.0)
    );
}

#[tokio::test]
async fn a_400_is_not_retried_and_its_samples_are_discarded_by_reason() {
    let (url, receiver) = start(vec![
        (400, None, "out of order sample"),
        (400, None, "invalid labels"),
    ])
    .await;
    let (first, first_ack) = batch(&["a"], 2);
    let (second, second_ack) = batch(&["b"], 3);
    let (third, third_ack) = batch(&["c"], 1);
    let telemetry = run_sink(
        config(&url, "batch = { max_samples = 2 }"),
        vec![first.into(), second.into(), third.into()],
    )
    .await;
    // Requests: [a a] 400 out of order, [b b] 400 invalid, [b c] 204.
    assert_eq!(status(first_ack).await, AckStatus::Rejected);
    assert_eq!(status(second_ack).await, AckStatus::Rejected, "worst of its requests");
    assert_eq!(status(third_ack).await, AckStatus::Delivered);
    assert_eq!(receiver.lock().unwrap().requests.len(), 3, "no retry of a 400");
    let discarded = |reason: &str| {
        metric(
            &telemetry,
            &format!(
                "sluice_component_discarded_events_total{{component_id=\"rw\",reason=\"{reason}\"}}"
            ),
        )
    };
    assert_eq!(discarded("out_of_order"), Some(2.0));
    assert_eq!(discarded("rejected"), Some(2.0));
    assert_eq!(
        metric(&telemetry, "sluice_component_sent_events_total{component_id=\"rw\""),
        Some(2.0)
    );
}

#[tokio::test]
async fn a_request_still_refused_after_max_retry_duration_is_dropped_and_counted() {
    let (url, receiver) = start(vec![(503, None, ""); 1000]).await;
    let (b, ack) = batch(&["a"], 4);
    let telemetry = run_sink(
        config(&url, "max_retry_duration_secs = 1"),
        vec![b.into()],
    )
    .await;
    assert_eq!(status(ack).await, AckStatus::Failed);
    assert!(receiver.lock().unwrap().requests.len() > 3);
    assert_eq!(
        metric(
            &telemetry,
            "sluice_component_discarded_events_total{component_id=\"rw\",reason=\"retries_exhausted\"}"
        ),
        Some(4.0)
    );
}

#[tokio::test]
async fn a_staleness_marker_arrives_bit_exact_and_a_log_batch_is_refused() {
    let (url, receiver) = start(vec![]).await;
    let mut b = MetricBatch::default();
    let s = b.push_series(series("up", "x"));
    b.push(s, 1.0, 1000);
    b.push(s, stale_nan(), 2000);
    let mut logs = LogBatch::default();
    let (log_ack, log_rx) = Ack::new();
    logs.acks.push(log_ack);
    let telemetry = run_sink(config(&url, ""), vec![logs.into(), b.into()]).await;
    assert_eq!(status(log_rx).await, AckStatus::Failed);
    let receiver = receiver.lock().unwrap();
    let samples = &receiver.requests[0].1.timeseries[0].samples;
    assert_eq!(samples[1].value.to_bits(), STALE_NAN_BITS);
    assert_eq!(
        metric(
            &telemetry,
            "sluice_component_errors_total{component_id=\"rw\",reason=\"wrong_signal\"}"
        ),
        Some(1.0)
    );
}
