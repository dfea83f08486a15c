//! End-to-end: file read positions are checkpointed only after delivery, so a restart (clean
//! or SIGKILL) resumes where delivery stopped: nothing skipped, nothing sent twice once
//! acknowledged.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use loki_receiver::Receiver;

/// Stop, append while stopped, start again: the output holds every line exactly once.
#[test]
fn a_restart_resumes_after_the_last_delivered_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let out = dir.path().join("out.log");
    append_lines(&input, 0..1000);
    let config = format!(
        r#"
{head}[sinks.out]
type = "file"
inputs = ["app"]
path = "{out}"
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
        out = out.display()
    );
    let mut first = Running::start(&config);
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() == 1000)
            .then_some(()))
        .is_some()
    );
    let (ok, stderr) = first.stop();
    assert!(ok, "{stderr}");
    let saved = std::fs::read_to_string(dir.path().join("data/checkpoints/app.json")).unwrap();
    assert!(saved.contains("\"offset\": 12000"), "{saved}");

    append_lines(&input, 1000..1500);
    let mut second = Running::start(&config);
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() >= 1500)
            .then_some(()))
        .is_some()
    );
    second.stop_ok(); // drains: whatever was in flight is written before it exits
    let want: Vec<String> = (0..1500).map(|i| format!("line {i:06}")).collect();
    assert_eq!(lines_of(&out), want);
}

/// SIGKILL while Loki is unreachable: nothing was acknowledged, so nothing was checkpointed,
/// and the next run delivers everything. SIGKILL after delivery: the next run sends only
/// what is new.
#[test]
fn a_crash_before_delivery_loses_nothing_and_after_delivery_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let loki_port = free_port();
    append_lines(&input, 0..5000);
    let config = format!(
        r#"
{head}filename_label = false
labels = {{ job = "crash" }}
[sinks.loki]
type = "loki"
inputs = ["app"]
endpoint = "http://127.0.0.1:{loki_port}"
min_backoff_ms = 50
max_backoff_ms = 500
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
    );
    let crashed = Running::start(&config);
    // Eight failed attempts take over 1.3 s with this backoff (50 ms doubling to 500 ms,
    // jitter down to half): longer than the 1 s between checkpoint writes, so a position
    // committed before delivery would be on disk by then.
    crashed
        .wait_for_metric(
            Duration::from_secs(30),
            "sluice_sink_retries_total{component_id=\"loki\",reason=\"connection\"}",
            8.0,
        )
        .expect("the sink kept trying Loki and failing");
    drop(crashed); // SIGKILL
    let checkpoints = dir.path().join("data/checkpoints/app.json");
    // Nothing was delivered, so nothing may be checkpointed: no file, or one that puts the
    // input at offset 0. (After the next run the same reading must find 60000: the check
    // reads the real file in the real format.)
    let before = offset_of(&checkpoints, &input);
    assert!(
        matches!(before, None | Some(0)),
        "nothing was delivered, so nothing may be checkpointed: {before:?}"
    );

    let receiver = Receiver::start(&format!("127.0.0.1:{loki_port}"));
    let second = Running::start(&config);
    assert!(receiver.wait_for_entries(5000, Duration::from_secs(30)));
    // Every line is delivered and its position committed (5000 lines of 12 bytes).
    wait_for(Duration::from_secs(10), || {
        (offset_of(&checkpoints, &input) == Some(60_000)).then_some(())
    })
    .expect("the delivered position is checkpointed");
    drop(second); // SIGKILL after delivery

    append_lines(&input, 5000..5100);
    let mut third = Running::start(&config);
    assert!(receiver.wait_for_entries(5100, Duration::from_secs(30)));
    third.stop_ok(); // drains: a duplicate in flight would arrive before it exits
    let streams = receiver.streams();
    let lines: Vec<&str> = streams
        .values()
        .flatten()
        .map(|e| e.line.as_str())
        .collect();
    let want: Vec<String> = (0..5100).map(|i| format!("line {i:06}")).collect();
    assert_eq!(lines, want);
    assert_eq!(
        receiver.duplicates(),
        0,
        "nothing acknowledged was sent again"
    );
}

/// A sink that cannot write (a full disk: /dev/full) fails its batches: they are counted as
/// discarded, and the file's position must not move past them, so the next run (with room
/// to write) delivers every line.
#[test]
fn lines_a_sink_failed_to_write_are_read_again_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let out = dir.path().join("out.log");
    append_lines(&input, 0..3000);
    let config = |sink_path: &Path| {
        format!(
            r#"
{head}stop_at_eof = true
batch = {{ max_records = 500 }}
[sinks.out]
type = "file"
inputs = ["app"]
path = "{sink}"
"#,
            head = file_source_head(
                &dir.path().join("data"),
                &input.display().to_string(),
                false
            ),
            sink = sink_path.display()
        )
    };
    let full = run_to_end(dir.path(), &config(Path::new("/dev/full")));
    let log = String::from_utf8_lossy(&full.stderr);
    assert!(log.contains("write_failed"), "{log}");
    assert!(log.contains("stop advancing until restart"), "{log}");
    let saved =
        std::fs::read_to_string(dir.path().join("data/checkpoints/app.json")).unwrap_or_default();
    assert!(!saved.contains("\"offset\": 36000"), "{saved}");

    run_to_end(dir.path(), &config(&out));
    let want: Vec<String> = (0..3000).map(|i| format!("line {i:06}")).collect();
    assert_eq!(lines_of(&out), want);
}
