//! The `prometheus_remote_write` sink: sends metric samples to a Prometheus remote-write
//! 1.0 receiver (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Cortex,
//! Thanos receive, VictoriaMetrics) as protobuf + snappy. Samples are batched by count and
//! wait time ([`request`]); one request is in flight at a time, so every series' samples
//! arrive in order, and while a request is retried the input is not read (backpressure
//! holds the sources back). A batch is acknowledged upstream only once the receiver answered
//! 2xx for every sample of it; see [`client`] for what each answer means.
//!
//! Samples the receiver refuses for good (a 4xx other than 429) are counted as discarded by
//! reason and logged with the receiver's message, not dead-lettered: the dead-letter file
//! holds log records, and a refused sample cannot usefully be replayed (an out-of-order or
//! out-of-bounds sample is refused again, a duplicate is already stored).

mod client;
mod config;
mod proto;
mod request;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::Sink;
use crate::channel::Input;
use crate::event::{settle, AckStatus, Events, MetricBatch, Signal};
use crate::telemetry::{events, ComponentMetrics};
use client::{Outcome, RemoteWriteClient};
use request::{PendingRequest, ReadyRequest};

pub use config::{BatchConfig, RemoteWriteSinkConfig};

/// The longest Retry-After the sink honours as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The sink as its check left it: the config with its paths resolved and the HTTP client
/// built (a bad endpoint, header, CA file or credentials failed the check).
pub struct CheckedRemoteWriteSink {
    config: RemoteWriteSinkConfig,
    client: RemoteWriteClient,
}

impl Sink for CheckedRemoteWriteSink {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        let sink = RemoteWriteSink::new(&self.config, self.client, metrics);
        Box::pin(sink.run(input))
    }
}

/// The running sink.
struct RemoteWriteSink {
    client: Arc<RemoteWriteClient>,
    metrics: ComponentMetrics,
    pending: PendingRequest,
    max_samples: usize,
    batch_timeout: Duration,
    send_metadata: bool,
    backoff: Backoff,
    max_retry_duration: Option<Duration>,
}

/// Exponential backoff with jitter, from `min` doubling up to `max`.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The next delay, in [base/2, base): senders that failed together do not retry
    /// together.
    fn delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

impl RemoteWriteSink {
    fn new(
        config: &RemoteWriteSinkConfig,
        client: RemoteWriteClient,
        metrics: ComponentMetrics,
    ) -> RemoteWriteSink {
        RemoteWriteSink {
            client: Arc::new(client),
            metrics,
            pending: PendingRequest::default(),
            max_samples: config.batch.max_samples.max(1),
            batch_timeout: Duration::from_millis(config.batch.timeout_ms),
            send_metadata: config.send_metadata,
            backoff: Backoff::new(
                Duration::from_millis(config.min_backoff_ms.max(1)),
                Duration::from_millis(config.max_backoff_ms),
            ),
            max_retry_duration: config.max_retry_duration_secs.map(Duration::from_secs),
        }
    }

    /// Sends every batch of `input`; returns once the input closed and what was pending
    /// has been delivered (or given up on).
    async fn run(mut self, mut input: Input) {
        loop {
            let deadline = self.pending.first_at().map(|t| t + self.batch_timeout);
            tokio::select! {
                events = input.recv() => match events {
                    Some(Events::Metrics(batch)) => self.add(batch).await,
                    Some(Events::Logs(mut batch)) => {
                        // The topology refuses a logs edge into this sink; should a log
                        // batch come anyway, its sources hear it failed.
                        events::component_error(
                            &self.metrics,
                            "wrong_signal",
                            &format!("a log batch of {} records reached a metrics-only sink; refused", batch.len()),
                        );
                        settle(batch.take_acks(), AckStatus::Failed);
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.flush().await;
                }
            }
        }
        self.flush().await;
    }

    /// Adds `batch`'s samples to the pending request, sending it each time it fills up.
    async fn add(&mut self, batch: MetricBatch) {
        self.metrics.received(batch.len(), batch.approx_bytes());
        let mut from = 0;
        while from < batch.len() {
            let room = self.max_samples.saturating_sub(self.pending.samples()).max(1);
            let to = (from + room).min(batch.len());
            if let Err(bad) = self.pending.add(&batch, from..to, self.send_metadata) {
                // Samples naming a series the batch lacks cannot be sent: refused for good.
                events::records_discarded(&self.metrics, "invalid_series", bad.0);
                settle(batch.acks.clone(), AckStatus::Rejected);
            }
            from = to;
            if self.pending.samples() >= self.max_samples {
                self.flush().await;
            }
        }
        // The batch's acknowledgements now live in the requests that hold its samples.
    }

    /// Sends the pending request (if it holds any sample) and settles its batches.
    async fn flush(&mut self) {
        let Some(ready) = self.pending.take() else {
            return;
        };
        self.metrics
            .sink_batch_fill(ready.samples as f64 / self.max_samples as f64);
        let ReadyRequest {
            write,
            samples,
            bytes,
            acks,
        } = ready;
        let status = self.deliver(&write, samples, bytes).await;
        acks.settle(status);
    }

    /// Sends one request until the receiver takes it, refuses it for good, or
    /// `max_retry_duration` has passed; the acknowledgement status of its samples.
    async fn deliver(
        &mut self,
        write: &proto::WriteRequest,
        samples: usize,
        bytes: usize,
    ) -> AckStatus {
        let metrics = self.metrics.clone();
        let body = match write.to_body() {
            Ok(body) => bytes::Bytes::from(body),
            Err(e) => {
                events::component_error(&metrics, "encode_failed", &e.to_string());
                events::records_discarded(&metrics, "encode_failed", samples);
                return AckStatus::Failed;
            }
        };
        let first_try = Instant::now();
        let mut retries = 0u32;
        loop {
            match self.client.send(body.clone(), &metrics).await {
                Outcome::Delivered => {
                    metrics.sent(samples, bytes);
                    if retries > 0 {
                        metrics.backoff_over();
                    }
                    self.backoff.reset();
                    return AckStatus::Delivered;
                }
                Outcome::Retry { reason, after } => {
                    retries += 1;
                    metrics.sink_retry(reason);
                    let delay = match after {
                        Some(after) => after.min(MAX_RETRY_AFTER),
                        None => self.backoff.delay(),
                    };
                    if let Some(limit) = self.max_retry_duration {
                        if first_try.elapsed() + delay > limit {
                            tracing::error!(
                                component_id = %metrics.id,
                                reason,
                                retries,
                                samples,
                                "remote write not accepted within max_retry_duration_secs; its samples are dropped"
                            );
                            events::records_discarded(&metrics, "retries_exhausted", samples);
                            self.backoff.reset();
                            return AckStatus::Failed;
                        }
                    }
                    if retries == 1 || retries.is_power_of_two() {
                        tracing::warn!(
                            component_id = %metrics.id,
                            reason,
                            retries,
                            samples,
                            delay_ms = delay.as_millis() as u64,
                            "remote write not accepted; retrying"
                        );
                    }
                    let _waiting = metrics.backing_off(delay);
                    tokio::time::sleep(delay).await;
                }
                Outcome::Rejected {
                    status,
                    reason,
                    message,
                } => {
                    tracing::error!(
                        component_id = %metrics.id,
                        status,
                        reason,
                        samples,
                        receiver_message = %message,
                        "the receiver refused a remote-write request for good; its samples are dropped"
                    );
                    events::records_discarded(&metrics, reason, samples);
                    self.backoff.reset();
                    return AckStatus::Rejected;
                }
            }
        }
    }
}
