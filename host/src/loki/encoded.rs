//! Entries written once, straight into protobuf wire form. The `loki` sink encodes each
//! record as a `logproto.StreamAdapter.entries` field the moment it leaves the batch, so a
//! request is a few stream headers around bytes already written: no `Entry` value, line copy
//! or metadata vector per record, and nothing to re-encode on a retry or a split. Building
//! `proto::Entry` values and encoding them with prost was ~40% of the sink's CPU
//! (bench/RESULTS.md); the bytes here are the same, which a unit test checks against prost.

use prost::encoding::encoded_len_varint;
use prost::Message;

use super::proto::{Entry, PushRequest, Stream};

/// `StreamAdapter.labels`, field 1, length-delimited.
const STREAM_LABELS: u8 = 0x0a;
/// `StreamAdapter.entries`, field 2, length-delimited.
const STREAM_ENTRY: u8 = 0x12;
/// `PushRequest.streams`, field 1, length-delimited.
const REQUEST_STREAM: u8 = 0x0a;
/// `EntryAdapter.timestamp` (1), `.line` (2), `.structured_metadata` (3).
const ENTRY_TIMESTAMP: u8 = 0x0a;
const ENTRY_LINE: u8 = 0x12;
const ENTRY_METADATA: u8 = 0x1a;
/// `Timestamp.seconds` (1, varint) and `.nanos` (2, varint).
const TS_SECONDS: u8 = 0x08;
const TS_NANOS: u8 = 0x10;
/// `LabelPairAdapter.name` (1) and `.value` (2), length-delimited.
const PAIR_NAME: u8 = 0x0a;
const PAIR_VALUE: u8 = 0x12;

/// The entries of one stream, each a complete `entries` field (tag, length, message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedEntries {
    bytes: Vec<u8>,
    /// Per entry: where it ends in `bytes`, and the sum of line lengths up to it.
    ends: Vec<End>,
}

/// Running totals at the end of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct End {
    byte: usize,
    line: usize,
}

impl EncodedEntries {
    /// Empty, with room for `entries` entries of `bytes` encoded bytes in all.
    pub fn with_capacity(bytes: usize, entries: usize) -> EncodedEntries {
        EncodedEntries {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(entries),
        }
    }

    /// Appends one entry: its timestamp, line and structured metadata pairs.
    pub fn push<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        nanos: i64,
        line: &[u8],
        metadata: impl Iterator<Item = (N, V)> + Clone,
    ) {
        let seconds = nanos.div_euclid(1_000_000_000);
        let subsec = nanos.rem_euclid(1_000_000_000) as u64;
        let ts_len = field_varint_len(seconds as u64) + field_varint_len(subsec);
        let mut body_len = 1 + encoded_len_varint(ts_len as u64) + ts_len;
        if !line.is_empty() {
            body_len += 1 + encoded_len_varint(line.len() as u64) + line.len();
        }
        for (name, value) in metadata.clone() {
            let pair = pair_len(name.as_ref(), value.as_ref());
            body_len += 1 + encoded_len_varint(pair as u64) + pair;
        }
        let out = &mut self.bytes;
        out.reserve(1 + encoded_len_varint(body_len as u64) + body_len);
        out.push(STREAM_ENTRY);
        put_varint(out, body_len as u64);
        out.push(ENTRY_TIMESTAMP);
        put_varint(out, ts_len as u64);
        if seconds != 0 {
            out.push(TS_SECONDS);
            put_varint(out, seconds as u64);
        }
        if subsec != 0 {
            out.push(TS_NANOS);
            put_varint(out, subsec);
        }
        if !line.is_empty() {
            out.push(ENTRY_LINE);
            put_varint(out, line.len() as u64);
            out.extend_from_slice(line);
        }
        for (name, value) in metadata {
            let (name, value) = (name.as_ref(), value.as_ref());
            out.push(ENTRY_METADATA);
            put_varint(out, pair_len(name, value) as u64);
            if !name.is_empty() {
                out.push(PAIR_NAME);
                put_varint(out, name.len() as u64);
                out.extend_from_slice(name);
            }
            if !value.is_empty() {
                out.push(PAIR_VALUE);
                put_varint(out, value.len() as u64);
                out.extend_from_slice(value);
            }
        }
        let line_total = self.ends.last().map_or(0, |e| e.line) + line.len();
        self.ends.push(End {
            byte: out.len(),
            line: line_total,
        });
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Sum of the entries' line lengths (what the sink reports as sent bytes).
    pub fn line_bytes(&self) -> usize {
        self.ends.last().map_or(0, |e| e.line)
    }

    fn start_of(&self, entry: usize) -> End {
        if entry == 0 {
            End::default()
        } else {
            self.ends[entry - 1]
        }
    }

    /// Encoded size of entries `from..to`.
    pub fn range_len(&self, from: usize, to: usize) -> usize {
        self.start_of(to).byte - self.start_of(from).byte
    }

    /// The end of the longest run of entries from `from` that takes at most `room` bytes
    /// (`from` itself when even the first does not fit).
    pub fn fit(&self, from: usize, room: usize) -> usize {
        let base = self.start_of(from).byte;
        from + self.ends[from..].partition_point(|e| e.byte - base <= room)
    }

    /// Appends entries `from..to` of `other`.
    pub fn extend_from(&mut self, other: &EncodedEntries, from: usize, to: usize) {
        let (start, end) = (other.start_of(from), other.start_of(to));
        let base = self.ends.last().copied().unwrap_or_default();
        self.bytes
            .extend_from_slice(&other.bytes[start.byte..end.byte]);
        self.ends.extend(other.ends[from..to].iter().map(|e| End {
            byte: e.byte - start.byte + base.byte,
            line: e.line - start.line + base.line,
        }));
    }

    /// Splits off entries `at..`, keeping `..at`.
    pub fn split_off(&mut self, at: usize) -> EncodedEntries {
        let start = self.start_of(at);
        let bytes = self.bytes.split_off(start.byte);
        let ends = self
            .ends
            .split_off(at)
            .iter()
            .map(|e| End {
                byte: e.byte - start.byte,
                line: e.line - start.line,
            })
            .collect();
        EncodedEntries { bytes, ends }
    }

    /// The entries as prost values, for the paths that are not the protobuf hot path (JSON
    /// bodies, the dead-letter file, tests).
    pub fn decoded(&self) -> Vec<Entry> {
        (0..self.len())
            .map(|i| {
                // Skip the field tag; what follows is a length-delimited EntryAdapter.
                let field = &self.bytes[self.start_of(i).byte + 1..self.ends[i].byte];
                Entry::decode_length_delimited(field).expect("the sink wrote these bytes itself")
            })
            .collect()
    }
}

/// One stream of a request: its labels in selector form and its entries, kept as the
/// parts they arrived in. A lane adds a whole upstream part by moving it, so entries are
/// not copied again on their way to the compressor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedStream {
    pub labels: std::sync::Arc<str>,
    parts: Vec<EncodedEntries>,
}

impl EncodedStream {
    /// A stream with no entries yet.
    pub fn new(labels: std::sync::Arc<str>) -> EncodedStream {
        EncodedStream {
            labels,
            parts: Vec::new(),
        }
    }

    /// Appends `entries` after the stream's entries (moved, not copied).
    pub fn push_part(&mut self, entries: EncodedEntries) {
        if !entries.is_empty() {
            self.parts.push(entries);
        }
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.parts.iter().map(EncodedEntries::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Sum of the entries' line lengths.
    pub fn line_bytes(&self) -> usize {
        self.parts.iter().map(EncodedEntries::line_bytes).sum()
    }

    /// Splits off entries `at..` into a stream with the same labels, keeping `..at`.
    pub fn split_off(&mut self, mut at: usize) -> EncodedStream {
        let mut rest = EncodedStream::new(self.labels.clone());
        let mut keep = 0;
        while keep < self.parts.len() && at >= self.parts[keep].len() {
            at -= self.parts[keep].len();
            keep += 1;
        }
        if keep < self.parts.len() && at > 0 {
            let tail = self.parts[keep].split_off(at);
            keep += 1;
            rest.push_part(tail);
        }
        for part in self.parts.drain(keep..) {
            rest.push_part(part);
        }
        rest
    }

    /// The stream as a prost value (JSON bodies, dead letters, tests).
    pub fn decoded(&self) -> Stream {
        Stream {
            labels: self.labels.as_bytes().to_vec(),
            entries: self.parts.iter().flat_map(|p| p.decoded()).collect(),
            hash: 0,
        }
    }

    /// The stream's `PushRequest.streams` field up to its entries: tag, length and labels.
    fn head(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(REQUEST_STREAM);
        put_varint(out, stream_body_len(self) as u64);
        if !self.labels.is_empty() {
            out.push(STREAM_LABELS);
            put_varint(out, self.labels.len() as u64);
            out.extend_from_slice(self.labels.as_bytes());
        }
    }
}

/// Writes the `PushRequest` of `streams`, snappy-compressed (the raw block format Loki
/// reads), into `out` from its start and returns the compressed length; `out` grows when
/// it is too small and is otherwise reused as it is.
///
/// The stream heads and entry parts are compressed one by one, straight from where they
/// are, instead of being joined into one uncompressed request first. That is valid
/// snappy: a raw snappy body is a sequence of literals and copies whose offsets point back
/// into the same piece, so the bodies of consecutive pieces, under one header with the
/// total length, decode to the pieces joined. The compressor works in independent 64 KiB
/// blocks anyway; a piece only ends a block early, so the output is well under 1% bigger
/// (a unit test checks both).
pub fn compress_request(streams: &[EncodedStream], out: &mut Vec<u8>) -> usize {
    let total = request_len(streams);
    let mut head = Vec::new();
    let mut need = encoded_len_varint(total as u64);
    for stream in streams {
        stream.head(&mut head);
        need += snap::raw::max_compress_len(head.len());
        for part in &stream.parts {
            need += snap::raw::max_compress_len(part.bytes.len());
        }
    }
    if out.len() < need {
        out.resize(need, 0);
    }
    let mut len = 0;
    let mut header = Vec::with_capacity(10);
    put_varint(&mut header, total as u64);
    out[..header.len()].copy_from_slice(&header);
    len += header.len();
    let mut encoder = snap::raw::Encoder::new();
    let mut piece = |bytes: &[u8], out: &mut [u8], len: &mut usize| {
        if bytes.is_empty() {
            return;
        }
        // The encoder starts its output with the piece's own length; write it over the
        // last bytes already out (there are always enough: the request's length header is
        // at least as long) and put those back afterwards.
        let own = encoded_len_varint(bytes.len() as u64);
        let at = *len - own;
        let mut saved = [0u8; 10];
        saved[..own].copy_from_slice(&out[at..*len]);
        let n = encoder
            .compress(bytes, &mut out[at..])
            .expect("snappy compresses any input below 4 GiB into max_compress_len bytes");
        out[at..*len].copy_from_slice(&saved[..own]);
        *len = at + n;
    };
    for stream in streams {
        stream.head(&mut head);
        piece(&head, out, &mut len);
        for part in &stream.parts {
            piece(&part.bytes, out, &mut len);
        }
    }
    len
}

/// The request as prost values (JSON bodies, tests).
pub fn decoded_request(streams: &[EncodedStream]) -> PushRequest {
    PushRequest {
        streams: streams.iter().map(EncodedStream::decoded).collect(),
    }
}

/// Appends `v` as a protobuf varint. Written here rather than prost's `encode_varint`,
/// which the compiler left as a call per varint (1.3% of the Loki pipeline's samples).
#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encoded size of the `PushRequest` of `streams`.
fn request_len(streams: &[EncodedStream]) -> usize {
    streams
        .iter()
        .map(|s| {
            let body = stream_body_len(s);
            1 + encoded_len_varint(body as u64) + body
        })
        .sum()
}

fn stream_body_len(stream: &EncodedStream) -> usize {
    bytes_field_len(stream.labels.as_bytes())
        + stream.parts.iter().map(|p| p.bytes.len()).sum::<usize>()
}

fn pair_len(name: &[u8], value: &[u8]) -> usize {
    bytes_field_len(name) + bytes_field_len(value)
}

/// A length-delimited field of `b`, left out when empty (proto3 default).
fn bytes_field_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        1 + encoded_len_varint(b.len() as u64) + b.len()
    }
}

/// A varint field of `v`, left out when 0 (proto3 default).
fn field_varint_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + encoded_len_varint(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki::proto::{LabelPair, Timestamp};

    #[test]
    fn varints_are_prosts() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, u64::MAX] {
            let (mut ours, mut prosts) = (Vec::new(), Vec::new());
            put_varint(&mut ours, v);
            prost::encoding::encode_varint(v, &mut prosts);
            assert_eq!(ours, prosts, "{v}");
            assert_eq!(ours.len(), encoded_len_varint(v));
        }
    }

    /// Timestamp, line and metadata pairs of one entry.
    type Row = (i64, String, Vec<(String, String)>);

    fn sample() -> Vec<Row> {
        vec![
            (1_700_000_000_123_456_789, "a line é \"q\"".into(), vec![]),
            (0, String::new(), vec![("k".into(), "v".into())]),
            (
                -1,
                "x".repeat(300),
                vec![("".into(), "".into()), ("trace_id".into(), "abc".into())],
            ),
            (
                1_000_000_000,
                "y".into(),
                vec![("n".into(), "z".repeat(200))],
            ),
        ]
    }

    fn encoded(rows: &[Row]) -> EncodedEntries {
        let mut e = EncodedEntries::default();
        for (ts, line, md) in rows {
            e.push(
                *ts,
                line.as_bytes(),
                md.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
            );
        }
        e
    }

    fn prost_entries(rows: &[Row]) -> Vec<Entry> {
        rows.iter()
            .map(|(ts, line, md)| Entry {
                timestamp: Some(Timestamp::from_nanos(*ts)),
                line: line.as_bytes().to_vec(),
                structured_metadata: md
                    .iter()
                    .map(|(k, v)| LabelPair {
                        name: k.as_bytes().to_vec(),
                        value: v.as_bytes().to_vec(),
                    })
                    .collect(),
            })
            .collect()
    }

    fn stream(labels: &str, parts: &[&[Row]]) -> EncodedStream {
        let mut s = EncodedStream::new(labels.into());
        for rows in parts {
            s.push_part(encoded(rows));
        }
        s
    }

    fn prost_stream(labels: &str, rows: &[Row]) -> Stream {
        Stream {
            labels: labels.as_bytes().to_vec(),
            entries: prost_entries(rows),
            hash: 0,
        }
    }

    fn decompressed(streams: &[EncodedStream], out: &mut Vec<u8>) -> Vec<u8> {
        let n = compress_request(streams, out);
        snap::raw::Decoder::new()
            .decompress_vec(&out[..n])
            .expect("valid snappy")
    }

    #[test]
    fn request_bytes_equal_prost_encoding() {
        let rows = sample();
        let streams = vec![
            stream("{a=\"b\"}", &[&rows[..1], &[], &rows[1..]]),
            stream("", &[&rows[1..2]]),
        ];
        let expected = PushRequest {
            streams: vec![
                prost_stream("{a=\"b\"}", &rows),
                prost_stream("", &rows[1..2]),
            ],
        };
        // A reused buffer longer than needed, with old bytes in it.
        let mut out = vec![7; 1 << 16];
        assert_eq!(decompressed(&streams, &mut out), expected.encode_to_vec());
        assert_eq!(decoded_request(&streams), expected);
        assert_eq!(streams[0].len(), rows.len());
        assert_eq!(
            streams[0].line_bytes(),
            rows.iter().map(|r| r.1.len()).sum::<usize>()
        );
        assert_eq!(decompressed(&[], &mut Vec::new()), Vec::<u8>::new());
    }

    #[test]
    fn pieces_compress_to_the_joined_request() {
        // Parts and labels long enough for multi-byte length headers and several of the
        // compressor's 64 KiB blocks per piece; lines that repeat, so copies are emitted.
        let rows: Vec<Row> = (0..3000)
            .map(|i| {
                (
                    i,
                    format!("line {} {}", i % 7, "x".repeat(i as usize % 300)),
                    vec![],
                )
            })
            .collect();
        let labels = format!("{{big=\"{}\"}}", "v".repeat(70_000));
        let streams = vec![
            stream(&labels, &[&rows[..1000], &rows[1000..2500]]),
            stream("{s=\"2\"}", &[&rows[2500..], &rows[..10]]),
        ];
        let mut joined = rows[2500..].to_vec();
        joined.extend_from_slice(&rows[..10]);
        let expected = PushRequest {
            streams: vec![
                prost_stream(&labels, &rows[..2500]),
                prost_stream("{s=\"2\"}", &joined),
            ],
        };
        let mut out = Vec::new();
        let bytes = decompressed(&streams, &mut out);
        assert_eq!(bytes, expected.encode_to_vec());
        let whole = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
        let n = compress_request(&streams, &mut out);
        // Pieces cut the compressor's blocks short where they end: a little bigger, not much.
        assert!(n <= whole.len() * 101 / 100, "{n} vs {}", whole.len());
    }

    #[test]
    fn stream_split_off_keeps_order_across_parts() {
        let rows = sample();
        let all = stream("{a=\"b\"}", &[&rows[..1], &rows[1..3], &rows[3..]]);
        for at in 0..=rows.len() {
            let mut first = all.clone();
            let second = first.split_off(at);
            assert_eq!(first.decoded().entries, prost_entries(&rows[..at]), "{at}");
            assert_eq!(second.decoded().entries, prost_entries(&rows[at..]), "{at}");
            assert_eq!(second.labels, all.labels);
            assert_eq!(first.is_empty(), at == 0);
        }
    }

    #[test]
    fn split_and_extend_keep_entries_and_line_bytes() {
        let rows = sample();
        let mut all = encoded(&rows);
        let rest = all.split_off(1);
        assert_eq!(all, encoded(&rows[..1]));
        assert_eq!(rest, encoded(&rows[1..]));
        let mut joined = EncodedEntries::default();
        joined.extend_from(&rest, 1, 3);
        joined.extend_from(&all, 0, 1);
        let mut expected_rows = rows[2..].to_vec();
        expected_rows.push(rows[0].clone());
        assert_eq!(joined, encoded(&expected_rows));
        assert_eq!(joined.range_len(0, 2), encoded(&rows[2..]).bytes.len());
        let first = encoded(&rows[..1]).bytes.len();
        assert_eq!(joined.fit(0, 0), 0);
        assert_eq!(joined.fit(2, first - 1), 2);
        assert_eq!(joined.fit(2, first), 3);
        assert_eq!(joined.fit(0, usize::MAX), 3);
    }
}
