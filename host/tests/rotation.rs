//! End-to-end: the file source through log rotation. A renamed file is read to its end,
//! including what a writer still appends to it through its open handle, and the new file
//! at the path is read from its start; a deleted file is let go. Nothing is lost or read
//! twice.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;

fn config(dir: &Path, rotate_wait_ms: u64) -> String {
    format!(
        r#"
{head}poll_interval_ms = 50
rotate_wait_ms = {rotate_wait_ms}
batch = {{ timeout_ms = 20 }}
[sinks.out]
type = "file"
inputs = ["app"]
path = "{out}"
"#,
        head = file_source_head(
            &dir.join("data"),
            &dir.join("app.log").display().to_string(),
            true
        ),
        out = dir.join("out.log").display()
    )
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i:06}")).collect()
}

/// logrotate's default (rename, then create): lines 0..1000 before, 1000..1200 appended
/// to the renamed file by a writer that has not reopened yet, 1200..1500 in the new file.
#[test]
fn a_renamed_file_is_read_to_its_end_and_the_new_file_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("app.log"), dir.path().join("out.log"));
    let mut writer = std::fs::File::create(&input).unwrap();
    for i in 0..1000 {
        writeln!(writer, "line {i:06}").unwrap();
    }
    let mut running = Running::start(&config(dir.path(), 2000));
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() == 1000)
            .then_some(()))
        .is_some(),
        "first 1000 lines: {}",
        lines_of(&out).len()
    );
    std::fs::rename(&input, dir.path().join("app.log.1")).unwrap();
    append_lines(&input, 1200..1500);
    // The old writer, still on the renamed file, then a partial last line it never ends.
    for i in 1000..1200 {
        writeln!(writer, "line {i:06}").unwrap();
    }
    write!(writer, "unterminated").unwrap();
    drop(writer);
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() >= 1501)
            .then_some(()))
        .is_some(),
        "after rotation: {} lines",
        lines_of(&out).len()
    );
    let (ok, stderr) = running.stop(); // drains: nothing in flight is left out
    assert!(ok, "{stderr}");
    assert!(stderr.contains("file rotated away"), "{stderr}");
    let got = lines_of(&out);
    let mut want = numbered(0..1500);
    want.push("unterminated".into());
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "every line once");
    // Each file's lines arrive in order.
    let new_file: Vec<&String> = got.iter().filter(|l| l.as_str() >= "line 001200").collect();
    assert!(new_file.windows(2).all(|w| w[0] < w[1]), "{new_file:?}");
    let position = |line: &str| got.iter().position(|l| l == line).unwrap();
    assert!(position("line 000999") < position("line 001000"));
    assert!(position("line 001000") < position("line 001199"));
}

/// A deleted file is read to its end and let go; a file created later at the path is new.
#[test]
fn a_deleted_file_is_let_go_and_a_new_one_at_the_path_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("app.log"), dir.path().join("out.log"));
    append_lines(&input, 0..100);
    let mut running = Running::start(&config(dir.path(), 100));
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() == 100)
            .then_some(()))
        .is_some()
    );
    std::fs::remove_file(&input).unwrap();
    // Let go: no descriptor of the process points at the deleted file any more.
    let fds = format!("/proc/{}/fd", running.child.id());
    let holds_deleted = || {
        std::fs::read_dir(&fds).unwrap().flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().ends_with("app.log (deleted)"))
        })
    };
    assert!(
        wait_for(Duration::from_secs(20), || (!holds_deleted()).then_some(())).is_some(),
        "the deleted file is still open"
    );
    append_lines(&input, 100..150);
    assert!(
        wait_for(Duration::from_secs(20), || (lines_of(&out).len() >= 150)
            .then_some(()))
        .is_some()
    );
    running.stop_ok();
    assert_eq!(lines_of(&out), numbered(0..150));
}

/// copytruncate while the source is held back (here: stopped with SIGSTOP, as a stalled
/// sink would hold it): the app goes on writing past the old read position before the
/// source reads again. The truncation is told by the file's first bytes, the new content is
/// read from its start, and the copy (matched by the include glob) from where the original
/// was read to: every line once, no fragment. Before fingerprints, the source resumed at
/// the stale offset: lines lost, a fragment of a line sent as a record.
#[test]
fn copytruncate_while_held_back_loses_nothing_and_reads_the_copy_from_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (input, out) = (dir.path().join("app.log"), dir.path().join("out.log"));
    append_lines(&input, 0..200);
    let config = format!(
        "{head}poll_interval_ms = 50\nrotate_wait_ms = 2000\nbatch = {{ timeout_ms = 20 }}\n\
         [sinks.out]\ntype = \"file\"\ninputs = [\"app\"]\npath = \"{out}\"\n",
        head = file_source_head(
            &dir.path().join("data"),
            &format!("{}*", input.display()),
            true
        ),
        out = out.display()
    );
    let mut running = Running::start(&config);
    wait_for(Duration::from_secs(20), || {
        (lines_of(&out).len() == 200).then_some(())
    })
    .unwrap_or_else(|| panic!("first 200 lines: {}", lines_of(&out).len()));

    let pid = running.child.id().to_string();
    let signal = |s: &str| {
        assert!(std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP");
    append_lines(&input, 200..250); // written, not yet read
    std::fs::copy(&input, dir.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(0)
        .unwrap();
    append_lines(&input, 250..600); // well past the old read position
    signal("-CONT");
    // An older rotation, compressed: matched by the glob, skipped (its bytes are not lines).
    std::fs::write(
        dir.path().join("app.log.3.gz"),
        [0x1f, 0x8b, 8, 0, 0xff, 0xfe, b'\n'],
    )
    .unwrap();

    wait_for(Duration::from_secs(20), || {
        (lines_of(&out).len() >= 600).then_some(())
    })
    .unwrap_or_else(|| panic!("after copytruncate: {} lines", lines_of(&out).len()));
    std::thread::sleep(Duration::from_millis(500)); // nothing more may come
    let lost = running
        .metric("sluice_source_lost_bytes_total{component_id=\"app\",component_kind=\"source\"}");
    assert_eq!(
        lost,
        Some(0.0),
        "nothing counted lost: the copy held the unread lines"
    );
    let stderr = running.stop_ok();
    assert!(stderr.contains("file truncated"), "{stderr}");
    assert!(stderr.contains("a copy of a followed file"), "{stderr}");
    let mut got = lines_of(&out);
    got.sort();
    assert_eq!(got, numbered(0..600), "every line once, no fragments");
}

/// With `read_compressed = true`, a gzip file (two members, as `cat a.gz b.gz` makes) is
/// read whole, decompressed, and checkpointed at its end: a second run reads nothing again.
#[test]
fn read_compressed_reads_a_gzip_file_once() {
    use flate2::write::GzEncoder;
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("app.log.1.gz");
    let member = |range: std::ops::Range<usize>| {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in range {
            writeln!(e, "line {i:06}").unwrap();
        }
        e.finish().unwrap()
    };
    std::fs::write(&gz, [member(0..700), member(700..1000)].concat()).unwrap();
    let out = dir.path().join("out.log");
    let config = format!(
        "{head}stop_at_eof = true\nread_compressed = true\n\
         [sinks.out]\ntype = \"file\"\ninputs = [\"app\"]\npath = \"{out}\"\n",
        head = file_source_head(
            &dir.path().join("data"),
            &format!("{}/app.log*", dir.path().display()),
            false
        ),
        out = out.display()
    );
    run_to_end(dir.path(), &config);
    assert_eq!(lines_of(&out), numbered(0..1000));
    run_to_end(dir.path(), &config);
    assert_eq!(
        lines_of(&out),
        numbered(0..1000),
        "the second run reads nothing again"
    );
}
