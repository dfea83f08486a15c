//! End-to-end: what a collector meets in production and the other tests do not cover:
//! reloads under steady traffic, an unusable data_dir, lines over Loki's size limit,
//! hundreds of concurrent pushers (and an acknowledgement that times out while delivery
//! finishes late), every way Loki can refuse, credentials and tenants as the double checks
//! them, and a kill between Loki's 204 and the checkpoint write.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use loki_receiver::{wire, Fault, Receiver};
use prost::Message;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A protobuf + snappy push of one stream `{app="<app>"}` with `lines`, stamped now.
fn push_body(app: &str, lines: &[String]) -> Vec<u8> {
    let now = now_ns();
    let request = wire::PushRequest {
        streams: vec![wire::StreamAdapter {
            labels: format!("{{app=\"{app}\"}}"),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let ts = now + i as i64;
                    wire::EntryAdapter {
                        timestamp: Some(wire::GoogleTimestamp {
                            seconds: ts / 1_000_000_000,
                            nanos: (ts % 1_000_000_000) as i32,
                        }),
                        line: line.clone(),
                        structured_metadata: vec![],
                    }
                })
                .collect(),
            hash: 0,
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

fn push(port: u16, body: Vec<u8>) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/loki/api/v1/push"))
        .header("content-type", "application/x-protobuf")
        .timeout(Duration::from_secs(60))
        .body(body)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// loki_push -> loki sink, with `source_extra` and `sink_extra` keys.
fn relay(endpoint: &str, source_extra: &str, sink_extra: &str) -> Running {
    Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.agents]
type = "loki_push"
{source_extra}
[sinks.loki]
type = "loki"
inputs = ["agents"]
endpoint = "{endpoint}"
dead_letter_path = "{{dir}}/dead.jsonl"
min_backoff_ms = 50
max_backoff_ms = 500
{sink_extra}
"#
    ))
}

fn dead_reasons(running: &Running) -> Vec<String> {
    std::fs::read_to_string(running.dir.path().join("dead.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["reason"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Three reloads while a sender posts 400 lines one by one (each answered only once
/// delivered): every line arrives, and a line appears twice only if its sender had to
/// retry after an answer other than "connection refused" (the swap's closed port).
#[test]
fn reloads_under_steady_traffic_lose_nothing_and_repeat_only_what_was_in_flight() {
    let running = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[transforms.id]
type = "wasm"
inputs = ["push"]
plugin = "{identity}"
[sinks.out]
type = "file"
inputs = ["id"]
path = "{{dir}}/out.log"
"#,
        identity = plugin("identity").display()
    ));
    let url = running.url("/ingest");
    let ambiguous = Arc::new(AtomicUsize::new(0));
    let n = 400;
    let sender = {
        let ambiguous = ambiguous.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            for i in 0..n {
                loop {
                    let sent = client
                        .post(&url)
                        .header("content-type", "text/plain")
                        .body(format!("msg {i:04}"))
                        .timeout(Duration::from_secs(30))
                        .send();
                    match sent {
                        Ok(r) if r.status().as_u16() == 200 => break,
                        // Answered, but not 200: the line may or may not have gone through.
                        Ok(_) => {
                            ambiguous.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused or cut off while the pipeline was swapped.
                        Err(e) if e.is_connect() => {}
                        Err(_) => {
                            ambiguous.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    for reload in 1..=3 {
        // Let some traffic through between reloads.
        wait_for(Duration::from_secs(30), || {
            (lines_of(&running.dir.path().join("out.log")).len() >= reload * 80).then_some(())
        })
        .expect("traffic flows between reloads");
        let r = reqwest::blocking::Client::new()
            .post(running.url("/-/reload"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        running
            .wait_for_metric(
                Duration::from_secs(30),
                "sluice_config_reloads_total{result=\"success\"}",
                reload as f64,
            )
            .expect("reloaded");
    }
    sender.join().unwrap();
    let mut running = running;
    running.stop_ok();
    let got = lines_of(&running.dir.path().join("out.log"));
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    let want: Vec<String> = (0..n).map(|i| format!("msg {i:04}")).collect();
    assert_eq!(unique, want, "every line arrived");
    let repeated = got.len() - unique.len();
    let ambiguous = ambiguous.load(Ordering::Relaxed);
    assert!(
        repeated <= ambiguous,
        "{repeated} lines repeated, but only {ambiguous} sends were in doubt"
    );
}

/// A data_dir that cannot be created is a located error before anything runs; a data_dir
/// whose checkpoint and plugin-cache folders cannot be written, and a dead-letter file on
/// a full disk, are logged and counted, and lose no line.
#[test]
fn an_unusable_data_dir_is_a_clear_error_and_its_broken_parts_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("data-is-a-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let input = dir.path().join("app.log");
    append_lines(&input, 0..300);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"a TRAP line\n"))
        .unwrap();
    let out = dir.path().join("out.log");
    let config = |data_dir: &std::path::Path| {
        format!(
            r#"
{head}stop_at_eof = true
[transforms.trap]
type = "wasm"
inputs = ["app"]
plugin = "{trap}"
on_error = "dead_letter"
dead_letter_path = "/dev/full"
[sinks.out]
type = "file"
inputs = ["trap"]
path = "{out}"
"#,
            head = file_source_head(data_dir, &input.display().to_string(), false),
            trap = plugin("bad_trap").display(),
            out = out.display(),
        )
    };
    let path = dir.path().join("p.toml");
    std::fs::write(&path, config(&not_a_dir)).unwrap();
    for command in ["validate", "run"] {
        let result = sluice().arg(command).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("p.toml:2: `data_dir`: cannot create"),
            "{command}: {stderr}"
        );
    }

    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("checkpoints"), "in the way").unwrap();
    std::fs::write(data.join("plugin-cache"), "in the way").unwrap();
    let run = run_to_end(dir.path(), &config(&data));
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("cannot write checkpoints"), "{log}");
    assert!(log.contains("dead_letter_failed"), "{log}");
    let mut want: Vec<String> = (0..300).map(|i| format!("line {i:06}")).collect();
    want.push("a TRAP line".into());
    assert_eq!(
        lines_of(&out),
        want,
        "the batch that could not be dead-lettered was passed on"
    );
}

/// Lines over Loki's 256 KiB `max_line_size` are cut by the sink at a character boundary
/// (and counted), so the strict double takes them instead of refusing them.
#[test]
fn lines_over_256_kib_reach_loki_cut_at_a_character_boundary() {
    let receiver = Receiver::start("127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let euro = "€".repeat(100_000); // 300,000 bytes of 3-byte characters
    std::fs::write(&input, format!("{euro}\nshort\n")).unwrap();
    let mut running = Running::start(&format!(
        r#"
{head}max_line_bytes = 1048576
[sinks.loki]
type = "loki"
inputs = ["app"]
endpoint = "{endpoint}"
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
        endpoint = receiver.endpoint(),
    ));
    assert!(receiver.wait_for_entries(2, Duration::from_secs(20)));
    let lines: Vec<String> = receiver
        .streams()
        .values()
        .flatten()
        .map(|e| e.line.clone())
        .collect();
    // 262,144 bytes hold 87,381 whole characters of 3 bytes.
    assert_eq!(lines[0], "€".repeat(87_381));
    assert_eq!(lines[1], "short");
    assert_eq!(receiver.refused().values().sum::<usize>(), 0);
    assert_eq!(
        running.metric(
            "sluice_component_repaired_lines_total{component_id=\"loki\",reason=\"truncated\"}"
        ),
        Some(1.0)
    );
    running.stop_ok();
}

/// 200 pushers at once each get 204 only once their entries are in Loki, and every entry
/// is stored once. Then Loki goes away for longer than `ack_timeout_secs`: the pushers get
/// 503, and the entries they sent still arrive once Loki is back (the sink kept them).
#[test]
fn two_hundred_concurrent_pushers_and_an_acknowledgement_that_times_out() {
    let receiver = Receiver::start("127.0.0.1:0");
    let mut relay = relay(&receiver.endpoint(), "ack_timeout_secs = 2", "");
    let port = relay.port;
    let pushers: Vec<_> = (0..200)
        .map(|p| {
            std::thread::spawn(move || {
                let lines: Vec<String> = (0..5).map(|i| format!("pusher {p} line {i}")).collect();
                push(port, push_body(&format!("p{p}"), &lines))
            })
        })
        .collect();
    let statuses: Vec<u16> = pushers.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    assert_eq!(receiver.entry_count(), 1000, "acknowledged means stored");
    assert_eq!(receiver.duplicates(), 0);

    receiver.go_down_for(Duration::from_secs(4));
    let late: Vec<_> = (0..10)
        .map(|p| {
            std::thread::spawn(move || {
                let lines: Vec<String> = (0..5).map(|i| format!("late {p} line {i}")).collect();
                push(port, push_body(&format!("late{p}"), &lines))
            })
        })
        .collect();
    let statuses: Vec<u16> = late.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert!(
        receiver.wait_for_entries(1050, Duration::from_secs(30)),
        "the late entries arrive once Loki is back: {}",
        receiver.entry_count()
    );
    assert_eq!(receiver.duplicates(), 0);
    relay.stop_ok();
}

/// Every way Loki refuses, end to end: a 413 is split and the halves delivered; 401 and 403
/// are not retried, and their entries are dead-lettered and counted by status; a request
/// that keeps failing past `max_retries` is dead-lettered as retries_exhausted. The pusher
/// hears of each refusal.
#[test]
fn loki_refusals_413_401_403_and_exhausted_retries_end_to_end() {
    let receiver = Receiver::start("127.0.0.1:0");
    let mut relay = relay(&receiver.endpoint(), "", "max_retries = 2");
    let lines = |tag: &str| -> Vec<String> { (0..4).map(|i| format!("{tag} {i}")).collect() };

    receiver.fail_next([Fault::Status(413)]);
    assert_eq!(push(relay.port, push_body("split", &lines("split"))), 204);
    assert_eq!(receiver.entry_count(), 4);
    assert_eq!(receiver.requests().get(&413), Some(&1));

    for status in [401, 403] {
        receiver.fail_next([Fault::Status(status)]);
        let tag = format!("refused{status}");
        assert_eq!(push(relay.port, push_body(&tag, &lines(&tag))), 400);
    }
    receiver.fail_next([Fault::Fail, Fault::Fail, Fault::Fail]);
    assert_eq!(
        push(relay.port, push_body("retries", &lines("retries"))),
        503
    );
    assert_eq!(receiver.entry_count(), 4, "nothing refused was stored");

    let mut reasons = dead_reasons(&relay);
    reasons.sort();
    reasons.dedup_by(|a, b| a == b);
    assert_eq!(reasons, ["http_401", "http_403", "retries_exhausted"]);
    for reason in ["http_401", "http_403", "retries_exhausted"] {
        assert_eq!(
            relay.metric(&format!(
                "sluice_component_discarded_events_total{{component_id=\"loki\",reason=\"{reason}\"}}"
            )),
            Some(4.0),
            "{reason}"
        );
    }
    relay.stop_ok();
}

/// The sink's credentials and tenant, as the double checks them: bearer, basic auth, and
/// `X-Scope-OrgID` required.
#[test]
fn sink_credentials_and_tenant_are_what_loki_checks() {
    for (require, auth) in [
        ("bearer", "auth = { bearer_token = \"tok-123\" }"),
        (
            "basic",
            "auth = { user = \"agent\", password = \"pw-456\" }",
        ),
    ] {
        let receiver = Receiver::start("127.0.0.1:0");
        match require {
            "bearer" => receiver.require_bearer("tok-123"),
            _ => receiver.require_basic("agent", "pw-456"),
        }
        receiver.require_tenant();
        let mut relay = relay(
            &receiver.endpoint(),
            "",
            &format!("{auth}\ntenant_id = \"team-x\""),
        );
        assert_eq!(
            push(relay.port, push_body("a", &["x".into()])),
            204,
            "{require}"
        );
        let streams = receiver.streams();
        let ((tenant, _), _) = streams.iter().next().unwrap();
        assert_eq!(tenant.as_deref(), Some("team-x"));
        relay.stop_ok();

        // Without the credentials the double answers 401: refused, not stored.
        let receiver2 = Receiver::start("127.0.0.1:0");
        match require {
            "bearer" => receiver2.require_bearer("tok-123"),
            _ => receiver2.require_basic("agent", "pw-456"),
        }
        let mut wrong = relay_without_auth(&receiver2.endpoint());
        assert_eq!(
            push(wrong.port, push_body("a", &["x".into()])),
            400,
            "{require}"
        );
        assert_eq!(receiver2.entry_count(), 0);
        assert_eq!(receiver2.requests().get(&401), Some(&1));
        wrong.stop_ok();
    }
}

fn relay_without_auth(endpoint: &str) -> Running {
    relay(endpoint, "", "")
}

/// SIGKILL right after Loki took every line, before the next checkpoint write: the next
/// start sends again exactly the lines after the last committed position. Their timestamp
/// comes from the line (parse's `timestamp`), so they are the same entries and Loki stores
/// them once (the double counts them as duplicates). (Without a timestamp in the line, a
/// line read again is stamped again, and Loki would store it twice: docs/sources.md.)
#[test]
fn a_kill_between_lokis_204_and_the_checkpoint_write_repeats_exactly_the_uncommitted() {
    let receiver = Receiver::start("127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let checkpoints = dir.path().join("data/checkpoints/app.json");
    let config = format!(
        r#"
{head}filename_label = false
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{parse}"
config = {{ format = "json", timestamp = "ts" }}
[sinks.loki]
type = "loki"
inputs = ["parse"]
endpoint = "{endpoint}"
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
        parse = plugin("parse").display(),
        endpoint = receiver.endpoint(),
    );
    // Lines of 48 bytes: {"ts":<19 digits>,"n":"line 000000"} and a newline.
    let base = now_ns() - 60_000_000_000;
    let text: String = (0..2000)
        .map(|i| format!("{{\"ts\":{},\"n\":\"line {i:06}\"}}\n", base + i))
        .collect();
    let line_bytes = text.len() as u64 / 2000;
    std::fs::write(&input, &text).unwrap();
    let first = Running::start(&config);
    assert!(receiver.wait_for_entries(2000, Duration::from_secs(30)));
    drop(first); // SIGKILL, most likely before the position of the last lines is written
    let committed = offset_of(&checkpoints, &input).unwrap_or(0);
    assert_eq!(committed % line_bytes, 0, "positions are at line ends");
    let committed_lines = (committed / line_bytes) as usize;
    eprintln!("committed before the kill: {committed_lines} of 2000 lines");

    let mut second = Running::start(&config);
    wait_for(Duration::from_secs(20), || {
        (offset_of(&checkpoints, &input) == Some(line_bytes * 2000)).then_some(())
    })
    .expect("the second run commits every line");
    second.stop_ok();
    assert_eq!(receiver.entry_count(), 2000, "each line stored once");
    assert_eq!(
        receiver.duplicates(),
        2000 - committed_lines,
        "exactly the lines after the last committed position were sent again"
    );
}
