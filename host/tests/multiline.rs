//! End-to-end: multi-line records in the file source. Java, Python and Go traces (fixtures
//! in tests/fixtures/multiline) each become one record joined to the log line that opened
//! them; a trace at the end of a followed file is sent once its `timeout_ms` passes, without
//! waiting for the next line; a restart does not split a record that was being joined.

mod common;

use std::time::Duration;

use common::*;

fn records(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn java_python_and_go_traces_become_one_record_each() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("host/tests/fixtures/multiline");
    let out = dir.path().join("out.jsonl");
    run_to_end(
        dir.path(),
        &format!(
            r#"
data_dir = "{data}"
[api]
enabled = false
[sources.app]
type = "file"
include = ["{fixtures}/*.log"]
stop_at_eof = true
checkpoint = false
multiline = {{ start = '^\d{{4}}-\d{{2}}-\d{{2}}[T ]' }}
[sinks.out]
type = "file"
inputs = ["app"]
path = "{out}"
encoding = "json"
"#,
            data = dir.path().join("data").display(),
            fixtures = fixtures.display(),
            out = out.display(),
        ),
    );
    let got = records(&out);
    assert_eq!(got.len(), 9, "three records per file: {got:#?}");
    let java = got.iter().find(|r| r.contains("request failed")).unwrap();
    assert_eq!(java.lines().count(), 7, "{java}");
    assert!(java.ends_with("\t... 12 more"));
    let python = got
        .iter()
        .find(|r| r.contains("unhandled exception"))
        .unwrap();
    assert!(
        python.contains("Traceback") && python.contains("ZeroDivisionError"),
        "{python}"
    );
    let go = got.iter().find(|r| r.contains("panic:")).unwrap();
    assert!(
        go.contains("goroutine 17 [running]:") && go.ends_with("server.go:2136"),
        "{go}"
    );
    for single in [
        "started",
        "healthy",
        "starting",
        "recovered",
        "serving on",
        "restarted",
    ] {
        let r = got.iter().find(|r| r.contains(single)).unwrap();
        assert_eq!(r.lines().count(), 1, "{r}");
    }
}

#[test]
fn a_trailing_trace_is_sent_after_its_timeout_and_a_restart_does_not_split_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"
{head}poll_interval_ms = 50
batch = {{ timeout_ms = 20 }}
multiline = {{ start = '^\d{{4}}-', timeout_ms = 300 }}
[sinks.out]
type = "file"
inputs = ["app"]
path = "{out}"
encoding = "json"
"#,
        head = file_source_head(&dir.path().join("data"), &input.display().to_string(), true),
        out = out.display(),
    );
    std::fs::write(&input, "2026-12-07 a\n2026-12-07 b failed\n  at x\n").unwrap();
    let mut first = Running::start(&config);
    // "a" is finished by "b"; "b" and its trace wait for their timeout.
    wait_for(Duration::from_secs(10), || {
        (records(&out).len() == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("{:?}\n{}", records(&out), first.log()));
    assert_eq!(records(&out)[1], "2026-12-07 b failed\n  at x");
    // A record being joined when the collector stops is read again, whole, at the next start.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"2026-12-07 c failed\n  at y\n"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100)); // read, not yet timed out
    first.stop_ok();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"  at z\n2026-12-07 d\n"))
        .unwrap();
    let mut second = Running::start(&config);
    wait_for(Duration::from_secs(10), || {
        (records(&out).len() == 4).then_some(())
    })
    .unwrap_or_else(|| panic!("{:?}\n{}", records(&out), second.log()));
    second.stop_ok();
    let got = records(&out);
    assert_eq!(got[2], "2026-12-07 c failed\n  at y\n  at z", "{got:?}");
    assert_eq!(got[3], "2026-12-07 d");
}
