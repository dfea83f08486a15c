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
//!
//!   An entry of `labels` or `metadata` is a field name, or a table `{ field = "ctx.trace.id",
//!   name = "trace_id" }` that names what it becomes. A dotted name is first a top-level key
//!   of that exact name (`"http.status"`), then a path into nested JSON objects
//!   (`{"ctx":{"trace":{"id":"..."}}}`); a value found by a path is lifted but the object
//!   holding it stays in the line even without `keep_line`.
//! - `patterns`: regular expressions for lines that are plain text (or hide an id inside a
//!   message): every named group that matches becomes metadata of its name (`'req=(?P<request_id>\S+)'`);
//!   a group named `traceparent` is split like the `traceparent` field. Each line is tried
//!   against every pattern, JSON and logfmt lines too; a value a field lifted, or metadata the
//!   record came with, wins over a pattern's.
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
    counter_add, declare_metric, eq_bytes, metric_id, push_short, Batch, Config, MetricDecl,
    MetricType, Plugin,
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

/// An entry of `labels` or `metadata`: a field name, or a field (a name or dotted path)
/// and the name it is lifted as.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldEntry {
    Name(String),
    Renamed {
        field: String,
        #[serde(default)]
        name: Option<String>,
    },
}

/// A wanted field, as `init` reads its entry.
#[derive(Debug, Clone)]
struct Wanted {
    /// The top-level key matched literally (the whole entry, dots and all).
    field: String,
    /// What it is lifted as (a label name is sanitized from this).
    name: String,
    /// For a dotted entry: the first segment (a top-level key) and the rest of the path.
    path: Option<(String, Vec<String>)>,
}

impl From<FieldEntry> for Wanted {
    fn from(entry: FieldEntry) -> Wanted {
        let (field, name) = match entry {
            FieldEntry::Name(n) => (n.clone(), n),
            FieldEntry::Renamed { field, name } => (field.clone(), name.unwrap_or(field)),
        };
        let mut segments = field.split('.');
        let head = segments.next().unwrap_or_default().to_owned();
        let rest: Vec<String> = segments.map(str::to_owned).collect();
        let path = (!rest.is_empty() && !head.is_empty() && rest.iter().all(|s| !s.is_empty()))
            .then_some((head, rest));
        Wanted { field, name, path }
    }
}

fn wanted_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Wanted>, D::Error> {
    Ok(Vec::<FieldEntry>::deserialize(d)?
        .into_iter()
        .map(Wanted::from)
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "auto")]
    format: Format,
    #[serde(default, deserialize_with = "wanted_list")]
    labels: Vec<Wanted>,
    #[serde(default, deserialize_with = "wanted_list")]
    metadata: Vec<Wanted>,
    #[serde(default)]
    patterns: Vec<String>,
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
    /// A named group of a pattern: an index into `Parse::pattern_names`.
    Pattern(usize),
}

/// What a named group of a pattern becomes.
#[derive(Debug, Clone, Copy)]
enum GroupTarget {
    /// Metadata: an index into `Parse::pattern_names`.
    Meta(usize),
    /// A traceparent to split.
    TraceParent,
}

/// A compiled `patterns` entry and what its named groups become.
#[derive(Debug)]
struct Pattern {
    regex: regex::Regex,
    groups: Vec<(usize, GroupTarget)>,
}

/// The value at `path` inside the JSON object text `object` (each segment a key of the
/// object before it), and whether it was a string; None when a segment is missing or a value
/// on the way is not an object.
fn walk(object: &str, path: &[String]) -> Option<(String, bool)> {
    // The text being walked: the top-level value, then each nested value found (only a
    // value with escapes is unescaped into a new string).
    let mut current: (std::borrow::Cow<'_, str>, bool) = (object.into(), false);
    for segment in path {
        if current.1 || !current.0.trim_start().starts_with('{') {
            return None;
        }
        let mut found = None;
        scan::json(&current.0, |g| {
            if g.key == segment.as_str() {
                found = Some((g.value.into_owned(), g.quoted));
            }
        })
        .ok()?;
        current = found.map(|(v, q)| (v.into(), q))?;
    }
    Some((current.0.into_owned(), current.1))
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
    /// `patterns`, compiled.
    patterns: Vec<Pattern>,
    /// The metadata names of the patterns' named groups, and whether each is validated.
    pattern_names: Vec<(String, bool)>,
    /// The wanted top-level keys (labels, metadata, timestamp, traceparent, a path's first
    /// segment): most keys of a line are not wanted, and this turns them away by length and
    /// first byte without comparing names (the comparisons were ~20% of the plugin).
    wanted: scan::KeyFilter,
    buf: String,
    items: Vec<Item>,
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
        if let Some(w) = settings
            .labels
            .iter()
            .chain(&settings.metadata)
            .find(|w| w.field.is_empty() || w.name.is_empty())
        {
            return Err(format!(
                "empty field name `{}` in labels or metadata",
                w.field
            ));
        }
        for name in settings
            .labels
            .iter()
            .map(|w| &w.name)
            .filter(|n| per_request(n))
        {
            sluice_plugin::log(
                sluice_plugin::Level::Warn,
                &format!(
                    "labels: `{name}` looks like a per-request value; as a label it makes a Loki stream per request (put it in `metadata`)"
                ),
            );
        }
        let mut patterns = Vec::new();
        let mut pattern_names: Vec<(String, bool)> = Vec::new();
        for (i, source) in settings.patterns.iter().enumerate() {
            let regex = regex::Regex::new(source).map_err(|e| {
                format!("patterns[{i}]: `{source}` is not a regular expression: {e}")
            })?;
            let mut groups = Vec::new();
            for (g, name) in regex.capture_names().enumerate() {
                let Some(name) = name else { continue };
                let target = if name == "traceparent" {
                    GroupTarget::TraceParent
                } else {
                    let at = match pattern_names.iter().position(|(n, _)| n == name) {
                        Some(at) => at,
                        None => {
                            let validated = settings.trace_ids.iter().any(|t| t == name);
                            pattern_names.push((name.to_owned(), validated));
                            pattern_names.len() - 1
                        }
                    };
                    GroupTarget::Meta(at)
                };
                groups.push((g, target));
            }
            if groups.is_empty() {
                return Err(format!(
                    "patterns[{i}]: `{source}` has no named group (`(?P<request_id>...)`): nothing to lift"
                ));
            }
            patterns.push(Pattern { regex, groups });
        }
        if let Some(name) = settings.trace_ids.iter().find(|n| {
            !settings.metadata.iter().any(|m| &m.name == *n)
                && !pattern_names.iter().any(|(p, _)| p == *n)
        }) {
            return Err(format!(
                "trace_ids: `{name}` is not among `metadata` or the `patterns`' groups (only lifted fields are validated)"
            ));
        }
        // The top-level keys wanted: each entry's whole name, and a path's first segment.
        let wanted = || {
            settings
                .labels
                .iter()
                .chain(&settings.metadata)
                .flat_map(|w| {
                    std::iter::once(&w.field).chain(w.path.as_ref().map(|(head, _)| head))
                })
                .chain(&settings.timestamp)
                .chain(&settings.traceparent)
        };
        let wanted = scan::KeyFilter::new(wanted().map(String::as_str));
        let validates = settings.traceparent.is_some()
            || !settings.trace_ids.is_empty()
            || patterns.iter().any(|p| {
                p.groups
                    .iter()
                    .any(|(_, t)| matches!(t, GroupTarget::TraceParent))
            });
        Ok(Parse {
            wanted,
            label_names: settings
                .labels
                .iter()
                .map(|w| label_name(&w.name))
                .collect(),
            validated: settings
                .metadata
                .iter()
                .map(|m| settings.trace_ids.contains(&m.name))
                .collect(),
            patterns,
            pattern_names,
            invalid_ids_metric: if validates {
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
        let patterns = &self.patterns;
        let (buf, items) = (&mut self.buf, &mut self.items);
        let key_filter = self.wanted;
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
            let push = |buf: &mut String, items: &mut Vec<Item>, target, value: &str| {
                let start = buf.len() as u32;
                push_short(buf, value);
                items.push(Item {
                    record: i as u32,
                    target,
                    start,
                    end: buf.len() as u32,
                });
            };
            let on_field = |f: scan::Field<'_>| {
                let mut used = false;
                // Most keys are turned away by their length and first byte alone.
                if key_filter.may_match(f.key.as_bytes()) {
                    let null = !f.quoted && f.value == "null";
                    let key = f.key.as_bytes();
                    let wanted = s
                        .labels
                        .iter()
                        .enumerate()
                        .map(|(l, w)| (w, Target::Label(l)))
                        .chain(
                            s.metadata
                                .iter()
                                .enumerate()
                                .map(|(m, w)| (w, Target::Meta(m))),
                        );
                    for (w, target) in wanted {
                        if eq_bytes(w.field.as_bytes(), key) {
                            let empty_label =
                                matches!(target, Target::Label(_)) && f.value.is_empty();
                            if !null && !empty_label {
                                push(buf, items, target, &f.value);
                            }
                            used = true;
                        } else if let Some((head, rest)) = &w.path {
                            // A nested value: lifted, but its object stays in the line.
                            if !f.quoted && eq_bytes(head.as_bytes(), key) {
                                if let Some((value, quoted)) = walk(&f.value, rest) {
                                    let null = !quoted && value == "null";
                                    let empty_label =
                                        matches!(target, Target::Label(_)) && value.is_empty();
                                    if !null && !empty_label {
                                        push(buf, items, target, &value);
                                    }
                                }
                            }
                        }
                    }
                    if s.traceparent.as_deref() == Some(&*f.key) {
                        if !null {
                            push(buf, items, Target::TraceParent, &f.value);
                        }
                        used = true;
                    }
                    if s.timestamp.as_deref() == Some(&*f.key) {
                        if let Some(ns) = scan::timestamp(&f.value) {
                            push(buf, items, Target::Time(ns), "");
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
                    let wanted = |key: &[u8]| key_filter.may_match(key);
                    scan::json_wanted(line, wanted, on_field)
                } else {
                    scan::json(line, on_field)
                }
            } else if s.labels.is_empty()
                && s.metadata.is_empty()
                && s.timestamp.is_none()
                && s.traceparent.is_none()
                && !patterns.is_empty()
            {
                // Patterns only: a plain-text line is not an error.
                Ok(())
            } else {
                scan::logfmt(line, on_field)
            };
            if parsed.is_err() {
                items.truncate(mark);
                buf.truncate(buf_mark);
                errors += 1;
            }
            for pattern in patterns {
                let Some(caps) = pattern.regex.captures(line) else {
                    continue;
                };
                for &(group, target) in &pattern.groups {
                    if let Some(m) = caps.get(group) {
                        let target = match target {
                            GroupTarget::Meta(at) => Target::Pattern(at),
                            GroupTarget::TraceParent => Target::TraceParent,
                        };
                        push(buf, items, target, m.as_str());
                    }
                }
            }
            if parsed.is_err() {
                return false;
            }
            if rewrite {
                out.push('}');
            }
            removed
        });
        let mut invalid_ids = 0u64;
        // The metadata names lifted from fields of the current record (edits are queued, so
        // the record itself does not show them yet): a traceparent or a pattern does not
        // overwrite them.
        let mut lifted: Vec<&str> = Vec::new();
        let mut current = u32::MAX;
        for item in items.iter() {
            let value = &buf[item.start as usize..item.end as usize];
            let r = item.record as usize;
            if item.record != current {
                current = item.record;
                lifted.clear();
            }
            let taken = |batch: &Batch, lifted: &Vec<&str>, name: &str| {
                lifted.contains(&name) || batch.record(r).metadata_value(name).is_some()
            };
            match item.target {
                Target::Label(l) => batch.set_label(r, &self.label_names[l], value),
                Target::Meta(m) if self.validated[m] => match w3c_id(value) {
                    Some(id) => {
                        batch.set_metadata(r, &s.metadata[m].name, &id);
                        lifted.push(&s.metadata[m].name);
                    }
                    None => invalid_ids += 1,
                },
                Target::Meta(m) => {
                    batch.set_metadata(r, &s.metadata[m].name, value);
                    lifted.push(&s.metadata[m].name);
                }
                Target::Pattern(p) => {
                    let (name, validated) = &self.pattern_names[p];
                    // A value a field lifted, or the record came with, wins.
                    if taken(batch, &lifted, name) {
                        continue;
                    }
                    if !*validated {
                        batch.set_metadata(r, name, value);
                    } else if let Some(id) = w3c_id(value) {
                        batch.set_metadata(r, name, &id);
                    } else {
                        invalid_ids += 1;
                    }
                }
                Target::Time(ns) => batch.set_timestamp(r, ns),
                Target::TraceParent => match split_traceparent(value) {
                    Some((trace, span)) => {
                        // A trace_id or span_id the record came with, or a field lifted
                        // before this one, wins; a field lifted after it overwrites.
                        if !taken(batch, &lifted, "trace_id") {
                            batch.set_metadata(r, "trace_id", &trace);
                        }
                        if !taken(batch, &lifted, "span_id") {
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
        let may = |k: &str| p.wanted.may_match(k.as_bytes());
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

    #[test]
    fn nested_paths_and_renamed_fields() {
        let mut p = plugin(
            r#"{"labels":[{"field":"http.route","name":"route"}],
                "metadata":[{"field":"ctx.trace.id","name":"trace_id"},"ctx.request_id","http.status"],
                "trace_ids":["trace_id"],"keep_line":false}"#,
        );
        let lines = [
            r#"{"ctx":{"trace":{"id":"4BF92F3577B34DA6A3CE929D0E0E4736"},"request_id":"r-1"},"http":{"route":"/users/{id}"},"msg":"ok"}"#,
            r#"{"http.status":"503","http.route":"/flat","ctx":"not an object"}"#,
            r#"{"ctx":{"trace":{"id":null}},"http":{"route":""}}"#,
            r#"{"ctx":{"trace":{"id":"nope"}}}"#,
        ];
        let mut b = batch(&lines);
        p.process(&mut b).unwrap();
        let b = Batch::from(b.into_log_batch());
        let r: Vec<_> = b.iter().collect();
        assert_eq!(
            r[0].metadata_value("trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(r[0].metadata_value("ctx.request_id"), Some("r-1"));
        assert_eq!(r[0].label("route"), Some("/users/{id}"));
        assert_eq!(r[0].line(), lines[0], "objects holding nested values stay");
        assert_eq!(
            r[1].metadata_value("http.status"),
            Some("503"),
            "literal dotted key"
        );
        assert_eq!(r[1].label("route"), Some("/flat"));
        assert_eq!(
            r[1].line(),
            r#"{"ctx":"not an object"}"#,
            "lifted keys removed"
        );
        assert_eq!(r[2].metadata_value("trace_id"), None, "null skipped");
        assert_eq!(r[2].label("route"), None, "empty label skipped");
        assert_eq!(
            r[3].metadata_value("trace_id"),
            None,
            "invalid id not lifted"
        );
        assert_eq!(
            walk(r#"{"a":{"b":1}}"#, &["a".into(), "b".into()]),
            Some(("1".into(), false))
        );
        assert_eq!(
            walk(r#"{"a":"{\"b\":1}"}"#, &["a".into(), "b".into()]),
            None
        );
    }

    #[test]
    fn patterns_lift_ids_from_plain_text() {
        let mut p = plugin(
            r#"{"metadata":["trace_id"],"trace_ids":["trace_id","span_id"],
                "patterns":["req=(?P<request_id>[\\w-]+)","trace=(?P<trace_id>\\S+) span=(?P<span_id>\\S+)","tp=(?P<traceparent>\\S+)"]}"#,
        );
        let lines = [
            "GET /users/7 200 req=abc-1 trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7",
            "payment failed tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","msg":"trace=0af7651916cd43dd8448eb211c80319c span=zz"}"#,
            "nothing here",
        ];
        let mut b = batch(&lines);
        p.process(&mut b).unwrap();
        let b = Batch::from(b.into_log_batch());
        let r: Vec<_> = b.iter().collect();
        assert_eq!(r[0].metadata_value("request_id"), Some("abc-1"));
        assert_eq!(
            r[0].metadata_value("trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(r[0].metadata_value("span_id"), Some("00f067aa0ba902b7"));
        assert_eq!(
            r[1].metadata_value("trace_id"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(r[1].metadata_value("span_id"), Some("b7ad6b7169203331"));
        assert_eq!(
            r[2].metadata_value("trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            "the field wins over the pattern"
        );
        assert_eq!(
            r[2].metadata_value("span_id"),
            None,
            "invalid span id not lifted"
        );
        assert_eq!(r[3].metadata().count(), 1);
        for (k, line) in lines.iter().enumerate() {
            assert_eq!(r[k].line(), *line, "lines are unchanged");
        }
        for (bad, needle) in [
            (r#"{"patterns":["(unclosed"]}"#, "not a regular expression"),
            (r#"{"patterns":["req=\\S+"]}"#, "no named group"),
        ] {
            let e = Parse::init(Config::from_json(bad).unwrap()).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn a_trace_id_field_before_a_traceparent_wins() {
        let mut p = plugin(r#"{"metadata":["trace_id"],"traceparent":"tp"}"#);
        let mut b = batch(&[
            r#"{"trace_id":"0af7651916cd43dd8448eb211c80319c","tp":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#,
        ]);
        p.process(&mut b).unwrap();
        let b = Batch::from(b.into_log_batch());
        assert_eq!(
            b.record(0).metadata_value("trace_id"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            b.record(0).metadata_value("span_id"),
            Some("00f067aa0ba902b7")
        );
    }
}
