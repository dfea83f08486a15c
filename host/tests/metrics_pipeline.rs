//! App metrics through plugins, end to end: an app's /metrics (a fixture served here) is
//! scraped by sluice, relabelled (plugins/relabel) and redacted (plugins/redact-pii on
//! metric batches), and served by the `prometheus_exporter` sink. `promtool` accepts the
//! exposition, it holds exactly the expected series (the email and the IP in label values
//! redacted, `go_` series dropped, raw paths mapped to a template), a metric with 10,000
//! label values is held at `max_series` with the rest counted, and a real Prometheus
//! scraping the exporter answers with the app's `job` and `instance`. The same chain into
//! the `prometheus_remote_write` sink stores every scraped sample in a real Prometheus
//! exactly once, and a series the app drops ends there at once (staleness markers).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::prometheus::{promtool_accepts, Prometheus};
use common::*;

/// An app's metrics endpoint: answers every request with the current body, counting the
/// answers given with it.
struct App {
    port: u16,
    /// The body, and how many requests were answered with it.
    body: Arc<Mutex<(String, usize)>>,
}

impl App {
    fn start(body: &str) -> App {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(Mutex::new((body.to_string(), 0)));
        let served = body.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let body = {
                    let mut served = served.lock().unwrap();
                    served.1 += 1;
                    served.0.clone()
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        App { port, body }
    }

    /// Answers from now on with `body`; returns how many requests the old body answered.
    fn replace_body(&self, body: String) -> usize {
        let mut current = self.body.lock().unwrap();
        let served = current.1;
        *current = (body, 0);
        served
    }

    /// Requests answered with the current body so far.
    fn served(&self) -> usize {
        self.body.lock().unwrap().1
    }
}

const APP_METRICS: &str = "\
# HELP logins_total Logins by user and client.
# TYPE logins_total counter
logins_total{user=\"bob@example.com\",client=\"10.9.8.7\"} 7
# HELP http_requests_total Requests by path.
# TYPE http_requests_total counter
http_requests_total{path=\"/users/42\",code=\"200\"} 3
http_requests_total{path=\"/health\",code=\"200\"} 10
# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 12
# HELP queue_wait_seconds Time in the queue.
# TYPE queue_wait_seconds histogram
queue_wait_seconds_bucket{le=\"0.1\"} 2
queue_wait_seconds_bucket{le=\"1\"} 5
queue_wait_seconds_bucket{le=\"+Inf\"} 6
queue_wait_seconds_sum 3.25
queue_wait_seconds_count 6
";

/// A metric with `n` label values, one per fake session.
fn sessions(n: usize) -> String {
    let mut out =
        String::from("# HELP session_bytes Bytes per session.\n# TYPE session_bytes gauge\n");
    for i in 0..n {
        out.push_str(&format!("session_bytes{{session=\"s{i}\"}} {i}\n"));
    }
    out
}

/// app -> relabel -> redact -> the exporter at /apps/metrics.
fn pipeline(app: &App) -> String {
    pipeline_into(
        app,
        "[sinks.apps]\ntype = \"prometheus_exporter\"\ninputs = [\"redact\"]\nmax_series = 1000\n",
    )
}

/// The scrape of `app` (every second) -> relabel -> redact, then `sink` (TOML).
fn pipeline_into(app: &App, sink: &str) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.app]
type = "prometheus_scrape"
endpoints = ["http://127.0.0.1:{app}/metrics"]
job = "shop"
scrape_interval_secs = 1
scrape_timeout_secs = 1
[transforms.relabel]
type = "wasm"
inputs = ["app"]
plugin = "{relabel}"
config = {{ rules = [
  {{ source_labels = ["__name__"], regex = "go_.*", action = "drop" }},
  {{ source_labels = ["path"], regex = "/users/[0-9]+", target_label = "path", replacement = "/users/{{id}}" }},
] }}
[transforms.redact]
type = "wasm"
inputs = ["relabel"]
plugin = "{redact}"
{sink}"#,
        app = app.port,
        relabel = plugin("relabel").display(),
        redact = plugin("redact_pii").display(),
    )
}

/// The exposition's sample lines, without values.
fn series_of(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect()
}

#[test]
fn scraped_app_metrics_come_out_relabelled_redacted_and_promtool_clean() {
    let app = App::start(&format!("{APP_METRICS}{}", sessions(10_000)));
    let sluice = Running::start(&pipeline(&app));
    let exposition = wait_for(Duration::from_secs(30), || {
        let (status, body) = sluice.get("/apps/metrics").ok()?;
        (status == 200 && body.contains("queue_wait_seconds_count")).then_some(body)
    })
    .unwrap_or_else(|| {
        panic!(
            "the exporter never served the app's series:\n{}",
            sluice.log()
        )
    });

    // Exactly the expected series, job and instance from the scrape.
    let instance = format!("127.0.0.1:{}", app.port);
    let id = |rest: &str| rest.replace("INST", &instance);
    let want: BTreeSet<String> = [
        "logins_total{client=\"<ipv4>\",instance=\"INST\",job=\"shop\",user=\"<email>\"}",
        "http_requests_total{code=\"200\",instance=\"INST\",job=\"shop\",path=\"/users/{id}\"}",
        "http_requests_total{code=\"200\",instance=\"INST\",job=\"shop\",path=\"/health\"}",
        "queue_wait_seconds_bucket{instance=\"INST\",job=\"shop\",le=\"0.1\"}",
        "queue_wait_seconds_bucket{instance=\"INST\",job=\"shop\",le=\"1\"}",
        "queue_wait_seconds_bucket{instance=\"INST\",job=\"shop\",le=\"+Inf\"}",
        "queue_wait_seconds_sum{instance=\"INST\",job=\"shop\"}",
        "queue_wait_seconds_count{instance=\"INST\",job=\"shop\"}",
    ]
    .iter()
    .map(|s| id(s))
    .collect();
    let got = series_of(&exposition);
    let sessions_held = got
        .iter()
        .filter(|s| s.starts_with("session_bytes"))
        .count();
    assert_eq!(sessions_held, 1000, "session_bytes is held at max_series");
    let got: BTreeSet<String> = got
        .into_iter()
        .filter(|s| {
            !s.starts_with("session_bytes") && !s.starts_with("up") && !s.starts_with("scrape_")
        })
        .collect();
    assert_eq!(got, want, "exposition:\n{exposition}");
    assert!(!exposition.contains("bob@example.com") && !exposition.contains("10.9.8.7"));
    assert!(
        exposition.contains(&id("up{instance=\"INST\",job=\"shop\"} 1\n")),
        "the scrape's up series: {exposition}"
    );
    assert!(
        exposition.contains("logins_total{client=\"<ipv4>\",instance=\"")
            && exposition.contains("} 7\n")
    );

    // The rest of session_bytes is refused and counted, every scrape.
    let refused = sluice
        .wait_for_metric(
            Duration::from_secs(10),
            "sluice_series_refused_total{component_id=\"apps\",metric=\"session_bytes\"}",
            9000.0,
        )
        .unwrap_or_else(|| {
            panic!(
                "refusals not counted:\n{}",
                sluice.get("/metrics").unwrap().1
            )
        });
    assert_eq!(
        refused % 9000.0,
        0.0,
        "9000 refused per scrape, got {refused}"
    );

    // promtool, the reference, accepts the exposition.
    promtool_accepts(&exposition);
}

#[test]
fn prometheus_scraping_the_exporter_sees_the_apps_job_and_instance() {
    let app = App::start(APP_METRICS);
    let sluice = Running::start(&pipeline(&app));
    let prometheus = Prometheus::start_with(&format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sluice-apps\n    \
         honor_labels: true\n    metrics_path: /apps/metrics\n    static_configs:\n      \
         - targets: ['127.0.0.1:{}']\n",
        sluice.port
    ));
    let result = wait_for(Duration::from_secs(60), || {
        let r = prometheus.api("/api/v1/query", &[("query", "logins_total")])?;
        let rows = r["result"].as_array()?.clone();
        (!rows.is_empty()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Prometheus never saw logins_total:\n{}", sluice.log()));
    assert_eq!(result.len(), 1);
    let labels = &result[0]["metric"];
    assert_eq!(labels["job"], "shop");
    assert_eq!(labels["instance"], format!("127.0.0.1:{}", app.port));
    assert_eq!(labels["user"], "<email>");
    assert_eq!(result[0]["value"][1], "7");

    // The app stops exposing a series: the exporter drops it, so Prometheus marks it stale.
    app.replace_body(APP_METRICS.replace(
        "logins_total{user=\"bob@example.com\",client=\"10.9.8.7\"} 7\n",
        "",
    ));
    let gone = wait_for(Duration::from_secs(30), || {
        let r = prometheus.api("/api/v1/query", &[("query", "logins_total")])?;
        r["result"].as_array()?.is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "logins_total still there after the app dropped it"
    );
}

/// The same scrape -> relabel -> redact chain into the `prometheus_remote_write` sink,
/// writing to a real Prometheus (remote-write receiver on, no scrape jobs), checked with
/// PromQL: the app's series arrive relabelled and redacted with the app's `job` and
/// `instance`, `go_` series never arrive, and a series the app stops exposing ends in
/// Prometheus at once (the staleness marker the scrape sends is remote-written), not
/// after the 5-minute lookback.
///
/// Every sample arrives once, counted without trusting sluice: every answer the app gives
/// is one scrape, and every scrape yields exactly one `logins_total` sample, stamped with
/// the scrape's time. The app counts its answers under the lock it serves the body under,
/// so swapping in a body without `logins_total` returns exactly how many scrapes saw it.
/// The next scrape sends the staleness marker; the sink keeps one request in flight and
/// sends each series' samples in order, so once Prometheus shows the series ended, every
/// earlier `logins_total` sample was either stored or refused (refusals are counted as
/// discarded: none). `count_over_time(logins_total[5m])` (range selections skip staleness
/// markers) must then equal the app's count: fewer is a lost sample, more a sample sent
/// twice under another timestamp. (A resend with the same timestamp and value would go
/// unseen: Prometheus stores it once and answers 2xx.) The same holds for `up`, which is
/// written once per scrape: its count over the same span is compared too.
#[test]
fn remote_write_into_prometheus_stores_every_scraped_sample_once_and_ends_dropped_series() {
    let app = App::start(APP_METRICS);
    // No scrape jobs: every series Prometheus holds came through remote write.
    let prometheus = Prometheus::start_with("global:\n  scrape_interval: 15s\n");
    prometheus.wait_ready();
    let sink = format!(
        "[sinks.prom]\ntype = \"prometheus_remote_write\"\ninputs = [\"redact\"]\n\
         endpoint = \"http://127.0.0.1:{}/api/v1/write\"\n\
         batch = {{ max_samples = 2000, timeout_ms = 200 }}\n",
        prometheus.port
    );
    let sluice = Running::start(&pipeline_into(&app, &sink));
    let instance = format!("127.0.0.1:{}", app.port);

    // A few scrapes in, the series are in Prometheus.
    let rows = wait_for(Duration::from_secs(60), || {
        let rows = prometheus.query("logins_total");
        (app.served() >= 5 && !rows.is_empty()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Prometheus never got logins_total:\n{}", sluice.log()));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (labels, value) = &rows[0];
    assert_eq!(labels["job"], "shop");
    assert_eq!(labels["instance"], instance);
    assert_eq!(labels["user"], "<email>");
    assert_eq!(labels["client"], "<ipv4>");
    assert_eq!(*value, 7.0);
    let count = prometheus.query("queue_wait_seconds_count");
    assert_eq!(count.len(), 1, "{count:?}");
    assert_eq!(count[0].0["job"], "shop");
    assert_eq!(count[0].0["instance"], instance);
    assert_eq!(count[0].1, 6.0);
    assert_eq!(prometheus.query("queue_wait_seconds_bucket").len(), 3);
    let paths: BTreeSet<String> = prometheus
        .query("http_requests_total")
        .into_iter()
        .map(|(l, _)| l["path"].clone())
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["/health".to_string(), "/users/{id}".to_string()])
    );
    assert!(
        prometheus.query("{__name__=~\"go_.*\"}").is_empty(),
        "relabel drops go_ series"
    );
    let up = prometheus.query("up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!((up[0].0["job"].as_str(), up[0].1), ("shop", 1.0));

    // The app drops logins_total; the next scrape's staleness marker ends it in Prometheus.
    let swapped = std::time::Instant::now();
    let scrapes = app.replace_body(APP_METRICS.replace(
        "logins_total{user=\"bob@example.com\",client=\"10.9.8.7\"} 7\n",
        "",
    ));
    wait_for(Duration::from_secs(30), || {
        prometheus.query("logins_total").is_empty().then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "logins_total still answered {:?} after the app dropped it:\n{}",
            swapped.elapsed(),
            sluice.log()
        )
    });
    // Ended by the marker, not gone: its samples are still there to range over.
    let last = prometheus.query("last_over_time(logins_total[5m])");
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(last[0].1, 7.0);

    let stored = prometheus.query("count_over_time(logins_total[5m])");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0].1, scrapes as f64,
        "logins_total samples stored vs scrapes that saw it"
    );
    let discarded = sluice
        .metric("sluice_component_discarded_events_total{component_id=\"prom\"")
        .unwrap_or(0.0);
    assert_eq!(discarded, 0.0, "no sample was refused");

    // `up` is written once per scrape too: stop sluice (it drains its sink), then every
    // scrape the app answered is one `up` sample, unless the stop cut the last scrape off
    // between the app's answer and its samples.
    let mut sluice = sluice;
    sluice.stop_ok();
    let answered = scrapes + app.served();
    let ups = prometheus.query("count_over_time(up[5m])")[0].1 as usize;
    assert!(
        ups == answered || ups + 1 == answered,
        "{ups} `up` samples stored for {answered} scrapes answered"
    );
}
