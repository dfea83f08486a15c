//! The Loki push request in protobuf, field for field as Loki's `pkg/push/push.proto`
//! (`logproto.PushRequest`), with snappy block compression: what `Content-Type:
//! application/x-protobuf` bodies on `/loki/api/v1/push` carry.
//!
//! Text fields are declared as `bytes` (the wire type is the same as `string`): decoding
//! never refuses a request over invalid UTF-8, the receiver repairs it and counts it, as Loki
//! (whose Go strings take any bytes) would accept it.

use prost::Message;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<Stream>,
}

/// `logproto.StreamAdapter`: one label set and its entries.
#[derive(Clone, PartialEq, Message)]
pub struct Stream {
    /// The label set in selector form: `{app="api", env="prod"}`.
    #[prost(bytes = "vec", tag = "1")]
    pub labels: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<Entry>,
    /// Loki fills this in itself; clients leave it 0.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, Message)]
pub struct Entry {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPair>,
}

/// `logproto.LabelPairAdapter`: one structured metadata pair.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `ns` nanoseconds since the Unix epoch.
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the Unix epoch (saturating).
    pub fn to_nanos(self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(self.nanos as i64)
    }
}

impl Entry {
    /// Nanoseconds since the Unix epoch; an entry without a timestamp has 0.
    pub fn nanos(&self) -> i64 {
        self.timestamp.map(Timestamp::to_nanos).unwrap_or(0)
    }
}

/// Why a protobuf push body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    #[error("the body decompresses to {0} bytes, over the limit of {1}")]
    TooLarge(usize, usize),
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// The request encoded and snappy-compressed (block format), ready to POST.
pub fn encode(request: &PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compresses any input below 4 GiB")
}

/// Decodes a snappy-compressed protobuf body, refusing one that would decompress past
/// `max_decompressed` bytes before allocating for it.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<PushRequest, DecodeError> {
    let len = snap::raw::decompress_len(body)?;
    if len > max_decompressed {
        return Err(DecodeError::TooLarge(len, max_decompressed));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(PushRequest::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bytes_match_the_proto_field_numbers() {
        // Built by hand from push.proto: stream(1){labels(1), entry(2){ts(1){s(1),n(2)},
        // line(2), metadata(3){name(1), value(2)}}}.
        let request = PushRequest {
            streams: vec![Stream {
                labels: b"{a=\"b\"}".to_vec(),
                entries: vec![Entry {
                    timestamp: Some(Timestamp {
                        seconds: 1,
                        nanos: 2,
                    }),
                    line: b"hi".to_vec(),
                    structured_metadata: vec![LabelPair {
                        name: b"k".to_vec(),
                        value: b"v".to_vec(),
                    }],
                }],
                hash: 0,
            }],
        };
        let expected: Vec<u8> = vec![
            0x0a, 0x1d, // streams, 29 bytes
            0x0a, 0x07, b'{', b'a', b'=', b'"', b'b', b'"', b'}', // labels
            0x12, 0x12, // entries, 18 bytes
            0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, // timestamp {seconds: 1, nanos: 2}
            0x12, 0x02, b'h', b'i', // line
            0x1a, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v', // structured metadata
        ];
        assert_eq!(request.encode_to_vec(), expected);
        let round = decode(&encode(&request), 1 << 20).unwrap();
        assert_eq!(round, request);
    }

    #[test]
    fn timestamps_split_and_join_nanoseconds() {
        let ts = Timestamp::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(ts.seconds, 1_700_000_000);
        assert_eq!(ts.nanos, 123_456_789);
        assert_eq!(ts.to_nanos(), 1_700_000_000_123_456_789);
        assert_eq!(Timestamp::from_nanos(-1).to_nanos(), -1);
    }

    #[test]
    fn corrupt_and_oversized_bodies_are_refused() {
        assert!(matches!(
            decode(b"not snappy at all", 1 << 20),
            Err(DecodeError::Snappy(_)) | Err(DecodeError::Protobuf(_))
        ));
        let big = PushRequest {
            streams: vec![Stream {
                labels: vec![b'x'; 4096],
                ..Default::default()
            }],
        };
        assert!(matches!(
            decode(&encode(&big), 1024),
            Err(DecodeError::TooLarge(_, 1024))
        ));
        let mut truncated = encode(&big);
        truncated.truncate(truncated.len() / 2);
        assert!(decode(&truncated, 1 << 20).is_err());
    }
}
