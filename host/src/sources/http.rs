//! The `http` source: records POSTed to a route on the API server. Bodies are NDJSON
//! (`application/x-ndjson`), a JSON array or object (`application/json`), or plain text
//! lines (anything else). The request is answered only once its records are delivered
//! downstream: 200 `{"accepted": N}`, or 503 when they could not be (retry), 400 for a body
//! that does not parse (nothing accepted), 401 without the configured token, 413 above the
//! size limit.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::push::{self, default_ack_timeout, default_queue_timeout, default_max_body, default_max_decompressed, Delivery};
use super::{default_max_line_bytes, BuiltSource, Source, SourceContext};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::{label_set, now_ns, LogBatch};
use crate::telemetry::events;

/// `type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// The route on the API server.
    #[serde(default = "default_http_path")]
    pub path: String,
    /// When set, requests must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    /// Take the record's line from this field of each JSON object instead of the whole
    /// object.
    #[serde(default)]
    pub message_field: Option<String>,
    /// Static labels for every record.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Larger bodies (as sent, compressed) get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bodies (`Content-Encoding: gzip` or `deflate`) that decompress to more get 413.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How long a request may wait for room in the pipeline before it gets 503.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// How long a request waits for its records to be delivered before it gets 503.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_secs: u64,
    /// Records without a `trace_id` of their own get the request's (from its
    /// `traceparent`) as metadata `trace_id` and `span_id`.
    #[serde(default)]
    pub request_trace_metadata: bool,
}

fn default_http_path() -> String {
    "/ingest".into()
}

impl ComponentConfig<dyn Source> for HttpSourceConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        push::check_route_path(&self.path).map_err(|e| CheckError::at("path", e))?;
        Ok(Box::new(self))
    }
}

impl Source for HttpSourceConfig {
    fn push_path(&self) -> Option<&str> {
        Some(&self.path)
    }

    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: None,
            route: Some(route(*self, ctx)),
        }
    }
}

struct HttpSource {
    config: HttpSourceConfig,
    ctx: SourceContext,
    labels: Vec<crate::event::Label>,
}

/// The route this source serves, to be mounted on the API server.
pub fn route(config: HttpSourceConfig, ctx: SourceContext) -> Router {
    let path = config.path.clone();
    let state = Arc::new(HttpSource {
        labels: label_set(&config.labels),
        config,
        ctx,
    });
    Router::new().route(&path, post(handle)).with_state(state)
}

fn reply(src: &HttpSource, status: StatusCode, body: String) -> Response {
    src.ctx.metrics.http_request(status.as_u16());
    push::with_retry_after(
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
    )
}

fn error_body(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

async fn handle(
    State(src): State<Arc<HttpSource>>,
    ids: Option<axum::Extension<push::RequestIds>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !push::token_ok(&headers, src.config.token.as_deref()) {
        events::component_error(
            &src.ctx.metrics,
            "unauthorized",
            "missing or wrong bearer token",
        );
        return reply(
            &src,
            StatusCode::UNAUTHORIZED,
            error_body("missing or wrong bearer token"),
        );
    }
    let Some(body) = push::read_body(body, src.config.max_body_bytes).await else {
        events::component_error(
            &src.ctx.metrics,
            "body_too_large",
            "request body over max_body_bytes",
        );
        return reply(
            &src,
            StatusCode::PAYLOAD_TOO_LARGE,
            error_body(&format!(
                "body larger than {} bytes",
                src.config.max_body_bytes
            )),
        );
    };
    // A gzip- or deflate-encoded body is decoded first (it used to be stored as a line of
    // compressed bytes).
    let body = match push::decompress(&headers, &body, src.config.max_decompressed_bytes) {
        Ok(b) => b,
        Err(e) => {
            let status = match e {
                push::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            events::component_error(&src.ctx.metrics, "bad_body", &e.to_string());
            return reply(&src, status, error_body(&e.to_string()));
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain");
    let mut batch = match decode(&src, content_type, &body) {
        Ok(b) => b,
        Err(message) => {
            events::component_error(&src.ctx.metrics, "bad_body", &message);
            return reply(&src, StatusCode::BAD_REQUEST, error_body(&message));
        }
    };
    let records = batch.len();
    if records == 0 {
        return reply(
            &src,
            StatusCode::OK,
            serde_json::json!({"accepted": 0}).to_string(),
        );
    }
    if src.config.request_trace_metadata {
        push::tag_with_request_trace(&mut batch, ids.as_deref());
    }
    let bytes = batch.line_bytes();
    src.ctx.metrics.received(records, bytes);
    let delivery = push::deliver(
        &src.ctx.out,
        batch,
        Duration::from_millis(src.config.queue_timeout_ms),
        Duration::from_secs(src.config.ack_timeout_secs),
    )
    .await;
    if !matches!(delivery, Delivery::QueueFull | Delivery::Closed) {
        src.ctx.metrics.sent(records, bytes);
    }
    let (status, message) = match delivery {
        Delivery::Delivered => {
            return reply(
                &src,
                StatusCode::OK,
                serde_json::json!({ "accepted": records }).to_string(),
            )
        }
        Delivery::Rejected => (
            StatusCode::BAD_REQUEST,
            "a sink refused the records permanently",
        ),
        Delivery::Failed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the records could not be delivered; retry",
        ),
        Delivery::QueueFull => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is full; retry later",
        ),
        Delivery::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline is shutting down",
        ),
        Delivery::TimedOut => (
            StatusCode::SERVICE_UNAVAILABLE,
            "delivery is taking too long; retry",
        ),
    };
    reply(&src, status, error_body(message))
}

/// Decodes a body into records; any malformed part refuses the whole body.
fn decode(src: &HttpSource, content_type: &str, body: &[u8]) -> Result<LogBatch, String> {
    let mut batch = LogBatch::default();
    let set = batch.intern_labels(&src.labels);
    let now = now_ns();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let push = |batch: &mut LogBatch, line: &str| {
        let line = push::cut_line(line, src.config.max_line_bytes, &src.ctx.metrics);
        batch.push(line, now, set, &[]);
    };
    match mime {
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
            let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| format!("line {}: invalid JSON: {e}", i + 1))?;
                match &src.config.message_field {
                    None => push(&mut batch, line.trim()),
                    Some(field) => push(&mut batch, &message_of(&value, field, i + 1)?),
                }
            }
        }
        "application/json" => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
            let items = match value {
                serde_json::Value::Array(items) => items,
                other => vec![other],
            };
            for (i, item) in items.iter().enumerate() {
                let line = match &src.config.message_field {
                    None => item.to_string(),
                    Some(field) => message_of(item, field, i + 1)?,
                };
                push(&mut batch, &line);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            if matches!(text, std::borrow::Cow::Owned(_)) {
                events::lines_repaired(&src.ctx.metrics, "invalid_utf8", 1, "invalid UTF-8 replaced with U+FFFD");
            }
            for line in text.lines() {
                if !line.is_empty() {
                    push(&mut batch, line);
                }
            }
        }
    }
    Ok(batch)
}

fn message_of(value: &serde_json::Value, field: &str, item: usize) -> Result<String, String> {
    match value.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(format!("record {item} has no `{field}` field")),
    }
}
