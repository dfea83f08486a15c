//! The Loki push request as JSON (`Content-Type: application/json`):
//! `{"streams":[{"stream":{"app":"api"},"values":[["<unix ns>","line",{"trace_id":"..."}]]}]}`
//! — the third element of a value (structured metadata) is optional. Converted to and from
//! the protobuf form, which is the one in-memory shape of a push request.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::labels;
use super::proto::{Entry, LabelPair, PushRequest, Stream, Timestamp};

struct JsonRequest<'a>(&'a PushRequest);
struct JsonStream<'a>(&'a Stream);
struct JsonEntry<'a>(&'a Entry);
struct JsonPairs<'a>(&'a [LabelPair]);

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

impl Serialize for JsonRequest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        let streams: Vec<JsonStream> = self.0.streams.iter().map(JsonStream).collect();
        map.serialize_entry("streams", &streams)?;
        map.end()
    }
}

impl Serialize for JsonStream<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parsed = labels::parse(&text(&self.0.labels)).map_err(serde::ser::Error::custom)?;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(
            "stream",
            &parsed
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )?;
        let values: Vec<JsonEntry> = self.0.entries.iter().map(JsonEntry).collect();
        map.serialize_entry("values", &values)?;
        map.end()
    }
}

impl Serialize for JsonEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let with_meta = !e.structured_metadata.is_empty();
        let mut seq = s.serialize_seq(Some(if with_meta { 3 } else { 2 }))?;
        seq.serialize_element(&e.nanos().to_string())?;
        seq.serialize_element(&text(&e.line))?;
        if with_meta {
            seq.serialize_element(&JsonPairs(&e.structured_metadata))?;
        }
        seq.end()
    }
}

impl Serialize for JsonPairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for p in self.0 {
            map.serialize_entry(&text(&p.name), &text(&p.value))?;
        }
        map.end()
    }
}

/// The request as Loki's JSON push body. Stream labels must be in selector form (as the
/// sink writes them).
pub fn encode(request: &PushRequest) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&JsonRequest(request))
}

/// Why a JSON push body could not be read; the message names the stream and value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Shape(String),
}

fn shape(msg: String) -> DecodeError {
    DecodeError::Shape(msg)
}

/// Reads a JSON push body into the protobuf form (labels in selector form).
pub fn decode(body: &[u8]) -> Result<PushRequest, DecodeError> {
    let root: Value = serde_json::from_slice(body)?;
    let streams = root
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("the body has no `streams` array".into()))?;
    let mut request = PushRequest::default();
    for (si, stream) in streams.iter().enumerate() {
        let label_map = stream
            .get("stream")
            .and_then(Value::as_object)
            .ok_or_else(|| shape(format!("streams[{si}] has no `stream` object")))?;
        let mut set = Vec::with_capacity(label_map.len());
        for (k, v) in label_map {
            let v = v
                .as_str()
                .ok_or_else(|| shape(format!("streams[{si}].stream.{k} is not a string")))?;
            set.push((k.clone(), v.to_string()));
        }
        set.sort();
        let values = stream
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| shape(format!("streams[{si}] has no `values` array")))?;
        let mut entries = Vec::with_capacity(values.len());
        for (vi, value) in values.iter().enumerate() {
            let at = || format!("streams[{si}].values[{vi}]");
            let parts = value
                .as_array()
                .filter(|p| p.len() == 2 || p.len() == 3)
                .ok_or_else(|| shape(format!("{} is not [timestamp, line(, metadata)]", at())))?;
            let ns = match &parts[0] {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            }
            .ok_or_else(|| shape(format!("{}: timestamp is not Unix nanoseconds", at())))?;
            let line = parts[1]
                .as_str()
                .ok_or_else(|| shape(format!("{}: line is not a string", at())))?;
            let mut structured_metadata = Vec::new();
            if let Some(meta) = parts.get(2) {
                let meta = meta
                    .as_object()
                    .ok_or_else(|| shape(format!("{}: metadata is not an object", at())))?;
                for (k, v) in meta {
                    let v = v.as_str().ok_or_else(|| {
                        shape(format!("{}: metadata `{k}` is not a string", at()))
                    })?;
                    structured_metadata.push(LabelPair {
                        name: k.as_bytes().to_vec(),
                        value: v.as_bytes().to_vec(),
                    });
                }
            }
            entries.push(Entry {
                timestamp: Some(Timestamp::from_nanos(ns)),
                line: line.as_bytes().to_vec(),
                structured_metadata,
            });
        }
        request.streams.push(Stream {
            labels: labels::format(&set).into_bytes(),
            entries,
            hash: 0,
        });
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_with_and_without_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[
            ["1700000000000000001","first",{"trace_id":"abc"}],
            ["1700000000000000002","second \"quoted\""]]}]}"#;
        let request = decode(body).unwrap();
        assert_eq!(
            request.streams[0].labels,
            br#"{app="api", env="prod"}"#.to_vec()
        );
        assert_eq!(
            request.streams[0].entries[1].line,
            b"second \"quoted\"".to_vec()
        );
        assert_eq!(
            request.streams[0].entries[0].nanos(),
            1_700_000_000_000_000_001
        );
        let again = decode(&encode(&request).unwrap()).unwrap();
        assert_eq!(again, request);
        let text = String::from_utf8(encode(&request).unwrap()).unwrap();
        assert!(text.contains(r#"["1700000000000000001","first",{"trace_id":"abc"}]"#));
        assert!(text.contains(r#"["1700000000000000002","second \"quoted\""]"#));
    }

    #[test]
    fn broken_json_names_the_place() {
        let cases: [(&[u8], &str); 4] = [
            (b"{", "invalid JSON"),
            (
                br#"{"streams":[{"values":[]}]}"#,
                "streams[0] has no `stream`",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["x","l"]]}]}"#,
                "streams[0].values[0]: timestamp",
            ),
            (
                br#"{"streams":[{"stream":{"a":"b"},"values":[["1",2]]}]}"#,
                "line is not a string",
            ),
        ];
        for (body, want) in cases {
            let err = decode(body).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }
}
