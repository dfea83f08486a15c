//! The OTLP/HTTP wire: the request's encoding (by `Content-Type`), its body decoded
//! (binary protobuf, or the OTLP/JSON mapping: camelCase keys, hex trace and span ids,
//! int64 as a string or a number), and the answers written in the request's encoding: an
//! `ExportLogsServiceResponse` (with `partial_success` when records were rejected) on
//! success, a `google.rpc.Status` for a refusal. Decoding never panics on corrupt input
//! (prost and serde_json both bound their nesting depth).

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;

/// How a request's body (and so its answer) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names (parameters ignored); None for anything else
    /// (answered 415).
    pub fn of(content_type: &str) -> Option<Encoding> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Encoding::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of answers in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The request in `body` (already decompressed).
pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportLogsServiceRequest, String> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body)
            .map_err(|e| format!("protobuf ExportLogsServiceRequest: {e}")),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| format!("OTLP/JSON ExportLogsServiceRequest: {e}")),
    }
}

/// The success answer: `partial_success` only when records were rejected (OTLP: a server
/// that accepted everything leaves it unset).
pub fn export_response(encoding: Encoding, rejected: usize, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected as i64,
                error_message: message.to_string(),
            }),
        }
        .encode_to_vec(),
        Encoding::Json => {
            let value = if rejected > 0 {
                serde_json::json!({ "partialSuccess": {
                    "rejectedLogRecords": rejected.to_string(),
                    "errorMessage": message,
                } })
            } else {
                serde_json::json!({})
            };
            value.to_string().into_bytes()
        }
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP gives a refused request (details left empty).
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    /// A gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The gRPC code that goes with an HTTP status in a refusal's `Status`.
pub fn grpc_code(http: u16) -> i32 {
    match http {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 2,               // UNKNOWN
    }
}

/// A refusal's body in `encoding`.
pub fn status_body(encoding: Encoding, http: u16, message: &str) -> Vec<u8> {
    let code = grpc_code(http);
    match encoding {
        Encoding::Protobuf => Status {
            code,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_pick_the_encoding() {
        assert_eq!(Encoding::of("application/x-protobuf"), Some(Encoding::Protobuf));
        assert_eq!(
            Encoding::of("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::of("text/plain"), None);
        assert_eq!(Encoding::of(""), None);
    }

    #[test]
    fn otlp_json_as_the_spec_writes_it() {
        // The example request of the OTLP specification's JSON encoding, trimmed.
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
          "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":1544712660300000000,"severityNumber":10,"severityText":"Information",
            "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},
            "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},{"key":"int.attribute","value":{"intValue":"10"}},
              {"key":"double.attribute","value":{"doubleValue":637.704}},{"key":"bool.attribute","value":{"boolValue":true}},
              {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"intValue":2}]}}},
              {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}}],
            "unknownField":{"ignored":true}}]}]}]}"#;
        let request = decode(body, Encoding::Json).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.time_unix_nano, 1544712660300000000);
        assert_eq!(record.observed_time_unix_nano, 1544712660300000000);
        assert_eq!(hex::encode(&record.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(record.attributes.len(), 6);
        // And the same request through protobuf.
        let again = decode(&request.encode_to_vec(), Encoding::Protobuf).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn corrupt_bodies_are_errors() {
        assert!(decode(b"\xff\xff\xff", Encoding::Protobuf).is_err());
        assert!(decode(b"{\"resourceLogs\":[", Encoding::Json).is_err());
        assert!(decode(br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#, Encoding::Json).is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode(deep.as_bytes(), Encoding::Json).is_err());
        // Nested AnyValues past prost's recursion limit are refused, not a stack overflow.
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue};
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let mut body = AnyValue {
            value: Some(Value::StringValue("deep".into())),
        };
        for _ in 0..200 {
            body = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values: vec![body] })),
            };
        }
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        body: Some(body),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let e = decode(&request.encode_to_vec(), Encoding::Protobuf).unwrap_err();
        assert!(e.contains("recursion"), "{e}");
    }

    #[test]
    fn answers_in_both_encodings() {
        assert_eq!(export_response(Encoding::Json, 0, ""), b"{}");
        assert_eq!(
            String::from_utf8(export_response(Encoding::Json, 2, "bad ids")).unwrap(),
            r#"{"partialSuccess":{"errorMessage":"bad ids","rejectedLogRecords":"2"}}"#
        );
        let proto = export_response(Encoding::Protobuf, 2, "bad ids");
        let decoded = ExportLogsServiceResponse::decode(proto.as_slice()).unwrap();
        assert_eq!(decoded.partial_success.unwrap().rejected_log_records, 2);
        assert!(export_response(Encoding::Protobuf, 0, "").is_empty());
        let status = Status::decode(status_body(Encoding::Protobuf, 400, "no").as_slice()).unwrap();
        assert_eq!((status.code, status.message.as_str()), (3, "no"));
    }
}
