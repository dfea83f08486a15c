//! Writing records as text: the raw line, or one JSON object per record
//! (`{"timestamp":NS,"line":"...","labels":{...},"metadata":{...}}`). Metric samples are
//! written one per line too: raw as a text-format sample line
//! (`name{label="value"} 1.5 1700000000000`), JSON as
//! `{"timestamp_ms":MS,"name":"...","labels":{...},"value":1.5}`.

use serde::Deserialize;

use crate::event::metrics::NAME_LABEL;
use crate::event::{Events, LogBatch, MetricBatch, RecordRef};

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

/// Appends every record or sample of `events` to `out`, one per line.
pub fn events(events: &Events, encoding: Encoding, out: &mut Vec<u8>) {
    match events {
        Events::Logs(b) => batch(b, encoding, out),
        Events::Metrics(b) => samples(b, encoding, out),
    }
}

/// Appends every sample of `batch` to `out`, one per line.
pub fn samples(batch: &MetricBatch, encoding: Encoding, out: &mut Vec<u8>) {
    for i in 0..batch.len() {
        let set = &batch.label_sets[batch.series_of[i] as usize];
        let name = crate::event::metrics::series_name(set);
        let labels = set.iter().filter(|(k, _)| k != NAME_LABEL);
        let value = format_value(batch.values[i]);
        let ts = itoa::Buffer::new().format(batch.timestamps[i]).to_owned();
        match encoding {
            Encoding::Raw => {
                out.extend_from_slice(name.as_bytes());
                let mut first = true;
                for (k, v) in labels {
                    out.push(if first { b'{' } else { b',' });
                    first = false;
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(b"=\"");
                    for c in v.chars() {
                        match c {
                            '\\' => out.extend_from_slice(b"\\\\"),
                            '"' => out.extend_from_slice(b"\\\""),
                            '\n' => out.extend_from_slice(b"\\n"),
                            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                        }
                    }
                    out.push(b'"');
                }
                if !first {
                    out.push(b'}');
                }
                out.push(b' ');
                out.extend_from_slice(value.as_bytes());
                out.push(b' ');
                out.extend_from_slice(ts.as_bytes());
            }
            Encoding::Json => {
                out.extend_from_slice(b"{\"timestamp_ms\":");
                out.extend_from_slice(ts.as_bytes());
                out.extend_from_slice(b",\"name\":");
                json_string(name, out);
                out.extend_from_slice(b",\"labels\":{");
                for (j, (k, v)) in labels.enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    json_string(k, out);
                    out.push(b':');
                    json_string(v, out);
                }
                out.extend_from_slice(b"},\"value\":");
                if batch.values[i].is_finite() {
                    out.extend_from_slice(value.as_bytes());
                } else {
                    // JSON has no NaN or infinities: written as the text format spells them.
                    json_string(&value, out);
                }
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
}

/// A sample value as the exposition formats write it (`NaN`, `+Inf`, `-Inf`, or the
/// shortest decimal that reads back the same). A staleness marker is a NaN.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        let mut b = ryu::Buffer::new();
        let s = b.format(v);
        s.strip_suffix(".0").unwrap_or(s).to_string()
    }
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
