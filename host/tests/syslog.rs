//! End-to-end: util-linux `logger` sends RFC 5424 (TCP, newline and octet-counted framing)
//! and RFC 3164 (UDP) messages to the `syslog` source; each arrives with its text as the
//! line, severity, facility, hostname and app name as labels, and message id, process id
//! and structured data as metadata.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn logger(args: &[&str]) {
    let status = Command::new("logger")
        .args(args)
        .status()
        .expect("logger runs (util-linux's bsdutils)");
    assert!(status.success(), "logger {args:?}");
}

#[test]
fn logger_messages_arrive_with_their_fields() {
    let (tcp, udp) = (free_port(), free_port());
    let mut running = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.tcp]
type = "syslog"
address = "127.0.0.1:{tcp}"
labels = {{ job = "syslog" }}
[sources.udp]
type = "syslog"
address = "127.0.0.1:{udp}"
mode = "udp"
[sinks.out]
type = "file"
inputs = ["tcp", "udp"]
path = "{{dir}}/out.jsonl"
encoding = "json"
"#
    ));
    for (name, port) in [("tcp", tcp), ("udp", udp)] {
        running
            .wait_for_log(
                Duration::from_secs(10),
                &["syslog: listening", name.to_uppercase().as_str()],
            )
            .unwrap_or_else(|| panic!("the {name} listener is up (port {port})"));
    }
    let (tcp, udp) = (tcp.to_string(), udp.to_string());
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "--rfc5424",
        "-t",
        "shop",
        "-p",
        "local3.err",
        "--msgid",
        "ORDER",
        "--id=4242",
        "--sd-id",
        "order@1",
        "--sd-param",
        "id=\"42\"",
        "tcp newline message",
    ]);
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-T",
        "--octet-count",
        "--rfc5424",
        "-t",
        "shop",
        "-p",
        "user.info",
        "octet counted message",
    ]);
    logger(&[
        "-n",
        "127.0.0.1",
        "-P",
        &udp,
        "-d",
        "--rfc3164",
        "-t",
        "legacy",
        "-p",
        "daemon.warning",
        "udp bsd message",
    ]);
    let out = running.dir.path().join("out.jsonl");
    let rows = wait_for(Duration::from_secs(20), || {
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .ok()?
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (rows.len() >= 3).then_some(rows)
    })
    .expect("three messages arrived");
    let row = |line: &str| {
        rows.iter()
            .find(|r| r["line"] == line)
            .unwrap_or_else(|| panic!("`{line}` missing from {rows:?}"))
    };
    let first = row("tcp newline message");
    assert_eq!(first["labels"]["severity"], "err");
    assert_eq!(first["labels"]["facility"], "local3");
    assert_eq!(first["labels"]["app_name"], "shop");
    assert_eq!(first["labels"]["job"], "syslog");
    assert!(first["labels"]["hostname"].is_string());
    assert_eq!(first["metadata"]["msgid"], "ORDER");
    assert_eq!(first["metadata"]["order@1.id"], "42");
    assert_eq!(first["metadata"]["procid"], "4242");
    let second = row("octet counted message");
    assert_eq!(second["labels"]["severity"], "info");
    assert_eq!(second["labels"]["facility"], "user");
    let third = row("udp bsd message");
    assert_eq!(third["labels"]["facility"], "daemon");
    assert_eq!(third["labels"]["severity"], "warning");
    assert_eq!(third["labels"]["app_name"], "legacy");
    running.stop_ok();
}
