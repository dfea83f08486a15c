//! Transforms: components between sources and sinks. Only `wasm` (a plugin) for now;
//! built-ins are added here only for what a plugin cannot do.
//!
//! A checked transform is a pool of workers ([`Transform`]), each a [`Stage`] that turns a
//! batch into a batch on a worker thread; [`run_chain`] runs a straight line of them fused.
//!
//! Adding a transform: a module here whose config implements
//! `ComponentConfig<dyn Transform>`, and its line in [`KINDS`].

use std::path::PathBuf;

use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::oneshot;

use crate::channel::{Fanout, Input};
use crate::event::{Events, LogBatch, Signal};
use crate::telemetry::ComponentMetrics;

/// A checked transform, ready to run: its workers' stages are made from it.
pub trait Transform: Send {
    /// The transform's name in the pipeline.
    fn name(&self) -> &str;
    /// How many worker threads it runs (a fused chain's stages have the same number).
    fn workers(&self) -> usize;
    /// Its metrics.
    fn metrics(&self) -> &ComponentMetrics;
    /// The signals it can take; it gives what it takes (a plugin's exports decide:
    /// `process` for logs, `process-metrics` for metrics). Which one a transform carries is
    /// its inputs' (`topology::prepare` checks they agree and that it takes it).
    fn signals(&self) -> Vec<Signal> {
        vec![Signal::Logs]
    }
    /// Files whose change should reload the pipeline (a plugin's component).
    fn watched_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    /// A stage for one worker thread.
    fn worker(&mut self) -> Box<dyn Stage>;
    /// Processes one batch on the calling thread (`sluice test`).
    fn process_blocking(&mut self, batch: LogBatch) -> LogBatch;
}

/// What one worker thread holds of a transform.
pub trait Stage: Send {
    /// The batch after this transform (an empty batch keeps the acknowledgements of what
    /// it dropped).
    fn process(&mut self, batch: Events) -> Events;
    fn metrics(&self) -> &ComponentMetrics;
}

crate::component::registry! {
    /// Every transform kind, by its `type` name.
    pub static KINDS: [dyn Transform] = {
        wasm::WasmTransformConfig,
    }
}

/// Runs `stages` (transforms where each feeds only the next, or one transform alone; see
/// `Graph::transform_chains`) fused, keeping batch order: every worker thread holds an
/// instance of each stage and takes a batch through all of them in turn. Against a thread
/// and channel per stage this saves the hand-offs between stages and keeps each batch in
/// the cache of one core (bench/RESULTS.md). Each stage keeps its own metrics, `on_error`
/// policy and instance restarts; the stages must have the same number of workers.
pub async fn run_chain(mut stages: Vec<Box<dyn Transform>>, mut input: Input, out: Fanout) {
    let Some(first) = stages.first() else { return };
    let name = first.name().to_string();
    let workers = first.workers();
    let received = first.metrics().clone();
    let sent = stages.last().expect("not empty").metrics().clone();
    if stages.len() > 1 {
        tracing::info!(
            transforms = ?stages.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "transforms fused: each batch goes through them on one thread"
        );
    }
    if workers == 1 {
        return run_on_one_thread(&mut stages, input, out, &name, received, sent).await;
    }
    let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(workers);
    let mut threads = Vec::new();
    for i in 0..workers {
        let mut chain: Vec<Box<dyn Stage>> = stages.iter_mut().map(|s| s.worker()).collect();
        let jobs = jobs_rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wasm-{name}-{i}"))
            .spawn(move || {
                for job in jobs {
                    let _ = job.reply.send(process_chain(&mut chain, job.batch));
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                tracing::error!(component_id = %name, error = %e, "cannot start a plugin worker")
            }
        }
    }
    drop(jobs_rx);
    if threads.is_empty() {
        return;
    }
    let in_flight_limit = workers * 2;
    let mut in_flight = FuturesOrdered::new();
    let mut input_open = true;
    loop {
        tokio::select! {
            batch = input.recv(), if input_open && in_flight.len() < in_flight_limit => {
                let Some(batch) = batch else { input_open = false; continue; };
                received.received(batch.len(), batch.byte_size());
                let (reply, result) = oneshot::channel();
                let job = Job { batch, reply };
                // The job queue holds `workers` jobs and nearly always has room (no more
                // than twice that are in flight, and the workers take them as they come):
                // queue it here. Only when it is full is waiting for room, which blocks,
                // handed to the blocking pool (a pool thread woken per batch was one of
                // the hand-offs that bench/RESULTS.md's session 12 measured).
                let queued = match jobs_tx.try_send(job) {
                    Ok(()) => true,
                    Err(crossbeam_channel::TrySendError::Full(job)) => {
                        let tx = jobs_tx.clone();
                        matches!(
                            tokio::task::spawn_blocking(move || tx.send(job).is_ok()).await,
                            Ok(true)
                        )
                    }
                    Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
                };
                if !queued {
                    break;
                }
                in_flight.push_back(result);
            }
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let Ok(batch) = done else { break };
                if carries_nothing(&batch) {
                    continue;
                }
                let (records, bytes) = (batch.len(), batch.byte_size());
                if out.send(batch).await.is_err() {
                    break;
                }
                sent.sent(records, bytes);
            }
            else => break,
        }
    }
    drop(jobs_tx);
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
}

/// [`run_chain`] with one worker: its thread takes each batch from the input channel,
/// takes it through every stage and hands it to the consumers itself, so a batch meets no
/// async task between its producer and its consumers. The pool below passes each batch
/// to a worker and back through the task, two thread wake-ups more per batch (500k lines
/// through parse -> redact-pii -> enrich: 0.79 CPU-s against 0.71 at 1024 records a
/// batch, 1.07 against 0.93 at 128; bench/RESULTS.md). Order is kept: one thread.
async fn run_on_one_thread(
    stages: &mut [Box<dyn Transform>],
    mut input: Input,
    out: Fanout,
    name: &str,
    received: ComponentMetrics,
    sent: ComponentMetrics,
) {
    let mut chain: Vec<Box<dyn Stage>> = stages.iter_mut().map(|s| s.worker()).collect();
    let (finished, done) = oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name(format!("wasm-{name}-0"))
        .spawn(move || {
            while let Some(batch) = input.blocking_recv() {
                received.received(batch.len(), batch.byte_size());
                let batch = process_chain(&mut chain, batch);
                if carries_nothing(&batch) {
                    continue;
                }
                let (records, bytes) = (batch.len(), batch.byte_size());
                if out.blocking_send(batch).is_err() {
                    break;
                }
                sent.sent(records, bytes);
            }
            drop(finished);
        });
    match spawned {
        // The sender is dropped when the thread ends, however it ends.
        Ok(_) => {
            let _ = done.await;
        }
        Err(e) => {
            tracing::error!(component_id = %name, error = %e, "cannot start a plugin worker")
        }
    }
}

/// A chain's output with no records and no acknowledgements: not sent on.
fn carries_nothing(batch: &Events) -> bool {
    batch.is_empty() && batch.acks().is_empty()
}

/// One batch through every stage of a chain; the first stage's `received` and the last
/// stage's `sent` are counted by the caller, the counts between stages here.
fn process_chain(chain: &mut [Box<dyn Stage>], mut batch: Events) -> Events {
    let last = chain.len() - 1;
    for (i, stage) in chain.iter_mut().enumerate() {
        if i > 0 {
            if batch.is_empty() {
                break;
            }
            stage.metrics().received(batch.len(), batch.byte_size());
        }
        batch = stage.process(batch);
        stage.metrics().offer_tap(&batch);
        if i < last {
            stage.metrics().sent(batch.len(), batch.byte_size());
        }
    }
    batch
}

struct Job {
    batch: Events,
    reply: oneshot::Sender<Events>,
}
