//! Taps: a live, rate-limited sample of the records leaving a component, for `sluice tap`
//! (`GET /api/tap/NAME` on the API server). A source's fanout and each transform stage offer
//! their output batches to their component's [`TapPoint`]; with no tap open that is one
//! atomic load. An open tap takes at most `rate` records a second (and `limit` in all),
//! each copied into a one-record batch, into a small bounded queue (the API server writes
//! them out as JSON with `encode::json_record`); when the reader is slower, samples are dropped and
//! counted (`sluice_tap_dropped_samples_total`), never waited for, so a tap cannot slow the
//! pipeline. A tap shows records as they leave the component: after a redaction transform,
//! placeholders (`<email>`) stand where the values were.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::mpsc;

use crate::event::{Events, LogBatch};

/// Samples a tap's queue holds before further ones are dropped.
const QUEUE: usize = 256;

/// One open tap.
struct Subscriber {
    tx: mpsc::Sender<LogBatch>,
    rate: f64,
    tokens: f64,
    refilled: Instant,
    remaining: usize,
}

#[derive(Default)]
struct Hub {
    /// Open taps, all components together: the fast path's one check.
    open: AtomicUsize,
    taps: Mutex<HashMap<String, Vec<Subscriber>>>,
    /// The components that can be tapped.
    known: Mutex<std::collections::BTreeSet<String>>,
}

/// Every component's taps.
#[derive(Clone)]
pub struct Taps {
    hub: Arc<Hub>,
    dropped: Family<DroppedLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct DroppedLabels {
    pub component_id: String,
}

/// Why a tap could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum TapError {
    UnknownComponent,
}

impl Taps {
    /// Taps whose dropped samples are counted in `dropped`.
    pub fn new(dropped: Family<DroppedLabels, Counter>) -> Taps {
        Taps {
            hub: Arc::default(),
            dropped,
        }
    }

    /// The tap point of component `name` (it can be tapped from now on).
    pub fn point(&self, name: &str) -> TapPoint {
        self.hub
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        let _ = self.dropped.get_or_create(&DroppedLabels {
            component_id: name.to_string(),
        });
        TapPoint {
            component: Arc::from(name),
            taps: self.clone(),
        }
    }

    /// Opens a tap on `component`: up to `rate` records a second, `limit` in all, each as a
    /// one-record batch. The tap closes when the receiver is dropped.
    pub fn open(
        &self,
        component: &str,
        rate: f64,
        limit: usize,
    ) -> Result<mpsc::Receiver<LogBatch>, TapError> {
        if !self
            .hub
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(component)
        {
            return Err(TapError::UnknownComponent);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let rate = rate.clamp(0.1, 10_000.0);
        self.hub
            .taps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(component.to_string())
            .or_default()
            .push(Subscriber {
                tx,
                rate,
                tokens: rate.min(limit as f64).max(1.0),
                refilled: Instant::now(),
                remaining: limit,
            });
        self.hub.open.fetch_add(1, Ordering::Release);
        Ok(rx)
    }
}

/// Where one component offers its output to its taps.
#[derive(Clone)]
pub struct TapPoint {
    component: Arc<str>,
    taps: Taps,
}

impl std::fmt::Debug for TapPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TapPoint({})", self.component)
    }
}

impl TapPoint {
    /// Offers `events` (a component's output) to the component's open taps.
    #[inline]
    pub fn offer(&self, events: &Events) {
        if self.taps.hub.open.load(Ordering::Acquire) == 0 {
            return;
        }
        self.offer_slow(events);
    }

    fn offer_slow(&self, events: &Events) {
        let Events::Logs(batch) = events else {
            return;
        };
        let hub = &self.taps.hub;
        let mut taps = hub.taps.lock().unwrap_or_else(|e| e.into_inner());
        let Some(subscribers) = taps.get_mut(&*self.component) else {
            return;
        };
        let mut dropped = 0u64;
        let before = subscribers.len();
        subscribers.retain_mut(|sub| {
            let now = Instant::now();
            sub.tokens = (sub.tokens + now.duration_since(sub.refilled).as_secs_f64() * sub.rate)
                .min(sub.rate.max(1.0));
            sub.refilled = now;
            let take = (sub.tokens.floor() as usize)
                .min(batch.len())
                .min(sub.remaining);
            for i in 0..take {
                let r = batch.record(i);
                let mut one = LogBatch::default();
                let labels = one.intern_labels(r.labels());
                let metadata: Vec<(&str, &str)> = r.metadata().collect();
                one.push(r.line(), r.timestamp(), labels, &metadata);
                match sub.tx.try_send(one) {
                    Ok(()) => {
                        sub.tokens -= 1.0;
                        sub.remaining -= 1;
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => dropped += 1,
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            sub.remaining > 0 && !sub.tx.is_closed()
        });
        let closed = before - subscribers.len();
        if closed > 0 {
            hub.open.fetch_sub(closed, Ordering::Release);
        }
        if dropped > 0 {
            self.taps
                .dropped
                .get_or_create(&DroppedLabels {
                    component_id: self.component.to_string(),
                })
                .inc_by(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Events {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[("app".to_string(), "web".to_string())]);
        for i in 0..n {
            b.push(
                &format!("line {i} <email>"),
                i as i64,
                set,
                &[("trace_id", "t")],
            );
        }
        Events::Logs(b)
    }

    #[test]
    fn a_tap_takes_its_rate_and_limit_and_drops_what_it_cannot_queue() {
        let dropped = Family::<DroppedLabels, Counter>::default();
        let taps = Taps::new(dropped.clone());
        let point = taps.point("redact");
        assert_eq!(
            taps.open("nope", 10.0, 10).unwrap_err(),
            TapError::UnknownComponent
        );
        point.offer(&batch(5)); // no tap open: nothing happens
        let mut rx = taps.open("redact", 3.0, 1000).unwrap();
        point.offer(&batch(10));
        let mut got = Vec::new();
        while let Ok(one) = rx.try_recv() {
            got.push(one);
        }
        assert_eq!(got.len(), 3, "the rate's burst");
        let first = got[0].record(0);
        assert_eq!(first.line(), "line 0 <email>");
        assert_eq!(first.labels(), [("app".to_string(), "web".to_string())]);
        assert_eq!(first.metadata_value("trace_id"), Some("t"));
        // A reader that never reads: the queue fills, the rest is dropped and counted.
        let _slow = taps.open("redact", 10_000.0, usize::MAX).unwrap();
        for _ in 0..100 {
            point.offer(&batch(100));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let n = dropped
            .get_or_create(&DroppedLabels {
                component_id: "redact".into(),
            })
            .get();
        assert!(n > 0, "dropped samples counted");
        drop(rx);
        point.offer(&batch(1));
        assert_eq!(
            taps.hub.open.load(Ordering::Acquire),
            1,
            "a closed tap is removed"
        );
    }
}
