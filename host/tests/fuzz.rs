//! Fuzzing what takes input from outside: the config loader, the Loki push decoders
//! (protobuf + snappy, JSON), the OTLP logs decoders (protobuf, JSON, and the mapping to
//! records), the Prometheus/OpenMetrics parser, the syslog parser, the container log line
//! decoders (CRI, Docker json-file) and the disk buffer's frame decoder. Each target starts
//! from a corpus kept in the repo (the example pipelines, the broken configs, the scrape
//! fixtures, `tests/fuzz/corpus/`) and from inputs built here, and mutates them (bit flips,
//! interesting bytes, cuts, repeats, splices) for a bounded time (`SLUICE_FUZZ_SECS` per
//! target, 2 by default; CI runs the default). The property: the decoder returns, Ok or a
//! clean error, and never panics. A crashing input is written to `target/fuzz-crashes/` and
//! named in the failure.
//!
//! cargo-fuzz needs a nightly toolchain this machine does not have; this is a plain
//! mutation fuzzer with a fixed seed per run, so a failure is reproducible.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every file under `dir` (sorted), as bytes.
fn files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == ext) || ext.is_empty());
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn budget() -> Duration {
    let secs: f64 = std::env::var("SLUICE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

/// One mutation of `input` (with `other` for splices).
fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..4) {
        let len = out.len();
        match rng.u8(0..7) {
            0 if len > 0 => {
                let i = rng.usize(0..len);
                out[i] ^= 1 << rng.u8(0..8);
            }
            1 if len > 0 => {
                let i = rng.usize(0..len);
                out[i] = *rng
                    .choice(&[0u8, 0xff, 0x7f, 0x80, b'"', b'\\', b'{', b'\n', b'='])
                    .unwrap();
            }
            2 if len > 0 => {
                let a = rng.usize(0..len);
                let b = rng.usize(a..=len.min(a + 64));
                out.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.usize(0..len);
                let b = rng.usize(a..=len.min(a + 64));
                let piece = out[a..b].to_vec();
                let at = rng.usize(0..=out.len());
                out.splice(
                    at..at,
                    piece
                        .iter()
                        .cycle()
                        .take(piece.len() * rng.usize(1..8))
                        .copied(),
                );
            }
            4 => {
                let at = rng.usize(0..=len);
                let junk: Vec<u8> = (0..rng.usize(1..16)).map(|_| rng.u8(..)).collect();
                out.splice(at..at, junk);
            }
            5 if len > 0 => out.truncate(rng.usize(0..len)),
            _ if !other.is_empty() => {
                let cut = rng.usize(0..=out.len());
                let from = rng.usize(0..other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    out
}

/// Runs `target` on the corpus and on mutations of it until the time budget is spent;
/// returns how many inputs ran. A panic fails the test with the input saved.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, target: impl Fn(&[u8])) -> usize {
    assert!(!corpus.is_empty(), "{name}: empty corpus");
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ name.len() as u64);
    let deadline = Instant::now() + budget();
    let mut runs = 0;
    let mut input_at = 0;
    loop {
        let input = if runs < corpus.len() {
            corpus[runs].clone()
        } else {
            let base = &corpus[input_at % corpus.len()];
            let other = &corpus[rng.usize(0..corpus.len())];
            input_at += 1;
            mutate(&mut rng, base, other)
        };
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = repo().join("target/fuzz-crashes");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{name}-{runs}"));
            std::fs::write(&file, &input).unwrap();
            panic!(
                "{name} panicked on input {} ({} bytes)",
                file.display(),
                input.len()
            );
        }
        runs += 1;
        if runs >= corpus.len() && Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("fuzz {name}: {runs} inputs, no panic");
    runs
}

#[test]
fn the_config_loader_never_panics() {
    let mut corpus = files(&repo().join("pipelines"), "toml");
    corpus.extend(files(&repo().join("host/tests/configs/broken"), "toml"));
    corpus.extend(files(&repo().join("tests/fuzz/corpus/config"), ""));
    let path = repo().join("pipelines/fuzzed.toml");
    fuzz("config", corpus, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = sluice::config::load_str(&text, &path, &sluice::topology::SCHEMA);
    });
}

fn push_request() -> sluice::loki::proto::PushRequest {
    use sluice::loki::proto::{Entry, LabelPair, PushRequest, Stream, Timestamp};
    PushRequest {
        streams: vec![Stream {
            labels: b"{app=\"api\", env=\"prod\"}".to_vec(),
            entries: (0..3)
                .map(|i| Entry {
                    timestamp: Some(Timestamp {
                        seconds: 1_700_000_000 + i,
                        nanos: 5,
                    }),
                    line: format!("line {i} caf\u{e9}").into_bytes(),
                    structured_metadata: vec![LabelPair {
                        name: b"trace_id".to_vec(),
                        value: b"4bf92f3577b34da6".to_vec(),
                    }],
                })
                .collect(),
            hash: 0,
        }],
    }
}

#[test]
fn the_loki_push_decoders_never_panic() {
    let request = push_request();
    let mut corpus = vec![sluice::loki::proto::encode(&request)];
    corpus.extend(files(&repo().join("tests/fuzz/corpus/loki_proto"), ""));
    fuzz("loki_proto", corpus, |bytes| {
        let _ = sluice::loki::proto::decode(bytes, 1 << 20);
    });
    let mut corpus = vec![
        br#"{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","a line"],["1700000000000000001","with metadata",{"trace_id":"abc"}]]}]}"#.to_vec(),
    ];
    corpus.extend(files(&repo().join("tests/fuzz/corpus/loki_json"), ""));
    fuzz("loki_json", corpus, |bytes| {
        let _ = sluice::loki::json::decode(bytes);
    });
}

/// An OTLP logs request with every kind of value, as protobuf.
fn otlp_request() -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value::Value, AnyValue, ArrayValue, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;
    let v = |value: Value| Some(AnyValue { value: Some(value) });
    let kv = |key: &str, value: Value| KeyValue {
        key: key.into(),
        value: v(value),
        ..Default::default()
    };
    let list = Value::KvlistValue(KeyValueList {
        values: vec![
            kv("n", Value::IntValue(-3)),
            kv("d", Value::DoubleValue(0.5)),
            kv("b", Value::BytesValue(vec![0, 255])),
            kv(
                "a",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::BoolValue(true)),
                    }],
                }),
            ),
        ],
    });
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("api".into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_number: 17,
                        body: v(Value::StringValue("caf\u{e9}".into())),
                        attributes: vec![kv("map", list.clone())],
                        trace_id: vec![7; 16],
                        span_id: vec![8; 8],
                        ..Default::default()
                    },
                    LogRecord {
                        body: v(list),
                        trace_id: vec![1, 2],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[test]
fn the_otlp_decoders_never_panic() {
    use sluice::sources::otlp::{convert, wire};
    let mapping = convert::Mapping::new(&["service.name".to_string()], vec![], 64);
    let mapping = &mapping;
    let target = |encoding: wire::Encoding| {
        move |bytes: &[u8]| {
            if let Ok(request) = wire::decode(bytes, encoding) {
                let out = convert::convert(&request, mapping, 1);
                assert!(out.batch.validate().is_ok());
            }
        }
    };
    let mut corpus = vec![otlp_request()];
    corpus.extend(files(&repo().join("tests/fuzz/corpus/otlp_proto"), ""));
    fuzz("otlp_proto", corpus, target(wire::Encoding::Protobuf));
    let corpus = files(&repo().join("tests/fuzz/corpus/otlp_json"), "json");
    fuzz("otlp_json", corpus, target(wire::Encoding::Json));
}

#[test]
fn the_prometheus_parser_never_panics() {
    use sluice::sources::prometheus_scrape::parse::{parse, Format};
    let fixtures = repo().join("host/tests/fixtures/scrape");
    let corpus = [files(&fixtures, "prom"), files(&fixtures, "om")].concat();
    fuzz("prometheus_text", corpus.clone(), |bytes| {
        let _ = parse(bytes, Format::Text, 10_000);
    });
    fuzz("openmetrics", corpus, |bytes| {
        let _ = parse(bytes, Format::OpenMetrics, 10_000);
    });
}

#[test]
fn the_syslog_parser_never_panics() {
    let mut corpus = vec![
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] BOM'su root' failed".to_vec(),
        b"<13>Feb  5 17:32:18 10.0.0.99 myapp[123]: Use the BFG!".to_vec(),
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time".to_vec(),
    ];
    // Inputs that once crashed the parser stay in the corpus.
    corpus.extend(files(&repo().join("tests/fuzz/corpus/syslog"), ""));
    fuzz("syslog", corpus, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = sluice::sources::syslog::parse(&text);
    });
}

#[test]
fn the_container_log_decoders_never_panic() {
    use sluice::sources::file::LineDecoder;
    use sluice::sources::kubernetes_logs::lines::{ContainerLines, Format};
    let telemetry = sluice::telemetry::Telemetry::new();
    let metrics = telemetry.component("fuzz", "kubernetes_logs");
    let corpus = vec![
        b"2026-12-07T10:00:00.123456789Z stdout F GET /cart 200\n2026-12-07T10:00:01Z stderr P half \n2026-12-07T10:00:02+01:00 stderr F done\n".to_vec(),
        b"{\"log\":\"split \",\"stream\":\"stdout\",\"time\":\"2026-12-07T10:00:00.5Z\"}\n{\"log\":\"line \\u00e9\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-07T10:00:01Z\"}\n".to_vec(),
    ];
    fuzz("container log lines", corpus, |bytes| {
        for format in [Format::Auto, Format::Cri, Format::Docker] {
            // A small line limit, so joined lines reach it.
            let mut lines = ContainerLines::new(format, 64, metrics.clone());
            let mut at = 0;
            for line in bytes.split(|b| *b == b'\n') {
                let _ = lines.decode(line, at);
                at += line.len() as u64 + 1;
                assert!(lines.held_from().is_none_or(|from| from < at));
            }
            while lines.finish().is_some() {}
            assert_eq!(lines.held_from(), None);
        }
    });
}

#[test]
fn the_disk_buffer_frame_decoder_never_panics() {
    use sluice::event::{Events, LogBatch};
    let mut b = LogBatch::default();
    let set = b.intern_labels(&[("app".into(), "x".into())]);
    b.push("one", 1, set, &[("k", "v")]);
    b.push("two", 2, set, &[]);
    let mut frame = Vec::new();
    sluice::buffer::frame::encode(&Events::Logs(b), &mut frame);
    fuzz("buffer_frame", vec![frame.clone()], |bytes| {
        let _ = sluice::buffer::frame::decode(bytes);
    });
    // Past the checksum: mutated payloads under a valid header, so the payload decoder
    // itself is fuzzed (lengths, counts, UTF-8, column rules).
    let payload = frame[sluice::buffer::frame::HEADER..].to_vec();
    fuzz("buffer_payload", vec![payload], |bytes| {
        let mut framed = (bytes.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        framed.extend_from_slice(bytes);
        if let Ok(Events::Logs(b)) = sluice::buffer::frame::decode(&framed) {
            b.validate().expect("what decodes holds the column rules");
        }
    });
}
