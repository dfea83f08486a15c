//! The `otlp` source: an OTLP/HTTP logs receiver (`POST /v1/logs` on the API server), so
//! OpenTelemetry SDKs, the OpenTelemetry Collector's `otlphttp` exporter and other OTLP
//! senders can send logs to sluice. Bodies are binary protobuf (`application/x-protobuf`)
//! or OTLP/JSON (`application/json`), either may be gzip- (or deflate-) encoded; the answer
//! is written in the request's encoding. `wire.rs` decodes and answers, `convert.rs` maps
//! OTLP records to sluice records (resource and scope attributes on the allow-list to
//! labels, every other attribute to structured metadata, trace and span ids to metadata,
//! the severity to a `level` label).
//!
//! Answers as the OTLP/HTTP specification says: 200 with an `ExportLogsServiceResponse`
//! once the records are acknowledged downstream, with `partial_success` counting the records
//! that were rejected (a bad trace id, say) while the rest were kept; 400 for a body that
//! does not decode (nothing kept), 401 without the configured token, 413 above the body
//! limits, 415 for a content type other than the two, 429 when the pipeline has no room and
//! 503 when the records could not be delivered (both with `Retry-After`, both retryable in
//! OTLP). A refusal's body is a `google.rpc.Status` in the request's encoding.

pub mod convert;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

use super::push::{
    self, default_ack_timeout, default_max_body, default_max_decompressed,
    default_queue_timeout, Delivery,
};
use super::{default_max_line_bytes, BuiltSource, Source, SourceContext};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::{label_set, now_ns};
use crate::telemetry::events;
use wire::Encoding;

/// The OTLP/HTTP path for logs.
pub const LOGS_PATH: &str = "/v1/logs";

/// `type = "otlp"`: an OTLP/HTTP logs receiver on the API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSourceConfig {
    /// The route on the API server.
    #[serde(default = "default_path")]
    pub path: String,
    /// When set, requests must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
    /// Resource and scope attributes that become labels (named with `_` for `.`:
    /// `service.name` -> `service_name`); every other attribute becomes structured
    /// metadata.
    #[serde(default = "default_resource_labels")]
    pub resource_labels: Vec<String>,
    /// Labels added to every record (an attribute label of the same name wins).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Larger bodies (as sent, compressed) get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bodies that decompress to more get 413.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    /// Longer log bodies are cut to this many bytes (counted as a repair).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How long a request may wait for room in the pipeline before it gets 429.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// How long a request waits for its records to be delivered before it gets 503.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_secs: u64,
}

fn default_path() -> String {
    LOGS_PATH.into()
}

/// The resource attributes that identify where logs come from without making a stream per
/// process (Loki's own OTLP defaults, less `service.instance.id`, plus `host.name`).
pub fn default_resource_labels() -> Vec<String> {
    [
        "service.name",
        "service.namespace",
        "deployment.environment",
        "deployment.environment.name",
        "cloud.region",
        "cloud.availability_zone",
        "k8s.cluster.name",
        "k8s.namespace.name",
        "k8s.pod.name",
        "k8s.container.name",
        "container.name",
        "k8s.deployment.name",
        "k8s.statefulset.name",
        "k8s.daemonset.name",
        "k8s.cronjob.name",
        "k8s.job.name",
        "host.name",
    ]
    .map(String::from)
    .to_vec()
}

impl ComponentConfig<dyn Source> for OtlpSourceConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        push::check_route_path(&self.path).map_err(|e| CheckError::at("path", e))?;
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for attribute in &self.resource_labels {
            if attribute.is_empty() {
                return Err(CheckError::at("resource_labels", "an empty attribute name").into());
            }
            let label = convert::label_name(attribute);
            if let Some(other) = seen.insert(label.clone(), attribute) {
                return Err(CheckError::at(
                    "resource_labels",
                    format!("`{other}` and `{attribute}` would both be the label `{label}`"),
                )
                .into());
            }
        }
        if let Some(bad) = self
            .labels
            .keys()
            .find(|n| !crate::loki::labels::is_valid_name(n.as_bytes()))
        {
            return Err(CheckError::at(
                "labels",
                format!("`{bad}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
            )
            .into());
        }
        if self.max_line_bytes == 0 {
            return Err(CheckError::at("max_line_bytes", "must be at least 1").into());
        }
        Ok(Box::new(self))
    }
}

impl Source for OtlpSourceConfig {
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

struct Otlp {
    config: OtlpSourceConfig,
    mapping: convert::Mapping,
    ctx: SourceContext,
}

/// The route this source serves, to be mounted on the API server.
pub fn route(config: OtlpSourceConfig, ctx: SourceContext) -> Router {
    let path = config.path.clone();
    let state = Arc::new(Otlp {
        mapping: convert::Mapping::new(
            &config.resource_labels,
            label_set(&config.labels),
            config.max_line_bytes,
        ),
        config,
        ctx,
    });
    Router::new().route(&path, post(handle)).with_state(state)
}

/// Why a request was refused: its status, the kind it is counted under, and the message
/// the sender gets.
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            kind,
            message: message.into(),
        }
    }
}

fn reply(src: &Otlp, status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    src.ctx.metrics.http_request(status.as_u16());
    push::with_retry_after(
        (
            status,
            [(header::CONTENT_TYPE, encoding.content_type())],
            body,
        )
            .into_response(),
    )
}

async fn handle(
    State(src): State<Arc<Otlp>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = Encoding::of(content_type) else {
        let message = format!(
            "Content-Type {content_type:?} is not OTLP/HTTP: use application/x-protobuf or application/json"
        );
        events::component_error(&src.ctx.metrics, "unsupported_media_type", &message);
        src.ctx.metrics.http_request(415);
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response();
    };
    match accept(&src, encoding, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => {
            events::component_error(&src.ctx.metrics, refusal.kind, &refusal.message);
            let body = wire::status_body(encoding, refusal.status.as_u16(), &refusal.message);
            reply(&src, refusal.status, encoding, body)
        }
    }
}

async fn accept(
    src: &Otlp,
    encoding: Encoding,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    if !push::token_ok(headers, src.config.token.as_deref()) {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ));
    }
    let limit = src.config.max_body_bytes;
    let body = push::read_body(body, limit).await.ok_or_else(|| {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body larger than {limit} bytes"),
        )
    })?;
    let body = push::decompress(headers, &body, src.config.max_decompressed_bytes).map_err(
        |e| match e {
            push::BodyError::TooLarge(_) => {
                Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.to_string())
            }
            other => Refusal::new(StatusCode::BAD_REQUEST, "bad_body", other.to_string()),
        },
    )?;
    let request = wire::decode(&body, encoding)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_body", e))?;
    drop(body);
    let converted = convert::convert(&request, &src.mapping, now_ns());
    drop(request);
    if converted.truncated > 0 {
        events::lines_repaired(
            &src.ctx.metrics,
            "truncated",
            converted.truncated,
            "a log body over max_line_bytes was cut",
        );
    }
    let rejected = converted.rejected;
    let why = converted.first_error.unwrap_or_default();
    if rejected > 0 {
        events::records_discarded(&src.ctx.metrics, "otlp_invalid_record", rejected);
    }
    let batch = converted.batch;
    let ok = |src: &Otlp| {
        let body = wire::export_response(encoding, rejected, &why);
        reply(src, StatusCode::OK, encoding, body)
    };
    let records = batch.len();
    if records == 0 {
        return Ok(ok(src));
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
    let (status, kind, message) = match delivery {
        Delivery::Delivered => return Ok(ok(src)),
        Delivery::Rejected => (
            StatusCode::BAD_REQUEST,
            "rejected_downstream",
            "some records were refused downstream for good; resending will not help",
        ),
        Delivery::QueueFull => (
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            "the pipeline is full; retry later",
        ),
        Delivery::Failed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "delivery_failed",
            "the records could not be delivered; retry",
        ),
        Delivery::Closed => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the collector is shutting down; retry",
        ),
        Delivery::TimedOut => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ack_timeout",
            "delivery is taking too long; retry",
        ),
    };
    Err(Refusal::new(status, kind, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> OtlpSourceConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn defaults() {
        let c = config("");
        assert_eq!(c.path, "/v1/logs");
        assert!(c.resource_labels.iter().any(|a| a == "service.name"));
        assert!(c.resource_labels.iter().any(|a| a == "k8s.namespace.name"));
        assert!(c.token.is_none());
    }

    fn keys(toml_text: &str) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        match crate::component::check_toml::<dyn Source, OtlpSourceConfig>(
            "otlp",
            dir.path(),
            toml_text,
        ) {
            Ok(_) => vec![],
            Err(CheckErrors(errors)) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
        }
    }

    #[test]
    fn check_names_the_key_at_fault() {
        assert!(keys("").is_empty());
        assert!(keys("resource_labels = [\"service.name\", \"team\"]").is_empty());
        assert_eq!(keys("path = \"v1/logs\"")[0].0, "path");
        let k = keys("resource_labels = [\"a.b\", \"a_b\"]");
        assert_eq!(
            k,
            [(
                "resource_labels".to_string(),
                "`a.b` and `a_b` would both be the label `a_b`".to_string()
            )]
        );
        assert_eq!(keys("resource_labels = [\"\"]")[0].0, "resource_labels");
        assert_eq!(keys("labels = { \"bad-name\" = \"x\" }")[0].0, "labels");
        assert_eq!(keys("max_line_bytes = 0")[0].0, "max_line_bytes");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<OtlpSourceConfig>("resource_label = []").is_err());
    }
}
