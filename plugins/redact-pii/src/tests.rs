//! Native unit tests for the matcher and its config.

use super::*;

fn red(line: &str) -> String {
    Redactor::default().redact_cow(line).into_owned()
}

fn unchanged(line: &str) {
    let mut out = String::new();
    assert_eq!(
        Redactor::default().redact(line, &mut out),
        0,
        "{line:?} -> {out:?}"
    );
    assert!(out.is_empty());
}

#[test]
fn email_positive() {
    assert_eq!(
        red("user john.doe+x@example.com logged in"),
        "user <email> logged in"
    );
    assert_eq!(
        red(r#"{"email":"a_b-c%d@mail.sub.example.co.uk","x":1}"#),
        r#"{"email":"<email>","x":1}"#
    );
    assert_eq!(red("<ops@corp.io>, dev@corp.io."), "<<email>>, <email>.");
    assert_eq!(red("x@y.museum"), "<email>");
}

#[test]
fn email_negative() {
    unchanged("user@localhost");
    unchanged("@timestamp field");
    unchanged("a@b.c1");
    unchanged("image sha256@deadbeef");
    unchanged("price 5 @ 3.50");
    unchanged("me@.com");
}

#[test]
fn ipv4_positive() {
    assert_eq!(red("client=10.0.0.1 port"), "client=<ipv4> port");
    assert_eq!(red("from 192.168.1.254:8080"), "from <ipv4>:8080");
    assert_eq!(red(r#""ip":"255.255.255.255""#), r#""ip":"<ipv4>""#);
    assert_eq!(red("connected to 8.8.8.8."), "connected to <ipv4>.");
    assert_eq!(red("1.2.3.4"), "<ipv4>");
    assert_eq!(red("root@10.1.2.3"), "root@<ipv4>");
}

#[test]
fn ipv4_negative() {
    unchanged("version 1.2.3.4.5 released");
    unchanged("v10.2.3");
    unchanged("app v10.2.3.4");
    unchanged("1.2.3");
    unchanged("256.1.1.1");
    unchanged("1.2.3.256");
    unchanged("1234.1.1.1");
    unchanged("1.2.3.4a");
    unchanged("x1.2.3.4");
    unchanged("1.2.3.4.example.com");
    unchanged("took 10.5ms at 2024-01-15T10:23:45.123456Z");
    unchanged("port 8080 and 443");
}

#[test]
fn credit_card_positive() {
    assert_eq!(red("card 4111111111111111 ok"), "card <credit_card> ok");
    assert_eq!(red("card 4111 1111 1111 1111."), "card <credit_card>.");
    assert_eq!(red("card=4111-1111-1111-1111"), "card=<credit_card>");
    assert_eq!(red("amex 378282246310005"), "amex <credit_card>");
    assert_eq!(red("amex 3782 822463 10005"), "amex <credit_card>");
    assert_eq!(
        red("mc 5500 0000 0000 0004 exp 12/27"),
        "mc <credit_card> exp 12/27"
    );
    assert_eq!(red(r#""cc":"6011111111111117""#), r#""cc":"<credit_card>""#);
    assert_eq!(red("visa13 4222222222222"), "visa13 <credit_card>");
    assert_eq!(red("4111 1111 1111 1111 2024"), "<credit_card> 2024");
}

#[test]
fn credit_card_negative() {
    unchanged("card 4111111111111112 fails luhn");
    unchanged("card 4111 1111 1111 1112");
    unchanged("4111-1111 1111-1111"); // mixed separators
    unchanged("ts=1705312225123456789"); // ns timestamp (starts with 1)
    unchanged("ts=1705312225123"); // ms timestamp
    unchanged("id 41111111111111111111111"); // too long
    unchanged("trace 4bf92f3577b34da6a3ce929d0e0e4736");
    unchanged("trace 4111111111111111a");
    unchanged("amount 4111111111111111.25");
    unchanged("phone 555 1234");
}

#[test]
fn trace_ids_uuids_timestamps_untouched() {
    unchanged(r#"{"trace_id":"0af7651916cd43dd8448eb211c80319c","span":"b7ad6b7169203331"}"#);
    unchanged("req 550e8400-e29b-41d4-a716-446655440000 done");
    unchanged("req 12345678-1234-4234-5234-123456789012 done");
    unchanged("2024-01-15T10:23:45.123Z INFO started in 1234ms pid=4242");
    unchanged(r#"{"ts":"2024-01-15T10:23:45.123456789+01:00","port":5432,"status":200}"#);
}

#[test]
fn mixed_line_counts_per_rule() {
    let r = Redactor::default();
    let mut out = String::new();
    let mut counts = [0; 3];
    let line = r#"{"ts":"2024-01-15T10:23:45Z","msg":"login a@b.io from 10.0.0.7 card 4111111111111111, again c@d.org","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
    assert_eq!(r.redact_counted(line, &mut out, &mut counts), 4);
    assert_eq!(counts, [2, 1, 1]);
    assert_eq!(
        out,
        r#"{"ts":"2024-01-15T10:23:45Z","msg":"login <email> from <ipv4> card <credit_card>, again <email>","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#
    );
}

#[test]
fn unicode_is_kept_intact() {
    assert_eq!(
        red("héllo ü@x.de für 10.0.0.1 ✓"),
        "héllo ü@x.de für <ipv4> ✓"
    );
    assert_eq!(red("✓a@x.de✓"), "✓<email>✓");
}

#[test]
fn config() {
    let r = Redactor::from_config_json(r#"{"rules":["email"],"mode":"mask"}"#).unwrap();
    assert_eq!(r.rules(), [Rule::Email]);
    assert_eq!(r.redact_cow("a@b.io 10.0.0.1").as_ref(), "<email> 10.0.0.1");
    let r = Redactor::from_config_json(r#"{"rules":["ipv4","credit_card"]}"#).unwrap();
    assert_eq!(r.redact_cow("a@b.io 10.0.0.1").as_ref(), "a@b.io <ipv4>");
    assert_eq!(Redactor::from_config_json("{}").unwrap().rules(), Rule::ALL);
    assert_eq!(Redactor::from_config_json("").unwrap().rules(), Rule::ALL);
    let e = Redactor::from_config_json(r#"{"rules":["email","ssn"]}"#).unwrap_err();
    assert!(e.contains("`ssn`"), "{e}");
    let e = Redactor::from_config_json(r#"{"mode":"hash"}"#).unwrap_err();
    assert!(e.contains("`hash`"), "{e}");
    let e = Redactor::from_config_json(r#"{"rule":["email"]}"#).unwrap_err();
    assert!(e.contains("`rule`"), "{e}");
    assert!(Redactor::from_config_json(r#"{"rules":"email"}"#).is_err());
}

#[test]
fn luhn_known_values() {
    assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
}

#[test]
fn throughput_smoke() {
    // Not a benchmark: a sanity check that a typical ~215-byte JSON line is cheap natively.
    let line = r#"{"ts":"2024-01-15T10:23:45.123Z","level":"info","msg":"user alice@example.com logged in from 192.168.10.42","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","latency_ms":123,"status":200}"#;
    let r = Redactor::default();
    let mut out = String::new();
    let t = std::time::Instant::now();
    for _ in 0..100_000 {
        out.clear();
        assert_eq!(r.redact(std::hint::black_box(line), &mut out), 2);
    }
    eprintln!(
        "{} bytes/line: {:?} per line",
        line.len(),
        t.elapsed() / 100_000
    );
}
