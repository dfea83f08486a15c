//! What every push source (`http`, `loki_push`) does around decoding a body: check the
//! bearer token, read the body within its limit, hand the records to the pipeline and wait
//! for their acknowledgement, so that the answer tells the sender the truth; and cut
//! over-long lines the same way.

use std::time::Duration;

use axum::body::{Body, Bytes};

use crate::channel::Fanout;
use crate::event::{Ack, AckStatus, LogBatch};
use crate::telemetry::ComponentMetrics;

/// Larger bodies get 413 (both push sources' default `max_body_bytes`).
pub(crate) fn default_max_body() -> usize {
    10 << 20
}

/// Bodies that decompress to more get 413 (both push sources' `max_decompressed_bytes`).
pub(crate) fn default_max_decompressed() -> usize {
    100 << 20
}

/// How long a request waits for its records' delivery (default `ack_timeout_secs`).
/// How long a push may wait for room in the pipeline before it is refused (429 or 503), in
/// milliseconds: a full pipeline (a sink down behind a memory buffer) answers promptly.
pub(crate) fn default_queue_timeout() -> u64 {
    1000
}

pub(crate) fn default_ack_timeout() -> u64 {
    30
}

pub use crate::server::request_ids::RequestIds;
pub use crate::server::{check_route_path, token_ok};

/// How long a push sender is told to wait (`Retry-After`) after a 429 or 503.
pub const RETRY_AFTER_SECS: &str = "1";

/// Adds `Retry-After` to a 429 or 503 response (the sender should retry: a retried push may
/// be delivered twice, at-least-once).
pub fn with_retry_after(mut response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    if status == axum::http::StatusCode::TOO_MANY_REQUESTS
        || status == axum::http::StatusCode::SERVICE_UNAVAILABLE
    {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

/// With `request_trace_metadata`, the push request's trace context on the records that
/// carry no trace id of their own (metadata `trace_id`, and `span_id` the sender's span).
pub fn tag_with_request_trace(batch: &mut LogBatch, ids: Option<&RequestIds>) {
    if let Some(trace) = ids.and_then(|i| i.trace.as_ref()) {
        batch.add_metadata_where_missing("trace_id", &trace.trace_id);
        batch.add_metadata_where_missing("span_id", &trace.span_id);
    }
}

/// Why a body's Content-Encoding could not be undone.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("Content-Encoding {0:?} is not supported (use gzip or deflate)")]
    Unsupported(String),
    #[error("{0} body: {1}")]
    Corrupt(String, std::io::Error),
    #[error("body decompresses to more than {0} bytes")]
    TooLarge(usize),
}

/// The body with its `Content-Encoding` (gzip, deflate; none or `identity`: as it is)
/// undone, refusing more than `limit` bytes of output (a small body can expand enormously).
pub fn decompress(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    use std::io::Read;
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        _ => return Err(BodyError::Unsupported(encoding)),
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt(encoding.clone(), e))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(out)
}

/// `line` cut to at most `max` bytes (on a character boundary), counting the cut as a
/// `truncated` repair.
pub fn cut_line<'a>(line: &'a str, max: usize, metrics: &ComponentMetrics) -> &'a str {
    if line.len() <= max {
        return line;
    }
    crate::telemetry::events::lines_repaired(
        metrics,
        "truncated",
        1,
        "a line over max_line_bytes was cut",
    );
    crate::event::prefix_within(line, max)
}

/// The body, or None when it is larger than `limit` bytes (or the client went away).
pub async fn read_body(body: Body, limit: usize) -> Option<Bytes> {
    axum::body::to_bytes(body, limit).await.ok()
}

/// What became of records handed to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every sink took them.
    Delivered,
    /// A sink refused some for good (counted and dead-lettered there).
    Rejected,
    /// A sink could not deliver them; the sender should retry.
    Failed,
    /// No room in the pipeline within the queue timeout (back-pressure).
    QueueFull,
    /// The pipeline is shutting down.
    Closed,
    /// No answer from the sinks within the acknowledgement timeout.
    TimedOut,
}

/// Sends `batch` downstream (waiting up to `queue_wait` for room) and waits up to
/// `ack_wait` for every sink to settle it.
pub async fn deliver(
    out: &Fanout,
    mut batch: LogBatch,
    queue_wait: Duration,
    ack_wait: Duration,
) -> Delivery {
    let (ack, settled) = Ack::new();
    batch.acks.push(ack);
    match tokio::time::timeout(queue_wait, out.send(batch)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Delivery::Closed,
        Err(_) => return Delivery::QueueFull,
    }
    match tokio::time::timeout(ack_wait, settled).await {
        Ok(Ok(AckStatus::Delivered)) => Delivery::Delivered,
        Ok(Ok(AckStatus::Rejected)) => Delivery::Rejected,
        Ok(Ok(AckStatus::Failed)) | Ok(Err(_)) => Delivery::Failed,
        Err(_) => Delivery::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderMap};

    #[test]
    fn tokens_must_match_exactly_as_bearer_or_basic_password() {
        let mut h = HeaderMap::new();
        assert!(token_ok(&h, None));
        assert!(!token_ok(&h, Some("s3cret")));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(token_ok(&h, Some("s3cret")));
        assert!(!token_ok(&h, Some("s3cre")));
        // Basic: the token is the password, any user name; a bare token is not Basic.
        h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert!(!token_ok(&h, Some("s3cret")));
        for (creds, ok) in [
            ("admin:s3cret", true),
            (":s3cret", true),
            ("s3cret:x", false),
            ("admin:s3cre", false),
            ("s3cret", false),
        ] {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(creds);
            h.insert(
                header::AUTHORIZATION,
                format!("Basic {b64}").parse().unwrap(),
            );
            assert_eq!(token_ok(&h, Some("s3cret")), ok, "{creds}");
        }
        // The scheme is case-insensitive (RFC 7235).
        h.insert(header::AUTHORIZATION, "bearer s3cret".parse().unwrap());
        assert!(token_ok(&h, Some("s3cret")));
        h.insert(header::AUTHORIZATION, "BEARER s3cret".parse().unwrap());
        assert!(token_ok(&h, Some("s3cret")));
    }
}

#[cfg(test)]
mod route_tests {
    use super::check_route_path;

    #[test]
    fn push_paths_are_plain_routes_of_their_own() {
        assert!(check_route_path("/ingest").is_ok());
        assert!(check_route_path("/loki/api/v1/push").is_ok());
        for bad in [
            "ingest",
            "/x/{id}",
            "/x/*rest",
            "/x/:id",
            "/metrics",
            "/-/reload",
        ] {
            assert!(check_route_path(bad).is_err(), "{bad}");
        }
    }
}
