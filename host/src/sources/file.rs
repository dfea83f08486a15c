//! The `file` source: reads lines from files matched by glob patterns, from the beginning
//! or the end, and follows what is appended. Files that appear later are picked up; a file
//! that shrinks (truncated in place) is read again from its start.
//!
//! Read positions are checkpointed ([`super::checkpoint`]) once the sinks acknowledged the
//! lines before them, so a restart resumes where delivery stopped (the file must be the same
//! one: same device and inode, not shorter), and `read_from` applies only to files without
//! a checkpoint.
//!
//! Runs on a blocking thread: reading from the page cache is fast and a thread keeps the
//! async workers free. The thread wakes when the file system reports a change in a watched
//! directory (inotify), and polls every `poll_interval_ms` in any case.
//!
//! Rotation: when a file's path comes to name another file (renamed and recreated, as
//! logrotate does by default) or nothing (deleted), the file already open is read to its
//! end and kept for `rotate_wait_ms` after it last grew, for writers that still append to
//! it; the new file at the path is read from its start meanwhile. Copy-and-truncate
//! rotation is the truncation case above. A rotated-away file's position is not
//! checkpointed (its path is the new file's now): a restart within its wait does not go
//! back to it.
//!
//! Sources that read files of another line format (`kubernetes_logs`) reuse all of this
//! through [`FileFormat`]: which matched files to read, their labels and metadata, and a
//! [`LineDecoder`] per file that turns each line into a record (and may hold partial lines
//! until the rest of their record comes).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::checkpoint::{fingerprint, identity, Checkpoints, Position, Resume, Snapshot};
use super::multiline::{Multiline, MultilineConfig, Pending};
use super::{
    default_max_line_bytes, BatchConfig, BuiltSource, LabelKey, LineBatcher, Source,
    SourceContext,
};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::{label_set, Ack, Label};
use crate::telemetry::events;

/// Where a file source starts in a file it has not read before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    Beginning,
    End,
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to read.
    pub include: Vec<String>,
    /// Glob patterns of files to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in a newly found file.
    #[serde(default = "default_read_from")]
    pub read_from: ReadFrom,
    /// Stop once every file has been read to its end (a one-shot import) instead of
    /// following appends.
    #[serde(default)]
    pub stop_at_eof: bool,
    /// Remember read positions in `DATA_DIR/checkpoints/NAME.json` once delivered, and
    /// resume from them after a restart. With false every run starts at `read_from`.
    #[serde(default = "yes")]
    pub checkpoint: bool,
    /// How often to look for appended data and new files, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// After a followed file is renamed or deleted (rotation), how long it is still read
    /// once it stops growing, for writers that have not reopened the path yet, in
    /// milliseconds. The new file at the path is read from its start meanwhile.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// Static labels for every record (the `filename` label is added unless disabled).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Add a `filename` label with the file's path.
    #[serde(default = "yes")]
    pub filename_label: bool,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Join lines into multi-line records (stack traces): `{ start = '^\d{4}-' }` or
    /// `{ continuation = '^\s' }`, with `timeout_ms` (docs/sources.md).
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Read gzip-compressed files (`.gz`) matched by `include`, once, decompressed (they
    /// do not grow). Off: compressed files are skipped (a rotated `app.log.2.gz` matched by
    /// `app.log*` holds lines already read before it was compressed).
    #[serde(default)]
    pub read_compressed: bool,
}

fn default_read_from() -> ReadFrom {
    ReadFrom::Beginning
}
fn default_poll_ms() -> u64 {
    250
}
fn default_rotate_wait_ms() -> u64 {
    5000
}

fn yes() -> bool {
    true
}

impl ComponentConfig<dyn Source> for FileSourceConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        let mut errors = Vec::new();
        if self.include.is_empty() {
            errors.push(CheckError::at("include", "needs at least one glob pattern"));
        }
        for (key, patterns) in [("include", &mut self.include), ("exclude", &mut self.exclude)] {
            for (i, pattern) in patterns.iter_mut().enumerate() {
                *pattern = ctx
                    .resolve(Path::new(pattern.as_str()))
                    .to_string_lossy()
                    .into_owned();
                let bad = glob::Pattern::new(pattern)
                    .err()
                    .map(|e| e.to_string())
                    .or_else(|| Glob::new(pattern).err().map(|e| e.to_string()));
                if let Some(e) = bad {
                    errors.push(CheckError::at(&format!("{key}.{i}"), format!("not a valid glob: {e}")));
                }
            }
        }
        if let Some(Err((key, e))) = self.multiline.as_ref().map(|m| m.check(self.max_line_bytes)) {
            let key = if key.is_empty() {
                "multiline".to_string()
            } else {
                format!("multiline.{key}")
            };
            errors.push(CheckError::at(&key, e));
        }
        if errors.is_empty() {
            Ok(Box::new(self))
        } else {
            Err(CheckErrors(errors))
        }
    }
}

impl Source for FileSourceConfig {
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: Some(Box::pin(run(*self, ctx))),
            route: None,
        }
    }
}

/// What a source built on this reader adds to it (`kubernetes_logs`): which of the files the
/// globs match it reads, and, per file, labels, metadata and a [`LineDecoder`].
pub trait FileFormat: Send {
    /// Whether to read `path` (matched by `include`, not by `exclude`). Called at every
    /// scan for files not followed yet, so it should be cheap and quiet.
    fn accept(&self, path: &Path) -> bool;
    /// What to read an accepted file with, once it is opened.
    fn open(&mut self, path: &Path) -> Opened;
    /// Whether `path` is read only to finish what a checkpoint says is left of it (a
    /// rotated file renamed while the source was stopped); without a checkpoint (or with
    /// one it does not fit) it is skipped.
    fn resume_only(&self, _path: &Path) -> bool {
        false
    }
}

/// A file as a [`FileFormat`] reads it.
pub struct Opened {
    /// Labels of every record of the file (with the source's static labels; these win).
    pub labels: Vec<Label>,
    /// Label sets a decoded record may add to `labels`, by [`Decoded::label_set`] (e.g. one
    /// per output stream).
    pub label_sets: Vec<Vec<Label>>,
    /// Metadata of every record of the file.
    pub metadata: Vec<(String, String)>,
    pub decoder: Box<dyn LineDecoder>,
}

/// Turns a file's lines into records, maybe holding lines until the rest of their record
/// comes (partial lines).
pub trait LineDecoder: Send {
    /// Decodes one complete line (without its newline) that starts at offset `start` in
    /// the file: a record to send now, or None while it holds the line.
    fn decode<'a>(&'a mut self, line: &'a [u8], start: u64) -> Option<Decoded<'a>>;
    /// The offset of the first line it holds (None: it holds none). A file's position is
    /// committed only up to there, so a restart reads held lines again.
    fn held_from(&self) -> Option<u64>;
    /// Nothing more will come (the file was let go, truncated, or the source stops at its
    /// end): the next record it held, if any (call until None).
    fn finish(&mut self) -> Option<Decoded<'_>>;
}

/// One record from a [`LineDecoder`].
pub struct Decoded<'a> {
    /// The record's line, repaired by the batcher (cut to `max_line_bytes`, UTF-8).
    pub text: &'a [u8],
    /// Its time, in ns since the epoch (None: when it was read).
    pub timestamp: Option<i64>,
    /// Which of [`Opened::label_sets`] it carries (None: only the file's labels).
    pub label_set: Option<usize>,
}

/// A followed file's [`LineDecoder`] with what its records carry.
struct Decoding {
    decoder: Box<dyn LineDecoder>,
    /// The label set of each of [`Opened::label_sets`].
    label_sets: Vec<LabelKey>,
    metadata: Vec<(String, String)>,
    /// Where the next line starts.
    next_line_at: u64,
}

/// How much one file may be read in one round before the others get a turn.
const READ_CHUNK: usize = 256 * 1024;
/// How many of a file's first bytes identify it (its fingerprint, as Vector's checksum):
/// a copy of a followed file, a file renamed while the source was down, or a file rewritten
/// under the same inode are told by them.
pub const HEAD_BYTES: usize = 256;
/// How many bytes just before the read position are checked to be unchanged before each
/// read: a file truncated and written again past that position (copytruncate while the
/// source was held back) is caught by them.
const TAIL_BYTES: usize = 32;
/// How often the globs are expanded again to find new files.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);

struct Tailed {
    file: File,
    /// Where the next read starts.
    offset: u64,
    /// The offset after the last complete line handed to the batcher.
    pushed_to: u64,
    dev: u64,
    ino: u64,
    /// Bytes after the last newline, waiting for the rest of their line.
    partial: Vec<u8>,
    /// With `multiline`: the record being joined from complete lines.
    pending: Pending,
    /// The file's first bytes (up to [`HEAD_BYTES`]): its fingerprint.
    head: Vec<u8>,
    /// The bytes just before `offset` (up to [`TAIL_BYTES`]).
    tail: Vec<u8>,
    /// Set when a copy of this file was found (copytruncate): its unsent bytes are read
    /// from the copy, so a truncation of this file then loses nothing.
    copied: bool,
    labels: LabelKey,
    /// With a [`FileFormat`]: how this file's lines become records.
    decoding: Option<Decoding>,
    /// Set once the path names another file (or none): when this one last grew, or was
    /// found rotated. It is kept under [`rotated_key`] until `rotate_wait_ms` after that.
    rotated: Option<Instant>,
}

/// The key a rotated-away file is kept under in the followed-files map, so that its path
/// is free for the new file: the path plus a NUL (no real path has one) and the inode.
fn rotated_key(path: &Path, ino: u64) -> PathBuf {
    let mut key = path.as_os_str().to_owned();
    key.push(format!("\0rotated:{ino}"));
    PathBuf::from(key)
}

/// Whether `path` no longer names the file `t` has open: renamed away, replaced or
/// deleted. A path that cannot be looked up for another reason counts as unchanged.
fn replaced(path: &Path, t: &Tailed) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => identity(&meta) != (t.dev, t.ino),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Batches sent and not yet acknowledged, and what they would commit.
struct Progress {
    checkpoints: Checkpoints,
}

impl Progress {
    fn snapshot(files: &BTreeMap<PathBuf, Tailed>) -> Snapshot {
        // Rotated-away files too, under their rotated key: a restart finds them by inode and
        // fingerprint under their new name (an include that matches rotated names).
        files
            .iter()
            .map(|(path, t)| {
                (
                    path.clone(),
                    Position {
                        offset: t.pushed_to,
                        dev: t.dev,
                        ino: t.ino,
                        head_len: t.head.len() as u32,
                        head_hash: fingerprint(&t.head),
                    },
                )
            })
            .collect()
    }
}

/// How long a stopping source waits for its last batches' acknowledgements (the topology's
/// shutdown deadline usually ends it sooner).
const FINAL_ACK_WAIT: Duration = Duration::from_secs(600);

/// Runs the source until shutdown (or, with `stop_at_eof`, until every file is read).
pub async fn run(config: FileSourceConfig, ctx: SourceContext) {
    run_with(config, None, ctx).await
}

/// [`run`], reading the files `format` accepts with its decoders (None: every matched
/// file, line by line).
pub async fn run_with(
    config: FileSourceConfig,
    format: Option<Box<dyn FileFormat>>,
    ctx: SourceContext,
) {
    let name = ctx.name.clone();
    let result = tokio::task::spawn_blocking(move || tail(config, format, ctx)).await;
    if let Err(e) = result {
        tracing::error!(component_id = %name, error = %e, "file source thread failed");
    }
}

/// What discovery needs: what stays the same while the source runs (built once, not per
/// scan), and the files found truncated lately, whose copies it looks for.
struct Discovery {
    static_labels: Vec<crate::event::Label>,
    exclude: GlobSet,
    truncations: Vec<Truncation>,
    /// Rotated-away files this run read to their end and let go, by (device, inode): the
    /// offset they were read to. An include that matches rotated names finds them again;
    /// they are not read twice (only what they grew by since).
    finished: std::collections::HashMap<(u64, u64), (u64, Vec<u8>)>,
    /// Compressed files seen and skipped (logged once each).
    skipped: std::collections::HashSet<PathBuf>,
    format: Option<Box<dyn FileFormat>>,
    /// [`FileFormat::resume_only`] files without a checkpoint, by (device, inode): skipped
    /// without reading them again.
    passed: std::collections::HashSet<(u64, u64)>,
}

/// Whether `path` names a compressed file (`.gz`, `.bz2`, `.xz`, `.zst`, `.zip`).
fn is_compressed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["gz", "bz2", "xz", "zst", "zip"].contains(&e))
}

/// How many let-go files [`Discovery::finished`] remembers.
const FINISHED_KEPT: usize = 4096;

fn exclude_set(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if let Ok(g) = Glob::new(p) {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

fn tail(config: FileSourceConfig, format: Option<Box<dyn FileFormat>>, ctx: SourceContext) {
    let mut discovery = Discovery {
        static_labels: label_set(&config.labels),
        exclude: exclude_set(&config.exclude),
        truncations: Vec::new(),
        finished: Default::default(),
        skipped: Default::default(),
        format,
        passed: Default::default(),
    };
    let mut batcher = LineBatcher::new(
        config.batch.clone(),
        config.max_line_bytes,
        ctx.metrics.clone(),
    );
    let mut files: BTreeMap<PathBuf, Tailed> = BTreeMap::new();
    let mut progress = Progress {
        checkpoints: if config.checkpoint {
            Checkpoints::load(&ctx.data_dir, &ctx.name)
        } else {
            Checkpoints::disabled()
        },
    };
    let mut first_scan = true;
    let mut last_discover: Option<Instant> = None;
    let (wake_tx, wake) = std::sync::mpsc::channel::<()>();
    let _watcher = watch_dirs(&config.include, wake_tx, &ctx);
    let mut buf = vec![0u8; READ_CHUNK];
    let multiline = config
        .multiline
        .as_ref()
        .and_then(|m| m.check(config.max_line_bytes).ok());
    let poll = Duration::from_millis(config.poll_interval_ms.max(1));
    let rotate_wait = Duration::from_millis(config.rotate_wait_ms);

    loop {
        let stopping = ctx.shutdown.is_cancelled();
        if last_discover.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
            if !discover(
                &config,
                &mut discovery,
                &mut batcher,
                &mut files,
                first_scan,
                &ctx,
                &mut progress,
            ) {
                return;
            }
            first_scan = false;
            last_discover = Some(Instant::now());
        }
        progress.checkpoints.poll();
        expire_truncations(&mut discovery.truncations, rotate_wait, &ctx);
        let mut read_any = false;
        // Files at their end whose path now names another file, and rotated-away files
        // whose wait is over.
        let (mut rotated_now, mut done) = (Vec::new(), Vec::new());
        let paths: Vec<PathBuf> = files.keys().cloned().collect();
        for path in paths {
            let t = files.get_mut(&path).expect("listed above");
            match read_some(&path, t, &mut buf, &ctx, &mut discovery.truncations) {
                Ok(0) => match t.rotated {
                    None if replaced(&path, t) => rotated_now.push(path),
                    Some(since) if since.elapsed() >= rotate_wait => done.push(path),
                    _ => {}
                },
                Ok(n) => {
                    read_any = true;
                    if t.rotated.is_some() {
                        t.rotated = Some(Instant::now());
                    }
                    if !split_lines(
                        &path,
                        &mut files,
                        &buf[..n],
                        &mut batcher,
                        &ctx,
                        &mut progress,
                        multiline.as_ref(),
                    ) {
                        return;
                    }
                }
                Err(e) => events::component_error(
                    &ctx.metrics,
                    "read_failed",
                    &format!("{}: {e}", path.display()),
                ),
            }
        }
        if let Some(m) = &multiline {
            // Records whose next line is overdue are finished.
            let due: Vec<PathBuf> = files
                .iter()
                .filter(|(_, t)| m.due(&t.pending))
                .map(|(p, _)| p.clone())
                .collect();
            for path in due {
                let t = files.get_mut(&path).expect("listed above");
                if push_pending(m, t, &mut batcher) && !flush(&mut batcher, &ctx, &files, &mut progress) {
                    return;
                }
            }
        }
        for path in rotated_now {
            let mut t = files.remove(&path).expect("listed above");
            tracing::info!(component_id = %ctx.name, path = %path.display(), offset = t.offset,
                "file rotated away; reading it to its end, and the new file from its start");
            t.rotated = Some(Instant::now());
            files.insert(rotated_key(&path, t.ino), t);
            last_discover = None; // look for the new file at once
        }
        for key in done {
            let mut t = files.remove(&key).expect("listed above");
            while let Some(full) = push_rest(multiline.as_ref(), &mut t, &mut batcher) {
                if full && !flush(&mut batcher, &ctx, &files, &mut progress) {
                    return;
                }
            }
            tracing::info!(component_id = %ctx.name, offset = t.offset,
                "stopped reading a rotated-away file: it did not grow for rotate_wait_ms");
            if discovery.finished.len() >= FINISHED_KEPT {
                discovery.finished.clear();
            }
            discovery
                .finished
                .insert((t.dev, t.ino), (t.offset, std::mem::take(&mut t.head)));
        }
        if !read_any && config.stop_at_eof {
            // Every file is at its end: whatever is left without a newline is a last line.
            let paths: Vec<PathBuf> = files.keys().cloned().collect();
            for path in paths {
                loop {
                    let t = files.get_mut(&path).expect("listed above");
                    let Some(full) = push_rest(multiline.as_ref(), t, &mut batcher) else {
                        break;
                    };
                    if full && !flush(&mut batcher, &ctx, &files, &mut progress) {
                        return;
                    }
                }
            }
            flush(&mut batcher, &ctx, &files, &mut progress);
            progress.checkpoints.finish(FINAL_ACK_WAIT);
            return;
        }
        if stopping {
            flush(&mut batcher, &ctx, &files, &mut progress);
            progress.checkpoints.finish(FINAL_ACK_WAIT);
            return;
        }
        if batcher.time_left() == Some(Duration::ZERO)
            && !flush(&mut batcher, &ctx, &files, &mut progress)
        {
            return;
        }
        if !read_any {
            // Sleep until the poll interval or the batch deadline, or until the file system
            // says something changed (so an appended line is read at once).
            let wait = batcher.time_left().map_or(poll, |left| left.min(poll));
            let _ = wake.recv_timeout(wait.max(Duration::from_millis(1)));
            while wake.try_recv().is_ok() {}
        }
    }
}

/// The directory a glob pattern's matches live under: its part before the first wildcard,
/// up to the last `/`; and whether matches can be deeper (a wildcard before the last `/`).
fn watch_root(pattern: &str) -> (PathBuf, bool) {
    let wild = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
    let dir_end = pattern[..wild].rfind('/').map_or(0, |i| i + 1);
    let deeper = pattern[wild..].contains('/');
    let dir = if dir_end == 0 {
        "."
    } else {
        &pattern[..dir_end]
    };
    (PathBuf::from(dir), deeper)
}

/// Watches the directories of the include globs (inotify on Linux) and sends on `wake` when
/// anything in them changes. Without it (unsupported, or too many watches) the source still
/// polls every `poll_interval_ms`.
fn watch_dirs(
    include: &[String],
    wake: std::sync::mpsc::Sender<()>,
    ctx: &SourceContext,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = wake.send(());
        }
    })
    .map_err(|e| tracing::debug!(component_id = %ctx.name, error = %e, "no file watcher; polling"))
    .ok()?;
    for pattern in include {
        let (dir, deeper) = watch_root(pattern);
        let mode = if deeper {
            notify::RecursiveMode::Recursive
        } else {
            notify::RecursiveMode::NonRecursive
        };
        if let Err(e) = watcher.watch(&dir, mode) {
            tracing::debug!(component_id = %ctx.name, dir = %dir.display(), error = %e,
                "cannot watch; polling");
        }
    }
    Some(watcher)
}

/// Expands the include globs and opens files not yet followed.
fn discover(
    config: &FileSourceConfig,
    discovery: &mut Discovery,
    batcher: &mut LineBatcher,
    files: &mut BTreeMap<PathBuf, Tailed>,
    first_scan: bool,
    ctx: &SourceContext,
    progress: &mut Progress,
) -> bool {
    let followed: std::collections::HashSet<(u64, u64)> =
        files.values().map(|t| (t.dev, t.ino)).collect();
    for pattern in &config.include {
        let paths = match glob::glob(pattern) {
            Ok(p) => p,
            Err(e) => {
                events::component_error(&ctx.metrics, "bad_glob", &e.to_string());
                continue;
            }
        };
        for path in paths.flatten() {
            if files.contains_key(&path)
                || discovery.exclude.is_match(&path)
                || !path.is_file()
                || discovery.format.as_ref().is_some_and(|f| !f.accept(&path))
            {
                continue;
            }
            let gzip = config.read_compressed
                && path.extension().is_some_and(|e| e == "gz");
            if is_compressed(&path) && !gzip {
                // A compressed rotated file (app.log.2.gz matched by app.log*): its lines
                // were read before it was compressed; its bytes are not lines.
                if discovery.skipped.insert(path.clone()) {
                    tracing::debug!(component_id = %ctx.name, path = %path.display(),
                        "skipping a compressed file");
                }
                continue;
            }
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    events::component_error(
                        &ctx.metrics,
                        "open_failed",
                        &format!("{}: {e}", path.display()),
                    );
                    continue;
                }
            };
            let Ok(meta) = file.metadata() else { continue };
            let (dev, ino) = identity(&meta);
            if followed.contains(&(dev, ino)) {
                continue; // a followed file under another name (renamed, matched again)
            }
            let resume_only = discovery
                .format
                .as_ref()
                .is_some_and(|f| f.resume_only(&path));
            if resume_only && discovery.passed.contains(&(dev, ino)) {
                continue;
            }
            let head = match read_head(&file, meta.len()) {
                Ok(h) => h,
                Err(e) => {
                    events::component_error(
                        &ctx.metrics,
                        "read_failed",
                        &format!("{}: {e}", path.display()),
                    );
                    continue;
                }
            };
            // A rotated file let go is the same file only with the same first bytes (inode
            // numbers are reused: a new file may get a deleted one's).
            let finished_at = discovery
                .finished
                .get(&(dev, ino))
                .filter(|(_, h)| head.starts_with(h) && !h.is_empty())
                .map(|(at, _)| *at);
            if finished_at.is_some_and(|at| meta.len() <= at) {
                continue; // a rotated file already read to its end
            }
            // A checkpointed file resumes where delivery stopped; a copy of a file followed
            // or truncated just now (copytruncate) where its original was read to. Otherwise
            // files present at start-up honour read_from; files that appear later are new,
            // so everything in them is read.
            let copy = (!first_scan)
                .then(|| copy_of(&head, meta.len(), files, &mut discovery.truncations))
                .flatten();
            let offset = match (first_scan, copy) {
                _ if finished_at.is_some() => finished_at.unwrap_or(0), // it grew since
                (_, Some(Copy::Wait)) => continue, // still being copied: look again later
                (_, Some(Copy::At(offset, from))) => {
                    tracing::info!(component_id = %ctx.name, path = %path.display(), offset,
                        original = %from.display(),
                        "a copy of a followed file (copytruncate): read from where the original was read to");
                    offset
                }
                _ => match progress.checkpoints.resume(&path, &meta, &head) {
                    Resume::Changed { .. } | Resume::Unknown if resume_only => {
                        discovery.passed.insert((dev, ino));
                        continue;
                    }
                    Resume::At { offset, from } => {
                        if from != path {
                            tracing::info!(component_id = %ctx.name, path = %path.display(),
                                checkpointed_as = %from.display(), offset,
                                "resuming a file checkpointed under another name");
                        }
                        offset
                    }
                    Resume::Changed { offset } => {
                        tracing::warn!(component_id = %ctx.name, path = %path.display(),
                            checkpoint = offset,
                            "the file changed while the source was stopped (truncated or rewritten): reading it from its start");
                        0
                    }
                    Resume::Unknown if first_scan && config.read_from == ReadFrom::End => {
                        file.seek(SeekFrom::End(0)).unwrap_or(0)
                    }
                    Resume::Unknown => 0,
                },
            };
            let tail = match read_tail(&file, offset) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let mut labels = discovery.static_labels.clone();
            if config.filename_label {
                labels.push(("filename".into(), path.to_string_lossy().into_owned()));
                labels.sort();
            }
            let opened = discovery.format.as_mut().map(|f| f.open(&path));
            let decoding = opened.map(|opened| {
                labels = with_labels(&labels, &opened.labels);
                let label_sets = opened
                    .label_sets
                    .iter()
                    .map(|set| batcher.register_labels(with_labels(&labels, set)))
                    .collect();
                Decoding {
                    decoder: opened.decoder,
                    label_sets,
                    metadata: opened.metadata,
                    next_line_at: offset,
                }
            });
            let labels = batcher.register_labels(labels);
            let (offset, tail) = if gzip {
                // Read whole, decompressed, unless a checkpoint says it was (its offset then
                // is the compressed length); then kept at its end like any file read.
                if offset < meta.len() {
                    tracing::info!(component_id = %ctx.name, path = %path.display(),
                        "reading a gzip-compressed file");
                    match read_gzip(&file, labels, batcher, ctx, files, progress) {
                        Ok(true) => {}
                        Ok(false) => return false,
                        Err(e) => {
                            events::component_error(
                                &ctx.metrics,
                                "read_failed",
                                &format!("{}: {e}", path.display()),
                            );
                            continue;
                        }
                    }
                }
                let tail = read_tail(&file, meta.len()).unwrap_or_default();
                (meta.len(), tail)
            } else {
                (offset, tail)
            };
            tracing::info!(component_id = %ctx.name, path = %path.display(), offset, "following file");
            files.insert(
                path,
                Tailed {
                    file,
                    offset,
                    pushed_to: offset,
                    dev,
                    ino,
                    partial: Vec::new(),
                    pending: Pending::default(),
                    head,
                    tail,
                    copied: false,
                    labels,
                    decoding,
                    rotated: None,
                },
            );
        }
    }
    true
}

/// `labels` with `more` added (a label `labels` already has keeps its value), sorted.
fn with_labels(labels: &[Label], more: &[Label]) -> Vec<Label> {
    let mut out = labels.to_vec();
    for (k, v) in more {
        if !out.iter().any(|(have, _)| have == k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out.sort();
    out
}

/// Reads a gzip file (every member) from its start, decompressed, line by line into the
/// batcher, flushing full batches; an unfinished last line is a line. False when the
/// pipeline stopped.
fn read_gzip(
    file: &File,
    labels: LabelKey,
    batcher: &mut LineBatcher,
    ctx: &SourceContext,
    files: &BTreeMap<PathBuf, Tailed>,
    progress: &mut Progress,
) -> std::io::Result<bool> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file.try_clone()?));
    let mut line = Vec::new();
    loop {
        let (done, used) = {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                (true, 0)
            } else {
                match memchr::memchr(b'\n', chunk) {
                    Some(nl) => {
                        keep_partial(&mut line, &chunk[..nl], batcher.max_line_bytes);
                        (false, nl + 1)
                    }
                    None => {
                        keep_partial(&mut line, chunk, batcher.max_line_bytes);
                        let n = chunk.len();
                        reader.consume(n);
                        continue;
                    }
                }
            }
        };
        reader.consume(used);
        if done && line.is_empty() {
            return Ok(true);
        }
        batcher.mark_read_time();
        let full = batcher.push_raw(&line, labels);
        line.clear();
        if full && !flush(batcher, ctx, files, progress) {
            return Ok(false);
        }
        if done {
            return Ok(true);
        }
    }
}

/// A followed file found truncated: where it had been read to, kept for `rotate_wait_ms`
/// so that its copy (copytruncate's rotated file) is read from there. If no copy turns up,
/// its unfinished line is lost, and counted then.
struct Truncation {
    path: PathBuf,
    head: Vec<u8>,
    pushed_to: u64,
    /// Bytes of an unfinished last line that were read but never sent.
    unsent: usize,
    at: Instant,
    copied: bool,
}

/// What a new file is to the followed ones.
enum Copy {
    /// A copy of one (same first [`HEAD_BYTES`] bytes): read it from this offset.
    At(u64, PathBuf),
    /// Looks like a copy still being written (shorter than where the original was read to).
    Wait,
}

/// Whether a new file (first bytes `head`, `len` long) is a copy of a followed or just
/// truncated file: only full-length fingerprints count, so short files are never taken for
/// copies.
fn copy_of(
    head: &[u8],
    len: u64,
    files: &mut BTreeMap<PathBuf, Tailed>,
    truncations: &mut [Truncation],
) -> Option<Copy> {
    if head.len() < HEAD_BYTES {
        return None;
    }
    let at = |pushed_to: u64, path: &Path| {
        if len < pushed_to {
            Copy::Wait
        } else {
            Copy::At(pushed_to, path.to_path_buf())
        }
    };
    if let Some(t) = truncations.iter_mut().find(|t| !t.copied && t.head == head) {
        let copy = at(t.pushed_to, &t.path);
        t.copied = matches!(copy, Copy::At(..));
        return Some(copy);
    }
    let (path, t) = files.iter_mut().find(|(_, t)| t.head == head)?;
    let copy = at(t.pushed_to, path);
    t.copied = matches!(copy, Copy::At(..));
    Some(copy)
}

/// The first bytes of `file` (up to [`HEAD_BYTES`]), `len` long.
fn read_head(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    read_at(file, 0, (len as usize).min(HEAD_BYTES))
}

/// The bytes of `file` just before `offset` (up to [`TAIL_BYTES`]).
fn read_tail(file: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let n = (offset as usize).min(TAIL_BYTES);
    read_at(file, offset - n as u64, n)
}

fn read_at(file: &File, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut out = vec![0u8; n];
    let mut done = 0;
    while done < n {
        match file.read_at(&mut out[done..], offset + done as u64)? {
            0 => break,
            k => done += k,
        }
    }
    out.truncate(done);
    Ok(out)
}

/// Reads what was appended since the last read (at most one chunk). A file shorter than
/// the read position, or whose first bytes or bytes just before the read position changed,
/// was truncated (and maybe written again past that position): it is read again from its
/// start, and the truncation is recorded in `truncations`.
fn read_some(
    path: &Path,
    t: &mut Tailed,
    buf: &mut [u8],
    ctx: &SourceContext,
    truncations: &mut Vec<Truncation>,
) -> std::io::Result<usize> {
    let len = t.file.metadata()?.len();
    let why = if len < t.offset {
        Some("shorter than the read position")
    } else if len > t.offset
        && t.offset > 0
        && (read_at(&t.file, 0, t.head.len())? != t.head
            || read_tail(&t.file, t.offset)? != t.tail)
    {
        Some("its content before the read position changed")
    } else {
        None
    };
    if let Some(why) = why {
        tracing::warn!(component_id = %ctx.name, path = %path.display(), offset = t.offset,
            sent_to = t.pushed_to, why,
            "file truncated (copytruncate, or rewritten): reading it again from its start");
        truncations.push(Truncation {
            path: path.to_path_buf(),
            head: std::mem::take(&mut t.head),
            pushed_to: t.pushed_to,
            unsent: t.partial.len(),
            at: Instant::now(),
            copied: t.copied,
        });
        t.copied = false;
        t.offset = 0;
        t.pushed_to = 0;
        t.partial.clear();
        t.tail.clear();
        if let Some(d) = &mut t.decoding {
            d.next_line_at = 0;
        }
    }
    if t.head.len() < HEAD_BYTES && len > t.head.len() as u64 {
        t.head = read_head(&t.file, len)?;
    }
    if len == t.offset {
        return Ok(0);
    }
    t.file.seek(SeekFrom::Start(t.offset))?;
    let n = t.file.read(buf)?;
    t.offset += n as u64;
    // Keep the last TAIL_BYTES before the new offset.
    if n >= TAIL_BYTES {
        t.tail.clear();
        t.tail.extend_from_slice(&buf[n - TAIL_BYTES..n]);
    } else {
        t.tail.extend_from_slice(&buf[..n]);
        let excess = t.tail.len().saturating_sub(TAIL_BYTES);
        t.tail.drain(..excess);
    }
    Ok(n)
}

/// Lets go of truncations older than `wait` whose copy never turned up: their unsent
/// bytes are lost, and counted.
fn expire_truncations(truncations: &mut Vec<Truncation>, wait: Duration, ctx: &SourceContext) {
    truncations.retain(|t| {
        if t.at.elapsed() < wait {
            return true;
        }
        if !t.copied && t.unsent > 0 {
            events::bytes_lost(
                &ctx.metrics,
                t.unsent,
                &t.path.display().to_string(),
                "truncated before its last line was complete, and no copy of it was found (include the rotated file names to read copytruncate's copies)",
            );
        }
        false
    });
}

/// Cuts `data` (just read from `path`) into lines for the batcher, keeping an unfinished
/// last line for later. Returns false when the pipeline has stopped.
fn split_lines(
    path: &Path,
    files: &mut BTreeMap<PathBuf, Tailed>,
    data: &[u8],
    batcher: &mut LineBatcher,
    ctx: &SourceContext,
    progress: &mut Progress,
    multiline: Option<&Multiline>,
) -> bool {
    batcher.mark_read_time();
    // One map lookup per chunk and per flush, not per line (a path lookup compares path
    // components: it was ~10% of a file -> blackhole pipeline).
    let mut t = files.get_mut(path).expect("a followed file");
    let chunk_start = t.offset - data.len() as u64;
    if let (Some(m), 0) = (multiline, chunk_start) {
        // Read from the start again (truncated): a record of the old content is finished.
        if push_pending(m, t, batcher) {
            if !flush(batcher, ctx, files, progress) {
                return false;
            }
            t = files.get_mut(path).expect("a followed file");
        }
    }
    if chunk_start == 0 {
        // Likewise what a decoder holds of the old content.
        while let Some(full) = push_held(t, 0, batcher) {
            if full {
                if !flush(batcher, ctx, files, progress) {
                    return false;
                }
                t = files.get_mut(path).expect("a followed file");
            }
        }
    }
    // The chunk's whole lines are checked as UTF-8 in one pass (a call per line cost more
    // than the check itself): a newline is never inside a character, so each of them is
    // then valid by itself. A chunk with invalid UTF-8 (or one that starts inside a
    // character, the rest of a line held from the last read) is checked line by line.
    // Only plain lines use it (a decoder or `multiline` hands on records of its own).
    let plain = multiline.is_none() && t.decoding.is_none();
    let text = memchr::memrchr(b'\n', data)
        .filter(|_| plain)
        .and_then(|last| simdutf8::basic::from_utf8(&data[..last]).ok());
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        let end = chunk_start + nl as u64 + 1;
        let full = match multiline {
            None => {
                if t.partial.is_empty() {
                    let checked = text.map(|text| &text[start..nl]);
                    push_line(t, &data[start..nl], checked, end, batcher)
                } else {
                    keep_partial(&mut t.partial, &data[start..nl], batcher.max_line_bytes);
                    let line = std::mem::take(&mut t.partial);
                    push_line(t, &line, None, end, batcher)
                }
            }
            Some(m) => {
                let finished = if t.partial.is_empty() {
                    let line = &data[start..nl];
                    m.push(&mut t.pending, line.strip_suffix(b"\r").unwrap_or(line), end)
                } else {
                    keep_partial(&mut t.partial, &data[start..nl], batcher.max_line_bytes);
                    let line = std::mem::take(&mut t.partial);
                    m.push(&mut t.pending, line.strip_suffix(b"\r").unwrap_or(&line), end)
                };
                match finished {
                    Some((record, record_end)) => {
                        t.pushed_to = record_end;
                        batcher.push_raw(&record, t.labels)
                    }
                    None => false,
                }
            }
        };
        start = nl + 1;
        if full {
            if !flush(batcher, ctx, files, progress) {
                return false;
            }
            t = files.get_mut(path).expect("a followed file");
        }
    }
    keep_partial(&mut t.partial, &data[start..], batcher.max_line_bytes);
    true
}

/// Hands the batcher one complete line of `t` ending at offset `end` (past its newline):
/// as it is, or as its decoder makes it; `checked` is the line as text when it is known to
/// be valid UTF-8. Returns true when the batch is full.
fn push_line(
    t: &mut Tailed,
    line: &[u8],
    checked: Option<&str>,
    end: u64,
    batcher: &mut LineBatcher,
) -> bool {
    let Some(d) = &mut t.decoding else {
        t.pushed_to = end;
        return match checked {
            Some(text) => batcher.push_text(text, t.labels),
            None => batcher.push_raw(line, t.labels),
        };
    };
    let start = std::mem::replace(&mut d.next_line_at, end);
    let full = match d.decoder.decode(line, start) {
        Some(record) => push_decoded(record, t.labels, &d.label_sets, &d.metadata, batcher),
        None => false,
    };
    t.pushed_to = d.decoder.held_from().unwrap_or(end);
    full
}

/// Hands the batcher the next record `t`'s decoder holds, finished now (nothing more will
/// come for it); `pushed` is what counts as sent once it holds nothing. None when it holds
/// none; else whether the batch is full.
fn push_held(t: &mut Tailed, pushed: u64, batcher: &mut LineBatcher) -> Option<bool> {
    let d = t.decoding.as_mut()?;
    let record = d.decoder.finish()?;
    batcher.mark_read_time();
    let full = push_decoded(record, t.labels, &d.label_sets, &d.metadata, batcher);
    t.pushed_to = d.decoder.held_from().unwrap_or(pushed);
    Some(full)
}

fn push_decoded(
    record: Decoded<'_>,
    labels: LabelKey,
    label_sets: &[LabelKey],
    metadata: &[(String, String)],
    batcher: &mut LineBatcher,
) -> bool {
    let labels = record
        .label_set
        .and_then(|i| label_sets.get(i).copied())
        .unwrap_or(labels);
    let line = batcher.repair(record.text);
    batcher.push_record_with(&line, record.timestamp, labels, metadata)
}

/// With `multiline`: hands the batcher the record `t` is joining, finished now. Returns
/// true when the batch is full.
fn push_pending(m: &Multiline, t: &mut Tailed, batcher: &mut LineBatcher) -> bool {
    let Some((record, end)) = m.take(&mut t.pending) else {
        return false;
    };
    batcher.mark_read_time();
    t.pushed_to = end;
    batcher.push_raw(&record, t.labels)
}

/// Hands the batcher one record of what is left of `t` once nothing more will come (the
/// file is at its end for good): the line without a newline (joined to the record being
/// joined, with `multiline`), then that record. None when nothing is left; else whether the
/// batch is full (call again after flushing).
fn push_rest(multiline: Option<&Multiline>, t: &mut Tailed, batcher: &mut LineBatcher) -> Option<bool> {
    if !t.partial.is_empty() {
        let partial = std::mem::take(&mut t.partial);
        let Some(m) = multiline else {
            batcher.mark_read_time();
            let end = t.offset;
            return Some(push_line(t, &partial, None, end, batcher));
        };
        if let Some((record, end)) = m.push(&mut t.pending, &partial, t.offset) {
            batcher.mark_read_time();
            t.pushed_to = end;
            return Some(batcher.push_raw(&record, t.labels));
        }
    }
    if t.decoding.is_some() {
        let end = t.offset;
        return push_held(t, end, batcher);
    }
    let m = multiline?;
    (!t.pending.is_empty()).then(|| push_pending(m, t, batcher))
}

/// Adds `more` to the start of an unfinished line, keeping at most one byte past
/// `max_line_bytes`: the batcher cuts the line there anyway (and counts the cut), so a line
/// without a newline for gigabytes costs no more memory than a long one.
fn keep_partial(partial: &mut Vec<u8>, more: &[u8], max_line_bytes: usize) {
    let room = (max_line_bytes + 1).saturating_sub(partial.len());
    partial.extend_from_slice(&more[..more.len().min(room)]);
}

/// Sends the waiting batch with an acknowledgement that commits the files' positions once
/// settled. Returns false when the pipeline has stopped.
fn flush(
    batcher: &mut LineBatcher,
    ctx: &SourceContext,
    files: &BTreeMap<PathBuf, Tailed>,
    progress: &mut Progress,
) -> bool {
    let Some(mut batch) = batcher.take() else {
        return true;
    };
    let (records, bytes) = (batch.len(), batch.line_bytes());
    let (ack, settled) = Ack::new();
    batch.acks.push(ack);
    if ctx.out.blocking_send(batch).is_err() {
        return false;
    }
    progress
        .checkpoints
        .sent(settled, Progress::snapshot(files));
    ctx.metrics.sent(records, bytes);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_line_is_kept_only_up_to_just_past_the_line_limit() {
        let mut partial = Vec::new();
        keep_partial(&mut partial, b"abcd", 6);
        assert_eq!(partial, b"abcd");
        keep_partial(&mut partial, b"efghij", 6);
        assert_eq!(
            partial, b"abcdefg",
            "one byte past the limit, so the cut is counted"
        );
        keep_partial(&mut partial, &[b'x'; 1 << 20], 6);
        assert_eq!(partial.len(), 7);
    }

    #[test]
    fn watch_roots_are_the_literal_directory_part() {
        assert_eq!(
            watch_root("/var/log/app/*.log"),
            (PathBuf::from("/var/log/app/"), false)
        );
        assert_eq!(
            watch_root("/var/log/**/x.log"),
            (PathBuf::from("/var/log/"), true)
        );
        assert_eq!(watch_root("/srv/a.log"), (PathBuf::from("/srv/"), false));
        assert_eq!(watch_root("*.log"), (PathBuf::from("."), false));
    }
}
