//! The `loki_push` source: serves Loki's push API (`POST /loki/api/v1/push`) on the API
//! server, so Promtail, Grafana Alloy, Docker's Loki driver and other sluice collectors can
//! push to sluice as if it were Loki. Bodies are protobuf + snappy or JSON (either may be
//! gzip- or deflate-encoded); stream labels become record labels, structured metadata
//! becomes record metadata, and the tenant header can be kept as a label.
//!
//! Answers like Loki: 204 once the records are acknowledged downstream, 400 (plain text,
//! saying what is wrong) for a body that does not decode, 401 without the configured token,
//! 413 above the body limits, 429 when the pipeline has no room (with Retry-After), 503 when
//! the records could not be delivered. A bad request never affects other requests.

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
use crate::event::{label_set, overlay_labels, Label, LogBatch};
use crate::loki::{json, labels, proto};
use crate::telemetry::events;

/// `type = "loki_push"`: serves Loki's push API on the API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiPushSourceConfig {
    /// The route on the API server.
    #[serde(default = "default_loki_push_path")]
    pub path: String,
    /// When set, requests must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    /// Keep the request's `X-Scope-OrgID` as this label (a `__`-prefixed name passes it to a
    /// `loki` sink's `tenant_label` without it becoming a stream label in Loki).
    #[serde(default)]
    pub tenant_label: Option<String>,
    /// Labels added to every record (a pushed label of the same name wins).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Larger bodies (as sent, compressed) get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bodies that decompress to more get 413.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How long a request may wait for room in the pipeline before it gets 429.
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

fn default_loki_push_path() -> String {
    crate::loki::PUSH_PATH.into()
}


impl ComponentConfig<dyn Source> for LokiPushSourceConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        push::check_route_path(&self.path).map_err(|e| CheckError::at("path", e))?;
        Ok(Box::new(self))
    }
}

impl Source for LokiPushSourceConfig {
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

struct LokiPush {
    config: LokiPushSourceConfig,
    ctx: SourceContext,
    labels: Vec<Label>,
}

/// The route this source serves, to be mounted on the API server.
pub fn route(config: LokiPushSourceConfig, ctx: SourceContext) -> Router {
    let path = config.path.clone();
    let state = Arc::new(LokiPush {
        labels: label_set(&config.labels),
        config,
        ctx,
    });
    Router::new().route(&path, post(handle)).with_state(state)
}

/// Why a request was refused, with its status.
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Refusal {
    fn bad(kind: &'static str, message: String) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            kind,
            message,
        }
    }
    fn too_large(message: String) -> Refusal {
        Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "body_too_large",
            message,
        }
    }
}

fn reply(src: &LokiPush, status: StatusCode, message: &str) -> Response {
    src.ctx.metrics.http_request(status.as_u16());
    let response = if message.is_empty() {
        status.into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response()
    };
    push::with_retry_after(response)
}

async fn handle(
    State(src): State<Arc<LokiPush>>,
    ids: Option<axum::Extension<push::RequestIds>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&src, ids.as_deref(), &headers, body).await {
        Ok(response) => response,
        Err(refusal) => {
            events::component_error(&src.ctx.metrics, refusal.kind, &refusal.message);
            reply(&src, refusal.status, &refusal.message)
        }
    }
}

async fn accept(
    src: &LokiPush,
    ids: Option<&push::RequestIds>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    if !push::token_ok(headers, src.config.token.as_deref()) {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            kind: "unauthorized",
            message: "missing or wrong bearer token".into(),
        });
    }
    let limit = src.config.max_body_bytes;
    let body = push::read_body(body, limit)
        .await
        .ok_or_else(|| Refusal::too_large(format!("body larger than {limit} bytes")))?;
    let body = decompress(headers, &body, src.config.max_decompressed_bytes)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    let request = if is_json {
        json::decode(&body).map_err(|e| Refusal::bad("bad_body", format!("JSON push body: {e}")))?
    } else {
        proto::decode(&body, src.config.max_decompressed_bytes).map_err(|e| match e {
            proto::DecodeError::TooLarge(..) => Refusal::too_large(e.to_string()),
            e => Refusal::bad("bad_body", format!("protobuf push body: {e}")),
        })?
    };
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty());
    let mut batch = to_batch(src, request, tenant)?;
    if src.config.request_trace_metadata {
        push::tag_with_request_trace(&mut batch, ids);
    }
    let records = batch.len();
    if records == 0 {
        return Ok(reply(src, StatusCode::NO_CONTENT, ""));
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
        Delivery::Delivered => (StatusCode::NO_CONTENT, ""),
        Delivery::Rejected => (
            StatusCode::BAD_REQUEST,
            "some entries were refused downstream for good; resending will not help",
        ),
        Delivery::QueueFull => (
            StatusCode::TOO_MANY_REQUESTS,
            "the pipeline is full; retry later",
        ),
        Delivery::Failed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the entries could not be delivered; retry",
        ),
        Delivery::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the collector is shutting down; retry",
        ),
        Delivery::TimedOut => (
            StatusCode::SERVICE_UNAVAILABLE,
            "delivery is taking too long; retry",
        ),
    };
    Ok(reply(src, status, message))
}

/// The body with its Content-Encoding undone (see [`push::decompress`]), as a refusal
/// Loki would give.
fn decompress(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    push::decompress(headers, body, limit).map_err(|e| match e {
        push::BodyError::TooLarge(_) => Refusal::too_large(e.to_string()),
        other => Refusal::bad("bad_body", other.to_string()),
    })
}

/// The push request's streams as one batch; a stream whose labels do not parse refuses the
/// whole request (nothing accepted), as Loki does.
fn to_batch(
    src: &LokiPush,
    request: proto::PushRequest,
    tenant: Option<&str>,
) -> Result<LogBatch, Refusal> {
    let entries: usize = request.streams.iter().map(|s| s.entries.len()).sum();
    let mut batch = LogBatch::with_capacity(entries, 0);
    let max_line = src.config.max_line_bytes;
    let mut metadata: Vec<(String, String)> = Vec::new();
    for (i, stream) in request.streams.into_iter().enumerate() {
        let text = String::from_utf8_lossy(&stream.labels);
        let pushed = labels::parse(&text)
            .map_err(|e| Refusal::bad("bad_labels", format!("streams[{i}]: {e}: {text}")))?;
        let mut set = overlay_labels(&src.labels, pushed);
        if let (Some(name), Some(tenant)) = (&src.config.tenant_label, tenant) {
            set.retain(|(n, _)| n != name);
            set.push((name.clone(), tenant.to_string()));
        }
        set.sort();
        let set = batch.intern_labels(&set);
        for entry in stream.entries {
            let ns = entry.nanos();
            let line = match String::from_utf8(entry.line) {
                Ok(line) => line,
                Err(e) => {
                    events::lines_repaired(&src.ctx.metrics, "invalid_utf8", 1, "invalid UTF-8 replaced with U+FFFD");
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let cut = push::cut_line(&line, max_line, &src.ctx.metrics);
            metadata.clear();
            metadata.extend(entry.structured_metadata.into_iter().map(|p| {
                (
                    String::from_utf8_lossy(&p.name).into_owned(),
                    String::from_utf8_lossy(&p.value).into_owned(),
                )
            }));
            let pairs: Vec<(&str, &str)> = metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            batch.push(cut, ns, set, &pairs);
        }
    }
    Ok(batch)
}
