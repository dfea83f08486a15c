//! Persisted read positions of a `file` source (`DATA_DIR/checkpoints/NAME.json`): for each
//! file, the offset after the last line whose batch every sink acknowledged, and the file's
//! identity (device, inode), so a restart resumes where delivery stopped, never past it.
//!
//! Batches settle out of order (sinks with several requests in flight), so positions are
//! committed in batch order: a batch's snapshot is taken only once it and every batch before
//! it have settled. A crash re-reads at most what was in flight (at-least-once).
//!
//! A batch that settles [`AckStatus::Failed`] (a sink could not deliver it and saved it
//! nowhere) stops the commits for the rest of the run: the positions stay before its lines,
//! so the next start reads them again, with everything after them (at-least-once again,
//! never a silent loss). `Rejected` batches were dead-lettered and counted: they commit.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::event::AckStatus;

/// Where one file was read to, and which file it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    files: BTreeMap<PathBuf, Position>,
}

/// Every followed file's position at the moment a batch was sent.
pub type Snapshot = Vec<(PathBuf, Position)>;

/// How often committed positions are written out (and at exit).
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// The checkpoints of one source: the last committed positions and the batches in flight.
pub struct Checkpoints {
    /// None: checkpoints are off (nothing is read or written).
    path: Option<PathBuf>,
    committed: BTreeMap<PathBuf, Position>,
    in_flight: VecDeque<(oneshot::Receiver<AckStatus>, Snapshot)>,
    dirty: bool,
    last_write: Instant,
    /// Set by the first batch that failed: nothing more is committed this run.
    held: bool,
    /// The source's name, for the log.
    source: String,
}

/// The identity of an open file.
pub fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

impl Checkpoints {
    /// Loads `DATA_DIR/checkpoints/NAME.json` (none yet, or unreadable: start empty and say
    /// so).
    pub fn load(data_dir: &Path, source: &str) -> Checkpoints {
        let path = data_dir.join("checkpoints").join(format!("{source}.json"));
        let committed = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(d) => d.files,
                Err(e) => {
                    tracing::warn!(component_id = source, path = %path.display(), error = %e,
                        "checkpoint file unreadable; starting from read_from");
                    BTreeMap::new()
                }
            },
            Err(_) => BTreeMap::new(),
        };
        Checkpoints {
            path: Some(path),
            committed,
            in_flight: VecDeque::new(),
            dirty: false,
            last_write: Instant::now(),
            held: false,
            source: source.to_string(),
        }
    }

    /// Checkpoints that are never read or written (`checkpoint = false`).
    pub fn disabled() -> Checkpoints {
        Checkpoints {
            path: None,
            committed: BTreeMap::new(),
            in_flight: VecDeque::new(),
            dirty: false,
            last_write: Instant::now(),
            held: false,
            source: String::new(),
        }
    }

    /// Where to resume `path`, if it is the same file that was checkpointed and still at
    /// least that long.
    pub fn resume_at(&self, path: &Path, meta: &std::fs::Metadata) -> Option<u64> {
        let p = self.committed.get(path)?;
        let (dev, ino) = identity(meta);
        (p.dev == dev && p.ino == ino && meta.len() >= p.offset).then_some(p.offset)
    }

    /// Registers a batch just sent: `positions` become committed once `settled` resolves
    /// and every earlier batch has.
    pub fn sent(&mut self, settled: oneshot::Receiver<AckStatus>, positions: Snapshot) {
        self.in_flight.push_back((settled, positions));
    }

    /// Commits the settled prefix of the batches in flight; writes the file at most every
    /// second. Never blocks.
    pub fn poll(&mut self) {
        while let Some((rx, _)) = self.in_flight.front_mut() {
            let status = match rx.try_recv() {
                Ok(status) => status,
                // The acknowledgement went away without an outcome: not known delivered.
                Err(oneshot::error::TryRecvError::Closed) => AckStatus::Failed,
                Err(oneshot::error::TryRecvError::Empty) => break,
            };
            let (_, positions) = self.in_flight.pop_front().expect("front exists");
            if status == AckStatus::Failed && !self.held {
                self.held = true;
                if self.path.is_some() {
                    tracing::warn!(component_id = %self.source,
                        "a batch was not delivered; this source's read positions stop \
                         advancing until restart, so its lines are read again then");
                }
            }
            if !self.held {
                self.commit(positions);
            }
        }
        if self.dirty && self.last_write.elapsed() >= WRITE_EVERY {
            self.write();
        }
    }

    /// Waits for every batch in flight to settle (up to `limit`), then writes the file.
    pub fn finish(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.in_flight.is_empty() && Instant::now() < deadline {
            self.poll();
            std::thread::sleep(Duration::from_millis(5));
        }
        self.poll();
        if self.dirty {
            self.write();
        }
    }

    fn commit(&mut self, positions: Snapshot) {
        for (path, position) in positions {
            if self.committed.get(&path) != Some(&position) {
                self.committed.insert(path, position);
                self.dirty = true;
            }
        }
    }

    fn write(&mut self) {
        self.last_write = Instant::now();
        let Some(path) = self.path.clone() else {
            self.dirty = false;
            return;
        };
        let result = (|| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let body = serde_json::to_vec_pretty(&OnDisk {
                files: self.committed.clone(),
            })?;
            std::fs::write(&tmp, body)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        match result {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot write checkpoints")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Ack;

    /// `app.log` in `dir` holding `content`: its path, its metadata, and the snapshot that
    /// puts it at an offset.
    fn app_log(
        dir: &Path,
        content: &str,
    ) -> (PathBuf, std::fs::Metadata, impl Fn(u64) -> Snapshot) {
        let file = dir.join("app.log");
        std::fs::write(&file, content).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        let (dev, ino) = identity(&meta);
        let path = file.clone();
        let at = move |offset| vec![(path.clone(), Position { offset, dev, ino })];
        (file, meta, at)
    }

    #[test]
    fn a_failed_batch_holds_every_later_position_back() {
        let dir = tempfile::tempdir().unwrap();
        let (file, meta, at) = app_log(dir.path(), "a\nb\nc\nd\n");
        let mut c = Checkpoints::load(dir.path(), "src");
        let acks: Vec<_> = [2, 4, 6, 8]
            .into_iter()
            .map(|offset| {
                let (ack, rx) = Ack::new();
                c.sent(rx, at(offset));
                ack
            })
            .collect();
        let mut acks = acks.into_iter();
        drop(acks.next()); // delivered
        let failed = acks.next().unwrap();
        failed.mark(AckStatus::Failed);
        drop(failed);
        let rejected = acks.next().unwrap();
        rejected.mark(AckStatus::Rejected);
        drop(rejected);
        drop(acks.next()); // delivered, but after the failed one
        c.finish(Duration::from_secs(1));
        let again = Checkpoints::load(dir.path(), "src");
        assert_eq!(again.resume_at(&file, &meta), Some(2));
    }

    #[test]
    fn a_rejected_batch_commits_it_was_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let (file, meta, at) = app_log(dir.path(), "a\nb\n");
        let mut c = Checkpoints::load(dir.path(), "src");
        let (ack, rx) = Ack::new();
        c.sent(rx, at(4));
        ack.mark(AckStatus::Rejected);
        drop(ack);
        c.finish(Duration::from_secs(1));
        assert_eq!(
            Checkpoints::load(dir.path(), "src").resume_at(&file, &meta),
            Some(4)
        );
    }

    #[test]
    fn positions_commit_in_batch_order_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (file, meta, at) = app_log(dir.path(), "a\nb\n");
        let mut c = Checkpoints::load(dir.path(), "src");
        let (first, rx1) = Ack::new();
        let (second, rx2) = Ack::new();
        c.sent(rx1, at(2));
        c.sent(rx2, at(4));
        drop(second); // the later batch settles first: nothing may be committed yet
        c.poll();
        assert_eq!(c.committed.get(&file), None);
        drop(first);
        c.finish(Duration::from_secs(1));
        let again = Checkpoints::load(dir.path(), "src");
        assert_eq!(again.resume_at(&file, &meta), Some(4));
        std::fs::write(&file, "").unwrap(); // shorter than the checkpoint: not the same data
        let shorter = std::fs::metadata(&file).unwrap();
        assert_eq!(again.resume_at(&file, &shorter), None);
    }
}
