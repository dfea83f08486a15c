//! Request ids on every HTTP request the API server takes: the W3C `traceparent` (and
//! `tracestate`) and `X-Request-Id` a sender gives are read (a request id is made when none
//! came), returned on the response (`X-Request-Id`, and `traceparent` when one came in), and
//! put on every line of the collector's log written while the request is handled (its
//! `span`), so a refused push can be found in sluice's log by the sender's ids. Handlers
//! read them as an `Extension<RequestIds>`.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The ids of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds {
    /// `X-Request-Id` as sent (printable ASCII, at most 128 bytes), or made here: 32 hex.
    pub request_id: String,
    /// From a valid `traceparent`: the trace id (32 lowercase hex) and the parent span id
    /// (16 lowercase hex).
    pub trace: Option<TraceContext>,
}

/// A valid W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    /// The header as it came, returned on the response.
    pub traceparent: String,
}

/// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`): lowercase hex, ids not all
/// zeros, version not `ff`; a later version may add fields after the flags.
pub fn parse_traceparent(value: &str) -> Option<TraceContext> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zeros = |s: &str| s.bytes().all(|b| b == b'0');
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace_id, 32)
        && !zeros(trace_id)
        && hex(span_id, 16)
        && !zeros(span_id)
        && hex(flags, 2);
    valid.then(|| TraceContext {
        trace_id: trace_id.to_string(),
        span_id: span_id.to_string(),
        traceparent: value.trim().to_string(),
    })
}

/// A sender's `X-Request-Id`, if usable as it is: 1 to 128 printable ASCII characters.
fn usable_request_id(value: &str) -> Option<&str> {
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(value)
}

/// A new request id: 128 random bits in hex.
fn new_request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The middleware: reads or makes the ids, runs the request inside a span carrying them,
/// and returns them on the response.
pub async fn tag(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let request_id = header("x-request-id")
        .and_then(usable_request_id)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let trace = header("traceparent").and_then(parse_traceparent);
    let ids = RequestIds { request_id, trace };
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %ids.request_id,
        trace_id = ids.trace.as_ref().map(|t| t.trace_id.as_str()).unwrap_or(""),
    );
    request.extensions_mut().insert(ids.clone());
    let mut response = next.run(request).instrument(span).await;
    let out = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        out.insert("x-request-id", v);
    }
    if let Some(v) = ids
        .trace
        .and_then(|t| HeaderValue::from_str(&t.traceparent).ok())
    {
        out.insert("traceparent", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_validated_as_w3c_says() {
        let t =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id, "00f067aa0ba902b7");
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 has 4 parts
            "garbage",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab")
                .is_some()
        );
    }

    #[test]
    fn request_ids_are_kept_when_usable_and_made_otherwise() {
        assert_eq!(usable_request_id("abc-123"), Some("abc-123"));
        assert_eq!(usable_request_id("has space"), None);
        assert_eq!(usable_request_id(&"x".repeat(129)), None);
        let made = new_request_id();
        assert_eq!(made.len(), 32);
        assert_ne!(made, new_request_id());
    }
}
