//! End-to-end: the `kubernetes_logs` source on a temp dir laid out as the kubelet lays out
//! /var/log/pods: CRI and Docker json-file containers, split lines joined, each record
//! labelled with namespace, pod, container, stream and node and stamped with its line's
//! time; namespaces and containers filtered; the kubelet's rotation (0.log renamed to
//! 0.log.<date>, a new 0.log, older ones gzipped) and restarts lose and repeat nothing; a
//! malformed line is kept and counted.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// 2026-12-07T10:00:00Z in seconds.
const T0: i64 = 1_796_637_600;

/// A CRI line: `<time> <stream> <P|F> <text>`, `secs` after [`T0`] plus `ms`.
fn cri(secs: i64, ms: i64, stream: &str, flag: &str, text: &str) -> String {
    format!(
        "2026-12-07T10:{:02}:{:02}.{ms:03}000000Z {stream} {flag} {text}\n",
        secs / 60,
        secs % 60
    )
}

/// The log file of a container (its directories created).
fn container_log(pods: &Path, pod_dir: &str, container: &str, file: &str) -> PathBuf {
    let dir = pods.join(pod_dir).join(container);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(file)
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn config(dir: &Path, extra: &str) -> String {
    format!(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.pods]
type = "kubernetes_logs"
pods_dir = "{dir}/pods"
poll_interval_ms = 50
rotate_wait_ms = 1500
batch = {{ timeout_ms = 20 }}
{extra}
[sinks.out]
type = "file"
inputs = ["pods"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
        dir = dir.display()
    )
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    lines_of(&dir.join("out.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_for_records(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_for(Duration::from_secs(30), || {
        let r = records(dir);
        (r.len() >= n).then_some(r)
    })
    .unwrap_or_else(|| panic!("{n} records expected, got {:#?}", records(dir)))
}

const CHECKOUT: &str = "shop_checkout-7d9f8b6c5-x2x4z_0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60";

#[test]
fn pod_logs_arrive_decoded_labelled_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    // A CRI container: a whole line, a line split in three parts with a stderr line between
    // them, an empty line, a line in neither format.
    let app = container_log(&pods, CHECKOUT, "app", "0.log");
    let mut text = cri(0, 123, "stdout", "F", "GET /cart 200");
    text += &cri(1, 0, "stdout", "P", "a long ");
    text += &cri(1, 500, "stderr", "F", "warning: slow");
    text += &cri(2, 0, "stdout", "P", "line in ");
    text += &cri(3, 0, "stdout", "F", "three parts");
    text += &cri(4, 0, "stdout", "F", "");
    text += "garbage that no runtime wrote\n";
    append(&app, &text);
    // Rotated before the collector first ran (no checkpoint names it): history, not read.
    append(
        &app.with_file_name("0.log.20261206-111111"),
        &cri(0, 0, "stdout", "F", "from an old rotated file"),
    );
    // Already rotated and compressed before the collector started: never read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(cri(0, 0, "stdout", "F", "from the compressed file").as_bytes())
        .unwrap();
    std::fs::write(
        app.with_file_name("0.log.20261206-101010.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    // Filtered out: a sidecar by container, a whole namespace.
    append(
        &container_log(&pods, CHECKOUT, "istio-proxy", "0.log"),
        &cri(0, 0, "stdout", "F", "sidecar noise"),
    );
    append(
        &container_log(
            &pods,
            "kube-system_coredns-5d78c9869d-abcde_9a8b7c6d-1111-2222-3333-444455556666",
            "coredns",
            "0.log",
        ),
        &cri(0, 0, "stdout", "F", "coredns noise"),
    );
    // A Docker json-file container (restarted once: 1.log), with a line Docker split.
    let web = container_log(
        &pods,
        "legacy_web-0_5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "web",
        "1.log",
    );
    append(
        &web,
        concat!(
            r#"{"log":"started \"web\"\n","stream":"stdout","time":"2026-12-07T10:00:05.25Z"}"#,
            "\n",
            r#"{"log":"split by ","stream":"stderr","time":"2026-12-07T10:00:06Z"}"#,
            "\n",
            r#"{"log":"docker\n","stream":"stderr","time":"2026-12-07T10:00:07Z"}"#,
            "\n",
        ),
    );
    let mut running = Running::start(&config(
        dir.path(),
        r#"node_name = "node-a"
exclude_namespaces = ["kube-*"]
exclude_containers = ["istio-proxy"]
labels = { cluster = "test" }"#,
    ));
    // A container that starts later is found too.
    let late = container_log(
        &pods,
        "shop_cart-0_77777777-8888-4999-aaaa-bbbbbbbbbbbb",
        "cart",
        "0.log",
    );
    append(&late, &cri(9, 0, "stdout", "F", "late container"));
    wait_for_records(dir.path(), 8);
    std::thread::sleep(Duration::from_millis(500)); // anything more would show up now
    let got_all = records(dir.path());
    let lines: Vec<&str> = got_all
        .iter()
        .map(|r| r["line"].as_str().unwrap())
        .collect();
    assert_eq!(got_all.len(), 8, "{lines:#?}");
    let find = |line: &str| {
        got_all
            .iter()
            .find(|r| r["line"] == line)
            .unwrap_or_else(|| panic!("`{line}` missing from {lines:#?}"))
    };
    let ns = |secs: i64, ms: i64| serde_json::json!((T0 + secs) * 1_000_000_000 + ms * 1_000_000);
    let first = find("GET /cart 200");
    assert_eq!(first["timestamp"], ns(0, 123));
    assert_eq!(
        first["labels"],
        serde_json::json!({"namespace": "shop", "pod": "checkout-7d9f8b6c5-x2x4z",
            "container": "app", "stream": "stdout", "node": "node-a", "cluster": "test"})
    );
    assert_eq!(
        first["metadata"],
        serde_json::json!({"pod_uid": "0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60"})
    );
    let joined = find("a long line in three parts");
    assert_eq!(joined["timestamp"], ns(1, 0), "the time of its first part");
    assert_eq!(joined["labels"]["stream"], "stdout");
    let warning = find("warning: slow");
    assert_eq!(warning["labels"]["stream"], "stderr");
    assert_eq!(warning["timestamp"], ns(1, 500));
    assert_eq!(find("")["timestamp"], ns(4, 0));
    let garbage = find("garbage that no runtime wrote");
    assert!(garbage["labels"].get("stream").is_none(), "{garbage}");
    assert_eq!(garbage["labels"]["container"], "app");
    let web = find("started \"web\"");
    assert_eq!(web["timestamp"], ns(5, 250));
    assert_eq!(
        web["labels"],
        serde_json::json!({"namespace": "legacy", "pod": "web-0", "container": "web",
            "stream": "stdout", "node": "node-a", "cluster": "test"})
    );
    assert_eq!(find("split by docker")["timestamp"], ns(6, 0));
    assert_eq!(find("late container")["labels"]["pod"], "cart-0");
    // Order within a stream is kept.
    let at = |line: &str| lines.iter().position(|l| *l == line).unwrap();
    assert!(at("GET /cart 200") < at("a long line in three parts"));
    assert!(at("a long line in three parts") < at(""));
    assert_eq!(
        running.metric(
            r#"sluice_component_repaired_lines_total{component_id="pods",reason="malformed"}"#
        ),
        Some(1.0)
    );
    running.stop_ok();
}

/// The kubelet's rotation: `0.log` renamed to `0.log.<date>` (the runtime still writes its
/// last lines there before reopening), a new `0.log`, the older rotated file gzipped. Then
/// a stop with a split line half written; while stopped the line is finished, more lines
/// come and the file is rotated again; a restart: every line once, in order per file (the
/// renamed file resumed from its checkpoint, the rotated files read before not again).
#[test]
fn kubelet_rotation_and_restarts_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let log = container_log(&pods, CHECKOUT, "app", "0.log");
    let line = |i: usize| cri(i as i64 % 3600, 0, "stdout", "F", &format!("line {i:06}"));
    let lines = |r: std::ops::Range<usize>| r.map(line).collect::<String>();
    append(&log, &lines(0..1000));
    let config = config(dir.path(), "");
    let mut running = Running::start(&config);
    wait_for_records(dir.path(), 1000);

    // Rotation: rename, the old writer finishes on the renamed file, a new 0.log.
    let rotated = log.with_file_name("0.log.20261207-101010");
    let mut writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::fs::rename(&log, &rotated).unwrap();
    writer.write_all(lines(1000..1200).as_bytes()).unwrap();
    drop(writer);
    append(&log, &lines(1200..1500));
    wait_for_records(dir.path(), 1500);
    // The kubelet gzips a rotated file once a newer one exists: the gzip is never read.
    std::thread::sleep(Duration::from_millis(2000)); // past rotate_wait_ms: let go
    let rotated2 = log.with_file_name("0.log.20261207-111111");
    std::fs::rename(&log, &rotated2).unwrap();
    append(&log, &lines(1500..1600));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&rotated).unwrap()).unwrap();
    std::fs::write(rotated.with_extension("gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&rotated).unwrap();
    wait_for_records(dir.path(), 1600);
    // Past rotate_wait_ms the second rotated file is let go, so the checkpoint written with
    // the next batch no longer names it; the restart below must not read it again.
    std::thread::sleep(Duration::from_millis(2000));
    append(&log, &line(1600));
    wait_for_records(dir.path(), 1601);
    // A line half written (a P part) when the collector stops.
    append(&log, &cri(0, 0, "stdout", "P", "line 001601 begins, "));
    std::thread::sleep(Duration::from_millis(300));
    let log_text = running.stop_ok();
    assert!(log_text.contains("file rotated away"), "{log_text}");
    assert_eq!(records(dir.path()).len(), 1601, "the half line is not sent");

    // While stopped: the line is finished, more come, and the kubelet rotates. The restart
    // finds the renamed file by its checkpoint and resumes it from there (the start of the
    // half line, joined whole), and reads the new 0.log from its start.
    append(&log, &cri(0, 0, "stdout", "F", "and ends"));
    append(&log, &lines(1602..1700));
    std::fs::rename(&log, log.with_file_name("0.log.20261207-121212")).unwrap();
    append(&log, &lines(1700..1800));
    let mut running = Running::start(&config);
    wait_for_records(dir.path(), 1800);
    std::thread::sleep(Duration::from_millis(500));
    running.stop_ok();
    let got: Vec<String> = records(dir.path())
        .iter()
        .map(|r| r["line"].as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = (0..1800).map(|i| format!("line {i:06}")).collect();
    want[1601] = "line 001601 begins, and ends".into();
    // The renamed file and the new one are read side by side: in order within each.
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "every line once");
    for range in [0..1200, 1200..1500, 1500..1700, 1700..1800] {
        let of_file: Vec<&String> = got
            .iter()
            .filter(|l| want[range.clone()].contains(l))
            .collect();
        assert!(
            of_file.windows(2).all(|w| w[0] < w[1]),
            "in order: {of_file:?}"
        );
    }
}

/// Each request the fixture API server answered: (path, `Authorization` header).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A double of the API server's pod endpoint: answers `GET
/// /api/v1/namespaces/shop/pods/checkout-7d9f8b6c5-x2x4z` with a recorded v1 Pod
/// (tests/fixtures/kubernetes/pod-checkout.json) and any other pod with the API's 404
/// Status, over HTTPS with `tls`; records each request's path and `Authorization` header.
fn fixture_api_server(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> (u16, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let pod =
        std::fs::read_to_string(repo().join("host/tests/fixtures/kubernetes/pod-checkout.json"))
            .unwrap();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { return };
            match &tls {
                None => answer(tcp, &pod, &record),
                Some(config) => {
                    let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                        continue;
                    };
                    answer(rustls::StreamOwned::new(connection, tcp), &pod, &record);
                }
            }
        }
    });
    (port, seen)
}

/// Reads one request from `stream` and answers it (see [`fixture_api_server`]). A client
/// that gives up (a TLS handshake refused) is let go.
fn answer(mut stream: impl std::io::Read + Write, pod: &str, record: &Seen) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    let authorization = request
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    record.lock().unwrap().push((path.clone(), authorization));
    let (status, body) = if path == "/api/v1/namespaces/shop/pods/checkout-7d9f8b6c5-x2x4z" {
        ("200 OK", pod.to_string())
    } else {
        let name = path.rsplit('/').next().unwrap_or("");
        (
            "404 Not Found",
            format!(
                r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"pods \"{name}\" not found","reason":"NotFound","details":{{"name":"{name}","kind":"pods"}},"code":404}}"#
            ),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// With a `kubernetes_api` table, each pod is looked up once (with the token from its
/// file) and the allowed pod labels and annotations are added; a pod the API does not know
/// still has its records sent, and the failure is counted.
#[test]
fn pods_are_enriched_from_the_api_server_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    std::fs::write(dir.path().join("token"), "t0ken-value\n").unwrap();
    append(
        &container_log(&pods, CHECKOUT, "app", "0.log"),
        &cri(0, 0, "stdout", "F", "from app"),
    );
    append(
        &container_log(&pods, CHECKOUT, "istio-proxy", "0.log"),
        &cri(0, 0, "stdout", "F", "from the sidecar"),
    );
    append(
        &container_log(
            &pods,
            "shop_gone-0_12121212-3434-4565-8787-909090909090",
            "app",
            "0.log",
        ),
        &cri(0, 0, "stdout", "F", "from a pod the API forgot"),
    );
    let (port, seen) = fixture_api_server(None);
    let mut running = Running::start(&config(
        dir.path(),
        &format!(
            r#"[sources.pods.kubernetes_api]
api_server = "http://127.0.0.1:{port}"
token_file = "{dir}/token"
pod_labels = ["app", "app.kubernetes.io/version", "not-on-this-pod"]
annotations = ["prometheus.io/scrape"]"#,
            dir = dir.path().display()
        ),
    ));
    let got = wait_for_records(dir.path(), 3);
    let find = |line: &str| {
        got.iter()
            .find(|r| r["line"] == line)
            .unwrap_or_else(|| panic!("`{line}` in {got:#?}"))
    };
    for line in ["from app", "from the sidecar"] {
        let r = find(line);
        assert_eq!(r["labels"]["app"], "checkout", "{r}");
        assert_eq!(r["labels"]["app_kubernetes_io_version"], "1.4.2", "{r}");
        assert!(
            r["labels"].get("pod_template_hash").is_none(),
            "only allowed labels: {r}"
        );
        assert_eq!(r["labels"]["namespace"], "shop");
        assert_eq!(
            r["metadata"],
            serde_json::json!({"pod_uid": "0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60",
                "prometheus.io/scrape": "true"})
        );
    }
    let forgotten = find("from a pod the API forgot");
    assert!(forgotten["labels"].get("app").is_none(), "{forgotten}");
    assert_eq!(forgotten["labels"]["pod"], "gone-0");
    assert_eq!(
        running.metric(
            r#"sluice_component_errors_total{component_id="pods",reason="enrichment_failed"}"#
        ),
        Some(1.0)
    );
    let requests = seen.lock().unwrap().clone();
    let mut paths: Vec<&str> = requests.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/shop/pods/checkout-7d9f8b6c5-x2x4z",
            "/api/v1/namespaces/shop/pods/gone-0"
        ],
        "one request per pod, two containers of one pod included"
    );
    assert!(
        requests
            .iter()
            .all(|(_, auth)| auth == "Bearer t0ken-value"),
        "{requests:?}"
    );
    running.stop_ok();
}

/// `stop_at_eof`: a copy of a node's pod logs imported once; what a stream still holds at
/// the end (a `P` part whose `F` never came) and a last line without its newline are sent
/// too, and the collector exits by itself.
#[test]
fn a_one_shot_import_sends_everything_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let log = container_log(&pods, CHECKOUT, "app", "0.log");
    let mut text = cri(0, 0, "stdout", "F", "whole");
    text += &cri(1, 0, "stderr", "P", "never finished");
    text += cri(2, 0, "stdout", "F", "no newline").trim_end();
    append(&log, &text);
    run_to_end(
        dir.path(),
        &format!(
            r#"data_dir = "{dir}/data"
[api]
enabled = false
[sources.pods]
type = "kubernetes_logs"
pods_dir = "{dir}/pods"
stop_at_eof = true
[sinks.out]
type = "file"
inputs = ["pods"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
            dir = dir.path().display()
        ),
    );
    let got: Vec<(String, String)> = records(dir.path())
        .iter()
        .map(|r| {
            (
                r["line"].as_str().unwrap().to_string(),
                r["labels"]["stream"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("never finished".to_string(), "stderr".to_string()),
            ("no newline".into(), "stdout".into()),
            ("whole".into(), "stdout".into()),
        ],
        "{got:?}"
    );
}

/// Over HTTPS: the API server's certificate is checked against `ca_file` (a CA the test
/// makes, as the service account's `ca.crt`). A source given another CA cannot look pods
/// up: the failure is counted and its records are still delivered, without pod labels.
#[test]
fn the_api_server_is_reached_over_https_with_the_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let make_ca = || {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert, key)
    };
    let (ca, ca_key) = make_ca();
    let (other_ca, _) = make_ca();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("ca.crt"), ca.pem()).unwrap();
    std::fs::write(path("other-ca.crt"), other_ca.pem()).unwrap();
    std::fs::write(path("server.crt"), server.pem()).unwrap();
    std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(path("token"), "t0ken-value").unwrap();
    let tls =
        sluice::server::tls::server_config(&path("server.crt"), &path("server.key"), None).unwrap();
    let (port, seen) = fixture_api_server(Some(tls));
    append(
        &container_log(&dir.path().join("pods"), CHECKOUT, "app", "0.log"),
        &cri(0, 0, "stdout", "F", "over https"),
    );
    let source = |name: &str, ca: &str| {
        format!(
            r#"[sources.{name}]
type = "kubernetes_logs"
pods_dir = "{dir}/pods"
labels = {{ via = "{name}" }}
[sources.{name}.kubernetes_api]
api_server = "https://127.0.0.1:{port}"
token_file = "{dir}/token"
ca_file = "{dir}/{ca}"
pod_labels = ["app"]
"#,
            dir = dir.path().display()
        )
    };
    let mut running = Running::start(&format!(
        r#"data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{{port}}"
{good}{bad}
[sinks.out]
type = "file"
inputs = ["good", "bad"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
        dir = dir.path().display(),
        good = source("good", "ca.crt"),
        bad = source("bad", "other-ca.crt"),
    ));
    let got = wait_for_records(dir.path(), 2);
    let via = |name: &str| {
        got.iter()
            .find(|r| r["labels"]["via"] == name)
            .unwrap_or_else(|| panic!("no record via {name}: {got:#?}"))
    };
    assert_eq!(via("good")["labels"]["app"], "checkout");
    assert_eq!(via("good")["line"], "over https");
    assert!(via("bad")["labels"].get("app").is_none(), "{got:#?}");
    assert_eq!(via("bad")["line"], "over https");
    assert_eq!(
        running.metric(
            r#"sluice_component_errors_total{component_id="bad",reason="enrichment_failed"}"#
        ),
        Some(1.0)
    );
    let log = running.stop_ok();
    assert!(
        log.lines()
            .any(|l| l.contains("enrichment_failed") && l.contains("invalid peer certificate")),
        "the failure's cause is logged: {log}"
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(
        requests,
        [(
            "/api/v1/namespaces/shop/pods/checkout-7d9f8b6c5-x2x4z".to_string(),
            "Bearer t0ken-value".to_string()
        )],
        "only the source that trusts the server's CA got a request through"
    );
}
