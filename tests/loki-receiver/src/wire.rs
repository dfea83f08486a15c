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

/// Decodes a snappy-compressed protobuf push body.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<PushedStream>, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy decode: {e}"))?;
    let request =
        PushRequest::decode(raw.as_slice()).map_err(|e| format!("proto unmarshal: {e}"))?;
    request
        .streams
        .into_iter()
        .map(|s| {
            Ok(PushedStream {
                labels: parse_labels(&s.labels)?,
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

/// Decodes a JSON push body.
pub fn decode_json(body: &[u8]) -> Result<Vec<PushedStream>, String> {
    let root: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
    let mut out = Vec::new();
    for s in root["streams"].as_array().ok_or("no streams")? {
        let labels = s["stream"]
            .as_object()
            .ok_or("no stream labels")?
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str().ok_or("label value not a string")?.to_string(),
                ))
            })
            .collect::<Result<_, String>>()?;
        let mut entries = Vec::new();
        for v in s["values"].as_array().ok_or("no values")? {
            let ts = v[0]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or("timestamp is not a string of nanoseconds")?;
            let line = v[1].as_str().ok_or("line is not a string")?.to_string();
            let metadata = match v.get(2) {
                None => Vec::new(),
                Some(m) => m
                    .as_object()
                    .ok_or("metadata is not an object")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            };
            entries.push(PushedEntry { ts, line, metadata });
        }
        out.push(PushedStream { labels, entries });
    }
    Ok(out)
}

/// Parses a selector `{a="b", c="d"}` as Loki's distributor does, refusing what it refuses.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let re = regex::Regex::new(r#"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)"#)
        .expect("valid regex");
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("error parsing labels {text:?}: not a selector"))?;
    let mut rest = inner.trim();
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let caps = re
            .captures(rest)
            .ok_or_else(|| format!("error parsing labels {text:?} at {rest:?}"))?;
        labels.insert(caps[1].to_string(), unquote(&caps[2])?);
        rest = rest[caps[0].len()..].trim_start();
    }
    if labels.is_empty() {
        return Err("error at least one label pair is required per stream".into());
    }
    Ok(labels)
}

fn unquote(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| format!("bad \\x{hex}"))?;
                out.push(char::from_u32(v).ok_or("bad escape")?);
            }
            other => return Err(format!("unsupported escape \\{other:?}")),
        }
    }
    Ok(out)
}
