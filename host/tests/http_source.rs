//! End-to-end: the http push source answers with the right status for good, broken,
//! oversized and unauthenticated requests, and keeps serving.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn http_source_statuses_and_formats() {
    std::env::set_var("SLUICE_TEST_HTTP_TOKEN", "t0ken-value");
    let config = r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
[sources.push]
type = "http"
path = "/logs"
token = "${SLUICE_TEST_HTTP_TOKEN}"
max_body_bytes = 1000
max_decompressed_bytes = 2000
message_field = "message"
[sinks.out]
type = "file"
inputs = ["push"]
path = "{dir}/out.log"
"#;
    let mut running = Running::start(config);
    let client = reqwest::blocking::Client::new();
    let post = |ct: &str, body: &str, token: Option<&str>| {
        let mut r = client
            .post(running.url("/logs"))
            .header("content-type", ct)
            .body(body.to_string());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let token = Some("t0ken-value");
    assert_eq!(post("text/plain", "x", None).0, 401);
    assert_eq!(post("text/plain", "x", Some("wrong")).0, 401);
    let (s, body) = post(
        "application/x-ndjson",
        "{\"message\":\"a\"}\n{\"message\":\"b\"}\n",
        token,
    );
    assert_eq!((s, body.as_str()), (200, "{\"accepted\":2}"));
    let (s, body) = post(
        "application/x-ndjson",
        "{\"message\":\"c\"}\n{broken\n",
        token,
    );
    assert_eq!(s, 400);
    assert!(body.contains("line 2"), "{body}");
    assert_eq!(
        post(
            "application/json",
            "[{\"message\":\"d\"},{\"message\":5}]",
            token
        )
        .0,
        200
    );
    assert_eq!(
        post("application/json", "[{\"nomessage\":1}]", token).0,
        400
    );
    assert_eq!(post("text/plain", &"z".repeat(5000), token).0, 413);
    assert_eq!(post("text/plain", "e\nf\n", token).0, 200);
    // A gzip-encoded body is decoded (it used to be stored as compressed bytes); a corrupt
    // one is refused, and one that expands past max_decompressed_bytes gets 413.
    let gzip = |text: &[u8]| {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        gz.finish().unwrap()
    };
    let post_gzip = |body: Vec<u8>| {
        client
            .post(running.url("/logs"))
            .header("content-type", "text/plain")
            .header("content-encoding", "gzip")
            .bearer_auth("t0ken-value")
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post_gzip(gzip(b"g\nh\n")), 200);
    assert_eq!(post_gzip(b"not gzip at all".to_vec()), 400);
    assert_eq!(post_gzip(gzip(&vec![b'z'; 5000])), 413);
    let out = std::fs::read_to_string(running.dir.path().join("out.log")).unwrap();
    assert_eq!(out, "a\nb\nd\n5\ne\nf\ng\nh\n");
    assert_eq!(
        running.metric("sluice_http_requests_total{component_id=\"push\",status=\"401\"}"),
        Some(2.0)
    );
    let (ok, stderr) = running.stop();
    assert!(ok);
    assert!(
        !stderr.contains("t0ken-value"),
        "the token leaked into the log"
    );
}

/// While the sink is down and the pipeline is full, a push is refused promptly (503 with
/// `Retry-After` after `queue_timeout_ms`), not after the acknowledgement timeout.
#[test]
fn a_full_pipeline_refuses_pushes_promptly_with_retry_after() {
    let dead = free_port();
    let sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
queue_timeout_ms = 500
ack_timeout_secs = 60
[sinks.loki]
type = "loki"
inputs = ["push"]
endpoint = "http://127.0.0.1:{dead}"
"#
    ));
    let url = sluice.url("/ingest");
    let (tx, rx) = std::sync::mpsc::channel();
    // 64 pushes of 5,000 lines: more than the channel and the Loki sink's lanes hold.
    for i in 0..64 {
        let (tx, url) = (tx.clone(), url.clone());
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let r = reqwest::blocking::Client::new()
                .post(url)
                .body(format!("push {i} {}\n", "x".repeat(100)).repeat(5000))
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
    // Those that found no room are answered within seconds; the rest wait for delivery.
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no push was answered while the sink was down");
    let mut refused = vec![first];
    while let Ok(r) = rx.recv_timeout(Duration::from_secs(3)) {
        refused.push(r);
    }
    for (status, elapsed, retry) in &refused {
        assert_eq!(*status, 503);
        assert!(
            *elapsed < Duration::from_secs(10),
            "answered after {elapsed:?}"
        );
        assert_eq!(retry.as_deref(), Some("1"));
    }
    drop(sluice); // SIGKILL: the pushes still waiting for delivery need not drain
}
