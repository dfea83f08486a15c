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
//!
//! [`InFlight`] (that ordering) and [`write_json`] (the atomic write) are shared with the
//! `journald` source, whose checkpoint is one journal cursor.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::event::AckStatus;

/// Where one file was read to, and which file it was: device and inode, and a fingerprint
/// of its first bytes (so a file replaced under the same inode, or copied and truncated, is
/// told apart by its content; checkpoints written before fingerprints have `head_len` 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub dev: u64,
    pub ino: u64,
    /// How many of the file's first bytes `head_hash` covers.
    #[serde(default)]
    pub head_len: u32,
    /// FNV-1a of the file's first `head_len` bytes.
    #[serde(default)]
    pub head_hash: u64,
}

/// Where a file found at start-up resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// At this offset: the checkpoint of `from` (its path then) is this file.
    At { offset: u64, from: PathBuf },
    /// The path's checkpoint names this file (same inode) but its content changed while
    /// the source was not running (copied and truncated, rewritten): read it from its start.
    Changed { offset: u64 },
    /// No checkpoint is this file.
    Unknown,
}

impl Resume {
    /// The offset to resume at, if any.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Resume::At { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// FNV-1a of `bytes`: the fingerprint of a file's first bytes.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    files: BTreeMap<PathBuf, Position>,
}

/// Every followed file's position at the moment a batch was sent.
pub type Snapshot = Vec<(PathBuf, Position)>;

/// Past this many entries, rotated-away files no longer followed are forgotten.
const MAX_ENTRIES: usize = 512;

/// How often committed positions are written out (and at exit).
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// Batches sent and not yet settled, each with what it commits (`T`) once it and every
/// batch before it settled. The first batch that fails holds every later commit back for
/// the rest of the run (logged once).
pub struct InFlight<T> {
    queue: VecDeque<(oneshot::Receiver<AckStatus>, T)>,
    /// Set by the first batch that failed: nothing more is committed this run.
    held: bool,
    /// The source's name, for the log (None: checkpoints are off, nothing to say).
    source: Option<String>,
}

impl<T> InFlight<T> {
    /// An empty queue; `source` names the source in the log (None: say nothing).
    pub fn new(source: Option<String>) -> InFlight<T> {
        InFlight {
            queue: VecDeque::new(),
            held: false,
            source,
        }
    }

    /// Registers a batch just sent: `commit` is returned by [`InFlight::settled`] once
    /// `settled` resolves and every earlier batch has.
    pub fn push(&mut self, settled: oneshot::Receiver<AckStatus>, commit: T) {
        self.queue.push_back((settled, commit));
    }

    /// True when no batch is waiting for its acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The commits of the batches settled since the last call, in batch order, stopping at
    /// the first one still in flight (none once a batch failed). Never blocks.
    pub fn settled(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Some((rx, _)) = self.queue.front_mut() {
            let status = match rx.try_recv() {
                Ok(status) => status,
                // The acknowledgement went away without an outcome: not known delivered.
                Err(oneshot::error::TryRecvError::Closed) => AckStatus::Failed,
                Err(oneshot::error::TryRecvError::Empty) => break,
            };
            let (_, commit) = self.queue.pop_front().expect("front exists");
            if status == AckStatus::Failed && !self.held {
                self.held = true;
                if let Some(source) = &self.source {
                    tracing::warn!(component_id = %source,
                        "a batch was not delivered; this source's read positions stop \
                         advancing until restart, so its lines are read again then");
                }
            }
            if !self.held {
                out.push(commit);
            }
        }
        out
    }
}

/// Writes `value` as JSON to `path` atomically (a temporary file synced, then renamed over
/// it), creating its directory.
pub fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(value)?;
    std::fs::write(&tmp, body)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The checkpoints of one source: the last committed positions and the batches in flight.
pub struct Checkpoints {
    /// None: checkpoints are off (nothing is read or written).
    path: Option<PathBuf>,
    committed: BTreeMap<PathBuf, Position>,
    in_flight: InFlight<Snapshot>,
    dirty: bool,
    last_write: Instant,
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
            in_flight: InFlight::new(Some(source.to_string())),
            dirty: false,
            last_write: Instant::now(),
        }
    }

    /// Checkpoints that are never read or written (`checkpoint = false`).
    pub fn disabled() -> Checkpoints {
        Checkpoints {
            path: None,
            committed: BTreeMap::new(),
            in_flight: InFlight::new(None),
            dirty: false,
            last_write: Instant::now(),
        }
    }

    /// Where to resume the file at `path` (`meta` its metadata, `head` its first bytes, as
    /// many as [`HEAD_BYTES`](super::file) or the whole file if shorter). A checkpoint is
    /// this file when its fingerprint matches (and the file is at least as long), whether
    /// it was taken under this path or another one (renamed while the source was down, or a
    /// copy made by copytruncate); checkpoints without a fingerprint match by device and
    /// inode, as they were written.
    pub fn resume(&self, path: &Path, meta: &std::fs::Metadata, head: &[u8]) -> Resume {
        let (dev, ino) = identity(meta);
        let same_content = |p: &Position| {
            (p.head_len as usize) <= head.len()
                && fingerprint(&head[..p.head_len as usize]) == p.head_hash
        };
        let fits = |p: &Position| meta.len() >= p.offset;
        if let Some(p) = self.committed.get(path) {
            let same_file = p.dev == dev && p.ino == ino;
            if same_file && fits(p) && (p.head_len == 0 || same_content(p)) {
                return Resume::At {
                    offset: p.offset,
                    from: path.to_path_buf(),
                };
            }
            if same_file && p.offset > 0 {
                // Same inode, other content or shorter: not where we left it.
                let moved = self.find_elsewhere(path, head, meta, dev, ino);
                return moved.unwrap_or(Resume::Changed { offset: p.offset });
            }
        }
        self.find_elsewhere(path, head, meta, dev, ino)
            .unwrap_or(Resume::Unknown)
    }

    /// A checkpoint under another path that is this file: same inode and content (renamed),
    /// or the same content under a full-length fingerprint (a copy).
    fn find_elsewhere(
        &self,
        path: &Path,
        head: &[u8],
        meta: &std::fs::Metadata,
        dev: u64,
        ino: u64,
    ) -> Option<Resume> {
        self.committed
            .iter()
            .filter(|(other, _)| other.as_path() != path)
            .find(|(_, p)| {
                let content = p.head_len > 0
                    && (p.head_len as usize) <= head.len()
                    && fingerprint(&head[..p.head_len as usize]) == p.head_hash;
                let renamed = p.dev == dev && p.ino == ino && content;
                let copied = content && p.head_len as usize >= super::file::HEAD_BYTES;
                meta.len() >= p.offset && (renamed || copied)
            })
            .map(|(other, p)| Resume::At {
                offset: p.offset,
                from: other.clone(),
            })
    }

    /// Registers a batch just sent: `positions` become committed once `settled` resolves
    /// and every earlier batch has.
    pub fn sent(&mut self, settled: oneshot::Receiver<AckStatus>, positions: Snapshot) {
        self.in_flight.push(settled, positions);
    }

    /// Commits the settled prefix of the batches in flight; writes the file at most every
    /// second. Never blocks.
    pub fn poll(&mut self) {
        for positions in self.in_flight.settled() {
            self.commit(positions);
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
        if self.committed.len() + positions.len() > MAX_ENTRIES {
            // Forget rotated-away files no longer followed (their keys hold a NUL).
            let current: std::collections::HashSet<&PathBuf> =
                positions.iter().map(|(p, _)| p).collect();
            let before = self.committed.len();
            self.committed.retain(|path, _| {
                current.contains(path) || !path.as_os_str().as_encoded_bytes().contains(&0)
            });
            self.dirty |= self.committed.len() != before;
        }
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
        let result = write_json(
            &path,
            &OnDisk {
                files: self.committed.clone(),
            },
        );
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
        let head = content.as_bytes().to_vec();
        let at = move |offset| {
            vec![(
                path.clone(),
                Position {
                    offset,
                    dev,
                    ino,
                    head_len: head.len() as u32,
                    head_hash: fingerprint(&head),
                },
            )]
        };
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
        assert_eq!(
            again
                .resume(&file, &meta, &std::fs::read(&file).unwrap())
                .offset(),
            Some(2)
        );
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
            Checkpoints::load(dir.path(), "src")
                .resume(&file, &meta, &std::fs::read(&file).unwrap())
                .offset(),
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
        assert_eq!(
            again
                .resume(&file, &meta, &std::fs::read(&file).unwrap())
                .offset(),
            Some(4)
        );
        std::fs::write(&file, "").unwrap(); // shorter than the checkpoint: not the same data
        let shorter = std::fs::metadata(&file).unwrap();
        assert_eq!(
            again.resume(&file, &shorter, b""),
            Resume::Changed { offset: 4 }
        );
    }

    #[test]
    fn a_file_renamed_or_copied_while_stopped_resumes_and_a_rewritten_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let content = "x".repeat(300) + "\nmore\n";
        let (file, _, at) = app_log(dir.path(), &content);
        let mut c = Checkpoints::load(dir.path(), "src");
        let (ack, rx) = crate::event::Ack::new();
        c.sent(rx, at(301));
        drop(ack);
        c.finish(Duration::from_secs(1));
        let again = Checkpoints::load(dir.path(), "src");
        let head = std::fs::read(&file).unwrap();

        // Renamed while stopped: found under its checkpoint by inode and fingerprint.
        let renamed = dir.path().join("app.log.1");
        std::fs::rename(&file, &renamed).unwrap();
        let r = again.resume(&renamed, &std::fs::metadata(&renamed).unwrap(), &head);
        assert_eq!(
            r,
            Resume::At {
                offset: 301,
                from: file.clone()
            }
        );

        // A copy (other inode, same full fingerprint): resumes too.
        let copy = dir.path().join("app.log.copy");
        std::fs::write(&copy, &content).unwrap();
        assert_eq!(
            again
                .resume(&copy, &std::fs::metadata(&copy).unwrap(), &head)
                .offset(),
            Some(301)
        );

        // Same inode, other content (truncated and written again): read from the start.
        std::fs::rename(&renamed, &file).unwrap();
        std::fs::write(&file, "y".repeat(400)).unwrap();
        let new_head = std::fs::read(&file).unwrap();
        assert_eq!(
            again.resume(&file, &meta_of(&file), &new_head[..256]),
            Resume::Changed { offset: 301 }
        );
    }

    fn meta_of(p: &Path) -> std::fs::Metadata {
        std::fs::metadata(p).unwrap()
    }
}
