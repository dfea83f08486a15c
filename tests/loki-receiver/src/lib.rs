//! A test double of Loki's push API (`POST /loki/api/v1/push`) for sluice's tests and
//! benchmarks: it decodes bodies as Loki does ([`wire`]), validates entries with Loki's
//! default limits, ingests the valid ones and answers Loki's status codes (204, 400 naming
//! the bad entries after ingesting the rest, 401, 429 with Retry-After, 500), drops exact
//! duplicates (same stream, timestamp and line) as Loki's ingesters do, and can be told to
//! throttle, fail, reject entries or stop listening for a while.
//!
//! It runs on its own thread with its own runtime, so a blocking test can drive it.

pub mod wire;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::oneshot;

pub use wire::{PushedEntry, PushedStream};

/// Loki's default `max_line_size`.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Loki's default `max_label_names_per_series`.
pub const MAX_LABEL_NAMES: usize = 15;

/// A failure to answer the next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After: <secs>` when given.
    Throttle { retry_after_secs: Option<u64> },
    /// 500.
    Fail,
}

/// Stream labels, parsed.
pub type Labels = BTreeMap<String, String>;
/// A stream's identity: its tenant (`X-Scope-OrgID`) and labels.
pub type StreamId = (Option<String>, Labels);

#[derive(Default)]
struct Inner {
    /// Entries in arrival order per (tenant, stream).
    streams: BTreeMap<StreamId, Vec<PushedEntry>>,
    /// (stream, timestamp, line) of every stored entry, to drop exact duplicates.
    seen: HashSet<(StreamId, i64, String)>,
    duplicates: usize,
    rejected: usize,
    requests: BTreeMap<u16, usize>,
    faults: VecDeque<Fault>,
    reject_marker: Option<String>,
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

impl Receiver {
    /// Starts listening on `addr` (port 0 picks a free one).
    pub fn start(addr: &str) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let shared = Shared::default();
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
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .with_state(self.shared.clone());
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

    /// Answers the next requests with these faults, one each, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.0.lock().unwrap().faults.extend(faults);
    }

    /// Refuses (400) every entry whose line contains `marker`, ingesting the rest.
    pub fn reject_lines_containing(&self, marker: &str) {
        self.shared.0.lock().unwrap().reject_marker = Some(marker.to_string());
    }

    /// Counts entries instead of storing them (for benchmarks: no memory growth, no
    /// duplicate check); [`Receiver::entry_count`] still reports them.
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
        self.shared.0.lock().unwrap().bearer = Some(token.to_string());
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
            let app = Router::new()
                .route("/loki/api/v1/push", post(push))
                .with_state(shared);
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
    }

    /// Every stored entry, by (tenant, stream), in arrival order.
    pub fn streams(&self) -> BTreeMap<StreamId, Vec<PushedEntry>> {
        self.shared.0.lock().unwrap().streams.clone()
    }

    /// How many entries are stored.
    pub fn entry_count(&self) -> usize {
        let inner = self.shared.0.lock().unwrap();
        inner.counted + inner.streams.values().map(Vec::len).sum::<usize>()
    }

    /// Exact duplicates dropped (as Loki's ingesters drop them).
    pub fn duplicates(&self) -> usize {
        self.shared.0.lock().unwrap().duplicates
    }

    /// Entries refused with 400.
    pub fn rejected(&self) -> usize {
        self.shared.0.lock().unwrap().rejected
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

async fn push(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = shared.0.lock().unwrap();
    inner.request_bytes += body.len();
    if let Some(token) = &inner.bearer {
        let ok = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {token}"));
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
        };
    }
    let mut raw = body.to_vec();
    if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
    {
        let mut out = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out) {
            return answer(&mut inner, StatusCode::BAD_REQUEST, format!("gzip: {e}"));
        }
        raw = out;
    }
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let decoded = if json {
        wire::decode_json(&raw)
    } else {
        wire::decode_protobuf(&raw)
    };
    let streams = match decoded {
        Ok(s) => s,
        Err(e) => return answer(&mut inner, StatusCode::BAD_REQUEST, e),
    };
    let old = now_ns() - 7 * 24 * 3600 * 1_000_000_000;
    let mut errors = Vec::new();
    if let Some(latencies) = inner.latencies.as_mut() {
        let now = now_ns();
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
    for stream in streams {
        if stream.labels.len() > MAX_LABEL_NAMES {
            errors.push(format!(
                "stream '{:?}' has {} label names; limit {MAX_LABEL_NAMES}",
                stream.labels,
                stream.labels.len()
            ));
            inner.rejected += stream.entries.len();
            continue;
        }
        for entry in stream.entries {
            let marked = inner
                .reject_marker
                .as_ref()
                .is_some_and(|m| entry.line.contains(m.as_str()));
            if entry.line.len() > MAX_LINE_BYTES || entry.ts < old || marked {
                inner.rejected += 1;
                errors.push(format!("entry for stream '{:?}' refused", stream.labels));
                continue;
            }
            let key = (
                (tenant.clone(), stream.labels.clone()),
                entry.ts,
                entry.line.clone(),
            );
            if !inner.seen.insert(key) {
                inner.duplicates += 1;
                continue;
            }
            inner
                .streams
                .entry((tenant.clone(), stream.labels.clone()))
                .or_default()
                .push(entry);
        }
    }
    if errors.is_empty() {
        answer(&mut inner, StatusCode::NO_CONTENT, String::new())
    } else {
        let n = errors.len();
        answer(
            &mut inner,
            StatusCode::BAD_REQUEST,
            format!("{n} errors like: {}", errors[0]),
        )
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
