//! A test double of Loki's push API (`POST /loki/api/v1/push`) for sluice's tests and
//! benchmarks. It decodes bodies as Loki does ([`wire`]), refuses what Loki refuses with
//! Loki's default [`Limits`] and answers with Loki's status codes:
//!
//! - 413 for a body over `max_recv_msg_size` (or decompressing past
//!   `max_decompressed_size`), 400 for a body Loki cannot read (a bad encoding, no
//!   `Content-Type`, a malformed selector, JSON of the wrong shape), 422 for a push without
//!   streams;
//! - per stream and entry, the distributor's validation (labels, age, future, line size,
//!   structured metadata): the valid rest is stored and the push answered 400 naming the
//!   refused entries;
//! - per stream, the ingester's: the out-of-order window ("entry too far behind") and the
//!   per-stream rate limit, where only the LAST stream's error answers the push (400 or
//!   429), so entries refused in an earlier stream can be lost behind a 204, exactly as in
//!   Loki ([`Receiver::silently_dropped`] counts them);
//! - exact duplicates (same stream, timestamp, line and structured metadata) are stored
//!   once, as Loki's ingesters do, and counted ([`Receiver::duplicates`]).
//!
//! It can also be told to throttle, fail, reject marked lines, require a token or a tenant,
//! or stop listening for a while. `ingest.rs` says which Loki code each rule follows.
//!
//! It runs on its own thread with its own runtime, so a blocking test can drive it.

mod ingest;
pub mod limits;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::oneshot;

pub use ingest::SERVICE_NAME;
pub use limits::{Limits, RateLimit, Reason};
pub use wire::{PushedEntry, PushedStream};

/// Loki's default `max_line_size` (`256KB`, which Loki's byte sizes read as 262144).
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Loki's default `max_label_names_per_series` (`service_name` not counted).
pub const MAX_LABEL_NAMES: usize = 15;

/// A failure to answer the next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: <secs>` when given.
    Throttle { retry_after_secs: Option<u64> },
    /// 500.
    Fail,
    /// Any other status (401, 403, 413, ...), with a short reason, storing nothing.
    Status(u16),
}

/// Stream labels, parsed.
pub type Labels = BTreeMap<String, String>;
/// A stream's identity: its tenant (`X-Scope-OrgID`) and labels.
pub type StreamId = (Option<String>, Labels);

#[derive(Default)]
struct Inner {
    store: ingest::Store,
    limits: Limits,
    requests: BTreeMap<u16, usize>,
    faults: VecDeque<Fault>,
    reject_marker: Option<String>,
    /// The whole `Authorization` value a request must carry, when set.
    bearer: Option<String>,
    require_tenant: bool,
    request_bytes: usize,
    /// Count entries without storing them (benchmarks).
    count_only: bool,
    counted: usize,
    /// With latency recording on: for each entry whose line starts with the Unix time in
    /// nanoseconds it was written at, how long it took to arrive.
    latencies: Option<Vec<i64>>,
}

/// Shared state of a running receiver.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

fn app(shared: Shared) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        // The body limit is Loki's, checked in `push` (413), not axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

impl Receiver {
    /// Starts listening on `addr` (port 0 picks a free one), with Loki's default limits.
    pub fn start(addr: &str) -> Receiver {
        Receiver::start_with(addr, Limits::default())
    }

    /// Starts listening on `addr` with these limits.
    pub fn start_with(addr: &str, limits: Limits) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let shared = Shared::default();
        shared.0.lock().unwrap().limits = limits;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("bound address");
        let stop = Arc::new(Mutex::new(None));
        let receiver = Receiver {
            addr,
            shared,
            runtime: Some(runtime),
            stop,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (tx, rx) = oneshot::channel::<()>();
        *self.stop.lock().unwrap() = Some(tx);
        let app = app(self.shared.clone());
        self.runtime.as_ref().unwrap().spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
    }

    /// The push URL's base, for a sink's `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.shared.0.lock().unwrap().limits.clone()
    }

    /// Changes the limits for the next pushes (what is stored stays).
    pub fn set_limits(&self, limits: Limits) {
        self.shared.0.lock().unwrap().limits = limits;
    }

    /// Answers the next requests with these faults, one each, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.0.lock().unwrap().faults.extend(faults);
    }

    /// Refuses (400, as a distributor validation error) every entry whose line contains
    /// `marker`, ingesting the rest. Counted as [`Reason::Marked`].
    pub fn reject_lines_containing(&self, marker: &str) {
        self.shared.0.lock().unwrap().reject_marker = Some(marker.to_string());
    }

    /// Counts entries instead of storing them (for benchmarks: no memory growth, no
    /// validation, no duplicate check; body size limits and decoding still apply);
    /// [`Receiver::entry_count`] still reports them.
    pub fn count_only(&self) {
        self.shared.0.lock().unwrap().count_only = true;
    }

    /// Records, for every entry whose line starts with a Unix time in nanoseconds (the
    /// moment it was written), the time from then to its arrival here.
    pub fn record_latency(&self) {
        self.shared.0.lock().unwrap().latencies = Some(Vec::new());
    }

    /// The latencies recorded so far, in nanoseconds, in arrival order.
    pub fn latencies(&self) -> Vec<i64> {
        self.shared
            .0
            .lock()
            .unwrap()
            .latencies
            .clone()
            .unwrap_or_default()
    }

    /// Requires `Authorization: Bearer <token>`.
    pub fn require_bearer(&self, token: &str) {
        self.shared.0.lock().unwrap().bearer = Some(format!("Bearer {token}"));
    }

    /// Requires basic auth with `user` and `password` (as a gateway in front of Loki does).
    pub fn require_basic(&self, user: &str, password: &str) {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.shared.0.lock().unwrap().bearer = Some(format!("Basic {pair}"));
    }

    /// Answers 401 to requests without `X-Scope-OrgID` (multi-tenant mode).
    pub fn require_tenant(&self) {
        self.shared.0.lock().unwrap().require_tenant = true;
    }

    /// Stops listening (connections are refused) for `down`, then listens again on the
    /// same port. Returns at once.
    pub fn go_down_for(&self, down: Duration) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
        let addr = self.addr;
        let runtime = self.runtime.as_ref().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        *self.stop.lock().unwrap() = Some(tx);
        let shared = self.shared.clone();
        runtime.spawn(async move {
            tokio::time::sleep(down).await;
            let listener = loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let _ = axum::serve(listener, app(shared))
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
    }

    /// Every stored entry, by (tenant, stream), in arrival order.
    pub fn streams(&self) -> BTreeMap<StreamId, Vec<PushedEntry>> {
        self.shared.0.lock().unwrap().store.streams.clone()
    }

    /// How many entries are stored.
    pub fn entry_count(&self) -> usize {
        let inner = self.shared.0.lock().unwrap();
        inner.counted + inner.store.streams.values().map(Vec::len).sum::<usize>()
    }

    /// Exact duplicates received and not stored again (as Loki's ingesters skip them).
    /// A test that claims exactly-once delivery asserts this is 0.
    pub fn duplicates(&self) -> usize {
        self.shared
            .0
            .lock()
            .unwrap()
            .store
            .duplicates
            .values()
            .sum()
    }

    /// Exact duplicates, by the stream they were sent to again.
    pub fn duplicates_by_stream(&self) -> BTreeMap<StreamId, usize> {
        self.shared.0.lock().unwrap().store.duplicates.clone()
    }

    /// Entries refused, for any reason, whether or not the answer said so.
    pub fn rejected(&self) -> usize {
        self.shared.0.lock().unwrap().store.refused.values().sum()
    }

    /// Entries refused, by reason.
    pub fn refused(&self) -> BTreeMap<Reason, usize> {
        self.shared.0.lock().unwrap().store.refused.clone()
    }

    /// Entries refused for this reason.
    pub fn refused_for(&self, reason: Reason) -> usize {
        self.shared
            .0
            .lock()
            .unwrap()
            .store
            .refused
            .get(&reason)
            .copied()
            .unwrap_or(0)
    }

    /// Entries refused in pushes that were answered 2xx: what Loki drops while telling the
    /// sender all is well (an ingester refusal in a stream before the last one).
    pub fn silently_dropped(&self) -> usize {
        self.shared.0.lock().unwrap().store.silently_dropped
    }

    /// Requests answered, by status code.
    pub fn requests(&self) -> BTreeMap<u16, usize> {
        self.shared.0.lock().unwrap().requests.clone()
    }

    /// Body bytes received (as sent, compressed).
    pub fn request_bytes(&self) -> usize {
        self.shared.0.lock().unwrap().request_bytes
    }

    /// Waits until at least `n` entries are stored; false on timeout.
    pub fn wait_for_entries(&self, n: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.entry_count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.entry_count() >= n
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn answer(inner: &mut Inner, status: StatusCode, body: String) -> Response {
    *inner.requests.entry(status.as_u16()).or_default() += 1;
    if body.is_empty() {
        status.into_response()
    } else {
        (status, body).into_response()
    }
}

/// Loki's 413 text (`push.ErrRequestBodyTooLarge` wrapping `util.ErrMessageSizeTooLarge`
/// or `ErrMessageDecompressedSizeTooLarge`).
fn too_large(what: &str, size: usize, max: usize) -> String {
    format!("request body too large: {what} than max ({size} vs {max})")
}

/// Reads at most `max + 1` bytes from a decompressor; 413 text past `max`.
fn inflate(mut reader: impl Read, max: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    if out.len() > max {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            too_large("decompressed message size too large", out.len(), max),
        ));
    }
    Ok(out)
}

/// What Loki's `parsePushRequestBody` does: the body's size, its `Content-Encoding`, its
/// `Content-Type` (JSON, or else snappy protobuf), and the decoding.
fn decode(
    headers: &HeaderMap,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<wire::RawStream>, (StatusCode, String)> {
    if body.len() > limits.max_recv_msg_size {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            too_large(
                "message size too large",
                body.len(),
                limits.max_recv_msg_size,
            ),
        ));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let max = limits.max_decompressed_size;
    let encoding = header("content-encoding");
    let raw = match encoding.as_str() {
        // Loki snappy-decodes protobuf bodies whatever this says.
        "" | "snappy" => body.to_vec(),
        "gzip" => inflate(flate2::read::GzDecoder::new(body), max)?,
        // Go's compress/flate: raw DEFLATE, no zlib header.
        "deflate" => inflate(flate2::read::DeflateDecoder::new(body), max)?,
        other => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("Content-Encoding {} not supported", wire::quote(other)),
            ))
        }
    };
    // mime.ParseMediaType: the type before any parameter, lower-cased; none is an error.
    let content_type = header("content-type");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "mime: no media type".into()));
    }
    let decoded = if media == "application/json" {
        wire::decode_json_raw(&raw)
    } else {
        let len = snap::raw::decompress_len(&raw)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("snappy decode: {e}")))?;
        if len > max {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                too_large("decompressed message size too large", len, max),
            ));
        }
        wire::decode_protobuf_raw(&raw)
    };
    let streams = decoded.map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    for s in &streams {
        if s.labels
            .iter()
            .any(|(k, _)| ingest::RESERVED_LABELS.contains(&k.as_str()))
        {
            return Err((
                StatusCode::BAD_REQUEST,
                "stream labels contain reserved backfill labels".into(),
            ));
        }
    }
    Ok(streams)
}

async fn push(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = shared.0.lock().unwrap();
    inner.request_bytes += body.len();
    if let Some(token) = &inner.bearer {
        let ok = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == token);
        if !ok {
            return answer(&mut inner, StatusCode::UNAUTHORIZED, "unauthorized".into());
        }
    }
    let tenant = headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if inner.require_tenant && tenant.is_none() {
        return answer(&mut inner, StatusCode::UNAUTHORIZED, "no org id".into());
    }
    if let Some(fault) = inner.faults.pop_front() {
        return match fault {
            Fault::Throttle { retry_after_secs } => {
                *inner.requests.entry(429).or_default() += 1;
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Ingestion rate limit exceeded",
                )
                    .into_response();
                if let Some(secs) = retry_after_secs {
                    r.headers_mut()
                        .insert("retry-after", secs.to_string().parse().unwrap());
                }
                r
            }
            Fault::Fail => answer(
                &mut inner,
                StatusCode::INTERNAL_SERVER_ERROR,
                "ingester unhealthy".into(),
            ),
            Fault::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
                let reason = status.canonical_reason().unwrap_or("refused").to_string();
                answer(&mut inner, status, reason)
            }
        };
    }
    let streams = match decode(&headers, &body, &inner.limits) {
        Ok(s) => s,
        Err((status, text)) => return answer(&mut inner, status, text),
    };
    let now = now_ns();
    if let Some(latencies) = inner.latencies.as_mut() {
        for entry in streams.iter().flat_map(|s| &s.entries) {
            let written = entry
                .line
                .split(' ')
                .next()
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(written) = written {
                latencies.push(now - written);
            }
        }
    }
    if inner.count_only {
        inner.counted += streams.iter().map(|s| s.entries.len()).sum::<usize>();
        return answer(&mut inner, StatusCode::NO_CONTENT, String::new());
    }
    let inner = &mut *inner;
    let (status, text) = inner.store.push(
        &inner.limits,
        inner.reject_marker.as_deref(),
        tenant,
        streams,
        now,
    );
    let status = StatusCode::from_u16(status).expect("a valid status");
    answer(inner, status, text)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
