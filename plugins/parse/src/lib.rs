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

/// The field scanners live in the SDK, shared with other plugins (red-metrics).
pub use sluice_plugin::scan;

use serde::Deserialize;
use sluice_plugin::{counter_add, eq_bytes, metric_id, Batch, Config, Plugin};

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
        let wanted = || {
            settings
                .labels
                .iter()
                .chain(&settings.metadata)
                .chain(&settings.timestamp)
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
        for item in items.iter() {
            let value = &buf[item.start as usize..item.end as usize];
            let r = item.record as usize;
            match item.target {
                Target::Label(l) => batch.set_label(r, &self.label_names[l], value),
                Target::Meta(m) => batch.set_metadata(r, &s.metadata[m], value),
                Target::Time(ns) => batch.set_timestamp(r, ns),
            }
        }
        if let (Some(metric), true) = (self.errors_metric, errors > 0) {
            counter_add(metric, &[], errors as f64, None);
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
}
