//! What every push source (`http`, `loki_push`) does around decoding a body: check the
//! bearer token, read the body within its limit, hand the records to the pipeline and wait
//! for their acknowledgement, so that the answer tells the sender the truth; and cut
//! over-long lines the same way.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

use crate::channel::Fanout;
use crate::event::{Ack, AckStatus, LogBatch};
use crate::telemetry::ComponentMetrics;

/// Larger bodies get 413 (both push sources' default `max_body_bytes`).
pub(crate) fn default_max_body() -> usize {
    10 << 20
}

/// How long a request waits for its records' delivery (default `ack_timeout_secs`).
pub(crate) fn default_ack_timeout() -> u64 {
    30
}

/// The routes the API server serves itself.
const SERVER_ROUTES: [&str; 4] = ["/metrics", "/healthz", "/ready", "/-/reload"];

/// Checks a push source's `path`: a literal route (no parameters or wildcards, which the
/// router would read as patterns) that is not one of the server's own.
pub fn check_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    if path.contains(['{', '}', '*']) || path.split('/').any(|s| s.starts_with(':')) {
        return Err(format!(
            "`{path}` must be a plain route, without `{{...}}`, `*` or `:` segments"
        ));
    }
    if SERVER_ROUTES.contains(&path) {
        return Err(format!("`{path}` is one of the API server's own routes"));
    }
    Ok(())
}

/// True when `token` is not required, or the request carries `Authorization: Bearer
/// <token>` (compared in constant time).
pub fn bearer_ok(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(bearer_ok(&h, None));
        assert!(!bearer_ok(&h, Some("s3cret")));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(bearer_ok(&h, Some("s3cret")));
        assert!(!bearer_ok(&h, Some("s3cre")));
        h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert!(!bearer_ok(&h, Some("s3cret")));
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
