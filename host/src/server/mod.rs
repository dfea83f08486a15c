//! The collector's one HTTP server: /metrics (OpenMetrics), /healthz (the process is up),
//! /ready (the pipeline is running), POST /-/reload (a [`ReloadRequest`] to whoever runs the
//! pipelines), the status page `/` and `/api/status` (`status.rs`), plus whatever routes
//! push sources hand it. The server owns the listener and its own routes; it never names a
//! source.

pub mod request_ids;
pub mod status;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::telemetry::exposition::Format;
use crate::telemetry::Telemetry;

/// A request to reload the pipeline, with where to send the verdict (for `POST /-/reload`).
/// The server only asks; `crate::reload` decides and answers.
pub struct ReloadRequest {
    pub reason: &'static str,
    pub reply: Option<oneshot::Sender<Result<(), String>>>,
}

/// Where reload requests go (the server's route, SIGHUP, the file watcher).
pub type ReloadSender = mpsc::Sender<ReloadRequest>;

#[derive(Clone)]
struct ServerState {
    telemetry: Telemetry,
    status: status::StatusState,
    ready: Arc<AtomicBool>,
    reload: Option<ReloadSender>,
    auth: ApiAuth,
}

/// Who may use the server's own routes, and over what.
#[derive(Debug, Clone, Default)]
pub struct ApiAuth {
    /// Required on `POST /-/reload` (and with `protect_metrics`, on `/metrics`).
    pub token: Option<String>,
    pub protect_metrics: bool,
    /// `[api.tls]`: HTTPS (and client certificates, with a client CA) on every route.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The routes the API server serves itself.
const SERVER_ROUTES: [&str; 6] = [
    "/metrics",
    "/healthz",
    "/ready",
    "/-/reload",
    "/",
    "/api/status",
];

/// The prefix of the tap route, `/api/tap/NAME` (no component route may start with it).
const TAP_PREFIX: &str = "/api/tap/";

/// Checks the `path` of a route a component serves (a push source, an exporter): a
/// literal route (no parameters or wildcards, which the router would read as patterns)
/// that is not one of the server's own.
pub fn check_route_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    if path.contains(['{', '}', '*']) || path.split('/').any(|s| s.starts_with(':')) {
        return Err(format!(
            "`{path}` must be a plain route, without `{{...}}`, `*` or `:` segments"
        ));
    }
    if SERVER_ROUTES.contains(&path) || path.starts_with(TAP_PREFIX) {
        return Err(format!("`{path}` is one of the API server's own routes"));
    }
    Ok(())
}

/// True when `token` is not required, or the request carries it: `Authorization: Bearer
/// <token>` (the scheme in any case, RFC 7235), or HTTP Basic with the token as the password
/// and any user name (RFC 7617; what a browser sends for a page behind the token after
/// asking for it, and what Promtail-style `basic_auth` clients send). The token is compared
/// in constant time.
pub fn token_ok(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    let Some((scheme, given)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return constant_time_eq(given.trim().as_bytes(), token.as_bytes());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
            return false;
        };
        let password = match decoded.iter().position(|&b| b == b':') {
            Some(colon) => &decoded[colon + 1..],
            None => return false,
        };
        return constant_time_eq(password, token.as_bytes());
    }
    false
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 401 with the challenge a client needs.
fn unauthorized() -> axum::response::Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "missing or wrong bearer token\n",
    )
        .into_response()
}

/// 401 for the status page: a Basic challenge as well, so a browser asks for the token
/// (as the password, any user name) and sends it with the page's own requests after.
fn unauthorized_page() -> axum::response::Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"sluice\", charset=\"UTF-8\"")],
        "the status page wants the API token: as the password (any user name), or as a bearer token\n",
    )
        .into_response();
    response.headers_mut().append(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct BindError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

/// What the server serves of the pipeline: the routes its push sources hand it, and its
/// shape for the status page.
pub struct PipelineRoutes {
    pub push_routes: Vec<Router>,
    pub view: status::PipelineView,
}

/// Binds `address` and serves until `shutdown` is cancelled; in-flight requests finish.
/// Returns the bound address (useful with port 0) and the server task.
pub async fn start(
    address: SocketAddr,
    telemetry: Telemetry,
    ready: Arc<AtomicBool>,
    pipeline: PipelineRoutes,
    shutdown: CancellationToken,
    reload: Option<ReloadSender>,
    auth: ApiAuth,
) -> Result<(SocketAddr, JoinHandle<()>), BindError> {
    let PipelineRoutes { push_routes, view } = pipeline;
    let tls = auth.tls.clone();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| BindError { address, source })?;
    let bound = listener.local_addr().unwrap_or(address);
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(readiness))
        .route("/-/reload", axum::routing::post(reload_now))
        .route("/", get(status_page))
        .route("/api/status", get(status_json))
        .route("/api/tap/{component}", get(tap))
        .with_state(ServerState {
            status: status::StatusState::new(view, telemetry.clone()),
            telemetry,
            ready,
            reload,
            auth,
        });
    for route in push_routes {
        app = app.merge(route);
    }
    let app = app.layer(axum::middleware::from_fn(request_ids::tag));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = match tls {
        None => tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the API server failed");
            }
        }),
        Some(config) => {
            let listener =
                tls::listen(listener, config).map_err(|source| BindError { address, source })?;
            tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the API server failed");
                }
            })
        }
    };
    tracing::info!(
        address = %bound,
        scheme,
        status_page = %format!("{scheme}://{bound}/"),
        metrics = %format!("{scheme}://{bound}/metrics"),
        "API server listening"
    );
    Ok((bound, task))
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it, the Prometheus text format
/// otherwise (see `telemetry::exposition`).
async fn metrics(State(state): State<ServerState>, headers: HeaderMap) -> axum::response::Response {
    let auth = &state.auth;
    if auth.protect_metrics && !token_ok(&headers, auth.token.as_deref()) {
        return unauthorized();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.telemetry.render(format),
    )
        .into_response()
}

/// `GET /`: the status page; behind the API token with `protect_metrics`, like /metrics
/// (it shows the same numbers).
async fn status_page(
    State(state): State<ServerState>,
    headers: HeaderMap,
) -> axum::response::Response {
    if state.auth.protect_metrics && !token_ok(&headers, state.auth.token.as_deref()) {
        return unauthorized_page();
    }
    status::page(state.status).await
}

/// `GET /api/status`: the status page's numbers as JSON; behind the token like `/`.
async fn status_json(
    State(state): State<ServerState>,
    headers: HeaderMap,
) -> axum::response::Response {
    if state.auth.protect_metrics && !token_ok(&headers, state.auth.token.as_deref()) {
        return unauthorized();
    }
    status::status_json(state.status).await
}

/// `GET /api/tap/NAME?rate=R&limit=N`: a live sample of the records leaving component
/// NAME as JSON lines, streamed until `limit` (default 100) records or the client goes
/// away; at most `rate` (default 10) records a second (`telemetry::tap`). It shows record
/// contents, so it always wants the API token when one is configured.
async fn tap(
    State(state): State<ServerState>,
    axum::extract::Path(component): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    if !token_ok(&headers, state.auth.token.as_deref()) {
        return unauthorized();
    }
    let number = |key: &str, default: f64| {
        query
            .get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(default)
    };
    let (rate, limit) = (number("rate", 10.0), number("limit", 100.0) as usize);
    let rx = match state.telemetry.taps().open(&component, rate, limit) {
        Ok(rx) => rx,
        Err(_) => {
            return (
                StatusCode::NOT_FOUND,
                format!("no source or transform named `{component}` (sinks emit nothing to tap)\n"),
            )
                .into_response()
        }
    };
    tracing::info!(component_id = %component, rate, limit, "tap opened");
    // Each record as `encode` writes JSON records, with the component's name first.
    let mut head = b"{\"component\":".to_vec();
    serde_json::to_writer(&mut head, &component).expect("writing JSON to a Vec cannot fail");
    head.push(b',');
    let lines = futures::stream::unfold(rx, move |mut rx| {
        let head = head.clone();
        async move {
            let one = rx.recv().await?;
            let mut record = Vec::new();
            crate::encode::json_record(&one.record(0), &mut record);
            let mut line = head;
            line.extend_from_slice(&record[1..]); // after json_record's `{`
            line.push(b'\n');
            Some((
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(line)),
                rx,
            ))
        }
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(lines),
    )
        .into_response()
}

/// `POST /-/reload`: 200 once the new config and its plugins checked out (the swap follows),
/// 400 with the reason when they did not (the running pipeline is unchanged), 503 when
/// reloading is not available.
async fn reload_now(
    State(state): State<ServerState>,
    headers: HeaderMap,
) -> axum::response::Response {
    if !token_ok(&headers, state.auth.token.as_deref()) {
        return unauthorized();
    }
    reload_checked(state).await.into_response()
}

async fn reload_checked(state: ServerState) -> (StatusCode, String) {
    let Some(tx) = state.reload else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "reload is not available\n".to_string(),
        );
    };
    let (reply, verdict) = oneshot::channel();
    let request = ReloadRequest {
        reason: "POST /-/reload",
        reply: Some(reply),
    };
    if tx.send(request).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_string(),
        );
    }
    match verdict.await {
        Ok(Ok(())) => (StatusCode::OK, "reloading\n".to_string()),
        Ok(Err(reason)) => (
            StatusCode::BAD_REQUEST,
            format!("reload refused:\n{reason}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_string(),
        ),
    }
}

async fn readiness(State(state): State<ServerState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
