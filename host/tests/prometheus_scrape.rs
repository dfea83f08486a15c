//! End-to-end: the `prometheus_scrape` source against expositions this test serves over
//! HTTP on 127.0.0.1 (a small server whose answer the test changes between scrapes), into
//! a file sink writing JSON samples. The text-format fixture is first checked with
//! `promtool check metrics` (Prometheus's own verdict), then scraped: exact series with
//! `job` and `instance`, `up`, staleness markers when a series goes, OpenMetrics with
//! second timestamps, gzip, a malformed exposition failing the scrape (up = 0). File-based
//! discovery: targets appear from a file written after the start, a target that is down
//! reports up = 0 (logged once, counted every time), one that never answers times out
//! without delaying the others or the shutdown, and a target removed from the file gets
//! staleness markers for `up` and its series.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::prometheus::promtool_accepts;
use common::*;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the test server answers, and what it was asked.
#[derive(Default)]
struct Exposure {
    content_type: String,
    body: Vec<u8>,
    gzip: bool,
    /// The request heads received, newest last.
    requests: Vec<String>,
}

/// Serves `Exposure` on 127.0.0.1; its port.
fn serve(exposure: Arc<Mutex<Exposure>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let (content_type, body, gzip) = {
                let mut e = exposure.lock().unwrap();
                e.requests.push(String::from_utf8_lossy(&head).into_owned());
                (e.content_type.clone(), e.body.clone(), e.gzip)
            };
            let (body, encoding) = if gzip {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&body).unwrap();
                (gz.finish().unwrap(), "Content-Encoding: gzip\r\n")
            } else {
                (body, "")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    port
}

/// A target on 127.0.0.1 that accepts connections and never answers; its host:port.
fn hang() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    address
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("host/tests/fixtures/scrape").join(name)).unwrap()
}

/// One sample the file sink wrote.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    timestamp_ms: i64,
    name: String,
    labels: BTreeMap<String, String>,
    /// As written: a number, or "NaN", "+Inf", "-Inf".
    value: String,
}

fn samples(path: &std::path::Path) -> Vec<Sample> {
    lines_of(path)
        .iter()
        .map(|line| {
            let json: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let labels = json["labels"]
                .as_object()
                .unwrap_or_else(|| panic!("no labels: {line}"))
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let value = match &json["value"] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Sample {
                timestamp_ms: json["timestamp_ms"].as_i64().unwrap(),
                name: json["name"].as_str().unwrap().to_string(),
                labels,
                value,
            }
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits for a sample matching `found`; it.
fn wait_for_sample(path: &std::path::Path, what: &str, found: impl Fn(&Sample) -> bool) -> Sample {
    wait_for(Duration::from_secs(30), || {
        samples(path).into_iter().find(|s| found(s))
    })
    .unwrap_or_else(|| panic!("no {what} in {:#?}", samples(path)))
}

const SINK: &str = "[sinks.out]\ntype = \"file\"\ninputs = [\"scrape\"]\npath = \"{dir}/out.jsonl\"\nencoding = \"json\"\n";

#[test]
fn scrapes_an_endpoint_and_marks_series_that_go_stale() {
    let text = fixture("app.prom");
    promtool_accepts(&text);
    let exposure = Arc::new(Mutex::new(Exposure {
        content_type: TEXT.into(),
        body: text.clone().into_bytes(),
        ..Exposure::default()
    }));
    let target_port = serve(exposure.clone());
    let instance = format!("127.0.0.1:{target_port}");
    let mut running = Running::start(&format!(
        "data_dir = \"{{dir}}/data\"\n[api]\naddress = \"127.0.0.1:{{port}}\"\n\
         [sources.scrape]\ntype = \"prometheus_scrape\"\n\
         endpoints = [\"http://{instance}/metrics\"]\n\
         scrape_interval_secs = 1\nscrape_timeout_secs = 1\n{SINK}"
    ));
    let out = running.dir.path().join("out.jsonl");

    // The first scrape: every series with job (the component's name) and instance.
    let up = wait_for_sample(&out, "up", |s| s.name == "up");
    assert_eq!(up.value, "1");
    let target = [("instance", instance.as_str()), ("job", "scrape")];
    let with = |extra: &[(&str, &str)]| {
        let mut l = labels(&target);
        l.extend(labels(extra));
        l
    };
    let first: Vec<(String, BTreeMap<String, String>, String)> = samples(&out)
        .into_iter()
        .filter(|s| s.timestamp_ms == up.timestamp_ms && s.name != "scrape_duration_seconds")
        .map(|s| (s.name, s.labels, s.value))
        .collect();
    let expected = vec![
        (
            "app_requests_total",
            with(&[("code", "200"), ("method", "get")]),
            "1027",
        ),
        (
            "app_requests_total",
            with(&[("code", "500"), ("method", "post")]),
            "3",
        ),
        (
            "app_queue_depth",
            with(&[("exported_job", "worker")]),
            "7.5",
        ),
        (
            "app_path_bytes",
            with(&[("path", "C:\\dir\\\"x\"\nnext")]),
            "42",
        ),
        ("app_latency_seconds_bucket", with(&[("le", "0.1")]), "5"),
        ("app_latency_seconds_bucket", with(&[("le", "+Inf")]), "8"),
        ("app_latency_seconds_sum", with(&[]), "1.25"),
        ("app_latency_seconds_count", with(&[]), "8"),
        ("app_temperature_celsius", with(&[]), "NaN"),
        ("app_limit_bytes", with(&[]), "+Inf"),
        ("up", with(&[]), "1"),
        ("scrape_samples_scraped", with(&[]), "10"),
    ];
    let expected: Vec<(String, BTreeMap<String, String>, String)> = expected
        .into_iter()
        .map(|(n, l, v)| (n.to_string(), l, v.to_string()))
        .collect();
    assert_eq!(first, expected);
    let duration = samples(&out)
        .into_iter()
        .find(|s| s.timestamp_ms == up.timestamp_ms && s.name == "scrape_duration_seconds")
        .expect("scrape_duration_seconds");
    let seconds: f64 = duration.value.parse().unwrap();
    assert!((0.0..1.0).contains(&seconds), "{duration:?}");
    let head = exposure.lock().unwrap().requests[0].to_ascii_lowercase();
    assert!(
        head.contains("accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1\r\n"),
        "{head}"
    );

    // A series the target stops exposing gets one staleness marker.
    let without_queue: String = text
        .lines()
        .filter(|l| !l.contains("app_queue_depth"))
        .map(|l| format!("{l}\n"))
        .collect();
    exposure.lock().unwrap().body = without_queue.into_bytes();
    let marker = wait_for_sample(&out, "a staleness marker for app_queue_depth", |s| {
        s.name == "app_queue_depth" && s.value == "NaN"
    });
    assert_eq!(marker.labels, with(&[("exported_job", "worker")]));

    // OpenMetrics, gzip-compressed: second timestamps become milliseconds; exemplars go.
    {
        let mut e = exposure.lock().unwrap();
        e.content_type = OPENMETRICS.into();
        e.body = fixture("app.om").into_bytes();
        e.gzip = true;
    }
    let uptime = wait_for_sample(&out, "app_uptime_seconds", |s| {
        s.name == "app_uptime_seconds"
    });
    assert_eq!(
        (uptime.timestamp_ms, uptime.value.as_str(), uptime.labels),
        (1_700_000_000_123, "12.5", with(&[]))
    );
    let requests = wait_for_sample(&out, "the OpenMetrics counter", |s| {
        s.name == "app_requests_total" && s.value == "1030"
    });
    assert_eq!(requests.labels, with(&[("code", "200"), ("method", "get")]));

    // A malformed exposition fails the scrape: up = 0, counted, the line named in the log.
    {
        let mut e = exposure.lock().unwrap();
        e.content_type = TEXT.into();
        e.body = b"app_ok 1\napp_requests_total{code=\"200\" 1\n".to_vec();
        e.gzip = false;
    }
    wait_for_sample(&out, "up = 0", |s| s.name == "up" && s.value == "0");
    running
        .wait_for_log(
            Duration::from_secs(10),
            &["scrape failed", "line 2", "scrape_failed"],
        )
        .unwrap_or_else(|| panic!("no scrape error logged:\n{}", running.log()));
    running
        .wait_for_metric(
            Duration::from_secs(10),
            "sluice_component_errors_total{component_id=\"scrape\",reason=\"scrape_failed\"}",
            1.0,
        )
        .expect("the failed scrape is counted");
    assert!(
        samples(&out).iter().all(|s| s.name != "app_ok"),
        "nothing of a failed scrape is sent"
    );
    running.stop_ok();
}

#[test]
fn file_sd_targets_come_and_go_and_a_down_target_is_up_0() {
    let exposure = Arc::new(Mutex::new(Exposure {
        content_type: TEXT.into(),
        body: b"# HELP app_jobs Jobs.\n# TYPE app_jobs gauge\napp_jobs 4\n".to_vec(),
        ..Exposure::default()
    }));
    let live = format!("127.0.0.1:{}", serve(exposure));
    let down = format!("127.0.0.1:{}", free_port());
    let hanging = hang();
    let mut running = Running::start(&format!(
        "data_dir = \"{{dir}}/data\"\n[api]\naddress = \"127.0.0.1:{{port}}\"\n\
         [sources.scrape]\ntype = \"prometheus_scrape\"\nfile_sd = [\"targets/*.json\"]\n\
         file_sd_refresh_secs = 1\njob = \"fleet\"\n\
         scrape_interval_secs = 1\nscrape_timeout_secs = 1\n{SINK}"
    ));
    let out = running.dir.path().join("out.jsonl");
    // The file appears after the start (relative to the config file's directory).
    let targets = running.dir.path().join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    let file = targets.join("fleet.json");
    let write_targets = |json: String| {
        // Written whole, then renamed into place, as discovery tools do.
        let tmp = targets.join("fleet.json.tmp");
        std::fs::write(&tmp, json).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write_targets(format!(
        r#"[{{"targets": ["{live}"], "labels": {{"team": "core", "__meta_dropped": "x"}}}},
           {{"targets": ["{down}", "{hanging}"]}}]"#
    ));
    let live_labels = labels(&[("instance", &live), ("job", "fleet"), ("team", "core")]);
    let up = wait_for_sample(&out, "up of the live target", |s| {
        s.name == "up" && s.labels == live_labels
    });
    assert_eq!(up.value, "1");
    let jobs = wait_for_sample(&out, "app_jobs", |s| s.name == "app_jobs");
    assert_eq!(
        (jobs.labels, jobs.value.as_str()),
        (live_labels.clone(), "4")
    );
    let down_labels = labels(&[("instance", &down), ("job", "fleet")]);
    let down_up = wait_for_sample(&out, "up of the down target", |s| {
        s.name == "up" && s.labels == down_labels
    });
    assert_eq!(down_up.value, "0");
    // A target that never answers times out (up = 0) and holds up no other target.
    let hanging_labels = labels(&[("instance", &hanging), ("job", "fleet")]);
    let hanging_up = wait_for_sample(&out, "up of the hanging target", |s| {
        s.name == "up" && s.labels == hanging_labels
    });
    assert_eq!(hanging_up.value, "0");
    running
        .wait_for_log(
            Duration::from_secs(10),
            &["scrape failed", &hanging, "timed out after 1s"],
        )
        .unwrap_or_else(|| panic!("no timeout logged:\n{}", running.log()));

    // The live target leaves the file: its `up` and its series get staleness markers.
    write_targets(format!(r#"[{{"targets": ["{down}", "{hanging}"]}}]"#));
    wait_for_sample(&out, "a staleness marker for up", |s| {
        s.name == "up" && s.labels == live_labels && s.value == "NaN"
    });
    wait_for_sample(&out, "a staleness marker for app_jobs", |s| {
        s.name == "app_jobs" && s.value == "NaN"
    });
    // Nothing but markers of it after its first marker.
    std::thread::sleep(Duration::from_millis(2500));
    let all = samples(&out);
    let first_marker = all
        .iter()
        .position(|s| s.labels.get("instance") == Some(&live) && s.value == "NaN")
        .unwrap();
    let after: Vec<&Sample> = all[first_marker..]
        .iter()
        .filter(|s| s.labels.get("instance") == Some(&live))
        .collect();
    assert!(
        after.iter().all(|s| s.value == "NaN"),
        "the removed target was scraped again: {after:#?}"
    );
    let ended: Vec<&str> = after.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        ended,
        [
            "app_jobs",
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped"
        ]
    );
    let down_scrapes = all
        .iter()
        .filter(|s| s.name == "up" && s.labels == down_labels)
        .count();
    assert!(
        down_scrapes >= 3,
        "{down_scrapes} scrapes of the down target"
    );

    // The live target kept its one-second schedule beside the hanging one.
    let live_ups: Vec<i64> = all
        .iter()
        .filter(|s| s.name == "up" && s.labels == live_labels && s.value == "1")
        .map(|s| s.timestamp_ms)
        .collect();
    assert!(
        live_ups
            .windows(2)
            .all(|w| (700..=1600).contains(&(w[1] - w[0]))),
        "scrapes of the live target: {live_ups:?}"
    );

    // Shutdown does not wait for the hanging scrape.
    let stopping = std::time::Instant::now();
    let log = running.stop_ok();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    let failures_logged = log
        .lines()
        .filter(|l| l.contains("scrape failed") && l.contains(&down))
        .count();
    assert_eq!(
        failures_logged, 1,
        "a target that stays down logs once:\n{log}"
    );
}
