//! One batch on disk: a frame `[length u32][crc32 u32][payload]` (little endian), the
//! payload a tag byte (1 logs, 2 metrics) and the batch's columns. Decoding checks the
//! checksum, every length against what is left, and the batch's column rules, so a torn or
//! corrupt frame is an error, never a batch of garbage. Acknowledgements are not stored:
//! the buffer gives each batch read back a new one.

use crate::event::metrics::{MetricFamily, MetricType};
use crate::event::{Events, Label, LogBatch, MetricBatch};

/// Bytes before a frame's payload: its length and checksum.
pub const HEADER: usize = 8;

/// Why bytes on disk are not a frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("the frame is cut short ({0} bytes where more were expected)")]
    Short(usize),
    #[error("the frame's checksum does not match its bytes")]
    Checksum,
    #[error("the frame's payload is malformed: {0}")]
    Malformed(String),
}

/// `events` as one frame appended to `out`.
pub fn encode(events: &Events, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    match events {
        Events::Logs(b) => {
            out.push(1);
            put_str(out, &b.lines);
            put_u32s(out, &b.line_ends);
            put_i64s(out, &b.timestamps);
            put_label_sets(out, &b.label_sets);
            put_u32s(out, &b.label_set_of);
            put_str(out, &b.metadata);
            put_u32s(out, &b.metadata_ends);
            put_u32s(out, &b.record_metadata_ends);
        }
        Events::Metrics(b) => {
            out.push(2);
            put_label_sets(out, &b.label_sets);
            put_u32s(out, &b.series_of);
            put_len(out, b.values.len());
            for v in &b.values {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            put_i64s(out, &b.timestamps);
            put_len(out, b.families.len());
            for f in &b.families {
                put_str(out, &f.name);
                out.push(kind_code(f.kind));
                put_str(out, &f.help);
                put_str(out, &f.unit);
            }
        }
    }
    let payload = &out[start + HEADER..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The payload length a frame header announces, or None if `header` is shorter than one.
pub fn payload_len(header: &[u8]) -> Option<usize> {
    Some(u32::from_le_bytes(header.get(..4)?.try_into().ok()?) as usize)
}

/// Decodes one whole frame (header and payload).
pub fn decode(frame: &[u8]) -> Result<Events, FrameError> {
    if frame.len() < HEADER {
        return Err(FrameError::Short(frame.len()));
    }
    let len = payload_len(frame).expect("checked above");
    let crc = u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes"));
    let payload = frame
        .get(HEADER..HEADER + len)
        .ok_or(FrameError::Short(frame.len()))?;
    if crc32fast::hash(payload) != crc {
        return Err(FrameError::Checksum);
    }
    let mut r = Reader { bytes: payload };
    let events = match r.u8()? {
        1 => {
            let b = LogBatch {
                lines: r.string()?,
                line_ends: r.u32s()?,
                timestamps: r.i64s()?,
                label_sets: r.label_sets()?,
                label_set_of: r.u32s()?,
                metadata: r.string()?,
                metadata_ends: r.u32s()?,
                record_metadata_ends: r.u32s()?,
                acks: Vec::new(),
            };
            b.validate()
                .map_err(|e| FrameError::Malformed(e.to_string()))?;
            Events::Logs(b)
        }
        2 => {
            let label_sets = r.label_sets()?;
            let series_of = r.u32s()?;
            let n = r.len(8)?;
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                values.push(f64::from_bits(r.u64()?));
            }
            let timestamps = r.i64s()?;
            let nf = r.len(4)?;
            let mut families = Vec::with_capacity(nf);
            for _ in 0..nf {
                families.push(MetricFamily {
                    name: r.string()?,
                    kind: kind_of(r.u8()?)?,
                    help: r.string()?,
                    unit: r.string()?,
                });
            }
            let b = MetricBatch {
                label_sets,
                series_of,
                values,
                timestamps,
                families,
                acks: Vec::new(),
            };
            b.validate()
                .map_err(|e| FrameError::Malformed(e.to_string()))?;
            Events::Metrics(b)
        }
        other => return Err(FrameError::Malformed(format!("unknown tag {other}"))),
    };
    if !r.bytes.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} bytes after the batch",
            r.bytes.len()
        )));
    }
    Ok(events)
}

const KINDS: [MetricType; 8] = [
    MetricType::Counter,
    MetricType::Gauge,
    MetricType::Histogram,
    MetricType::GaugeHistogram,
    MetricType::Summary,
    MetricType::Info,
    MetricType::StateSet,
    MetricType::Unknown,
];

fn kind_code(kind: MetricType) -> u8 {
    KINDS.iter().position(|k| *k == kind).unwrap_or(7) as u8
}

fn kind_of(code: u8) -> Result<MetricType, FrameError> {
    KINDS
        .get(code as usize)
        .copied()
        .ok_or_else(|| FrameError::Malformed(format!("unknown metric type {code}")))
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    put_len(out, v.len());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_i64s(out: &mut Vec<u8>, v: &[i64]) {
    put_len(out, v.len());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_label_sets(out: &mut Vec<u8>, sets: &[Vec<Label>]) {
    put_len(out, sets.len());
    for set in sets {
        put_len(out, set.len());
        for (k, v) in set {
            put_str(out, k);
            put_str(out, v);
        }
    }
}

/// Reads a payload front to back; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], FrameError> {
        if self.bytes.len() < n {
            return Err(FrameError::Short(self.bytes.len()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// A count of items of at least `item` bytes each, refused if the rest cannot hold them
    /// (so a corrupt count cannot make us allocate gigabytes).
    fn len(&mut self, item: usize) -> Result<usize, FrameError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item) > self.bytes.len() {
            return Err(FrameError::Malformed(format!(
                "a count of {n} does not fit in the {} bytes left",
                self.bytes.len()
            )));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, FrameError> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec())
            .map_err(|_| FrameError::Malformed("a string is not UTF-8".into()))
    }
    fn u32s(&mut self) -> Result<Vec<u32>, FrameError> {
        let n = self.len(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
    fn i64s(&mut self) -> Result<Vec<i64>, FrameError> {
        let n = self.len(8)?;
        (0..n).map(|_| Ok(self.u64()? as i64)).collect()
    }
    fn label_sets(&mut self) -> Result<Vec<Vec<Label>>, FrameError> {
        let n = self.len(4)?;
        let mut sets = Vec::with_capacity(n);
        for _ in 0..n {
            let m = self.len(8)?;
            let mut set = Vec::with_capacity(m);
            for _ in 0..m {
                set.push((self.string()?, self.string()?));
            }
            sets.push(set);
        }
        Ok(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::metrics::stale_nan;

    fn logs() -> Events {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[("app".into(), "x".into())]);
        b.push("first line", 1, set, &[("trace_id", "abc")]);
        b.push("second ✓", 2, set, &[]);
        Events::Logs(b)
    }

    fn metrics() -> Events {
        let mut b = MetricBatch::default();
        let s = b.push_series(vec![("__name__".into(), "up".into())]);
        b.push(s, 1.0, 10);
        b.push(s, stale_nan(), 20);
        b.add_family(MetricFamily {
            name: "up".into(),
            kind: MetricType::Gauge,
            help: "h".into(),
            unit: String::new(),
        });
        Events::Metrics(b)
    }

    #[test]
    fn batches_come_back_as_they_went_in() {
        for events in [logs(), metrics()] {
            let mut out = Vec::new();
            encode(&events, &mut out);
            let back = decode(&out).unwrap();
            match (&events, &back) {
                (Events::Metrics(a), Events::Metrics(b)) => {
                    assert_eq!(a.label_sets, b.label_sets);
                    assert_eq!(
                        a.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        b.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    );
                    assert_eq!(a.families, b.families);
                }
                _ => assert_eq!(events, back),
            }
        }
    }

    #[test]
    fn a_torn_or_flipped_frame_is_an_error_never_a_batch() {
        let mut out = Vec::new();
        encode(&logs(), &mut out);
        for cut in [0, 3, HEADER, out.len() - 1] {
            assert!(
                matches!(decode(&out[..cut]), Err(FrameError::Short(_))),
                "{cut}"
            );
        }
        for i in [HEADER, HEADER + 5, out.len() - 1] {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert_eq!(decode(&bad), Err(FrameError::Checksum), "{i}");
        }
    }

    #[test]
    fn a_payload_that_checks_but_breaks_the_column_rules_is_refused() {
        let mut b = LogBatch::default();
        b.push("x", 1, 0, &[]);
        b.label_set_of[0] = 9; // no such label set
        let mut out = Vec::new();
        encode(&Events::Logs(b), &mut out);
        assert!(matches!(decode(&out), Err(FrameError::Malformed(_))));
    }
}
