//! Writing records as text: the raw line, or one JSON object per record
//! (`{"timestamp":NS,"line":"...","labels":{...},"metadata":{...}}`).

use serde::Deserialize;

use crate::event::{LogBatch, RecordRef};

/// How a sink writes a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The line only.
    #[default]
    Raw,
    /// The whole record as one JSON object: timestamp, line, labels, metadata.
    Json,
}

/// Appends every record of `batch` to `out`, one per line.
pub fn batch(batch: &LogBatch, encoding: Encoding, out: &mut Vec<u8>) {
    out.reserve(batch.line_bytes() + batch.len() * 2);
    for record in batch.records() {
        match encoding {
            Encoding::Raw => out.extend_from_slice(record.line().as_bytes()),
            Encoding::Json => json_record(&record, out),
        }
        out.push(b'\n');
    }
}

fn json_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing JSON to a Vec cannot fail");
}

/// Appends one record as a JSON object (no newline).
pub fn json_record(record: &RecordRef<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":");
    out.extend_from_slice(itoa::Buffer::new().format(record.timestamp()).as_bytes());
    out.extend_from_slice(b",\"line\":");
    json_string(record.line(), out);
    out.extend_from_slice(b",\"labels\":{");
    for (i, (k, v)) in record.labels().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(k, out);
        out.push(b':');
        json_string(v, out);
    }
    out.extend_from_slice(b"},\"metadata\":{");
    for (i, (k, v)) in record.metadata().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(k, out);
        out.push(b':');
        json_string(v, out);
    }
    out.extend_from_slice(b"}}");
}
