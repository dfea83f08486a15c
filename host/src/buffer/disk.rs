//! The disk buffer: an append-only log of segment files under `DATA_DIR/buffers/SINK/`
//! between a sink's input and the sink.
//!
//! - The **writer** (a blocking thread) takes each batch from the sink's input, appends it
//!   as a checksummed frame ([`super::frame`]) to the newest segment (fdatasync first with
//!   `fsync = true`), and only then settles the batch's acknowledgements as delivered: the
//!   sources move on (file checkpoints advance, push requests are answered) while the sink
//!   may be down. When the buffer holds `max_size` bytes it waits for room (`block`) or
//!   drops the batch, counted and logged (`drop_newest`).
//! - The **reader** (a task) reads frames in order, gives each batch a new acknowledgement
//!   and sends it to the sink. As the sink settles them in order, the acknowledged position
//!   (`cursor`) moves on; a segment wholly before it is deleted. The cursor is written to
//!   disk (atomically) at most once a second and at exit, so a restart (or a kill -9)
//!   replays at most the batches in flight: at-least-once.
//! - At start the segments left by the last run are checked: a frame cut short or failing
//!   its checksum ends its segment there; the bytes after it are counted in
//!   `sluice_buffer_corrupt_bytes_total`, logged, and never replayed.
//!
//! A batch the sink settles as failed (not delivered, saved nowhere) stops the cursor for
//! the rest of the run, as it stops file checkpoints: the next start replays it.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::{oneshot, Notify};

use super::frame;
use crate::channel::{channel, Fanout, Input};
use crate::config::WhenFull;
use crate::event::{settle, Ack, AckStatus, Events};
use crate::telemetry::{events, ComponentMetrics};

/// A segment is closed and a new one started past this size (smaller for small buffers,
/// so that acknowledged data is freed in steps).
const SEGMENT_BYTES: u64 = 32 << 20;
/// Batches sent to the sink and not yet settled, at most.
const IN_FLIGHT: usize = 16;
/// How often the reader looks at the acknowledgements of batches in flight.
const ACK_POLL: Duration = Duration::from_millis(10);
/// How often the acknowledged position is written out.
const CURSOR_EVERY: Duration = Duration::from_secs(1);

/// How the buffer of one sink is set up.
#[derive(Debug, Clone)]
pub struct DiskSettings {
    pub dir: PathBuf,
    pub max_size: u64,
    pub when_full: WhenFull,
    pub fsync: bool,
}

/// A position in the log: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    segment: u64,
    offset: u64,
}

/// What the writer and the reader share.
struct State {
    /// Segments on disk, oldest first: id and size.
    segments: VecDeque<(u64, u64)>,
    /// Bytes in all segments.
    total: u64,
    /// Set when the writer's input closed: nothing more will be written.
    writer_done: bool,
    /// The segment the writer appends to (None before its first batch of this run).
    writing: Option<u64>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the reader frees space.
    freed: Condvar,
    /// Signalled when the writer appends a frame (or finishes).
    written: Notify,
    dir: PathBuf,
    metrics: ComponentMetrics,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn cursor_path(dir: &Path) -> PathBuf {
    dir.join("cursor")
}

/// Opens (or creates) the buffer in `settings.dir` and starts its writer and reader:
/// returns the input the sink reads and the tasks to run with it.
pub fn start(
    input: Input,
    settings: DiskSettings,
    metrics: ComponentMetrics,
) -> std::io::Result<(Input, Vec<BoxFuture<'static, ()>>)> {
    std::fs::create_dir_all(&settings.dir)?;
    let cursor = read_cursor(&settings.dir);
    let mut segments = VecDeque::new();
    let mut total = 0;
    for id in list_segments(&settings.dir)? {
        let path = segment_path(&settings.dir, id);
        if cursor.is_some_and(|c| id < c.segment) {
            std::fs::remove_file(&path)?; // acknowledged before the last exit
            continue;
        }
        let size = check_segment(&path, &metrics)?;
        segments.push_back((id, size));
        total += size;
    }
    let start_at = match (cursor, segments.front()) {
        (Some(c), Some(&(first, _))) if c.segment == first => c,
        (_, Some(&(first, _))) => Position {
            segment: first,
            offset: 0,
        },
        (_, None) => Position {
            segment: 0,
            offset: 0,
        },
    };
    let next_id = segments.back().map_or(start_at.segment, |(id, _)| id + 1);
    if total > 0 {
        tracing::info!(component_id = %metrics.id, bytes = total, segments = segments.len(),
            "disk buffer holds batches from the last run; replaying them");
    }
    metrics.buffer_bytes().set(total as i64);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            segments,
            total,
            writer_done: false,
            writing: None,
        }),
        freed: Condvar::new(),
        written: Notify::new(),
        dir: settings.dir.clone(),
        metrics: metrics.clone(),
    });
    let (out, sink_input) = channel(metrics.channel_depth());
    let writer_shared = shared.clone();
    let writer = Box::pin(async move {
        let shared = writer_shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            write_loop(input, settings, next_id, &writer_shared)
        })
        .await;
        if let Err(e) = done {
            tracing::error!(component_id = %shared.metrics.id, error = %e, "disk buffer writer failed");
        }
        shared.lock().writer_done = true;
        shared.written.notify_one();
    }) as BoxFuture<'static, ()>;
    let reader = Box::pin(read_loop(shared, start_at, Fanout::new(vec![out])));
    Ok((sink_input, vec![writer, reader]))
}

/// Segment ids in `dir`, oldest first.
fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(cursor_path(dir)).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some(Position {
        segment: segment.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

fn write_cursor(dir: &Path, at: Position) -> std::io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    std::fs::write(&tmp, format!("{} {}\n", at.segment, at.offset))?;
    std::fs::rename(tmp, cursor_path(dir))
}

/// Checks every frame of a segment left by an earlier run; a torn or corrupt frame ends
/// the segment there (the rest is cut off, counted and logged). Returns the size kept.
fn check_segment(path: &Path, metrics: &ComponentMetrics) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    let mut at = 0;
    while at < bytes.len() {
        let Some(len) = frame::payload_len(&bytes[at..]) else {
            break;
        };
        let end = at + frame::HEADER + len;
        if end > bytes.len() || frame::decode(&bytes[at..end]).is_err() {
            break;
        }
        at = end;
    }
    if at < bytes.len() {
        let cut = (bytes.len() - at) as u64;
        metrics.buffer_corrupt(cut);
        tracing::warn!(component_id = %metrics.id, segment = %path.display(), kept = at, cut,
            "disk buffer: a torn or corrupt frame (a crash while writing?); the bytes from it on are cut off, not replayed");
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(at as u64)?;
    }
    Ok(at as u64)
}

/// The writer: every batch of `input` appended as a frame, its acknowledgements settled
/// once written.
fn write_loop(mut input: Input, settings: DiskSettings, mut id: u64, shared: &Shared) {
    let segment_limit = SEGMENT_BYTES.min((settings.max_size / 4).max(1 << 20));
    let mut file: Option<(File, u64)> = None; // the open segment and its size
    let mut buf = Vec::new();
    while let Some(mut events) = input.blocking_recv() {
        buf.clear();
        frame::encode(&events, &mut buf);
        let acks = events.take_acks();
        let size = buf.len() as u64;
        // Room for it, or what `when_full` says.
        {
            let mut state = shared.lock();
            while state.total + size > settings.max_size && state.total > 0 {
                if settings.when_full == WhenFull::DropNewest {
                    break;
                }
                state = shared
                    .freed
                    .wait_timeout(state, Duration::from_millis(200))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if state.total + size > settings.max_size && state.total > 0 {
                drop(state);
                events::records_discarded(&shared.metrics, "buffer_full", events.len());
                settle(acks, AckStatus::Rejected);
                continue;
            }
        }
        let result = (|| -> std::io::Result<()> {
            if file
                .as_ref()
                .is_none_or(|(_, len)| *len > 0 && len + size > segment_limit)
            {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(segment_path(&shared.dir, id))?;
                let len = f.metadata()?.len();
                let mut state = shared.lock();
                state.segments.push_back((id, len));
                state.writing = Some(id);
                drop(state);
                file = Some((f, len));
                id += 1;
            }
            let (f, len) = file.as_mut().expect("opened above");
            f.write_all(&buf)?;
            if settings.fsync {
                f.sync_data()?;
            }
            *len += size;
            Ok(())
        })();
        match result {
            Ok(()) => {
                let mut state = shared.lock();
                if let Some(last) = state.segments.back_mut() {
                    last.1 += size;
                }
                state.total += size;
                shared.metrics.buffer_bytes().set(state.total as i64);
                drop(state);
                settle(acks, AckStatus::Delivered);
                shared.written.notify_one();
            }
            Err(e) => {
                // Not written: the batch is not delivered (its sources will send it again).
                file = None;
                events::component_error(
                    &shared.metrics,
                    "buffer_write_failed",
                    &format!("{}: {e}", shared.dir.display()),
                );
                settle(acks, AckStatus::Failed);
            }
        }
    }
}

/// The reader: frames in order to the sink, the cursor moved on as the sink settles them,
/// segments before the cursor deleted.
async fn read_loop(shared: Arc<Shared>, mut next: Position, out: Fanout) {
    let mut reading: Option<(u64, File)> = None;
    let mut in_flight: VecDeque<(oneshot::Receiver<AckStatus>, Position)> = VecDeque::new();
    let mut cursor = next;
    let mut held = false;
    let mut cursor_written = Instant::now();
    let mut cursor_dirty = false;
    let mut out = Some(out);
    loop {
        // Settle what the sink acknowledged, in order.
        while let Some((rx, end)) = in_flight.front_mut() {
            let status = match rx.try_recv() {
                Ok(s) => s,
                Err(oneshot::error::TryRecvError::Empty) => break,
                Err(oneshot::error::TryRecvError::Closed) => AckStatus::Failed,
            };
            let end = *end;
            in_flight.pop_front();
            if status == AckStatus::Failed && !held {
                held = true;
                tracing::warn!(component_id = %shared.metrics.id,
                    "a buffered batch was not delivered; the buffer keeps it (and what follows) for the next start");
            }
            if !held {
                cursor = end;
                cursor_dirty = true;
                free_before(&shared, cursor);
            }
        }
        if cursor_dirty && cursor_written.elapsed() >= CURSOR_EVERY {
            save_cursor(&shared, cursor);
            cursor_dirty = false;
            cursor_written = Instant::now();
        }
        // Send the next frame, if there is one and room for it.
        let mut sent = false;
        if let Some(sink) = &out {
            if in_flight.len() < IN_FLIGHT {
                match next_frame(&shared, &mut next, &mut reading) {
                    Some(mut events) => {
                        let (ack, rx) = Ack::new();
                        match &mut events {
                            Events::Logs(b) => b.acks.push(ack),
                            Events::Metrics(b) => b.acks.push(ack),
                        }
                        if sink.send(events).await.is_err() {
                            break;
                        }
                        in_flight.push_back((rx, next));
                        sent = true;
                    }
                    None => {
                        let state = shared.lock();
                        let drained = state.writer_done && !has_more(&state, next);
                        drop(state);
                        if drained {
                            // Everything written was handed to the sink: let it finish.
                            out = None;
                        }
                    }
                }
            }
        }
        if sent {
            continue;
        }
        if out.is_none() && in_flight.is_empty() {
            break;
        }
        // Wait for a new frame, or look at the acknowledgements again shortly.
        let wait = if in_flight.is_empty() {
            CURSOR_EVERY
        } else {
            ACK_POLL
        };
        tokio::select! {
            _ = shared.written.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    save_cursor(&shared, cursor);
}

fn has_more(state: &State, at: Position) -> bool {
    state
        .segments
        .iter()
        .any(|&(id, size)| id > at.segment || (id == at.segment && size > at.offset))
}

/// Reads the frame at `at` (moving on to the next segment at a segment's end) and advances
/// `at` past it. None when no complete frame is there yet. A frame that does not decode
/// (corrupt after the start-up check: the disk changed under us) is skipped with the rest
/// of its segment, counted and logged.
fn next_frame(
    shared: &Shared,
    at: &mut Position,
    reading: &mut Option<(u64, File)>,
) -> Option<Events> {
    loop {
        let (segment_size, later_segment) = {
            let state = shared.lock();
            let size = state
                .segments
                .iter()
                .find(|(id, _)| *id == at.segment)
                .map(|(_, s)| *s);
            let later = state
                .segments
                .iter()
                .find(|(id, _)| *id > at.segment)
                .map(|(id, _)| *id);
            match (size, later) {
                (None, None) => return None,
                (None, Some(l)) => {
                    *at = Position {
                        segment: l,
                        offset: 0,
                    };
                    continue;
                }
                (Some(s), l) => (s, l),
            }
        };
        if at.offset >= segment_size {
            match later_segment {
                Some(l) => {
                    *at = Position {
                        segment: l,
                        offset: 0,
                    };
                    *reading = None;
                    continue;
                }
                None => return None,
            }
        }
        if reading.as_ref().is_none_or(|(id, _)| *id != at.segment) {
            match File::open(segment_path(&shared.dir, at.segment)) {
                Ok(f) => *reading = Some((at.segment, f)),
                Err(e) => {
                    events::component_error(&shared.metrics, "buffer_read_failed", &e.to_string());
                    return None;
                }
            }
        }
        let (_, f) = reading.as_mut().expect("opened above");
        let mut header = [0u8; frame::HEADER];
        let read = f
            .seek(SeekFrom::Start(at.offset))
            .and_then(|_| f.read_exact(&mut header));
        if read.is_err() {
            return None;
        }
        let len = frame::payload_len(&header).expect("a whole header");
        let mut bytes = vec![0u8; frame::HEADER + len];
        bytes[..frame::HEADER].copy_from_slice(&header);
        if at.offset + bytes.len() as u64 > segment_size
            || f.read_exact(&mut bytes[frame::HEADER..]).is_err()
        {
            return None; // not all of it written yet
        }
        match frame::decode(&bytes) {
            Ok(events) => {
                at.offset += bytes.len() as u64;
                return Some(events);
            }
            Err(e) => {
                let cut = segment_size - at.offset;
                shared.metrics.buffer_corrupt(cut);
                tracing::error!(component_id = %shared.metrics.id, segment = at.segment,
                    offset = at.offset, cut, error = %e,
                    "disk buffer: a corrupt frame; skipping the rest of its segment");
                at.offset = segment_size;
            }
        }
    }
}

/// Deletes the segments wholly before `cursor`, or that it reached the end of (never the
/// one the writer appends to).
fn free_before(shared: &Shared, cursor: Position) {
    let mut state = shared.lock();
    let mut freed = false;
    while let Some(&(id, size)) = state.segments.front() {
        let acknowledged = id < cursor.segment || (id == cursor.segment && cursor.offset >= size);
        if !acknowledged || state.writing == Some(id) {
            break;
        }
        if let Err(e) = std::fs::remove_file(segment_path(&shared.dir, id)) {
            events::component_error(&shared.metrics, "buffer_delete_failed", &e.to_string());
            break;
        }
        state.segments.pop_front();
        state.total -= size;
        freed = true;
    }
    if freed {
        shared.metrics.buffer_bytes().set(state.total as i64);
        shared.freed.notify_all();
    }
}

fn save_cursor(shared: &Shared, at: Position) {
    if let Err(e) = write_cursor(&shared.dir, at) {
        events::component_error(&shared.metrics, "buffer_cursor_failed", &e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LogBatch;
    use crate::telemetry::Telemetry;

    fn batch(lines: &[&str]) -> (Events, oneshot::Receiver<AckStatus>) {
        let mut b = LogBatch::default();
        let set = b.intern_labels(&[]);
        for l in lines {
            b.push(l, 1, set, &[]);
        }
        let (ack, rx) = Ack::new();
        b.acks.push(ack);
        (Events::Logs(b), rx)
    }

    fn settings(dir: &Path) -> DiskSettings {
        DiskSettings {
            dir: dir.to_path_buf(),
            max_size: 64 << 20,
            when_full: WhenFull::Block,
            fsync: false,
        }
    }

    /// Starts a buffer in `dir`; returns the sender into it, the sink's input and the
    /// buffer's tasks (spawned).
    fn open(
        dir: &Path,
        metrics: &ComponentMetrics,
    ) -> (Fanout, Input, Vec<tokio::task::JoinHandle<()>>) {
        let (tx, rx) = channel(metrics.channel_depth());
        let (sink, tasks) = start(rx, settings(dir), metrics.clone()).unwrap();
        let handles = tasks.into_iter().map(tokio::spawn).collect();
        (Fanout::new(vec![tx]), sink, handles)
    }

    fn lines(events: &Events) -> Vec<String> {
        match events {
            Events::Logs(b) => b.records().map(|r| r.line().to_string()).collect(),
            _ => panic!("logs expected"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_acknowledged_once_written_and_replayed_until_the_sink_acknowledges() {
        let dir = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let metrics = telemetry.component("out", "sink");
        let (upstream, mut sink, tasks) = open(dir.path(), &metrics);
        let (a, a_settled) = batch(&["a1", "a2"]);
        let (b, b_settled) = batch(&["b1"]);
        upstream.send(a).await.unwrap();
        upstream.send(b).await.unwrap();
        // Written to disk: the sources' acknowledgements settle before the sink took them.
        assert_eq!(a_settled.await.unwrap(), AckStatus::Delivered);
        assert_eq!(b_settled.await.unwrap(), AckStatus::Delivered);
        // The sink takes the first and acknowledges it; the second it takes and never does
        // (a crash before delivery).
        let first = sink.recv().await.unwrap();
        assert_eq!(lines(&first), ["a1", "a2"]);
        drop(first);
        let second = sink.recv().await.unwrap();
        std::mem::forget(second); // never settled
        drop(upstream);
        // A crash (the tasks abort) after the cursor was written (at most a second after
        // the acknowledgement).
        tokio::time::sleep(CURSOR_EVERY + Duration::from_millis(300)).await;
        for t in tasks {
            t.abort();
        }
        // The next run replays exactly the unacknowledged batch.
        let (upstream, mut sink, _tasks) = open(dir.path(), &metrics);
        let again = sink.recv().await.unwrap();
        assert_eq!(lines(&again), ["b1"]);
        drop(upstream);
        drop(again);
        assert!(sink.recv().await.is_none(), "nothing else is replayed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_last_frame_is_cut_off_counted_and_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let metrics = telemetry.component("out", "sink");
        let mut good = Vec::new();
        frame::encode(&batch(&["kept"]).0, &mut good);
        let mut torn = Vec::new();
        frame::encode(&batch(&["torn in the write"]).0, &mut torn);
        torn.truncate(torn.len() - 3);
        std::fs::write(
            segment_path(dir.path(), 0),
            [good.clone(), torn.clone()].concat(),
        )
        .unwrap();
        let (upstream, mut sink, _tasks) = open(dir.path(), &metrics);
        let replayed = sink.recv().await.unwrap();
        assert_eq!(lines(&replayed), ["kept"]);
        drop(replayed);
        drop(upstream);
        assert!(sink.recv().await.is_none());
        let text = telemetry.render_openmetrics();
        assert!(
            text.contains(&format!(
                "sluice_buffer_corrupt_bytes_total{{component_id=\"out\",component_kind=\"sink\"}} {}",
                torn.len()
            )),
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_buffer_drops_the_newest_when_told_to_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new();
        let metrics = telemetry.component("out", "sink");
        let (tx, rx) = channel(metrics.channel_depth());
        let mut s = settings(dir.path());
        s.max_size = 200;
        s.when_full = WhenFull::DropNewest;
        let (_sink, tasks) = start(rx, s, metrics.clone()).unwrap();
        for t in tasks {
            tokio::spawn(t);
        }
        let upstream = Fanout::new(vec![tx]);
        let long = "x".repeat(150);
        let (a, a_settled) = batch(&[&long]);
        let (b, b_settled) = batch(&[&long]);
        upstream.send(a).await.unwrap();
        assert_eq!(a_settled.await.unwrap(), AckStatus::Delivered);
        upstream.send(b).await.unwrap();
        assert_eq!(b_settled.await.unwrap(), AckStatus::Rejected);
        assert!(telemetry
            .render_openmetrics()
            .contains("reason=\"buffer_full\"} 1"));
    }
}
