//! End-to-end: the `journald` source reads real journal files, written by Debian's
//! `systemd-journal-remote` from Journal Export Format streams the test makes (no running
//! journald needed), through the real `journalctl`. Records carry the message (a binary one
//! repaired and counted), the entry's time, the unit/priority/host labels and metadata; the
//! unit filter holds; an entry appended while running, to a file or in a new file, is
//! followed; a restart resumes right after the checkpointed cursor (entries appended while
//! stopped, to the same file and to a new one, arrive once, nothing before them again); a
//! journalctl that exits is restarted after the last entry read.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const BOOT: &str = "0123456789abcdef0123456789abcdef";

/// One journal entry: (field, value) pairs; values that are not printable text are written
/// in the export format's binary form.
struct Entry {
    /// Microseconds since the epoch (also the monotonic time, so entries sort by it).
    realtime_us: u64,
    fields: Vec<(&'static str, Vec<u8>)>,
}

fn entry(realtime_us: u64, message: &[u8], unit: Option<&str>, priority: u8) -> Entry {
    let mut fields = vec![
        ("MESSAGE", message.to_vec()),
        ("PRIORITY", priority.to_string().into_bytes()),
        ("_HOSTNAME", b"web1".to_vec()),
        ("_PID", b"4242".to_vec()),
        ("SYSLOG_IDENTIFIER", b"app".to_vec()),
    ];
    if let Some(unit) = unit {
        fields.push(("_SYSTEMD_UNIT", unit.as_bytes().to_vec()));
    }
    Entry {
        realtime_us,
        fields,
    }
}

/// The entries in the Journal Export Format (systemd's JOURNAL_EXPORT_FORMATS.md).
fn export(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        writeln!(out, "__REALTIME_TIMESTAMP={}", e.realtime_us).unwrap();
        writeln!(
            out,
            "__MONOTONIC_TIMESTAMP={}",
            e.realtime_us - 1_700_000_000_000_000
        )
        .unwrap();
        writeln!(out, "_BOOT_ID={BOOT}").unwrap();
        for (field, value) in &e.fields {
            if value.iter().all(|b| (b' '..=b'~').contains(b)) {
                out.extend_from_slice(field.as_bytes());
                out.push(b'=');
                out.extend_from_slice(value);
            } else {
                out.extend_from_slice(field.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value);
            }
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Appends `entries` to the journal file `file` (created if missing) with
/// systemd-journal-remote.
fn write_journal(file: &Path, entries: &[Entry]) {
    assert!(
        Path::new(JOURNAL_REMOTE).exists(),
        "{JOURNAL_REMOTE} is missing: install Debian's systemd-journal-remote (.ci/run does)"
    );
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export(entries))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "systemd-journal-remote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rows_of(path: &Path) -> Vec<serde_json::Value> {
    lines_of(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `path` holds `n` rows; fails with what it holds instead.
fn wait_rows(running: &Running, path: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_for(Duration::from_secs(30), || {
        let rows = rows_of(path);
        (rows.len() >= n).then_some(rows)
    })
    .unwrap_or_else(|| {
        panic!(
            "{} rows expected in {}, found {:?}\n{}",
            n,
            path.display(),
            rows_of(path),
            running.log()
        )
    })
}

fn lines(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["line"].as_str().unwrap()).collect()
}

/// Two journald sources on one directory (all units; nginx only), each to its file.
fn pipeline(data_dir: &Path, journal_dir: &Path, journalctl: &str) -> String {
    format!(
        r#"
data_dir = "{data}"
[api]
address = "127.0.0.1:{{port}}"
[sources.all]
type = "journald"
journalctl_path = "{journalctl}"
directory = "{journal}"
labels = {{ job = "journal" }}
batch = {{ timeout_ms = 50 }}
[sources.nginx]
type = "journald"
journalctl_path = "{journalctl}"
directory = "{journal}"
units = ["nginx.service"]
batch = {{ timeout_ms = 50 }}
[sinks.all_out]
type = "file"
inputs = ["all"]
path = "{{dir}}/all.jsonl"
encoding = "json"
[sinks.nginx_out]
type = "file"
inputs = ["nginx"]
path = "{{dir}}/nginx.jsonl"
encoding = "json"
"#,
        data = data_dir.display(),
        journal = journal_dir.display(),
    )
}

const T0: u64 = 1_700_000_000_000_000;

#[test]
fn journal_entries_arrive_with_fields_and_resume_exactly_after_a_restart() {
    let journal = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let a = journal.path().join("a.journal");
    write_journal(
        &a,
        &[
            entry(T0 + 1, b"GET /index.html 200", Some("nginx.service"), 6),
            entry(T0 + 2, b"Failed password for root", Some("sshd.service"), 3),
            entry(T0 + 3, b"bin\xffary\x00message", Some("nginx.service"), 4),
            entry(T0 + 4, b"kernel says hi", None, 5),
        ],
    );
    let mut running = Running::start(&pipeline(data.path(), journal.path(), "journalctl"));
    let all = running.dir.path().join("all.jsonl");
    let nginx = running.dir.path().join("nginx.jsonl");
    let rows = wait_rows(&running, &all, 4);
    assert_eq!(
        lines(&rows),
        [
            "GET /index.html 200",
            "Failed password for root",
            "bin\u{fffd}ary\u{0}message",
            "kernel says hi"
        ]
    );
    let first = &rows[0];
    assert_eq!(first["timestamp"], (T0 + 1) * 1000);
    assert_eq!(
        first["labels"],
        serde_json::json!({"hostname": "web1", "job": "journal", "severity": "info", "unit": "nginx.service"})
    );
    assert_eq!(first["metadata"]["procid"], "4242");
    assert_eq!(first["metadata"]["app_name"], "app");
    assert_eq!(first["metadata"]["boot_id"], BOOT);
    assert_eq!(rows[1]["labels"]["severity"], "err");
    assert_eq!(rows[1]["labels"]["unit"], "sshd.service");
    assert_eq!(rows[2]["labels"]["severity"], "warning");
    assert_eq!(rows[3]["labels"]["severity"], "notice");
    assert!(rows[3]["labels"].get("unit").is_none());
    assert_eq!(
        running.metric(
            "sluice_component_repaired_lines_total{component_id=\"all\",reason=\"invalid_utf8\"}"
        ),
        Some(1.0),
        "the binary message is counted as repaired"
    );
    let rows = wait_rows(&running, &nginx, 2);
    assert_eq!(
        lines(&rows),
        ["GET /index.html 200", "bin\u{fffd}ary\u{0}message"]
    );

    // Appended while running: followed.
    write_journal(
        &a,
        &[entry(
            T0 + 5,
            b"followed while running",
            Some("nginx.service"),
            6,
        )],
    );
    assert_eq!(
        lines(&wait_rows(&running, &all, 5))[4],
        "followed while running"
    );
    assert_eq!(
        lines(&wait_rows(&running, &nginx, 3))[2],
        "followed while running"
    );
    // A journal file that appears in the directory while running: followed too.
    write_journal(
        &journal.path().join("live.journal"),
        &[entry(
            T0 + 6,
            b"new file while running",
            Some("nginx.service"),
            6,
        )],
    );
    assert_eq!(
        lines(&wait_rows(&running, &all, 6))[5],
        "new file while running"
    );
    assert_eq!(
        lines(&wait_rows(&running, &nginx, 4))[3],
        "new file while running"
    );
    running.stop_ok();
    for source in ["all", "nginx"] {
        let checkpoint = data.path().join(format!("checkpoints/{source}.json"));
        let text = std::fs::read_to_string(&checkpoint).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            json["cursor"]
                .as_str()
                .is_some_and(|c| c.contains(&format!(";t={:x};", T0 + 6))),
            "{source}'s checkpoint holds the last entry's cursor: {text}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rows_of(&all).len(), 6, "nothing more after the stop");

    // Appended while stopped, to the same file and to a new one: a restart sends exactly
    // these, once.
    write_journal(
        &a,
        &[entry(
            T0 + 7,
            b"while stopped, same file",
            Some("nginx.service"),
            6,
        )],
    );
    write_journal(
        &journal.path().join("b.journal"),
        &[entry(
            T0 + 8,
            b"while stopped, new file",
            Some("sshd.service"),
            6,
        )],
    );
    let mut again = Running::start(&pipeline(data.path(), journal.path(), "journalctl"));
    let all = again.dir.path().join("all.jsonl");
    let nginx = again.dir.path().join("nginx.jsonl");
    let rows = wait_rows(&again, &all, 2);
    let nginx_rows = wait_rows(&again, &nginx, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        lines(&rows_of(&all)),
        ["while stopped, same file", "while stopped, new file"],
        "resumed right after the cursor"
    );
    assert_eq!(rows[1]["timestamp"], (T0 + 8) * 1000);
    assert_eq!(lines(&rows_of(&nginx)), ["while stopped, same file"]);
    assert_eq!(nginx_rows.len(), 1);
    again.stop_ok();
}

#[test]
fn a_journalctl_that_exits_is_restarted_after_the_last_entry_read() {
    let journal = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let a = journal.path().join("a.journal");
    write_journal(&a, &[entry(T0 + 1, b"one", Some("x.service"), 6)]);
    // A journalctl that exits after a second, every time.
    let wrapper = journal.path().join("journalctl-exits");
    std::fs::write(&wrapper, "#!/bin/sh\nexec timeout 1 journalctl \"$@\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut running = Running::start(&pipeline(
        data.path(),
        journal.path(),
        wrapper.to_str().unwrap(),
    ));
    let all = running.dir.path().join("all.jsonl");
    wait_rows(&running, &all, 1);
    running
        .wait_for_metric(
            Duration::from_secs(20),
            "sluice_component_errors_total{component_id=\"all\",reason=\"journalctl_exited\"}",
            2.0,
        )
        .unwrap_or_else(|| panic!("journalctl's exits are counted:\n{}", running.log()));
    write_journal(&a, &[entry(T0 + 2, b"two", Some("x.service"), 6)]);
    write_journal(&a, &[entry(T0 + 3, b"three", Some("x.service"), 6)]);
    wait_rows(&running, &all, 3);
    std::thread::sleep(Duration::from_secs(3)); // two more restarts: nothing read twice
    assert_eq!(lines(&rows_of(&all)), ["one", "two", "three"]);
    let log = running.stop_ok();
    assert!(log.contains("journalctl exited"), "{log}");
}

#[test]
fn a_missing_journalctl_is_refused_by_validate_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}/data\"\n[sources.j]\ntype = \"journald\"\njournalctl_path = \"/nonexistent/journalctl\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"j\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = sluice().arg("validate").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("sources.j.journalctl_path") && stderr.contains("/nonexistent/journalctl"),
        "{stderr}"
    );
}

#[test]
fn a_checkpoint_cursor_journalctl_refuses_falls_back_to_read_from() {
    let journal = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_journal(
        &journal.path().join("a.journal"),
        &[
            entry(T0 + 1, b"first", Some("nginx.service"), 6),
            entry(T0 + 2, b"second", Some("nginx.service"), 6),
        ],
    );
    let checkpoints = data.path().join("checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    for source in ["all", "nginx"] {
        std::fs::write(
            checkpoints.join(format!("{source}.json")),
            r#"{"cursor": "not a cursor"}"#,
        )
        .unwrap();
    }
    let mut running = Running::start(&pipeline(data.path(), journal.path(), "journalctl"));
    let all = running.dir.path().join("all.jsonl");
    wait_rows(&running, &all, 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&rows_of(&all)), ["first", "second"]);
    let log = running.stop_ok();
    assert!(
        log.contains("journalctl refused the checkpoint's cursor"),
        "{log}"
    );
}
