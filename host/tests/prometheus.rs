//! End-to-end with a real Prometheus (the histogram is declared by the plugin itself, not
//! in the pipeline) (Debian's `prometheus` 2.42, started here on 127.0.0.1
//! with a temp data dir): the bundled access log goes through parse -> red-metrics, and
//! Prometheus, scraping sluice every second, answers PromQL with the exact request counts
//! per route and status, the exact error ratio, a median inside the right bucket, and the
//! fixture's trace ids as exemplars.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::prometheus::Prometheus;
use common::*;

/// One request of the fixture.
struct Request {
    route: String,
    status: String,
    seconds: f64,
    trace_id: String,
}

fn fixture() -> (std::path::PathBuf, Vec<Request>) {
    let path = repo().join("pipelines/sample/access/access.log");
    let requests = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let raw = v["path"].as_str().unwrap();
            let route = if raw.starts_with("/api/users/") {
                "/api/users/{id}".to_string()
            } else {
                raw.to_string()
            };
            Request {
                route,
                status: v["status"].to_string(),
                seconds: v["duration_ms"].as_f64().unwrap() / 1000.0,
                trace_id: v["trace_id"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    (path, requests)
}

#[test]
fn prometheus_answers_red_queries_with_the_fixtures_exact_numbers() {
    let (log, requests) = fixture();
    let mut sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.access]
type = "file"
include = ["{log}"]
checkpoint = false
[transforms.parse]
type = "wasm"
inputs = ["access"]
plugin = "{parse}"
config = {{ format = "json", metadata = ["trace_id"] }}
[transforms.red]
type = "wasm"
inputs = ["parse"]
plugin = "{red}"
config = {{ route = "path", route_patterns = ["/api/users/{{id}}"] }}
[sinks.out]
type = "blackhole"
inputs = ["red"]
"#,
        log = log.display(),
        parse = plugin("parse").display(),
        red = plugin("red_metrics").display(),
    ));
    sluice
        .wait_for_metric(
            Duration::from_secs(30),
            "sluice_component_received_events_total{component_id=\"out\",component_kind=\"sink\"}",
            requests.len() as f64,
        )
        .expect("every line went through");
    let prometheus = Prometheus::start(&format!("127.0.0.1:{}", sluice.port));
    let total = "sum(http_server_request_duration_seconds_count)";
    wait_for(Duration::from_secs(60), || {
        prometheus
            .api("/api/v1/query", &[("query", total)])
            .filter(|d| d["result"].as_array().is_some_and(|r| !r.is_empty()))
    })
    .expect("Prometheus scraped the histogram");

    // Request counts per route and status: exact.
    let mut want: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in &requests {
        *want.entry((r.route.clone(), r.status.clone())).or_default() += 1.0;
    }
    let got: BTreeMap<(String, String), f64> = prometheus
        .query("sum by (http_route, http_response_status_code) (http_server_request_duration_seconds_count)")
        .into_iter()
        .map(|(l, v)| ((l["http_route"].clone(), l["http_response_status_code"].clone()), v))
        .collect();
    assert_eq!(got, want);

    // The error ratio (5xx over all).
    let errors = requests
        .iter()
        .filter(|r| r.status.starts_with('5'))
        .count() as f64;
    let ratio = prometheus.query(
        "sum(http_server_request_duration_seconds_count{http_response_status_code=~\"5..\"}) / sum(http_server_request_duration_seconds_count)",
    );
    assert!(
        (ratio[0].1 - errors / requests.len() as f64).abs() < 1e-9,
        "{ratio:?}"
    );

    // The median of /api/search lands in the bucket that holds the true median.
    let mut search: Vec<f64> = requests
        .iter()
        .filter(|r| r.route == "/api/search")
        .map(|r| r.seconds)
        .collect();
    search.sort_by(f64::total_cmp);
    let true_median = search[(search.len() - 1) / 2];
    let bounds = [
        0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ];
    let bucket = bounds
        .windows(2)
        .find(|w| true_median > w[0] && true_median <= w[1])
        .expect("the median is under 10 s");
    let q = prometheus.query(
        "histogram_quantile(0.5, sum by (le) (http_server_request_duration_seconds_bucket{http_route=\"/api/search\"}))",
    );
    let estimate = q[0].1;
    assert!(
        estimate > bucket[0] && estimate <= bucket[1],
        "median estimate {estimate} outside ({}, {}] (true median {true_median})",
        bucket[0],
        bucket[1]
    );

    // Exemplars: trace ids of the fixture, on the histogram's buckets.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = ((now - 600).to_string(), (now + 60).to_string());
    let exemplars = wait_for(Duration::from_secs(20), || {
        let data = prometheus.api(
            "/api/v1/query_exemplars",
            &[
                ("query", "http_server_request_duration_seconds_bucket"),
                ("start", &start),
                ("end", &end),
            ],
        )?;
        let ids: Vec<String> = data
            .as_array()?
            .iter()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_string))
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
    .expect("exemplars stored");
    for id in &exemplars {
        assert!(
            requests.iter().any(|r| &r.trace_id == id),
            "exemplar {id} is not a fixture trace id"
        );
    }
    drop(prometheus);
    sluice.stop_ok();
}
