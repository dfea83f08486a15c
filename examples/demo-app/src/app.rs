//! The demo backend's HTTP service: a few routes, one JSON log line per request (with its
//! trace id, span id and request id, and PII in some messages on purpose), the request
//! duration histogram under the same name and labels `red-metrics` derives from those
//! lines, and chaos switches that raise the error rate or latency.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde::Deserialize;
use serde_json::json;

use crate::trace::{new_span_id, TraceContext};

/// The OpenTelemetry HTTP server duration buckets (seconds), as `red-metrics` uses them.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Where request log lines go.
#[derive(Debug, Clone)]
pub enum LogTo {
    Stdout,
    File(PathBuf),
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub log: LogTo,
    /// The `service_name` on every log line and metric.
    pub service_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    http_request_method: String,
    http_route: String,
    http_response_status_code: String,
    service_name: String,
}

/// The chaos switches (`POST /chaos?errors=0.3&latency_ms=400`).
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq)]
pub struct Chaos {
    /// The share of API requests answered 500, 0 to 1.
    #[serde(default)]
    pub errors: f64,
    /// Added to every API request.
    #[serde(default)]
    pub latency_ms: u64,
}

struct Inner {
    options: Options,
    log: Mutex<Box<dyn Write + Send>>,
    registry: Registry,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    chaos: Mutex<Chaos>,
    client: reqwest::Client,
    /// This service's own address, for the route that calls another route over HTTP.
    base_url: String,
}

/// The request's id (`X-Request-Id` as it came, or made), passed on to calls it makes.
#[derive(Clone)]
struct RequestId(String);

/// What a handler says about its request, for the log line.
#[derive(Clone)]
struct Message(String);

/// The shared state of the service.
#[derive(Clone)]
pub struct App(Arc<Inner>);

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl App {
    /// The service, answering on `addr` (its own routes call it there).
    pub fn new(options: Options, addr: SocketAddr) -> anyhow::Result<App> {
        let log: Box<dyn Write + Send> = match &options.log {
            LogTo::Stdout => Box::new(std::io::stdout()),
            LogTo::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("opening the log file {}: {e}", path.display()))?,
            ),
        };
        let mut registry = Registry::default();
        let durations: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(histogram);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            durations.clone(),
        );
        Ok(App(Arc::new(Inner {
            options,
            log: Mutex::new(log),
            registry,
            durations,
            chaos: Mutex::new(Chaos::default()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base_url: format!("http://{addr}"),
        })))
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/users/{id}", get(user))
            .route("/api/products", get(products))
            .route("/api/checkout", post(checkout))
            .route("/api/payment", post(payment))
            .route("/chaos", post(set_chaos).get(get_chaos))
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(self.clone(), observe))
            .with_state(self.clone())
    }

    fn write_log(&self, line: serde_json::Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut log = self.0.log.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line, flushed, so a follower never sees half a line.
        if log
            .write_all(text.as_bytes())
            .and_then(|_| log.flush())
            .is_err()
        {
            eprintln!("demo-app: cannot write the request log");
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = App::new(options, listener.local_addr()?)?;
    axum::serve(listener, app.router())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Times every request, applies chaos to `/api/` routes, writes the request's log line and
/// observes its duration; returns `X-Request-Id` and `traceparent`.
async fn observe(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (traceparent, request_id) = (header("traceparent"), header("x-request-id"));
    let ctx = TraceContext::for_request(traceparent.as_deref());
    let request_id = request_id
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| ctx.trace_id[..16].to_owned());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    request.extensions_mut().insert(ctx.clone());
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let api = path.starts_with("/api/");
    let chaos = *app.0.chaos.lock().unwrap_or_else(|p| p.into_inner());
    let mut injected = None;
    if api {
        if chaos.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(chaos.latency_ms)).await;
        }
        if chaos.errors > 0.0 && fastrand::f64() < chaos.errors {
            injected = Some(with_message(
                (StatusCode::INTERNAL_SERVER_ERROR, "injected failure\n"),
                "chaos: injected failure".into(),
            ));
        }
    }
    let mut response = match injected {
        Some(response) => response,
        None => next.run(request).await,
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.traceparent()) {
        response.headers_mut().insert("traceparent", v);
    }
    if path == "/metrics" || path == "/healthz" {
        return response;
    }
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    app.0
        .durations
        .get_or_create(&RequestLabels {
            http_request_method: method.clone(),
            http_route: route.clone(),
            http_response_status_code: status.to_string(),
            service_name: app.0.options.service_name.clone(),
        })
        .observe(elapsed.as_secs_f64());
    let message = response
        .extensions()
        .get::<Message>()
        .map(|m| m.0.clone())
        .unwrap_or_else(|| format!("{method} {path}"));
    let duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    app.write_log(json!({
        "ts": now_rfc3339(),
        "level": if status >= 500 { "error" } else if status >= 400 { "warn" } else { "info" },
        "service_name": app.0.options.service_name,
        "msg": message,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "trace_id": ctx.trace_id,
        "span_id": ctx.span_id,
        "parent_span_id": ctx.parent_span_id,
        "request_id": request_id,
    }));
    response
}

fn with_message(response: impl IntoResponse, message: String) -> Response {
    let mut response = response.into_response();
    response.extensions_mut().insert(Message(message));
    response
}

async fn user(Path(id): Path<String>) -> Response {
    match id.parse::<u32>() {
        Ok(n) if n < 1000 => {
            let email = format!("user{n}@example.com");
            let client_ip = format!("10.0.{}.{}", n % 200, (n * 7) % 250 + 1);
            with_message(
                Json(json!({ "id": n, "email": email })),
                format!("looked up {email} for client {client_ip}"),
            )
        }
        Ok(n) => with_message(StatusCode::NOT_FOUND, format!("no user {n}")),
        Err(_) => with_message(StatusCode::BAD_REQUEST, "user id is not a number".into()),
    }
}

async fn products() -> Response {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..20))).await;
    with_message(
        Json(json!([{"sku": "tea", "price": 4.5}, {"sku": "mug", "price": 12.0}])),
        "listed 2 products".into(),
    )
}

/// Calls `/api/payment` on this same service over HTTP, as a child span of this request
/// and with its request id.
async fn checkout(
    State(app): State<App>,
    axum::Extension(ctx): axum::Extension<TraceContext>,
    axum::Extension(RequestId(request_id)): axum::Extension<RequestId>,
) -> Response {
    let client_span = new_span_id();
    let traceparent = format!("00-{}-{client_span}-01", ctx.trace_id);
    let answer = app
        .0
        .client
        .post(format!("{}/api/payment", app.0.base_url))
        .header("traceparent", traceparent)
        .header("x-request-id", request_id)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => with_message(
            (StatusCode::OK, "paid\n"),
            "checkout for alice@example.com paid with card 4111 1111 1111 1111".into(),
        ),
        Ok(r) => with_message(
            (StatusCode::BAD_GATEWAY, "payment failed\n"),
            format!(
                "checkout for bob@example.org failed: payment answered {}",
                r.status().as_u16()
            ),
        ),
        Err(e) => with_message(
            (StatusCode::BAD_GATEWAY, "payment unreachable\n"),
            format!("checkout failed: payment unreachable: {e}"),
        ),
    }
}

async fn payment() -> Response {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(5..40))).await;
    with_message(
        (StatusCode::OK, "charged\n"),
        "charged card 5555 5555 5555 4444 (exp 12/29) for alice@example.com".into(),
    )
}

async fn set_chaos(State(app): State<App>, Query(chaos): Query<Chaos>) -> Response {
    if !(0.0..=1.0).contains(&chaos.errors) {
        return with_message(
            (StatusCode::BAD_REQUEST, "errors must be between 0 and 1\n"),
            "chaos refused".into(),
        );
    }
    *app.0.chaos.lock().unwrap_or_else(|p| p.into_inner()) = chaos;
    with_message(
        Json(chaos),
        format!(
            "chaos set: errors={} latency_ms={}",
            chaos.errors, chaos.latency_ms
        ),
    )
}

async fn get_chaos(State(app): State<App>) -> Json<Chaos> {
    Json(*app.0.chaos.lock().unwrap_or_else(|p| p.into_inner()))
}

async fn metrics(State(app): State<App>) -> Response {
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &app.0.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    (headers, body).into_response()
}
