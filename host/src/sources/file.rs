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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use super::checkpoint::{identity, Checkpoints, Position, Snapshot};
use super::{
    default_max_line_bytes, BatchConfig, BuiltSource, LabelKey, LineBatcher, Source,
    SourceContext,
};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::{label_set, Ack};
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

/// How much one file may be read in one round before the others get a turn.
const READ_CHUNK: usize = 256 * 1024;
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
    labels: LabelKey,
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
        files
            .iter()
            .filter(|(_, t)| t.rotated.is_none())
            .map(|(path, t)| {
                (
                    path.clone(),
                    Position {
                        offset: t.pushed_to,
                        dev: t.dev,
                        ino: t.ino,
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
    let name = ctx.name.clone();
    let result = tokio::task::spawn_blocking(move || tail(config, ctx)).await;
    if let Err(e) = result {
        tracing::error!(component_id = %name, error = %e, "file source thread failed");
    }
}

/// What discovery needs that stays the same while the source runs (built once, not per
/// scan).
struct Discovery {
    static_labels: Vec<crate::event::Label>,
    exclude: GlobSet,
}

fn exclude_set(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if let Ok(g) = Glob::new(p) {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

fn tail(config: FileSourceConfig, ctx: SourceContext) {
    let discovery = Discovery {
        static_labels: label_set(&config.labels),
        exclude: exclude_set(&config.exclude),
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
    let poll = Duration::from_millis(config.poll_interval_ms.max(1));
    let rotate_wait = Duration::from_millis(config.rotate_wait_ms);

    loop {
        let stopping = ctx.shutdown.is_cancelled();
        if last_discover.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
            discover(
                &config,
                &discovery,
                &mut batcher,
                &mut files,
                first_scan,
                &ctx,
                &progress.checkpoints,
            );
            first_scan = false;
            last_discover = Some(Instant::now());
        }
        progress.checkpoints.poll();
        let mut read_any = false;
        // Files at their end whose path now names another file, and rotated-away files
        // whose wait is over.
        let (mut rotated_now, mut done) = (Vec::new(), Vec::new());
        let paths: Vec<PathBuf> = files.keys().cloned().collect();
        for path in paths {
            let t = files.get_mut(&path).expect("listed above");
            match read_some(t, &mut buf) {
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
            if push_unfinished_line(&mut t, &mut batcher)
                && !flush(&mut batcher, &ctx, &files, &mut progress)
            {
                return;
            }
            tracing::info!(component_id = %ctx.name, offset = t.offset,
                "stopped reading a rotated-away file: it did not grow for rotate_wait_ms");
        }
        if !read_any && config.stop_at_eof {
            // Every file is at its end: whatever is left without a newline is a last line.
            let paths: Vec<PathBuf> = files.keys().cloned().collect();
            for path in paths {
                let t = files.get_mut(&path).expect("listed above");
                if push_unfinished_line(t, &mut batcher)
                    && !flush(&mut batcher, &ctx, &files, &mut progress)
                {
                    return;
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
    discovery: &Discovery,
    batcher: &mut LineBatcher,
    files: &mut BTreeMap<PathBuf, Tailed>,
    first_scan: bool,
    ctx: &SourceContext,
    checkpoints: &Checkpoints,
) {
    for pattern in &config.include {
        let paths = match glob::glob(pattern) {
            Ok(p) => p,
            Err(e) => {
                events::component_error(&ctx.metrics, "bad_glob", &e.to_string());
                continue;
            }
        };
        for path in paths.flatten() {
            if files.contains_key(&path) || discovery.exclude.is_match(&path) || !path.is_file() {
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
            // A checkpointed file resumes where delivery stopped. Otherwise files present
            // at start-up honour read_from; files that appear later are new, so everything
            // in them is read.
            let offset = match checkpoints.resume_at(&path, &meta) {
                Some(offset) => offset,
                None if first_scan && config.read_from == ReadFrom::End => {
                    file.seek(SeekFrom::End(0)).unwrap_or(0)
                }
                None => 0,
            };
            let mut labels = discovery.static_labels.clone();
            if config.filename_label {
                labels.push(("filename".into(), path.to_string_lossy().into_owned()));
                labels.sort();
            }
            let labels = batcher.register_labels(labels);
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
                    labels,
                    rotated: None,
                },
            );
        }
    }
}

/// Reads what was appended since the last read (at most one chunk).
fn read_some(t: &mut Tailed, buf: &mut [u8]) -> std::io::Result<usize> {
    let len = t.file.metadata()?.len();
    if len < t.offset {
        // Truncated in place: start over.
        t.offset = 0;
        t.pushed_to = 0;
        t.partial.clear();
    }
    if len == t.offset {
        return Ok(0);
    }
    t.file.seek(SeekFrom::Start(t.offset))?;
    let n = t.file.read(buf)?;
    t.offset += n as u64;
    Ok(n)
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
) -> bool {
    batcher.mark_read_time();
    // One map lookup per chunk and per flush, not per line (a path lookup compares path
    // components: it was ~10% of a file -> blackhole pipeline).
    let mut t = files.get_mut(path).expect("a followed file");
    let chunk_start = t.offset - data.len() as u64;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        let full = if t.partial.is_empty() {
            batcher.push_raw(&data[start..nl], t.labels)
        } else {
            keep_partial(&mut t.partial, &data[start..nl], batcher.max_line_bytes);
            let line = std::mem::take(&mut t.partial);
            batcher.push_raw(&line, t.labels)
        };
        t.pushed_to = chunk_start + nl as u64 + 1;
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

/// Hands the batcher what is left of `t` without a newline, as a last line (nothing more
/// will come: the file is at its end for good). Returns true when the batch is full.
fn push_unfinished_line(t: &mut Tailed, batcher: &mut LineBatcher) -> bool {
    if t.partial.is_empty() {
        return false;
    }
    batcher.mark_read_time();
    let partial = std::mem::take(&mut t.partial);
    t.pushed_to = t.offset;
    batcher.push_raw(&partial, t.labels)
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
