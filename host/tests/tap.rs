//! End-to-end: `sluice tap` on a running collector. A tap on a redaction transform shows
//! the records leaving it, with rule placeholders where the fixture's emails were and never
//! a raw email; it ends after `--limit` records; it wants the API token when one is set;
//! an unknown component is a clear error; and a tap whose reader never reads does not slow
//! the pipeline: pushes keep succeeding and the samples it could not take are counted.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const EMAILS: [&str; 2] = ["alice@example.com", "bob.smith@example.org"];

fn start() -> Running {
    Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
token = "t0ken-value"
[sources.push]
type = "http"
token = "t0ken-value"
[transforms.redact]
type = "wasm"
inputs = ["push"]
plugin = "{}"
[sinks.out]
type = "blackhole"
inputs = ["redact"]
"#,
        plugin("redact_pii").display()
    ))
}

/// Pushes `lines` lines of about 1 KB each (so that a stalled reader's socket buffers fill).
fn push(client: &reqwest::blocking::Client, sluice: &Running, lines: usize) -> u16 {
    let padding = "x".repeat(1000);
    let body: String = (0..lines)
        .map(|i| {
            format!(
                "{{\"msg\":\"login {i} by {}\",\"pad\":\"{padding}\"}}\n",
                EMAILS[i % 2]
            )
        })
        .collect();
    client
        .post(sluice.url("/ingest"))
        .bearer_auth("t0ken-value")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[test]
fn a_tap_on_the_redaction_shows_rule_placeholders_and_never_a_raw_email() {
    let mut collector = start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken-value\n").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let url = collector.url("");
    let traffic = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        while !flag.load(Ordering::Relaxed) {
            let body: String = (0..4)
                .map(|i| format!("{{\"msg\":\"login {i} by {}\"}}\n", EMAILS[i % 2]))
                .collect();
            let _ = client
                .post(format!("{url}/ingest"))
                .bearer_auth("t0ken-value")
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send();
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    let out = sluice()
        .args(["tap", "redact", "--limit", "6", "--rate", "50", "--url"])
        .arg(collector.url(""))
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), 6, "--limit 6:\n{text}");
    for r in &records {
        assert_eq!(r["component"], "redact");
        let line = r["line"].as_str().unwrap();
        assert!(line.contains("<email>"), "{line}");
    }
    for email in EMAILS {
        assert!(!text.contains(email), "a raw email in the tap:\n{text}");
    }

    // No token: refused; an unknown component or a sink: a clear error.
    let refused = sluice()
        .args(["tap", "redact", "--url"])
        .arg(collector.url(""))
        .env_remove("SLUICE_API_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    for name in ["nope", "out"] {
        let unknown = sluice()
            .args(["tap", name, "--url"])
            .arg(collector.url(""))
            .arg("--token-file")
            .arg(&token_file)
            .output()
            .unwrap();
        assert!(!unknown.status.success());
        let err = String::from_utf8_lossy(&unknown.stderr);
        assert!(err.contains("404") && err.contains(name), "{err}");
    }
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    collector.stop_ok();
}

#[test]
fn a_tap_that_is_never_read_does_not_slow_the_pipeline() {
    let mut sluice = start();
    // A client that opens a tap and never reads from it.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", sluice.port)).unwrap();
    write!(
        stalled,
        "GET /api/tap/redact?rate=100000&limit=100000000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken-value\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(push(&client, &sluice, 200), 200);
    }
    let took = started.elapsed();
    let dropped = sluice
        .wait_for_metric(
            Duration::from_secs(10),
            "sluice_tap_dropped_samples_total{component_id=\"redact\"}",
            1.0,
        )
        .expect("samples the stalled tap could not take are counted");
    assert!(
        sluice
            .metric("sluice_component_sent_events_total{component_id=\"redact\",component_kind=\"transform\"}")
            .unwrap()
            >= 40_000.0
    );
    eprintln!("40,000 records in {took:?} with a stalled tap; {dropped} samples dropped");
    drop(stalled);
    sluice.stop_ok();
}
