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

/// Sends `input` over TLS with `openssl s_client` (trusting `ca`; with `identity`, a PEM
/// certificate and key, presenting it) and waits for it to finish.
fn s_client(port: u16, ca: &std::path::Path, identity: Option<&std::path::Path>, input: &str) {
    use std::io::Write;
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-quiet",
    ])
    .args(["-no_ign_eof", "-verify_return_error", "-CAfile"])
    .arg(ca);
    if let Some(identity) = identity {
        cmd.arg("-cert").arg(identity).arg("-key").arg(identity);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl runs (Debian's openssl)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let _ = child.wait();
}

#[test]
fn tls_connections_are_read_and_plain_ones_refused() {
    let pki = common::tls::pki();
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, pem: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca = file("ca.pem", &pki.ca);
    let crt = file("server.pem", &pki.server_cert);
    let key = file("server.key", &pki.server_key);
    let client = file("client.pem", &pki.client);
    let (tls, mutual) = (free_port(), free_port());
    let running = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.tls]
type = "syslog"
address = "127.0.0.1:{tls}"
tls = {{ crt_file = "{crt}", key_file = "{key}" }}
[sources.mutual]
type = "syslog"
address = "127.0.0.1:{mutual}"
tls = {{ crt_file = "{crt}", key_file = "{key}", client_ca_file = "{ca}" }}
[sinks.out]
type = "file"
inputs = ["tls", "mutual"]
path = "{{dir}}/out.jsonl"
encoding = "json"
"#,
        crt = crt.display(),
        key = key.display(),
        ca = ca.display(),
    ));
    for name in ["tls", "mutual"] {
        running
            .wait_for_log(
                Duration::from_secs(10),
                &["syslog: listening", &format!("\"{name}\"")],
            )
            .unwrap_or_else(|| panic!("the {name} listener is up:\n{}", running.log()));
    }
    let out = running.dir.path().join("out.jsonl");
    let rows = |n: usize| {
        wait_for(Duration::from_secs(20), || {
            let rows: Vec<serde_json::Value> = lines_of(&out)
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (rows.len() >= n).then_some(rows)
        })
        .unwrap_or_else(|| panic!("{n} rows expected:\n{}", running.log()))
    };
    let refused = |source: &str| {
        running.metric(&format!(
            "sluice_component_errors_total{{component_id=\"{source}\",reason=\"tls_handshake_failed\"}}"
        ))
    };

    // Octet counting (RFC 5425) and newline framing, over TLS.
    let octet = "<165>1 2003-10-11T22:14:15.003Z web1 shop 42 ORDER - octet counted over tls";
    s_client(
        tls,
        &ca,
        None,
        &format!(
            "{} {octet}<13>1 - web1 shop - - - newline over tls\n",
            octet.len()
        ),
    );
    let first = rows(2);
    assert_eq!(first[0]["line"], "octet counted over tls");
    assert_eq!(first[0]["labels"]["severity"], "notice");
    assert_eq!(first[0]["labels"]["facility"], "local4");
    assert_eq!(first[0]["labels"]["app_name"], "shop");
    assert_eq!(first[0]["metadata"]["msgid"], "ORDER");
    assert_eq!(first[0]["timestamp"], 1_065_910_455_003_000_000_i64);
    assert_eq!(first[1]["line"], "newline over tls");

    // A plain-text client is refused in the handshake and counted; the source stays up.
    {
        use std::io::Write;
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", tls)).unwrap();
        plain
            .write_all(b"<13>1 - web1 shop - - - plain text, refused\n")
            .unwrap();
    }
    wait_for(Duration::from_secs(15), || {
        refused("tls").filter(|n| *n >= 1.0)
    })
    .unwrap_or_else(|| panic!("the plain connection is counted:\n{}", running.log()));
    s_client(
        tls,
        &ca,
        None,
        "<13>1 - web1 shop - - - after the refusal\n",
    );
    assert_eq!(rows(3)[2]["line"], "after the refusal");

    // Mutual TLS: without a client certificate refused, with one read.
    s_client(
        mutual,
        &ca,
        None,
        "<13>1 - web1 shop - - - anonymous, refused\n",
    );
    wait_for(Duration::from_secs(15), || {
        refused("mutual").filter(|n| *n >= 1.0)
    })
    .unwrap_or_else(|| panic!("the anonymous client is counted:\n{}", running.log()));
    s_client(
        mutual,
        &ca,
        Some(&client),
        "<13>1 - web1 shop - - - with a client certificate\n",
    );
    let all = rows(4);
    assert_eq!(all[3]["line"], "with a client certificate");
    std::thread::sleep(Duration::from_millis(300));
    let lines: Vec<String> = lines_of(&out)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["line"].to_string())
        .collect();
    assert_eq!(lines.len(), 4, "nothing refused arrived: {lines:?}");
    let mut running = running;
    running.stop_ok();
}

#[test]
fn a_message_is_not_held_back_by_a_partial_one_behind_it() {
    use std::io::Write;
    let tcp = free_port();
    let running = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.tcp]
type = "syslog"
address = "127.0.0.1:{tcp}"
batch = {{ timeout_ms = 20 }}
[sinks.out]
type = "file"
inputs = ["tcp"]
path = "{{dir}}/out.jsonl"
"#
    ));
    running
        .wait_for_log(Duration::from_secs(10), &["syslog: listening"])
        .expect("listening");
    let out = running.dir.path().join("out.jsonl");
    for (whole, partial) in [
        ("<13>1 - h a - - - newline whole\n", "<13>1 - h a - - - cut"),
        (
            "29 <13>1 - h a - - - octet whole",
            "40 <13>1 - h a - - - cu",
        ),
    ] {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
        conn.write_all(format!("{whole}{partial}").as_bytes())
            .unwrap();
        let expected = whole.rsplit("- - - ").next().unwrap().trim_end();
        wait_for(Duration::from_secs(5), || {
            lines_of(&out).iter().any(|l| l == expected).then_some(())
        })
        .unwrap_or_else(|| panic!("`{expected}` arrived while the rest was pending"));
        drop(conn);
    }
}
