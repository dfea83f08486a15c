//! parse: lifts fields of JSON or logfmt log lines into labels, metadata and timestamps.
//!
//! Each line is read as a JSON object or as logfmt (`key=value key2="quoted value"`); the
//! named top-level fields become labels (low-cardinality stream identity such as `level`)
//! or structured metadata (per-record values such as `trace_id`) of the record, and one
//! field can set the record's timestamp. The line itself stays unchanged unless
//! `keep_line` is false. Lines that do not parse are left untouched and counted in the
//! counter `parse_errors_total` when the pipeline declares it (no labels); they are not an
//! error.
//!
//! Config (the transform's `config` table; unknown keys are init errors):
//!
//! - `format`: `"json"`, `"logfmt"` or `"auto"` (default: a line starting with `{` is JSON,
//!   anything else logfmt).
//! - `labels`: field names to lift into labels (default none). A label is named like its
//!   field, with characters Loki does not allow in label names replaced by `_`; `null` and
//!   empty values are skipped.
//! - `metadata`: field names to lift into structured metadata (default none); `null` values
//!   are skipped.
//! - `timestamp`: the field holding the record time (default none): RFC 3339, or a Unix time
//!   in seconds, ms, us or ns (told apart by magnitude). A value that does not parse leaves
//!   the record's timestamp as it was.
//! - `keep_line`: default `true`. With `false`, the lifted fields are removed from the line
//!   (the remaining fields keep their text; JSON is re-joined with `,`, logfmt with a space).
//! - `traceparent`: a field holding a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`):
//!   a valid one becomes metadata `trace_id` and `span_id` (a `trace_id` or `span_id` the
//!   record already has, or a `metadata` field of that name, wins).
//! - `trace_ids`: names among `metadata` whose values must be W3C ids: 32 hex digits (a trace
//!   id) or 16 (a span id), not all zeros; upper case is lowered. An invalid one (and an
//!   invalid `traceparent`) is not lifted, stays in the line, and is counted in
//!   `parse_invalid_trace_ids_total`, which the plugin declares itself.

/// The field scanners live in the SDK, shared with other plugins (red-metrics).
pub use sluice_plugin::scan;

use serde::Deserialize;
use sluice_plugin::{
    counter_add, declare_metric, eq_bytes, metric_id, Batch, Config, MetricDecl, MetricType, Plugin,
};

/// How lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON object per line.
    Json,
    /// `key=value` pairs.
    Logfmt,
    /// JSON when the line starts with `{`, else logfmt.
    Auto,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "auto")]
    format: Format,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    metadata: Vec<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default = "yes")]
    keep_line: bool,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    trace_ids: Vec<String>,
}

fn auto() -> Format {
    Format::Auto
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Label(usize),
    Meta(usize),
    Time(i64),
    TraceParent,
}

/// Whether a field name looks like a per-request value (an id), which must not be a label.
pub fn per_request(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "trace",
        "span",
        "request",
        "req",
        "session",
        "user",
        "correlation",
    ]
    .iter()
    .any(|p| n.starts_with(p) && (n.ends_with("id") || n.ends_with("_ids")))
        || n == "id"
        || n == "uuid"
        || n == "traceparent"
}

/// `value` as a W3C trace id (32 hex) or span id (16 hex), lowercased; None if it is
/// neither, or all zeros.
pub fn w3c_id(value: &str) -> Option<String> {
    let ok = (value.len() == 32 || value.len() == 16)
        && value.bytes().all(|b| b.is_ascii_hexdigit())
        && !value.bytes().all(|b| b == b'0');
    ok.then(|| value.to_ascii_lowercase())
}

/// A W3C `traceparent`'s trace id and span id, if it is valid (version not `ff`, ids of
/// the right length, hex, not all zeros).
pub fn split_traceparent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(version, 2) || version.eq_ignore_ascii_case("ff") || !hex(flags, 2) {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let (trace, span) = (w3c_id(trace)?, w3c_id(span)?);
    (trace.len() == 32 && span.len() == 16).then_some((trace, span))
}

/// A value extracted from record `record`: `buf[start..end]` for labels and metadata.
#[derive(Debug, Clone, Copy)]
struct Item {
    record: u32,
    target: Target,
    start: u32,
    end: u32,
}

/// The parse plugin.
#[derive(Debug)]
pub struct Parse {
    settings: Settings,
    /// Label names, sanitized from `settings.labels`.
    label_names: Vec<String>,
    errors_metric: Option<u32>,
    invalid_ids_metric: Option<u32>,
    /// Per `metadata` name: whether its value must be a W3C id (`trace_ids`).
    validated: Vec<bool>,
    /// Bit `n` set when a wanted field name (label, metadata or timestamp) is `n` bytes
    /// long (63 stands for 63 and longer): most keys of a line are not wanted, and this
    /// turns them away without comparing names (the comparisons were ~20% of the plugin).
    wanted_lengths: u64,
    /// Bit `c` set when a wanted field name starts with byte `c`: with the lengths, turns
    /// away keys such as `status` when `req_id` is wanted.
    wanted_first: [u64; 4],
    buf: String,
    items: Vec<Item>,
}

/// The bit of [`Parse::wanted_lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Whether a key may be a wanted name, by its length and first byte (a key of unwanted
/// length or first byte is not; one that passes is compared in full).
#[inline(always)]
fn may_be_wanted(lengths: u64, first: &[u64; 4], key: &[u8]) -> bool {
    lengths & length_bit(key.len()) != 0
        && key
            .first()
            .is_none_or(|&c| first[(c >> 6) as usize] & (1 << (c & 63)) != 0)
}

/// `name` with every character not allowed in a Loki label name (`[a-zA-Z_][a-zA-Z0-9_]*`)
/// replaced by `_`.
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

impl Plugin for Parse {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.parse()?;
        if let Some(name) = settings
            .labels
            .iter()
            .chain(&settings.metadata)
            .find(|n| n.is_empty())
        {
            return Err(format!("empty field name `{name}` in labels or metadata"));
        }
        for name in settings.labels.iter().filter(|n| per_request(n)) {
            sluice_plugin::log(
                sluice_plugin::Level::Warn,
                &format!(
                    "labels: `{name}` looks like a per-request value; as a label it makes a Loki stream per request (put it in `metadata`)"
                ),
            );
        }
        if let Some(name) = settings
            .trace_ids
            .iter()
            .find(|n| !settings.metadata.contains(n))
        {
            return Err(format!(
                "trace_ids: `{name}` is not among `metadata` (only lifted fields are validated)"
            ));
        }
        let wanted = || {
            settings
                .labels
                .iter()
                .chain(&settings.metadata)
                .chain(&settings.timestamp)
                .chain(&settings.traceparent)
        };
        let wanted_lengths = wanted().fold(0, |bits, name| bits | length_bit(name.len()));
        let mut wanted_first = [0u64; 4];
        for c in wanted().filter_map(|name| name.bytes().next()) {
            wanted_first[(c >> 6) as usize] |= 1 << (c & 63);
        }
        Ok(Parse {
            wanted_lengths,
            wanted_first,
            label_names: settings.labels.iter().map(|n| label_name(n)).collect(),
            validated: settings
                .metadata
                .iter()
                .map(|m| settings.trace_ids.contains(m))
                .collect(),
            invalid_ids_metric: if settings.traceparent.is_some() || !settings.trace_ids.is_empty()
            {
                Some(declare_metric(MetricDecl {
                    name: "parse_invalid_trace_ids_total",
                    kind: MetricType::Counter,
                    help: "Trace ids, span ids and traceparents that were not valid W3C ids (left in the line, not lifted)",
                    unit: None,
                    labels: &[],
                    buckets: &[],
                })?)
            } else {
                None
            },
            settings,
            errors_metric: metric_id("parse_errors_total"),
            buf: String::new(),
            items: Vec::new(),
        })
    }

    fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
        let s = &self.settings;
        let (buf, items) = (&mut self.buf, &mut self.items);
        let (wanted_lengths, wanted_first) = (self.wanted_lengths, self.wanted_first);
        buf.clear();
        items.clear();
        let mut errors = 0u64;
        batch.map_lines(|i, line, out| {
            let (mark, buf_mark) = (items.len(), buf.len());
            let json = match s.format {
                Format::Json => true,
                Format::Logfmt => false,
                Format::Auto => line.trim_start().starts_with('{'),
            };
            let (sep, mut first, mut removed) = (if json { ',' } else { ' ' }, true, false);
            // `out` is the line without the lifted fields, wanted only without keep_line.
            let rewrite = json && !s.keep_line;
            if rewrite {
                out.push('{');
            }
            let on_field = |f: scan::Field<'_>| {
                let mut used = false;
                // Most keys are turned away by their length and first byte alone.
                if may_be_wanted(wanted_lengths, &wanted_first, f.key.as_bytes()) {
                    let mut push = |target| {
                        let start = buf.len() as u32;
                        buf.push_str(&f.value);
                        items.push(Item {
                            record: i as u32,
                            target,
                            start,
                            end: buf.len() as u32,
                        });
                    };
                    let null = !f.quoted && f.value == "null";
                    let key = f.key.as_bytes();
                    for (l, name) in s.labels.iter().enumerate() {
                        if eq_bytes(name.as_bytes(), key) {
                            if !null && !f.value.is_empty() {
                                push(Target::Label(l));
                            }
                            used = true;
                        }
                    }
                    for (m, name) in s.metadata.iter().enumerate() {
                        if eq_bytes(name.as_bytes(), key) {
                            if !null {
                                push(Target::Meta(m));
                            }
                            used = true;
                        }
                    }
                    if s.traceparent.as_deref() == Some(&*f.key) {
                        if !null {
                            push(Target::TraceParent);
                        }
                        used = true;
                    }
                    if s.timestamp.as_deref() == Some(&*f.key) {
                        if let Some(ns) = scan::timestamp(&f.value) {
                            push(Target::Time(ns));
                        }
                        used = true;
                    }
                }
                if !s.keep_line {
                    if used {
                        removed = true;
                    } else {
                        if !first {
                            out.push(sep);
                        }
                        out.push_str(&line[f.span]);
                        first = false;
                    }
                }
            };
            let parsed = if json {
                if s.keep_line {
                    // Only wanted fields need a `Field`; the rest are checked and skipped.
                    let wanted = |key: &[u8]| may_be_wanted(wanted_lengths, &wanted_first, key);
                    scan::json_wanted(line, wanted, on_field)
                } else {
                    scan::json(line, on_field)
                }
            } else {
                scan::logfmt(line, on_field)
            };
            if parsed.is_err() {
                items.truncate(mark);
                buf.truncate(buf_mark);
                errors += 1;
                return false;
            }
            if rewrite {
                out.push('}');
            }
            removed
        });
        let mut invalid_ids = 0u64;
        for item in items.iter() {
            let value = &buf[item.start as usize..item.end as usize];
            let r = item.record as usize;
            match item.target {
                Target::Label(l) => batch.set_label(r, &self.label_names[l], value),
                Target::Meta(m) if self.validated[m] => match w3c_id(value) {
                    Some(id) => batch.set_metadata(r, &s.metadata[m], &id),
                    None => invalid_ids += 1,
                },
                Target::Meta(m) => batch.set_metadata(r, &s.metadata[m], value),
                Target::Time(ns) => batch.set_timestamp(r, ns),
                Target::TraceParent => match split_traceparent(value) {
                    Some((trace, span)) => {
                        // A trace_id or span_id the record has (a field lifted before this
                        // one, or metadata it came with) wins; one lifted after overwrites.
                        if batch.record(r).metadata_value("trace_id").is_none() {
                            batch.set_metadata(r, "trace_id", &trace);
                        }
                        if batch.record(r).metadata_value("span_id").is_none() {
                            batch.set_metadata(r, "span_id", &span);
                        }
                    }
                    None => invalid_ids += 1,
                },
            }
        }
        if let (Some(metric), true) = (self.errors_metric, errors > 0) {
            counter_add(metric, &[], errors as f64, None);
        }
        if let (Some(metric), true) = (self.invalid_ids_metric, invalid_ids > 0) {
            counter_add(metric, &[], invalid_ids as f64, None);
        }
        Ok(())
    }
}

sluice_plugin::export_plugin!(Parse);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin::validate;

    fn plugin(config: &str) -> Parse {
        Parse::init(Config::from_json(config).unwrap()).unwrap()
    }

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::new();
        for l in lines {
            b.push(l, 7, &[("app", "web")], &[("keep", "k")]);
        }
        b
    }

    #[test]
    fn lifts_json_and_logfmt_fields() {
        let mut p =
            plugin(r#"{"labels":["level"],"metadata":["trace_id","req_id"],"timestamp":"ts"}"#);
        let lines = [
            r#"{"ts":"2024-01-15T10:23:45Z","level":"info","trace_id":"abc","msg":"hi"}"#,
            r#"ts=1705314225 level=warn req_id="r 1" msg="hello there""#,
            "not structured at all",
            r#"{"level":null,"trace_id":"t2","broken": }"#,
            r#"{"level":"info","trace_id":"t3"}"#,
        ];
        let mut b = batch(&lines);
        p.process(&mut b).unwrap();
        let out = b.into_log_batch();
        validate(&out).unwrap();
        let b = Batch::from(out);
        let r: Vec<_> = b.iter().collect();
        assert_eq!(r[0].line(), lines[0]);
        assert_eq!(r[0].label("level"), Some("info"));
        assert_eq!(r[0].label("app"), Some("web"));
        assert_eq!(
            r[0].metadata().collect::<Vec<_>>(),
            [("keep", "k"), ("trace_id", "abc")]
        );
        assert_eq!(r[0].timestamp(), 1_705_314_225_000_000_000);
        assert_eq!(r[1].label("level"), Some("warn"));
        assert_eq!(r[1].metadata_value("req_id"), Some("r 1"));
        assert_eq!(r[1].timestamp(), 1_705_314_225_000_000_000);
        for k in [2, 3] {
            assert_eq!(r[k].line(), lines[k]);
            assert_eq!(r[k].labels().len(), 1);
            assert_eq!(r[k].metadata().count(), 1);
            assert_eq!(r[k].timestamp(), 7);
        }
        assert_eq!(r[4].labels(), r[0].labels());
        assert_eq!(b.columns().label_sets.len(), 3); // {app}, {app,level=info}, {app,level=warn}
    }

    #[test]
    fn keys_are_turned_away_by_length_and_first_byte_only_when_unwanted() {
        let p = plugin(r#"{"labels":["level"],"metadata":["req_id"],"timestamp":""}"#);
        let may = |k: &str| may_be_wanted(p.wanted_lengths, &p.wanted_first, k.as_bytes());
        for (key, expected) in [
            ("level", true),
            ("req_id", true),
            ("rXq_id", true), // passes the filter; the full comparison turns it away
            ("status", false),
            ("levels", true), // the length of req_id, the first byte of level
            ("levelx", true),
            ("lev", false),
            ("", true),
            ("é", false),
        ] {
            assert_eq!(may(key), expected, "{key}");
        }
        let mut p = plugin(r#"{"labels":["level"],"metadata":["req_id"]}"#);
        let mut b = batch(&[r#"{"status":500,"req_id":"r1","rXq_id":"no","level":"info"}"#]);
        p.process(&mut b).unwrap();
        let b = Batch::from(b.into_log_batch());
        assert_eq!(b.record(0).metadata_value("req_id"), Some("r1"));
        assert_eq!(b.record(0).metadata_value("status"), None);
        assert_eq!(b.record(0).label("level"), Some("info"));
    }

    #[test]
    fn keep_line_false_removes_lifted_fields() {
        let mut p = plugin(r#"{"labels":["level"],"metadata":["trace_id"],"keep_line":false}"#);
        let mut b = batch(&[
            r#"{"level":"info", "msg":"hi","trace_id":"x", "n":1}"#,
            r#"level=info msg="a b" trace_id=x"#,
            r#"{"msg":"nothing lifted"}"#,
        ]);
        p.process(&mut b).unwrap();
        let lines: Vec<_> = b.iter().map(|r| r.line().to_owned()).collect();
        assert_eq!(
            lines,
            [
                r#"{"msg":"hi","n":1}"#,
                r#"msg="a b""#,
                r#"{"msg":"nothing lifted"}"#
            ]
        );
    }

    #[test]
    fn fixed_format_and_label_names() {
        let mut p = plugin(r#"{"format":"logfmt","labels":["http.status"]}"#);
        let mut b = batch(&[r#"{"http.status":"200"}"#, "http.status=404"]);
        p.process(&mut b).unwrap();
        assert_eq!(b.record(0).label("http_status"), None); // JSON line, logfmt parser
        assert_eq!(b.record(1).label("http_status"), Some("404"));
        assert_eq!(label_name("1x-y"), "_1x_y");
    }

    #[test]
    fn config_errors() {
        for (bad, needle) in [
            (r#"{"format":"xml"}"#, "xml"),
            (r#"{"lables":["x"]}"#, "lables"),
            (r#"{"labels":"level"}"#, "labels"),
            (r#"{"keep_line":"no"}"#, "keep_line"),
        ] {
            let e = Parse::init(Config::from_json(bad).unwrap()).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        plugin("{}");
    }

    #[test]
    fn traceparents_are_split_and_w3c_ids_validated() {
        let mut p = plugin(
            r#"{"metadata":["trace_id","request_id"],"trace_ids":["trace_id"],"traceparent":"traceparent"}"#,
        );
        let lines = [
            r#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","request_id":"r1"}"#,
            r#"{"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736"}"#,
            r#"{"trace_id":"not-an-id","traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}"#,
            r#"traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 trace_id=0af7651916cd43dd8448eb211c80319c"#,
        ];
        let mut b = batch(&lines);
        p.process(&mut b).unwrap();
        let b = Batch::from(b.into_log_batch());
        let r: Vec<_> = b.iter().collect();
        assert_eq!(
            r[0].metadata_value("trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(r[0].metadata_value("span_id"), Some("00f067aa0ba902b7"));
        assert_eq!(r[0].metadata_value("request_id"), Some("r1"));
        assert_eq!(
            r[1].metadata_value("trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            "lowered"
        );
        assert_eq!(
            r[2].metadata_value("trace_id"),
            None,
            "invalid ids are not lifted"
        );
        assert_eq!(r[2].metadata_value("span_id"), None);
        assert_eq!(r[2].line(), lines[2], "and stay in the line");
        assert_eq!(
            r[3].metadata_value("trace_id"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(r[3].metadata_value("span_id"), Some("b7ad6b7169203331"));
    }

    #[test]
    fn per_request_names_are_told() {
        for yes in [
            "trace_id",
            "traceId",
            "span_id",
            "request_id",
            "req_id",
            "user_id",
            "id",
            "traceparent",
        ] {
            assert!(per_request(yes), "{yes}");
        }
        for no in ["level", "service", "route", "status", "valid"] {
            assert!(!per_request(no), "{no}");
        }
    }

    #[test]
    fn trace_ids_must_be_lifted_fields() {
        let e =
            Parse::init(Config::from_json(r#"{"trace_ids":["trace_id"]}"#).unwrap()).unwrap_err();
        assert!(e.contains("not among `metadata`"), "{e}");
    }
}
