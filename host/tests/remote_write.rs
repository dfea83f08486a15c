//! The `prometheus_remote_write` sink against a real Prometheus (Debian's `prometheus` 2.42,
//! started here on 127.0.0.1 with `--web.enable-remote-write-receiver` and a temp data dir).
//! No metrics source exists yet, so the test drives the sink through the library: the kind
//! is looked up in `sinks::KINDS` and checked as `sluice validate` would, then run on metric
//! batches of known series. Prometheus must answer PromQL with every sample exactly once,
//! with its value, and must see the series a staleness marker ended as gone.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::prometheus::Prometheus;
use common::*;
use sluice::channel::{channel, Fanout};
use sluice::component::{find, CheckContext};
use sluice::event::metrics::{stale_nan, MetricFamily, MetricType, NAME_LABEL};
use sluice::event::{Ack, AckStatus, MetricBatch};
use sluice::runtime::PluginRuntime;
use sluice::telemetry::Telemetry;

/// Prometheus as a remote-write receiver that scrapes nothing, ready.
fn receiver() -> Prometheus {
    let prometheus = Prometheus::start_with("global:\n  scrape_interval: 15s\n");
    prometheus.wait_ready();
    prometheus
}

/// An instant query at `time` (seconds): each series' `series` label and value.
fn query_at(prometheus: &Prometheus, promql: &str, time: f64) -> BTreeMap<String, f64> {
    let data = prometheus
        .api(
            "/api/v1/query",
            &[("query", promql), ("time", &time.to_string())],
        )
        .unwrap_or_else(|| panic!("query failed: {promql}"));
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let series = s["metric"]["series"].as_str().unwrap_or("").to_string();
            let value = s["value"][1].as_str().unwrap().parse().unwrap();
            (series, value)
        })
        .collect()
}

const SERIES: usize = 3;
const SAMPLES: usize = 100;

/// Value of sample `i` of series `s`: distinct per sample, so sums prove each arrived once.
fn value(s: usize, i: usize) -> f64 {
    (s * 1000 + i) as f64 + 0.25
}

/// Checks a `prometheus_remote_write` sink named `id` writing to Prometheus on `port` as
/// `sluice validate` would, runs it on `batches` until its input closes, and returns how
/// each acknowledgement in `acks` settled.
fn run_sink(
    telemetry: &Telemetry,
    id: &str,
    port: u16,
    batches: Vec<MetricBatch>,
    acks: Vec<tokio::sync::oneshot::Receiver<AckStatus>>,
) -> Vec<AckStatus> {
    let runtime = PluginRuntime::new(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = CheckContext {
        name: id,
        base_dir: dir.path(),
        data_dir: dir.path(),
        telemetry,
        runtime: &runtime,
        secrets: &Default::default(),
    };
    let options: toml::Value = toml::from_str(&format!(
        "endpoint = \"http://127.0.0.1:{port}/api/v1/write\"\n\
         batch = {{ max_samples = 40, timeout_ms = 100 }}\n",
    ))
    .unwrap();
    let kind = find(sluice::sinks::KINDS, "prometheus_remote_write").expect("the kind exists");
    let sink = kind
        .check(options, &ctx)
        .unwrap_or_else(|e| panic!("check: {e:?}"));
    let metrics = telemetry.component(id, "sink");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (output, input) = channel(metrics.channel_depth());
        let task = tokio::spawn(sink.run(input, metrics.clone()));
        let fanout = Fanout::new(vec![output]);
        for b in batches {
            fanout.send(b).await.unwrap();
        }
        drop(fanout);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the sink finishes once its input closes")
            .unwrap();
        let mut statuses = Vec::new();
        for rx in acks {
            statuses.push(rx.await.unwrap());
        }
        statuses
    })
}

/// A batch of one sample of `rw_test_gauge{series}`, with its acknowledgement.
fn one_sample(
    series: &str,
    value: f64,
    at_ms: i64,
) -> (MetricBatch, tokio::sync::oneshot::Receiver<AckStatus>) {
    let mut b = MetricBatch::default();
    let id = b.push_series(vec![
        (NAME_LABEL.to_string(), "rw_test_gauge".to_string()),
        ("series".to_string(), series.to_string()),
    ]);
    b.push(id, value, at_ms);
    let (ack, rx) = Ack::new();
    b.acks.push(ack);
    (b, rx)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn remote_write_into_a_real_prometheus_is_queryable_back_every_sample_once() {
    let prometheus = receiver();
    let now_ms = now_ms();
    // 100 samples per series, 2 s apart, the last 60 s ago: inside Prometheus's head.
    let first_ms = now_ms - 60_000 - (SAMPLES as i64 - 1) * 2000;
    let ts = |i: usize| first_ms + i as i64 * 2000;

    let telemetry = Telemetry::new();

    // Four batches, each a quarter of every series' samples (requests of 40 samples cut
    // series across requests); then a staleness marker ending series 2.
    let mut batches = Vec::new();
    let mut acks = Vec::new();
    for quarter in 0..4 {
        let mut b = MetricBatch::default();
        b.add_family(MetricFamily {
            name: "rw_test_gauge".into(),
            kind: MetricType::Gauge,
            help: "A gauge written by the remote-write test".into(),
            unit: String::new(),
        });
        for s in 0..SERIES {
            let id = b.push_series(vec![
                (NAME_LABEL.to_string(), "rw_test_gauge".to_string()),
                ("series".to_string(), s.to_string()),
            ]);
            for i in quarter * 25..(quarter + 1) * 25 {
                b.push(id, value(s, i), ts(i));
            }
        }
        let (ack, rx) = Ack::new();
        b.acks.push(ack);
        acks.push(rx);
        batches.push(b);
    }
    let stale_at = ts(SAMPLES - 1) + 1000;
    let (stale, rx) = one_sample("2", stale_nan(), stale_at);
    acks.push(rx);
    batches.push(stale);

    let statuses = run_sink(&telemetry, "rw", prometheus.port, batches, acks);
    assert!(
        statuses.iter().all(|s| *s == AckStatus::Delivered),
        "{statuses:?}"
    );

    let now_s = now_ms as f64 / 1000.0;
    let counts = query_at(&prometheus, "count_over_time(rw_test_gauge[10m])", now_s);
    let expected: BTreeMap<String, f64> = (0..SERIES)
        .map(|s| (s.to_string(), SAMPLES as f64))
        .collect();
    assert_eq!(counts, expected, "every sample stored once");
    let sums = query_at(&prometheus, "sum_over_time(rw_test_gauge[10m])", now_s);
    for s in 0..SERIES {
        let want: f64 = (0..SAMPLES).map(|i| value(s, i)).sum();
        assert_eq!(
            sums.get(&s.to_string()),
            Some(&want),
            "series {s}: {sums:?}"
        );
    }
    // Just after the marker, series 2 is gone while the others still answer.
    let after_marker = (stale_at + 500) as f64 / 1000.0;
    let instant = query_at(&prometheus, "rw_test_gauge", after_marker);
    let last: BTreeMap<String, f64> = (0..2)
        .map(|s| (s.to_string(), value(s, SAMPLES - 1)))
        .collect();
    assert_eq!(instant, last, "series 2 ended by its staleness marker");
    let before_marker = (stale_at - 500) as f64 / 1000.0;
    assert_eq!(
        query_at(&prometheus, "rw_test_gauge", before_marker).len(),
        3
    );

    let text = telemetry.render(sluice::telemetry::exposition::Format::Text);
    assert_eq!(
        metric_value(
            &text,
            "sluice_component_sent_events_total{component_id=\"rw\",component_kind=\"sink\"}"
        ),
        Some((SERIES * SAMPLES + 1) as f64)
    );
}

#[test]
fn prometheus_refusals_are_counted_by_their_reason_and_not_retried() {
    let prometheus = receiver();
    let now = now_ms();
    let telemetry = Telemetry::new();
    // A first sample; then one older (out of order), one at the same time with another
    // value (duplicate), and one good one, each its own request (batch timeout 100 ms, the
    // batches sent one by one).
    let (first, first_ack) = one_sample("0", 1.0, now - 10_000);
    assert_eq!(
        run_sink(
            &telemetry,
            "rw",
            prometheus.port,
            vec![first],
            vec![first_ack]
        ),
        [AckStatus::Delivered]
    );
    let (older, older_ack) = one_sample("0", 2.0, now - 20_000);
    assert_eq!(
        run_sink(
            &telemetry,
            "rw",
            prometheus.port,
            vec![older],
            vec![older_ack]
        ),
        [AckStatus::Rejected]
    );
    // The duplicate comes after a good sample of a new series in the same request:
    // Prometheus appends that one, fails on the duplicate and rolls the whole request back.
    let (mut duplicate, duplicate_ack) = one_sample("1", 7.0, now - 10_000);
    let series_0 = duplicate.push_series(vec![
        (NAME_LABEL.to_string(), "rw_test_gauge".to_string()),
        ("series".to_string(), "0".to_string()),
    ]);
    duplicate.push(series_0, 3.0, now - 10_000);
    assert_eq!(
        run_sink(
            &telemetry,
            "rw",
            prometheus.port,
            vec![duplicate],
            vec![duplicate_ack]
        ),
        [AckStatus::Rejected]
    );
    let (later, later_ack) = one_sample("0", 4.0, now - 5_000);
    assert_eq!(
        run_sink(
            &telemetry,
            "rw",
            prometheus.port,
            vec![later],
            vec![later_ack]
        ),
        [AckStatus::Delivered]
    );
    let text = telemetry.render(sluice::telemetry::exposition::Format::Text);
    let counted = |name: &str, labels: &str| metric_value(&text, &format!("{name}{{{labels}}}"));
    for (reason, samples) in [("out_of_order", 1.0), ("duplicate_sample", 2.0)] {
        assert_eq!(
            counted(
                "sluice_component_discarded_events_total",
                &format!("component_id=\"rw\",reason=\"{reason}\"")
            ),
            Some(samples),
            "{reason}: {text}"
        );
    }
    assert_eq!(
        counted(
            "sluice_sink_requests_total",
            "component_id=\"rw\",status=\"400\""
        ),
        Some(2.0),
        "each refusal sent once, never retried"
    );
    let stored = query_at(
        &prometheus,
        "count_over_time(rw_test_gauge[10m])",
        now as f64 / 1000.0,
    );
    assert_eq!(stored.get("0"), Some(&2.0), "{stored:?}");
    assert_eq!(
        stored.get("1"),
        None,
        "the good sample went down with its request: {stored:?}"
    );
}
