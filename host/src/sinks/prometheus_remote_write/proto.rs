//! The remote-write 1.0 request as prost messages, field for field as Prometheus's
//! `prompb/remote.proto` (`WriteRequest`) and `prompb/types.proto` (`TimeSeries`, `Label`,
//! `Sample`, `MetricMetadata`), written by hand (no build script), and the snappy **block**
//! compression the protocol asks for. Exemplars and native histograms (fields the sink never
//! fills) are left out; a receiver reads their absence as empty.

use prost::Message;

use crate::event::metrics::MetricType;

/// `prometheus.WriteRequest`. Field 2 is reserved in Prometheus's definition.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: one series' labels (sorted by name) and its samples (in
/// timestamp order).
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a value (a staleness marker travels as its exact NaN bits) at a
/// time in milliseconds since the epoch.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`. Field 3 is unused in Prometheus's definition.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "WireMetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WireMetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

impl From<MetricType> for WireMetricType {
    fn from(kind: MetricType) -> WireMetricType {
        match kind {
            MetricType::Counter => WireMetricType::Counter,
            MetricType::Gauge => WireMetricType::Gauge,
            MetricType::Histogram => WireMetricType::Histogram,
            MetricType::GaugeHistogram => WireMetricType::Gaugehistogram,
            MetricType::Summary => WireMetricType::Summary,
            MetricType::Info => WireMetricType::Info,
            MetricType::StateSet => WireMetricType::Stateset,
            MetricType::Unknown => WireMetricType::Unknown,
        }
    }
}

/// Why a body could not be compressed (only for bodies over snappy's ~4 GiB limit).
#[derive(Debug, thiserror::Error)]
#[error("cannot snappy-compress a {bytes}-byte request: {source}")]
pub struct CompressError {
    bytes: usize,
    source: snap::Error,
}

impl WriteRequest {
    /// The request in protobuf, snappy block compressed: the body of a remote-write POST.
    pub fn to_body(&self) -> Result<Vec<u8>, CompressError> {
        let raw = self.encode_to_vec();
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .map_err(|source| CompressError {
                bytes: raw.len(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::metrics::{stale_nan, STALE_NAN_BITS};

    /// A body decoded back as a receiver would: snappy block, then protobuf.
    fn decode_body(body: &[u8]) -> WriteRequest {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        WriteRequest::decode(raw.as_slice()).unwrap()
    }

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "node".into(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.5,
                        timestamp: 1_700_000_000_000,
                    },
                    Sample {
                        value: stale_nan(),
                        timestamp: 1_700_000_015_000,
                    },
                ],
            }],
            metadata: vec![MetricMetadata {
                r#type: WireMetricType::Gaugehistogram as i32,
                metric_family_name: "up".into(),
                help: "Is it up".into(),
                unit: "".into(),
            }],
        }
    }

    #[test]
    fn a_body_decodes_back_to_the_request_with_the_staleness_marker_bit_exact() {
        let sent = request();
        let got = decode_body(&sent.to_body().unwrap());
        assert_eq!(got.timeseries[0].labels, sent.timeseries[0].labels);
        assert_eq!(got.metadata, sent.metadata);
        let samples = &got.timeseries[0].samples;
        assert_eq!(samples[0], sent.timeseries[0].samples[0]);
        assert_eq!(samples[1].timestamp, 1_700_000_015_000);
        assert_eq!(samples[1].value.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn field_numbers_are_prometheus_s() {
        // Hand-written bytes for `WriteRequest{timeseries:[{labels:[{name:"a",value:"b"}],
        // samples:[{value:1.0,timestamp:2}]}], metadata:[{type:COUNTER,
        // metric_family_name:"f",help:"h",unit:"u"}]}` as protoc would encode them.
        let series: Vec<u8> = [
            &[0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b'][..],
            &[0x12, 0x0b, 0x09],
            &1.0f64.to_le_bytes(),
            &[0x10, 0x02],
        ]
        .concat();
        let metadata = [
            0x08, 0x01, 0x12, 0x01, b'f', 0x22, 0x01, b'h', 0x2a, 0x01, b'u',
        ];
        let mut expected = vec![0x0a, series.len() as u8];
        expected.extend_from_slice(&series);
        expected.extend_from_slice(&[0x1a, metadata.len() as u8]);
        expected.extend_from_slice(&metadata);
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
            metadata: vec![MetricMetadata {
                r#type: WireMetricType::from(MetricType::Counter) as i32,
                metric_family_name: "f".into(),
                help: "h".into(),
                unit: "u".into(),
            }],
        };
        assert_eq!(request.encode_to_vec(), expected);
    }

    #[test]
    fn every_metric_type_has_prometheus_s_number() {
        let numbers: Vec<i32> = [
            MetricType::Unknown,
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
        ]
        .into_iter()
        .map(|k| WireMetricType::from(k) as i32)
        .collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
