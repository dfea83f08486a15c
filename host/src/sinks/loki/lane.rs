//! A lane: one of the sink's `max_in_flight` senders. Each stream always goes to the same
//! lane and a lane sends one request at a time, so entries reach Loki in order per stream
//! while several requests are in flight. A lane batches entries by bytes and wait time,
//! retries with backoff, and splits a request Loki refuses (400/413) until only the bad
//! entries are left, which it dead-letters.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{BodyScratch, LokiClient, Outcome};
use crate::dead_letter::{DeadLetter, Reason};
use super::StreamKey;
use crate::event::{settle, Ack, AckStatus};
use crate::loki::encoded::{EncodedEntries, EncodedStream};
use crate::loki::proto::Stream;
use crate::telemetry::ComponentMetrics;

/// The longest Retry-After the sink honours as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Entries of one upstream batch bound for one lane, with that batch's acknowledgements.
pub struct Part {
    pub serial: u64,
    pub streams: Vec<(Arc<StreamKey>, EncodedEntries)>,
    pub acks: Vec<Ack>,
}

/// What every lane of a sink shares.
pub struct Shared {
    pub client: LokiClient,
    pub metrics: ComponentMetrics,
    pub dead_letter: DeadLetter,
    pub batch_max_bytes: usize,
    pub batch_wait: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retries: Option<u32>,
    /// At most this many streams per request (0: no limit).
    pub max_streams_per_request: usize,
}

/// After Loki answered a per-stream rate limit, how long a lane sends one stream per
/// request (so that each refusal is answered, not hidden behind a later stream's 204).
const ONE_STREAM_AFTER_THROTTLE: Duration = Duration::from_secs(300);

/// Exponential backoff with jitter; back to the start after a success.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn delay(&mut self, shared: &Shared) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(shared.max_backoff);
        // Jitter in [base/2, base): lanes and collectors that failed together do not retry
        // together.
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// A request being filled for one tenant.
struct Pending {
    streams: Vec<EncodedStream>,
    index: HashMap<Arc<StreamKey>, usize>,
    bytes: usize,
    entries: usize,
    first_at: Instant,
    acks: Vec<Ack>,
    last_part: u64,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            streams: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            entries: 0,
            first_at: Instant::now(),
            acks: Vec::new(),
            last_part: u64::MAX,
        }
    }
}

fn line_bytes(streams: &[EncodedStream]) -> usize {
    streams.iter().map(EncodedStream::line_bytes).sum()
}

fn entry_count(streams: &[EncodedStream]) -> usize {
    streams.iter().map(EncodedStream::len).sum()
}

/// The streams as prost values, for the dead-letter file.
fn decoded(streams: &[EncodedStream]) -> Vec<Stream> {
    streams.iter().map(EncodedStream::decoded).collect()
}

/// Splits a request's streams in two halves by entries, keeping the order within each
/// stream (the first half is sent first).
fn split(streams: Vec<EncodedStream>) -> (Vec<EncodedStream>, Vec<EncodedStream>) {
    let half = entry_count(&streams) / 2;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut taken = 0;
    for mut stream in streams {
        if taken >= half {
            second.push(stream);
        } else if taken + stream.len() <= half {
            taken += stream.len();
            first.push(stream);
        } else {
            let rest = stream.split_off(half - taken);
            taken = half;
            second.push(rest);
            first.push(stream);
        }
    }
    (first, second)
}

/// Runs one lane until its channel closes, then sends what is left.
pub async fn run(mut rx: mpsc::Receiver<Part>, shared: Arc<Shared>) {
    let mut lane = Lane {
        backoff: Backoff {
            next: shared.min_backoff,
        },
        shared,
        scratch: BodyScratch::default(),
        one_stream_until: None,
    };
    let mut pending: HashMap<Option<String>, Pending> = HashMap::new();
    loop {
        let deadline = pending
            .values()
            .map(|p| p.first_at + lane.shared.batch_wait)
            .min();
        tokio::select! {
            part = rx.recv() => match part {
                Some(part) => lane.add(&mut pending, part).await,
                None => break,
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                let now = Instant::now();
                let due: Vec<Option<String>> = pending
                    .iter()
                    .filter(|(_, p)| p.first_at + lane.shared.batch_wait <= now)
                    .map(|(t, _)| t.clone())
                    .collect();
                for tenant in due {
                    if let Some(p) = pending.remove(&tenant) {
                        lane.flush(tenant, p).await;
                    }
                }
            }
        }
    }
    for (tenant, p) in pending.drain() {
        lane.flush(tenant, p).await;
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

struct Lane {
    shared: Arc<Shared>,
    backoff: Backoff,
    /// Request buffers reused from one request to the next.
    scratch: BodyScratch,
    /// Set when Loki answered a per-stream rate limit: until then, one stream per request.
    one_stream_until: Option<Instant>,
}

impl Lane {
    async fn add(&mut self, pending: &mut HashMap<Option<String>, Pending>, part: Part) {
        let max = self.shared.batch_max_bytes;
        for (key, mut entries) in part.streams {
            let mut from = 0;
            while from < entries.len() {
                let p = pending
                    .entry(key.tenant.clone())
                    .or_insert_with(Pending::new);
                let mut to = entries.fit(from, max.saturating_sub(p.bytes));
                if to == from {
                    if p.entries > 0 {
                        // The next entry does not fit: this request is full.
                        let p = pending.remove(&key.tenant).expect("inserted above");
                        self.flush(key.tenant.clone(), p).await;
                        continue;
                    }
                    // An entry bigger than a whole request goes alone.
                    to = from + 1;
                }
                if p.last_part != part.serial {
                    p.last_part = part.serial;
                    p.acks.extend(part.acks.iter().cloned());
                }
                let size = entries.range_len(from, to);
                let slot = match p.index.get(&key) {
                    Some(at) => &mut p.streams[*at],
                    None => {
                        p.index.insert(key.clone(), p.streams.len());
                        p.streams.push(EncodedStream::new(key.labels.clone()));
                        p.streams.last_mut().expect("pushed above")
                    }
                };
                if from == 0 && to == entries.len() {
                    slot.push_part(std::mem::take(&mut entries));
                } else {
                    // Only where a request fills up: the part is cut there.
                    let mut piece = EncodedEntries::default();
                    piece.extend_from(&entries, from, to);
                    slot.push_part(piece);
                }
                p.bytes += size;
                p.entries += to - from;
                from = to;
            }
        }
        // Batches close on size right away; on time, in the loop.
        let full: Vec<Option<String>> = pending
            .iter()
            .filter(|(_, p)| p.bytes >= max)
            .map(|(t, _)| t.clone())
            .collect();
        for tenant in full {
            let p = pending.remove(&tenant).expect("listed above");
            self.flush(tenant, p).await;
        }
    }

    async fn flush(&mut self, tenant: Option<String>, p: Pending) {
        if p.entries == 0 {
            return;
        }
        self.shared
            .metrics
            .sink_batch_fill(p.bytes as f64 / self.shared.batch_max_bytes.max(1) as f64);
        let mut streams = p.streams;
        // Loki answers a push by its last stream's error: the heaviest stream, the likeliest
        // to meet a per-stream rate limit, goes last, so its refusal is the one answered.
        if let Some(heaviest) = (0..streams.len()).max_by_key(|i| streams[*i].line_bytes()) {
            let last = streams.len() - 1;
            streams.swap(heaviest, last);
        }
        let per_request = self.streams_per_request();
        let status = if streams.len() > per_request {
            self.deliver_in_groups(tenant.as_deref(), streams, per_request)
                .await
        } else {
            self.deliver(tenant.as_deref(), streams).await
        };
        settle(p.acks, status);
    }

    /// How many streams a request may hold now.
    fn streams_per_request(&mut self) -> usize {
        if self.one_stream_until.is_some_and(|t| Instant::now() < t) {
            return 1;
        }
        self.one_stream_until = None;
        match self.shared.max_streams_per_request {
            0 => usize::MAX,
            n => n,
        }
    }

    /// Sends `streams` as requests of at most `per_request` streams each, one after the
    /// other; the worst outcome of them.
    async fn deliver_in_groups(
        &mut self,
        tenant: Option<&str>,
        mut streams: Vec<EncodedStream>,
        per_request: usize,
    ) -> AckStatus {
        let mut worst = AckStatus::Delivered;
        while !streams.is_empty() {
            let rest = streams.split_off(per_request.min(streams.len()));
            worst = worst.max(self.deliver(tenant, std::mem::replace(&mut streams, rest)).await);
        }
        worst
    }

    /// Sends `streams` until Loki takes them, splitting on 400/413; returns the worst
    /// outcome for the entries in it.
    fn deliver<'a>(
        &'a mut self,
        tenant: Option<&'a str>,
        streams: Vec<EncodedStream>,
    ) -> BoxFuture<'a, AckStatus> {
        Box::pin(async move {
            let shared = self.shared.clone();
            let metrics = &shared.metrics;
            let entries = entry_count(&streams);
            let body = shared.client.body(&streams, &mut self.scratch);
            let mut retries = 0u32;
            loop {
                match shared.client.push(tenant, body.clone(), metrics).await {
                    Outcome::Delivered => {
                        metrics.sent(entries, line_bytes(&streams));
                        if retries > 0 {
                            metrics.backoff_over();
                        }
                        self.backoff.next = shared.min_backoff;
                        return AckStatus::Delivered;
                    }
                    Outcome::Retry { reason, after } => {
                        retries += 1;
                        metrics.sink_retry(reason);
                        let stream_throttled = reason == "stream_rate_limit";
                        if stream_throttled {
                            if self.one_stream_until.is_none() {
                                tracing::warn!(
                                    component_id = %metrics.id,
                                    "Loki answered a per-stream rate limit; sending one stream per request for a while, so that no refusal hides behind another stream's 204"
                                );
                            }
                            self.one_stream_until =
                                Some(Instant::now() + ONE_STREAM_AFTER_THROTTLE);
                        }
                        if shared.max_retries.is_some_and(|max| retries > max) {
                            let why = Reason {
                                reason: "retries_exhausted",
                                error_kind: None,
                                status: None,
                                message: reason,
                                tenant,
                            };
                            super::set_aside(&shared, &decoded(&streams), &why);
                            return AckStatus::Failed;
                        }
                        let delay = match after {
                            Some(after) => after.min(MAX_RETRY_AFTER),
                            None => self.backoff.delay(&shared),
                        };
                        if retries == 1 || retries.is_power_of_two() {
                            tracing::warn!(
                                component_id = %metrics.id,
                                reason,
                                retries,
                                entries,
                                delay_ms = delay.as_millis() as u64,
                                "push not accepted; retrying"
                            );
                        }
                        {
                            let _waiting = metrics.backing_off(delay);
                            tokio::time::sleep(delay).await;
                        }
                        if stream_throttled && streams.len() > 1 {
                            // Resend each stream on its own, so each answer is its own.
                            return self.deliver_in_groups(tenant, streams, 1).await;
                        }
                    }
                    Outcome::Split { status, message } => {
                        if entries <= 1 {
                            let why = Reason {
                                reason: "rejected",
                                error_kind: None,
                                status: Some(status),
                                message: &message,
                                tenant,
                            };
                            super::set_aside(&shared, &decoded(&streams), &why);
                            tracing::warn!(
                                component_id = %metrics.id,
                                status,
                                loki_message = %message,
                                "Loki refused an entry; it was dead-lettered"
                            );
                            return AckStatus::Rejected;
                        }
                        crate::telemetry::events::component_error(
                            metrics,
                            "split_request",
                            &format!("Loki answered {status}; splitting the request to find the bad entries"),
                        );
                        let (first, second) = split(streams);
                        let a = self.deliver(tenant, first).await;
                        let b = self.deliver(tenant, second).await;
                        return a.max(b);
                    }
                    Outcome::Refused { status, message } => {
                        let why = Reason {
                            reason: &format!("http_{status}"),
                            error_kind: None,
                            status: Some(status),
                            message: &message,
                            tenant,
                        };
                        super::set_aside(&shared, &decoded(&streams), &why);
                        tracing::error!(
                            component_id = %metrics.id,
                            status,
                            loki_message = %message,
                            "Loki refused the request; check the endpoint, tenant and credentials"
                        );
                        return AckStatus::Rejected;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, n: usize) -> EncodedStream {
        let mut entries = EncodedEntries::default();
        for i in 0..n {
            let line = format!("{name}{i}");
            entries.push(0, line.as_bytes(), std::iter::empty::<(&[u8], &[u8])>());
        }
        let mut stream = EncodedStream::new(name.into());
        stream.push_part(entries);
        stream
    }

    fn lines(streams: &[EncodedStream]) -> Vec<String> {
        decoded(streams)
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| String::from_utf8(e.line.clone()).unwrap())
            .collect()
    }

    #[test]
    fn split_halves_by_entries_and_keeps_stream_order() {
        let (a, b) = split(vec![stream("a", 4), stream("b", 2)]);
        assert_eq!(lines(&a), ["a0", "a1", "a2"]);
        assert_eq!(lines(&b), ["a3", "b0", "b1"]);
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 2);
        let (a, b) = split(vec![stream("a", 1), stream("b", 1)]);
        assert_eq!(
            (lines(&a), lines(&b)),
            (vec!["a0".into()], vec!["b0".into()])
        );
    }
}
