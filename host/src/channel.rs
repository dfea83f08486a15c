//! Bounded channels between components. A [`Fanout`] sends a component's output batches to
//! every consumer (cloning for all but the last); an [`Input`] receives a component's
//! input and keeps its channel-depth gauge current. Sends wait for room: a slow consumer
//! slows its producers (backpressure), and memory stays bounded by
//! `consumers x CHANNEL_BATCHES x batch size`.
//!
//! A channel carries [`Events`]: log batches or metric batches. Which one an edge carries
//! is checked before anything runs (`topology::prepare`), so a logs-only consumer reads
//! with [`Input::recv_logs`].

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;

use crate::event::{settle, AckStatus, Events, LogBatch};

/// Batches a component's input channel holds before its producers wait.
pub const CHANNEL_BATCHES: usize = 8;

/// The receiving end of a component's input.
pub struct Input {
    rx: mpsc::Receiver<Events>,
    depth: Gauge,
}

/// One consumer's sending end, with the consumer's depth gauge.
#[derive(Clone)]
pub struct Output {
    tx: mpsc::Sender<Events>,
    depth: Gauge,
}

/// A bounded channel for a component whose depth is reported on `depth`.
pub fn channel(depth: Gauge) -> (Output, Input) {
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    (
        Output {
            tx,
            depth: depth.clone(),
        },
        Input { rx, depth },
    )
}

impl Input {
    /// The next batch, or None once every producer is gone and the channel is drained.
    pub async fn recv(&mut self) -> Option<Events> {
        let batch = self.rx.recv().await;
        self.depth.set(self.rx.len() as i64);
        batch
    }

    /// As [`Input::recv`], for a blocking thread.
    pub fn blocking_recv(&mut self) -> Option<Events> {
        let batch = self.rx.blocking_recv();
        self.depth.set(self.rx.len() as i64);
        batch
    }

    /// The next log batch, for a consumer that takes only logs. The topology check keeps
    /// metric batches away from such a consumer; should one come anyway, it is refused
    /// loudly (logged, its acknowledgements marked failed), never dropped silently.
    pub async fn recv_logs(&mut self) -> Option<LogBatch> {
        loop {
            match self.recv().await? {
                Events::Logs(batch) => return Some(batch),
                Events::Metrics(mut batch) => {
                    tracing::error!(
                        samples = batch.len(),
                        "a metric batch reached a consumer that takes only logs; refused"
                    );
                    settle(batch.take_acks(), AckStatus::Failed);
                }
            }
        }
    }
}

/// Every consumer of a component's output went away (the pipeline is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the downstream components have stopped")]
pub struct Closed;

/// The senders to every consumer of one component.
#[derive(Clone, Default)]
pub struct Fanout {
    outputs: Vec<Output>,
    /// A source's metrics, whose tap point sees every batch sent (`sluice tap`).
    tap: Option<crate::telemetry::ComponentMetrics>,
}

impl Fanout {
    /// A fanout to `outputs`.
    pub fn new(outputs: Vec<Output>) -> Fanout {
        Fanout { outputs, tap: None }
    }

    /// The same, offering every batch to `metrics`' taps first.
    pub fn tapped(mut self, metrics: crate::telemetry::ComponentMetrics) -> Fanout {
        self.tap = Some(metrics);
        self
    }

    fn note_depth(o: &Output) {
        o.depth.set((o.tx.max_capacity() - o.tx.capacity()) as i64);
    }

    /// Sends `batch` to every consumer, waiting for room in each.
    pub async fn send(&self, batch: impl Into<Events>) -> Result<(), Closed> {
        let batch = batch.into();
        if let Some(m) = &self.tap {
            m.offer_tap(&batch);
        }
        let Some((last, rest)) = self.outputs.split_last() else {
            return Ok(());
        };
        for o in rest {
            o.tx.send(batch.clone()).await.map_err(|_| Closed)?;
            Self::note_depth(o);
        }
        last.tx.send(batch).await.map_err(|_| Closed)?;
        Self::note_depth(last);
        Ok(())
    }

    /// As [`Fanout::send`], for a blocking thread.
    pub fn blocking_send(&self, batch: impl Into<Events>) -> Result<(), Closed> {
        let batch = batch.into();
        if let Some(m) = &self.tap {
            m.offer_tap(&batch);
        }
        let Some((last, rest)) = self.outputs.split_last() else {
            return Ok(());
        };
        for o in rest {
            o.tx.blocking_send(batch.clone()).map_err(|_| Closed)?;
            Self::note_depth(o);
        }
        last.tx.blocking_send(batch).map_err(|_| Closed)?;
        Self::note_depth(last);
        Ok(())
    }
}
