//! End-to-end: a sink's disk buffer (`[sinks.NAME.buffer] type = "disk"`). While Loki is
//! down the file source is not held back: every line is written to the buffer and the
//! file's position checkpointed. The collector is then killed (SIGKILL) and started again
//! with Loki back: every line is delivered from the buffer (none read from the file again),
//! each once, and the buffer empties.

mod common;

use std::time::Duration;

use common::*;
use loki_receiver::Receiver;

#[test]
fn a_disk_buffer_keeps_the_source_moving_while_loki_is_down_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let loki_port = free_port();
    append_lines(&input, 0..5000);
    let config = format!(
        r#"
{head}filename_label = false
labels = {{ job = "buffered" }}
batch = {{ max_records = 200 }}
[sinks.loki]
type = "loki"
inputs = ["app"]
endpoint = "http://127.0.0.1:{loki_port}"
min_backoff_ms = 50
max_backoff_ms = 500
buffer = {{ type = "disk", max_size = "64MiB" }}
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
    );
    let first = Running::start(&config);
    // Loki is down, yet every line is read and its position committed: the buffer took them
    // (with a memory buffer the source stays held back at the first batches).
    let checkpoints = dir.path().join("data/checkpoints/app.json");
    wait_for(Duration::from_secs(30), || {
        (offset_of(&checkpoints, &input) == Some(60_000)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the source was held back: checkpoint {:?}\n{}",
            offset_of(&checkpoints, &input),
            first.log()
        )
    });
    let held = first
        .metric("sluice_buffer_size_bytes{component_id=\"loki\",component_kind=\"sink\"}")
        .unwrap();
    assert!(held > 60_000.0, "the buffer holds the lines: {held} bytes");
    drop(first); // SIGKILL, with everything in the buffer and nothing delivered

    let receiver = Receiver::start(&format!("127.0.0.1:{loki_port}"));
    let mut second = Running::start(&config);
    assert!(
        receiver.wait_for_entries(5000, Duration::from_secs(30)),
        "delivered from the buffer: {}\n{}",
        receiver.entry_count(),
        second.log()
    );
    wait_for(Duration::from_secs(10), || {
        second
            .metric("sluice_buffer_size_bytes{component_id=\"loki\",component_kind=\"sink\"}")
            .filter(|b| *b < 60_000.0)
    })
    .expect("acknowledged segments are deleted");
    let log = second.stop_ok();
    assert!(log.contains("replaying them"), "{log}");
    let lines: Vec<String> = receiver
        .streams()
        .values()
        .flatten()
        .map(|e| e.line.clone())
        .collect();
    let want: Vec<String> = (0..5000).map(|i| format!("line {i:06}")).collect();
    assert_eq!(lines, want, "every line, in order");
    assert_eq!(receiver.duplicates(), 0, "none read from the file again");
}
