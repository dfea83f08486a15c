//! Loki's push bodies decoded the way Loki decodes them, written from Loki's
//! `pkg/push/push.proto` and `pkg/loghttp/push` independently of the sluice code under
//! test: protobuf (snappy block) with `string` fields, and the JSON form.

use std::collections::BTreeMap;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<GoogleTimestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, Message)]
pub struct GoogleTimestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// One pushed entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedEntry {
    pub ts: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// One pushed stream: its labels (parsed) and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedStream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<PushedEntry>,
}

/// One pushed stream as sent: its label pairs in the order written (a name may repeat;
/// empty values are kept) and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStream {
    pub labels: Vec<(String, String)>,
    pub entries: Vec<PushedEntry>,
}

/// The timestamp of a JSON entry that has none (Go's zero `time.Time`, far older than any
/// limit).
pub const MISSING_TIMESTAMP: i64 = i64::MIN;

/// Decodes a snappy-compressed protobuf push body: the snappy block, the message, and each
/// stream's labels as Loki's `syntax.ParseLabels` reads them (a syntax error fails the whole
/// body, as in Loki's `ParseLokiRequest`). Label limits are not checked here.
pub fn decode_protobuf_raw(body: &[u8]) -> Result<Vec<RawStream>, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy decode: {e}"))?;
    let request =
        PushRequest::decode(raw.as_slice()).map_err(|e| format!("proto unmarshal: {e}"))?;
    request
        .streams
        .into_iter()
        .map(|s| {
            Ok(RawStream {
                labels: parse_label_pairs(&s.labels)
                    .map_err(|e| format!("couldn't parse labels: {e}"))?,
                entries: s
                    .entries
                    .into_iter()
                    .map(|e| PushedEntry {
                        ts: e
                            .timestamp
                            .map(|t| t.seconds * 1_000_000_000 + t.nanos as i64)
                            .unwrap_or(0),
                        line: e.line,
                        metadata: e
                            .structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Decodes a JSON push body as Loki's `loghttp.PushRequest` does: `streams` may be absent or
/// null (no streams), a stream's `values` may be absent or null (no entries) and null
/// entries are skipped; the timestamp and line must be strings, the timestamp an integer
/// of nanoseconds, and structured metadata (the third element) an object of strings only.
/// Stream label values that are not strings are taken as their JSON text, as Loki's
/// `LabelSet` does; label names must be identifiers (Loki re-parses the labels as a
/// selector).
pub fn decode_json_raw(body: &[u8]) -> Result<Vec<RawStream>, String> {
    use serde_json::Value;
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
    let streams = match &root {
        Value::Null => return Ok(Vec::new()),
        Value::Object(o) => match o.get("streams") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err("json: streams is not an array".into()),
        },
        _ => return Err("json: the body is not an object".into()),
    };
    let mut out = Vec::new();
    for s in streams {
        let s = s.as_object().ok_or("json: a stream is not an object")?;
        let labels = match s.get("stream") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(o)) => o
                .iter()
                .map(|(k, v)| {
                    if !is_label_name(k) {
                        return Err(format!("couldn't parse labels: invalid label name {k:?}"));
                    }
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Ok((k.clone(), v))
                })
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("json: stream labels are not an object".into()),
        };
        let mut entries = Vec::new();
        match s.get("values") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => {
                for v in values {
                    if v.is_null() {
                        continue;
                    }
                    entries.push(json_entry(v)?);
                }
            }
            Some(_) => return Err("json: values is not an array".into()),
        }
        out.push(RawStream { labels, entries });
    }
    Ok(out)
}

fn json_entry(v: &serde_json::Value) -> Result<PushedEntry, String> {
    let items = v.as_array().ok_or("json: an entry is not an array")?;
    let ts = match items.first() {
        None => MISSING_TIMESTAMP,
        Some(t) => t
            .as_str()
            .ok_or("json: the timestamp is not a string")?
            .parse::<i64>()
            .map_err(|e| format!("json: the timestamp is not an integer of nanoseconds: {e}"))?,
    };
    let line = match items.get(1) {
        None => String::new(),
        Some(l) => l
            .as_str()
            .ok_or("json: the line is not a string")?
            .to_string(),
    };
    let metadata = match items.get(2) {
        None => Vec::new(),
        Some(m) => m
            .as_object()
            .ok_or("json: structured metadata is not an object")?
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str()
                        .ok_or_else(|| {
                            format!("json: structured metadata value of {k:?} is not a string")
                        })?
                        .to_string(),
                ))
            })
            .collect::<Result<_, String>>()?,
    };
    Ok(PushedEntry { ts, line, metadata })
}

/// Decodes a snappy-compressed protobuf push body, with each stream's labels as a map
/// (a repeated name keeps its last value; a stream without labels is an error).
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<PushedStream>, String> {
    decode_protobuf_raw(body)?
        .into_iter()
        .map(PushedStream::try_from)
        .collect()
}

/// Decodes a JSON push body ([`decode_json_raw`]), with each stream's labels as a map.
pub fn decode_json(body: &[u8]) -> Result<Vec<PushedStream>, String> {
    decode_json_raw(body)?
        .into_iter()
        .map(PushedStream::try_from)
        .collect()
}

impl TryFrom<RawStream> for PushedStream {
    type Error = String;

    fn try_from(s: RawStream) -> Result<Self, String> {
        let labels: BTreeMap<String, String> = s.labels.into_iter().collect();
        if labels.is_empty() {
            return Err("error at least one label pair is required per stream".into());
        }
        Ok(PushedStream {
            labels,
            entries: s.entries,
        })
    }
}

/// Parses a selector `{a="b", c="d"}` as a map ([`parse_label_pairs`]), refusing one
/// without labels.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let labels: BTreeMap<String, String> = parse_label_pairs(text)?.into_iter().collect();
    if labels.is_empty() {
        return Err("error at least one label pair is required per stream".into());
    }
    Ok(labels)
}

/// Parses a stream selector the way Loki's `syntax.ParseLabels` (Prometheus'
/// `ParseMetric`) does: `{name="value", ...}` with an optional trailing comma, names
/// `[a-zA-Z_][a-zA-Z0-9_]*`, values in double quotes, single quotes (Go escapes) or
/// backquotes (raw). Pairs come back in the order written, repeated names and empty values
/// kept: the limits are the receiver's to check. Stricter than Loki 3 in one way: a quoted
/// (UTF-8) name or a metric name before `{` is refused, as Loki 2 refused it.
pub fn parse_label_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let err = |at: &str, what: &str| format!("error parsing labels {text:?}: {what} at {at:?}");
    let mut rest = text.trim_start();
    rest = rest
        .strip_prefix('{')
        .ok_or_else(|| err(rest, "expected \"{\""))?;
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            if !r.trim().is_empty() {
                return Err(err(r, "unexpected text after \"}\""));
            }
            return Ok(pairs);
        }
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            return Err(err(rest, "expected a label name or \"}\""));
        }
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| err(rest, "expected \"=\""))?
            .trim_start();
        let (value, after) = lex_string(rest).map_err(|e| err(rest, &e))?;
        pairs.push((name.to_string(), value));
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err(err(rest, "expected \",\" or \"}\""));
        }
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Reads a quoted string at the start of `s`; returns its value and what follows.
fn lex_string(s: &str) -> Result<(String, &str), String> {
    let quote = s.chars().next().ok_or("expected a quoted value")?;
    let body = &s[1..];
    match quote {
        '`' => {
            let end = body.find('`').ok_or("unterminated raw string")?;
            Ok((body[..end].to_string(), &body[end + 1..]))
        }
        '"' | '\'' => {
            let mut out = Vec::new();
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    c if c == quote => {
                        let value = String::from_utf8(out)
                            .map_err(|_| "invalid UTF-8 in a value".to_string())?;
                        return Ok((value, &body[i + 1..]));
                    }
                    '\n' => return Err("unterminated quoted string".into()),
                    '\\' => {
                        let (_, e) = chars.next().ok_or("unterminated quoted string")?;
                        let mut push_char = |c: char| {
                            let mut buf = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        };
                        match e {
                            'a' => push_char('\x07'),
                            'b' => push_char('\x08'),
                            'f' => push_char('\x0c'),
                            'n' => push_char('\n'),
                            'r' => push_char('\r'),
                            't' => push_char('\t'),
                            'v' => push_char('\x0b'),
                            '\\' => push_char('\\'),
                            q if q == quote => push_char(q),
                            'x' | 'u' | 'U' => {
                                let n = match e {
                                    'x' => 2,
                                    'u' => 4,
                                    _ => 8,
                                };
                                let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                                let v = (hex.len() == n)
                                    .then(|| u32::from_str_radix(&hex, 16).ok())
                                    .flatten()
                                    .ok_or_else(|| format!("bad escape \\{e}{hex}"))?;
                                if e == 'x' {
                                    out.push(v as u8);
                                } else {
                                    push_char(
                                        char::from_u32(v)
                                            .ok_or_else(|| format!("bad escape \\{e}{hex}"))?,
                                    );
                                }
                            }
                            '0'..='7' => {
                                let rest: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                                let digits = format!("{e}{rest}");
                                let v = u32::from_str_radix(&digits, 8)
                                    .ok()
                                    .filter(|v| digits.len() == 3 && *v <= 255)
                                    .ok_or_else(|| format!("bad escape \\{digits}"))?;
                                out.push(v as u8);
                            }
                            other => return Err(format!("unknown escape sequence \\{other}")),
                        }
                    }
                    c => {
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            Err("unterminated quoted string".into())
        }
        _ => Err("expected a quoted value".into()),
    }
}

/// Writes labels as Loki prints them in its messages (`labels.Labels.String()`):
/// `{a="b", c="d"}`, sorted by name, values quoted.
pub fn labels_string<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut pairs: Vec<_> = labels.into_iter().collect();
    pairs.sort();
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&quote(v));
    }
    out.push('}');
    out
}

/// Quotes a string as Go's `strconv.Quote` does for the characters that matter here.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_label_pairs(text).unwrap()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn selectors_parse_as_prometheus_reads_them() {
        assert_eq!(pairs(r#"{a="b", c="d"}"#), vec![p("a", "b"), p("c", "d")]);
        assert_eq!(pairs(r#" { a = "b" , } "#), vec![p("a", "b")]);
        assert_eq!(pairs("{}"), vec![]);
        assert_eq!(pairs(r#"{a="b", a="c"}"#), vec![p("a", "b"), p("a", "c")]);
        assert_eq!(pairs(r#"{a=""}"#), vec![p("a", "")]);
        assert_eq!(
            pairs(r#"{a='it\'s', b=`raw\n`}"#),
            vec![p("a", "it's"), p("b", "raw\\n")]
        );
        assert_eq!(
            pairs(r#"{a="q\"\\\n\x41\101\u00e9\U0001F600"}"#),
            vec![p("a", "q\"\\\nAAé😀")]
        );
        assert_eq!(pairs(r#"{a="é \xc3\xa9"}"#), vec![p("a", "é é")]);
    }

    #[test]
    fn malformed_selectors_are_refused() {
        for bad in [
            "",
            "a=\"b\"",
            "{a=b}",
            "{a=\"b\"",
            "{a=\"b\" c=\"d\"}",
            "{1a=\"b\"}",
            "{a.b=\"c\"}",
            "{\"a.b\"=\"c\"}",
            "foo{a=\"b\"}",
            "{a=\"b\"} x",
            "{,}",
            "{a=\"\\q\"}",
            "{a=\"\\xff\"}",
            "{a=\"line\nbreak\"}",
        ] {
            assert!(parse_label_pairs(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn labels_print_as_loki_prints_them() {
        let l = [p("b", "x\"y"), p("a", "1")];
        assert_eq!(
            labels_string(l.iter().map(|(k, v)| (k, v))),
            r#"{a="1", b="x\"y"}"#
        );
    }
}
