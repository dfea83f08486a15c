//! The double refuses what Loki refuses and answers as Loki answers, checked with push
//! bodies written here byte by byte (protobuf encoded by hand, then snappy; JSON as text),
//! independently of the crate's prost structs and of sluice.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loki_receiver::{Labels, Limits, RateLimit, Reason, Receiver};

const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

// ---- protobuf by hand (pkg/push/push.proto) ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(tag: u64, v: u64, out: &mut Vec<u8>) {
    varint(tag << 3, out);
    varint(v, out);
}

fn field_bytes(tag: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(tag << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An entry: `ts` in Unix nanoseconds, its line and structured metadata.
struct E {
    ts: i64,
    line: String,
    metadata: Vec<(String, String)>,
}

fn e(ts: i64, line: &str) -> E {
    E {
        ts,
        line: line.to_string(),
        metadata: Vec::new(),
    }
}

fn em(ts: i64, line: &str, metadata: Vec<(String, String)>) -> E {
    E {
        ts,
        line: line.to_string(),
        metadata,
    }
}

/// EntryAdapter { timestamp = 1 (google.protobuf.Timestamp), line = 2,
/// structuredMetadata = 3 (LabelPairAdapter { name = 1, value = 2 }) }.
fn entry_bytes(entry: &E) -> Vec<u8> {
    let mut ts = Vec::new();
    field_varint(1, entry.ts.div_euclid(SEC) as u64, &mut ts);
    let nanos = entry.ts.rem_euclid(SEC) as u64;
    if nanos != 0 {
        field_varint(2, nanos, &mut ts);
    }
    let mut out = Vec::new();
    field_bytes(1, &ts, &mut out);
    field_bytes(2, entry.line.as_bytes(), &mut out);
    for (k, v) in &entry.metadata {
        let mut pair = Vec::new();
        field_bytes(1, k.as_bytes(), &mut pair);
        field_bytes(2, v.as_bytes(), &mut pair);
        field_bytes(3, &pair, &mut out);
    }
    out
}

/// PushRequest { streams = 1 (StreamAdapter { labels = 1, entries = 2 }) }, snappy block.
fn pb(streams: &[(&str, Vec<E>)]) -> Vec<u8> {
    let mut request = Vec::new();
    for (labels, entries) in streams {
        let mut stream = Vec::new();
        field_bytes(1, labels.as_bytes(), &mut stream);
        for entry in entries {
            field_bytes(2, &entry_bytes(entry), &mut stream);
        }
        field_bytes(1, &stream, &mut request);
    }
    snap::raw::Encoder::new().compress_vec(&request).unwrap()
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn post(r: &Receiver, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .post(format!("{}/loki/api/v1/push", r.endpoint()))
            .timeout(Duration::from_secs(30))
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

fn push_pb(r: &Receiver, streams: &[(&str, Vec<E>)]) -> (u16, String) {
    post(r, &[PROTOBUF], pb(streams))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The lines stored for a stream (no tenant).
fn lines(r: &Receiver, pairs: &[(&str, &str)]) -> Vec<String> {
    r.streams()
        .get(&(None, labels(pairs)))
        .map(|entries| entries.iter().map(|e| e.line.clone()).collect())
        .unwrap_or_default()
}

fn start() -> Receiver {
    Receiver::start("127.0.0.1:0")
}

// ---- the ingester: one error per push, the last stream's ----

#[test]
fn a_stale_entry_in_the_first_stream_is_dropped_behind_a_204() {
    let r = start();
    let t = now() - 5 * MIN;
    assert_eq!(
        push_pb(&r, &[(r#"{app="a"}"#, vec![e(t, "newest")])]).0,
        204
    );
    // 2 h before stream a's newest entry: outside the 1 h out-of-order window.
    let (status, text) = push_pb(
        &r,
        &[
            (
                r#"{app="a"}"#,
                vec![e(t - 2 * HOUR, "stale"), e(t - 30 * MIN, "in window")],
            ),
            (r#"{app="b"}"#, vec![e(t, "fine")]),
        ],
    );
    assert_eq!(
        status, 204,
        "Loki answers with the last stream's error only: {text}"
    );
    assert_eq!(lines(&r, &[("app", "a")]), ["newest", "in window"]);
    assert_eq!(lines(&r, &[("app", "b")]), ["fine"]);
    assert_eq!(r.refused_for(Reason::TooFarBehind), 1);
    assert_eq!(r.silently_dropped(), 1);
    assert_eq!(r.rejected(), 1);
}

#[test]
fn a_stale_entry_in_the_last_stream_gets_400() {
    let r = start();
    let t = now() - 5 * MIN;
    assert_eq!(
        push_pb(&r, &[(r#"{app="a"}"#, vec![e(t, "newest")])]).0,
        204
    );
    let (status, text) = push_pb(
        &r,
        &[
            (r#"{app="b"}"#, vec![e(t, "fine")]),
            (
                r#"{app="a"}"#,
                vec![e(t - 2 * HOUR, "stale"), e(t - 30 * MIN, "in window")],
            ),
        ],
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("entry too far behind"), "{text}");
    assert!(
        text.contains("total ignored: 1 out of 2 for stream: {app=\"a\"}"),
        "{text}"
    );
    assert_eq!(lines(&r, &[("app", "a")]), ["newest", "in window"]);
    assert_eq!(lines(&r, &[("app", "b")]), ["fine"]);
    assert_eq!(r.refused_for(Reason::TooFarBehind), 1);
    assert_eq!(r.silently_dropped(), 0);
}

#[test]
fn the_out_of_order_window_is_configurable_and_within_it_any_order_is_taken() {
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().out_of_order_window(Duration::from_secs(60)),
    );
    let t = now() - 5 * MIN;
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![
                e(t, "1"),
                e(t - 30 * SEC, "2"),
                e(t - 2 * MIN, "3"),
                e(t + SEC, "4"),
            ],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert_eq!(lines(&r, &[("app", "a")]), ["1", "2", "4"]);
    assert_eq!(r.refused_for(Reason::TooFarBehind), 1);
}

#[test]
fn the_per_stream_rate_limit_answers_429_for_the_last_stream_and_hides_earlier_ones() {
    let limit = RateLimit {
        bytes_per_sec: 1.0,
        burst: 100,
    };
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().per_stream_rate_limit(Some(limit)),
    );
    let t = now();
    let line = "x".repeat(60);
    let (status, text) = push_pb(&r, &[(r#"{app="a"}"#, vec![e(t, &line), e(t + 1, &line)])]);
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("Per stream rate limit exceeded"), "{text}");
    assert_eq!(lines(&r, &[("app", "a")]).len(), 1);
    // Stream a is still over its limit; stream b, last, is fine: 204, a's entry lost.
    let (status, text) = push_pb(
        &r,
        &[
            (r#"{app="a"}"#, vec![e(t + 2, &line)]),
            (r#"{app="b"}"#, vec![e(t, &line)]),
        ],
    );
    assert_eq!(status, 204, "{text}");
    assert_eq!(lines(&r, &[("app", "a")]).len(), 1);
    assert_eq!(lines(&r, &[("app", "b")]).len(), 1);
    assert_eq!(r.refused_for(Reason::StreamRateLimit), 2);
    assert_eq!(r.silently_dropped(), 1);
}

#[test]
fn the_default_per_stream_rate_limit_is_lokis_3mb_with_15mb_burst() {
    let r = start();
    let limit = r.limits().per_stream_rate_limit.expect("on by default");
    assert_eq!(limit.bytes_per_sec, (3 << 20) as f64);
    assert_eq!(limit.burst, 15 << 20);
    // 16 lines of 1 MiB in one stream: the burst takes 15, the 16th is refused (429).
    let t = now();
    let line = "y".repeat(1 << 20);
    let entries = (0..16).map(|i| e(t + i, &line)).collect();
    let r = Receiver::start_with("127.0.0.1:0", Limits::default().max_line_size(0));
    let (status, text) = push_pb(&r, &[(r#"{app="big"}"#, entries)]);
    assert_eq!(status, 429, "{text}");
    assert_eq!(r.refused_for(Reason::StreamRateLimit), 1);
    assert_eq!(r.entry_count(), 15);
}

#[test]
fn an_ingester_error_wins_over_the_distributors_400() {
    let limit = RateLimit {
        bytes_per_sec: 1.0,
        burst: 10,
    };
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().per_stream_rate_limit(Some(limit)),
    );
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[
            (r#"{app="a"}"#, vec![e(t - 8 * DAY, "too old"), e(t, "ok")]),
            (r#"{app="b"}"#, vec![e(t, "over ten bytes")]),
        ],
    );
    assert_eq!(status, 429, "{text}");
    assert_eq!(lines(&r, &[("app", "a")]), ["ok"]);
    assert_eq!(r.refused_for(Reason::GreaterThanMaxSampleAge), 1);
    assert_eq!(r.refused_for(Reason::StreamRateLimit), 1);
}

// ---- duplicates ----

#[test]
fn exact_duplicates_are_stored_once_and_counted_per_stream() {
    let r = start();
    let t = now();
    let body = || {
        pb(&[
            (r#"{app="a"}"#, vec![e(t, "one"), e(t + 1, "two")]),
            (r#"{app="b"}"#, vec![e(t, "one")]),
        ])
    };
    assert_eq!(post(&r, &[PROTOBUF], body()).0, 204);
    assert_eq!(r.duplicates(), 0);
    assert_eq!(
        post(&r, &[PROTOBUF], body()).0,
        204,
        "Loki takes a re-send silently"
    );
    assert_eq!(r.entry_count(), 3);
    assert_eq!(r.duplicates(), 3);
    let by_stream = r.duplicates_by_stream();
    assert_eq!(by_stream[&(None, labels(&[("app", "a")]))], 2);
    assert_eq!(by_stream[&(None, labels(&[("app", "b")]))], 1);
    // Same timestamp and line but other structured metadata: not a duplicate for Loki.
    let (status, _) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![em(t, "one", vec![("k".into(), "v".into())])],
        )],
    );
    assert_eq!(status, 204);
    assert_eq!(lines(&r, &[("app", "a")]), ["one", "two", "one"]);
    assert_eq!(r.duplicates(), 3);
    assert_eq!(r.rejected(), 0);
}

// ---- the distributor: labels ----

fn names(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("l{i:02}"), "v".to_string()))
        .collect()
}

fn selector(pairs: &[(String, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[test]
fn service_name_does_not_count_toward_max_label_names_per_series() {
    let r = start();
    let t = now();
    let mut fifteen_and_service = names(15);
    fifteen_and_service.push(("service_name".into(), "svc".into()));
    let (status, text) = push_pb(
        &r,
        &[(&selector(&fifteen_and_service), vec![e(t, "16 names")])],
    );
    assert_eq!(
        status, 204,
        "service_name + 15 names is within the limit: {text}"
    );
    assert_eq!(r.entry_count(), 1);

    let (status, text) = push_pb(&r, &[(&selector(&names(16)), vec![e(t, "16 other names")])]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has 16 label names; limit 15"), "{text}");

    let mut sixteen_and_service = names(16);
    sixteen_and_service.push(("service_name".into(), "svc".into()));
    let (status, text) = push_pb(&r, &[(&selector(&sixteen_and_service), vec![e(t, "17")])]);
    assert_eq!(status, 400, "{text}");
    assert_eq!(r.refused_for(Reason::MaxLabelNamesPerSeries), 2);
    assert_eq!(r.entry_count(), 1);
}

#[test]
fn label_names_and_values_over_their_lengths_are_refused() {
    let r = start();
    let t = now();
    let ok_name = format!("{{{}=\"v\"}}", "n".repeat(1024));
    let long_name = format!("{{{}=\"v\"}}", "n".repeat(1025));
    let ok_value = format!("{{app=\"{}\"}}", "v".repeat(2048));
    let long_value = format!("{{app=\"{}\"}}", "v".repeat(2049));
    assert_eq!(push_pb(&r, &[(&ok_name, vec![e(t, "1")])]).0, 204);
    assert_eq!(push_pb(&r, &[(&ok_value, vec![e(t, "2")])]).0, 204);
    let (status, text) = push_pb(&r, &[(&long_name, vec![e(t, "3"), e(t + 1, "4")])]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has label name too long"), "{text}");
    let (status, text) = push_pb(&r, &[(&long_value, vec![e(t, "5")])]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has label value too long"), "{text}");
    assert_eq!(r.refused_for(Reason::LabelNameTooLong), 2);
    assert_eq!(r.refused_for(Reason::LabelValueTooLong), 1);
    assert_eq!(r.entry_count(), 2);
}

#[test]
fn duplicate_label_names_refuse_the_stream_and_keep_the_others() {
    let r = start();
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[
            (r#"{app="a", env="x", app="b"}"#, vec![e(t, "dup")]),
            (r#"{app="c"}"#, vec![e(t, "ok")]),
        ],
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has duplicate label name: 'app'"), "{text}");
    assert_eq!(r.refused_for(Reason::DuplicateLabelNames), 1);
    assert_eq!(lines(&r, &[("app", "c")]), ["ok"]);
    assert_eq!(r.streams().len(), 1);
}

#[test]
fn a_malformed_selector_refuses_the_whole_push() {
    let r = start();
    let t = now();
    for bad in [
        r#"{app=unquoted}"#,
        r#"{1app="x"}"#,
        r#"{a.b="x"}"#,
        r#"app="x""#,
    ] {
        let (status, text) = push_pb(
            &r,
            &[
                (r#"{app="fine"}"#, vec![e(t, "ok")]),
                (bad, vec![e(t, "bad")]),
            ],
        );
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains("couldn't parse labels"), "{text}");
    }
    assert_eq!(
        r.entry_count(),
        0,
        "nothing of a push Loki cannot parse is stored"
    );
}

#[test]
fn empty_label_values_are_absent_labels_and_no_labels_is_refused() {
    let r = start();
    let t = now();
    assert_eq!(
        push_pb(&r, &[(r#"{app="a", env=""}"#, vec![e(t, "1")])]).0,
        204
    );
    assert_eq!(lines(&r, &[("app", "a")]), ["1"]);
    let (status, text) = push_pb(
        &r,
        &[(r#"{env=""}"#, vec![e(t, "2")]), (r#"{}"#, vec![e(t, "3")])],
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("at least one label pair is required per stream"),
        "{text}"
    );
    assert_eq!(r.refused_for(Reason::MissingLabels), 2);
}

// ---- the distributor: entries ----

#[test]
fn entries_older_than_a_week_are_refused_and_the_rest_stored() {
    let r = start();
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![
                e(t - 7 * DAY - MIN, "too old"),
                e(t - 7 * DAY + HOUR, "six days 23h"),
            ],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has timestamp too old"), "{text}");
    assert_eq!(lines(&r, &[("app", "a")]), ["six days 23h"]);
    assert_eq!(r.refused_for(Reason::GreaterThanMaxSampleAge), 1);

    let lenient = Receiver::start_with("127.0.0.1:0", Limits::default().reject_old_samples(false));
    assert_eq!(
        push_pb(&lenient, &[(r#"{app="a"}"#, vec![e(t - 30 * DAY, "old")])]).0,
        204
    );
}

#[test]
fn entries_beyond_the_creation_grace_period_are_refused() {
    let r = start();
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![e(t + 11 * MIN, "future"), e(t + 9 * MIN, "soon")],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("has timestamp too new"), "{text}");
    assert_eq!(lines(&r, &[("app", "a")]), ["soon"]);
    assert_eq!(r.refused_for(Reason::TooFarInFuture), 1);
}

#[test]
fn lines_over_256_kib_are_refused() {
    let r = start();
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![
                e(t, &"a".repeat(256 * 1024)),
                e(t + 1, &"b".repeat(256 * 1024 + 1)),
            ],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("max entry size '262144' bytes exceeded"),
        "{text}"
    );
    assert_eq!(r.refused_for(Reason::LineTooLong), 1);
    assert_eq!(r.entry_count(), 1);
}

#[test]
fn structured_metadata_over_128_pairs_or_64_kib_is_refused() {
    let r = start();
    let t = now();
    let pairs = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    };
    // 65536 bytes of names and values exactly, then one more.
    let sized = |n: usize| vec![("key".to_string(), "v".repeat(n - 3))];
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![
                em(t, "128 pairs", pairs(128)),
                em(t + 1, "129 pairs", pairs(129)),
                em(t + 2, "64 KiB", sized(65536)),
                em(t + 3, "64 KiB + 1", sized(65537)),
            ],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("too many structured metadata labels: '129', limit: '128'"),
        "{text}"
    );
    assert!(
        text.contains("structured metadata too large: '65537' bytes, limit: '65536' bytes"),
        "{text}"
    );
    assert_eq!(lines(&r, &[("app", "a")]), ["128 pairs", "64 KiB"]);
    assert_eq!(r.refused_for(Reason::StructuredMetadataTooMany), 1);
    assert_eq!(r.refused_for(Reason::StructuredMetadataTooLarge), 1);
    // detected_level is not counted in the size.
    let mut with_level = sized(65536);
    with_level.push(("detected_level".into(), "info".into()));
    assert_eq!(
        push_pb(
            &r,
            &[(r#"{app="a"}"#, vec![em(t + 4, "level", with_level)])]
        )
        .0,
        204
    );
}

#[test]
fn marked_lines_are_refused_with_400_and_the_rest_stored() {
    let r = start();
    r.reject_lines_containing("REJECTME");
    let t = now();
    let (status, text) = push_pb(
        &r,
        &[(
            r#"{app="a"}"#,
            vec![e(t, "fine"), e(t + 1, "please REJECTME")],
        )],
    );
    assert_eq!(status, 400, "{text}");
    assert_eq!(lines(&r, &[("app", "a")]), ["fine"]);
    assert_eq!(r.refused_for(Reason::Marked), 1);
}

// ---- JSON ----

#[test]
fn json_structured_metadata_must_be_strings() {
    let r = start();
    let t = now();
    let body = |metadata: &str| {
        format!(r#"{{"streams":[{{"stream":{{"app":"j"}},"values":[["{t}","one",{metadata}]]}}]}}"#)
            .into_bytes()
    };
    for bad in [
        r#"{"n":1}"#,
        r#"{"b":true}"#,
        r#"{"o":{"x":"y"}}"#,
        r#"{"z":null}"#,
        r#""s""#,
    ] {
        let (status, text) = post(&r, &[JSON], body(bad));
        assert_eq!(status, 400, "{bad}: {text}");
    }
    assert_eq!(r.entry_count(), 0);
    assert_eq!(
        r.rejected(),
        0,
        "a body Loki cannot read refuses no entry one by one"
    );
    let (status, text) = post(&r, &[JSON], body(r#"{"trace_id":"t1"}"#));
    assert_eq!(status, 204, "{text}");
    let stored = &r.streams()[&(None, labels(&[("app", "j")]))];
    assert_eq!(
        stored[0].metadata,
        vec![("trace_id".to_string(), "t1".to_string())]
    );
}

#[test]
fn json_is_read_as_loki_reads_it() {
    let r = start();
    let t = now();
    // No streams at all: 422.
    for empty in [r#"{}"#, r#"{"streams":[]}"#, r#"{"streams":null}"#] {
        assert_eq!(post(&r, &[JSON], empty.into()).0, 422, "{empty}");
    }
    // Streams without values are skipped; null entries too; a non-string label value is
    // taken as its text.
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"x"}}}},{{"stream":{{"app":"y","n":5}},"values":[null,["{t}","line"]]}}]}}"#
    );
    let (status, text) = post(&r, &[JSON], body.into_bytes());
    assert_eq!(status, 204, "{text}");
    assert_eq!(lines(&r, &[("app", "y"), ("n", "5")]), ["line"]);
    // A timestamp that is a number, not a string: the whole push is refused.
    let body = format!(r#"{{"streams":[{{"stream":{{"app":"y"}},"values":[[{t},"line"]]}}]}}"#);
    assert_eq!(post(&r, &[JSON], body.into_bytes()).0, 400);
    // A label name Loki cannot parse.
    let body = format!(r#"{{"streams":[{{"stream":{{"a.b":"y"}},"values":[["{t}","l"]]}}]}}"#);
    assert_eq!(post(&r, &[JSON], body.into_bytes()).0, 400);
}

// ---- the body ----

#[test]
fn bodies_over_max_recv_msg_size_get_413() {
    let t = now();
    let body = pb(&[(r#"{app="a"}"#, vec![e(t, &"z".repeat(5000))])]);
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().max_recv_msg_size(body.len()),
    );
    assert_eq!(post(&r, &[PROTOBUF], body.clone()).0, 204);
    r.set_limits(Limits::default().max_recv_msg_size(body.len() - 1));
    let (status, text) = post(&r, &[PROTOBUF], body);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("request body too large"), "{text}");
    assert_eq!(r.requests()[&413], 1);
}

#[test]
fn bodies_decompressing_past_max_decompressed_size_get_413() {
    let t = now();
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().max_decompressed_size(100_000),
    );
    let line = "a".repeat(200_000);
    // Snappy protobuf: the decoded length is read from the block's header.
    let (status, text) = push_pb(&r, &[(r#"{app="a"}"#, vec![e(t, &line)])]);
    assert_eq!(status, 413, "{text}");
    // Gzipped JSON.
    let json = format!(r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["{t}","{line}"]]}}]}}"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let (status, text) = post(
        &r,
        &[JSON, ("content-encoding", "gzip")],
        gz.finish().unwrap(),
    );
    assert_eq!(status, 413, "{text}");
    assert_eq!(r.entry_count(), 0);
}

#[test]
fn the_default_body_limit_is_lokis_not_the_http_frameworks() {
    let r = start();
    let t = now();
    // About 3 MB of random-looking lines, so snappy cannot shrink it under 2 MB.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b'!' + (seed % 90) as u8)
            })
            .collect()
    };
    let entries = (0..12).map(|i| e(t + i, &noise(250_000))).collect();
    let body = pb(&[(r#"{app="big"}"#, entries)]);
    assert!(body.len() > 2_900_000, "{}", body.len());
    let (status, text) = post(&r, &[PROTOBUF], body);
    assert_eq!(status, 204, "{text}");
    assert_eq!(r.entry_count(), 12);
}

#[test]
fn bodies_loki_cannot_read_get_400_or_422() {
    let r = start();
    let t = now();
    let good = pb(&[(r#"{app="a"}"#, vec![e(t, "x")])]);
    let (status, text) = post(&r, &[], good.clone());
    assert_eq!(status, 400, "no Content-Type: {text}");
    let (status, text) = post(&r, &[PROTOBUF, ("content-encoding", "br")], good.clone());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not supported"), "{text}");
    assert_eq!(post(&r, &[PROTOBUF], b"\xff\x00garbage".to_vec()).0, 400);
    assert_eq!(post(&r, &[PROTOBUF], pb(&[])).0, 422, "no streams");
    let (status, _) = push_pb(
        &r,
        &[(r#"{app="a", __backfill__="true"}"#, vec![e(t, "x")])],
    );
    assert_eq!(status, 400, "reserved label");
    assert_eq!(
        push_pb(&r, &[(r#"{app="a"}"#, vec![])]).0,
        204,
        "a stream without entries"
    );
    assert_eq!(r.entry_count(), 0);
    // Snappy said as Content-Encoding, and deflate, are read.
    assert_eq!(
        post(&r, &[PROTOBUF, ("content-encoding", "snappy")], good).0,
        204
    );
    let json =
        format!(r#"{{"streams":[{{"stream":{{"app":"d"}},"values":[["{t}","deflated"]]}}]}}"#);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json.as_bytes()).unwrap();
    let (status, text) = post(
        &r,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("content-encoding", "deflate"),
        ],
        z.finish().unwrap(),
    );
    assert_eq!(status, 204, "{text}");
    assert_eq!(r.entry_count(), 2);
}

#[test]
fn a_tenant_over_its_ingestion_rate_gets_429_and_nothing_is_stored() {
    let limit = RateLimit {
        bytes_per_sec: 1.0,
        burst: 100,
    };
    let r = Receiver::start_with(
        "127.0.0.1:0",
        Limits::default().ingestion_rate_limit(Some(limit)),
    );
    let t = now();
    let line = "q".repeat(60);
    let tenant = ("x-scope-orgid", "team");
    let body = |ts: i64| {
        pb(&[
            (r#"{app="a"}"#, vec![e(ts, &line)]),
            (r#"{app="b"}"#, vec![e(ts, &line)]),
        ])
    };
    let (status, text) = post(&r, &[PROTOBUF, tenant], body(t));
    assert_eq!(status, 429, "{text}");
    assert!(
        text.contains("ingestion rate limit exceeded for user team"),
        "{text}"
    );
    assert_eq!(r.entry_count(), 0);
    assert_eq!(r.refused_for(Reason::RateLimited), 2);
    // A refused push takes no tokens: half of it fits.
    let (status, text) = post(
        &r,
        &[PROTOBUF, tenant],
        pb(&[(r#"{app="a"}"#, vec![e(t, &line)])]),
    );
    assert_eq!(status, 204, "{text}");
    assert_eq!(Limits::loki_ingestion_rate_limit().burst, 6 << 20);
    assert!(Limits::default().ingestion_rate_limit.is_none());
}

#[test]
fn the_hand_written_encoding_matches_the_crates_prost_structs() {
    use loki_receiver::wire;
    use prost::Message;
    let t = 1_700_000_000 * SEC + 42;
    let ours = pb(&[(
        r#"{app="a"}"#,
        vec![em(t, "l", vec![("k".into(), "v".into())])],
    )]);
    let theirs = wire::PushRequest {
        streams: vec![wire::StreamAdapter {
            labels: r#"{app="a"}"#.into(),
            entries: vec![wire::EntryAdapter {
                timestamp: Some(wire::GoogleTimestamp {
                    seconds: 1_700_000_000,
                    nanos: 42,
                }),
                line: "l".into(),
                structured_metadata: vec![wire::LabelPairAdapter {
                    name: "k".into(),
                    value: "v".into(),
                }],
            }],
            hash: 0,
        }],
    };
    let raw = snap::raw::Decoder::new().decompress_vec(&ours).unwrap();
    assert_eq!(raw, theirs.encode_to_vec());
}

#[test]
fn basic_auth_and_injected_statuses_are_answered_and_store_nothing() {
    let r = start();
    r.require_basic("agent", "pw");
    let body = || pb(&[("{app=\"a\"}", vec![e(now(), "x")])]);
    let ct = ("content-type", "application/x-protobuf");
    assert_eq!(post(&r, &[ct], body()).0, 401);
    // "agent:pw" in base64.
    let good = ("authorization", "Basic YWdlbnQ6cHc=");
    r.fail_next([loki_receiver::Fault::Status(403)]);
    assert_eq!(post(&r, &[ct, good], body()).0, 403);
    assert_eq!(r.entry_count(), 0);
    assert_eq!(post(&r, &[ct, good], body()).0, 204);
    assert_eq!(r.entry_count(), 1);
}
