//! The `journald` source: reads the systemd journal through `journalctl -o json --follow`
//! (the local journal, or a `directory` / `files` of journal files, e.g. one mounted from a
//! host or written by `systemd-journal-remote`), one JSON object per entry. `MESSAGE`
//! becomes the line (a binary message, which journalctl prints as an array of bytes, is
//! repaired like any invalid UTF-8 and counted), `__REALTIME_TIMESTAMP` the record's time,
//! the fields in `label_fields` labels (`PRIORITY` as its syslog name: `err`, `info`, ...)
//! and those in `metadata_fields` metadata.
//!
//! The `__CURSOR` of the last entry of each batch is checkpointed in
//! `DATA_DIR/checkpoints/NAME.json` once that batch and every earlier one settled (as the
//! `file` source commits its positions, [`super::checkpoint::InFlight`]); a restart passes
//! it to `--after-cursor`, so it resumes right after what was delivered: nothing lost,
//! nothing sent twice. If journalctl exits while the source runs, that is logged and
//! counted, and it is started again (after the last entry read) with a growing delay.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Command};
use tokio::sync::mpsc;

use super::checkpoint::{write_json, InFlight};
use super::file::ReadFrom;
use super::{
    default_max_line_bytes, BatchConfig, BuiltSource, LabelKey, LineBatcher, Source,
    SourceContext,
};
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::event::{label_set, Ack, Label};
use crate::telemetry::events;

/// `type = "journald"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldSourceConfig {
    /// The `journalctl` to run: a name looked up in `PATH`, or a path.
    #[serde(default = "default_journalctl")]
    pub journalctl_path: String,
    /// Read the journal files in this directory (`journalctl --directory`) instead of the
    /// local journal.
    #[serde(default)]
    pub directory: Option<String>,
    /// Read these journal files (globs allowed; `journalctl --file`) instead of the local
    /// journal.
    #[serde(default)]
    pub files: Vec<String>,
    /// Only entries of these systemd units (`journalctl --unit`; any of them).
    #[serde(default)]
    pub units: Vec<String>,
    /// Where to start without a checkpoint: the oldest entry, or only new ones.
    #[serde(default = "default_read_from")]
    pub read_from: ReadFrom,
    /// Remember the cursor of the last delivered entry in `DATA_DIR/checkpoints/NAME.json`
    /// and resume after it on restart. With false every run starts at `read_from`.
    #[serde(default = "yes")]
    pub checkpoint: bool,
    /// Static labels for every record (an entry's own labels of the same name win).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Journal field -> label name. Labels should take few values (Loki's streams are label
    /// sets): the unit, the priority, the host, not a PID or a message id.
    #[serde(default = "default_label_fields")]
    pub label_fields: BTreeMap<String, String>,
    /// Journal field -> metadata key, for fields of many values.
    #[serde(default = "default_metadata_fields")]
    pub metadata_fields: BTreeMap<String, String>,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// `journalctl_path` found by `check`.
    #[serde(skip)]
    journalctl: PathBuf,
}

fn default_journalctl() -> String {
    "journalctl".into()
}
fn default_read_from() -> ReadFrom {
    ReadFrom::Beginning
}
fn yes() -> bool {
    true
}

/// The default labels: named as the `syslog` source names the same things, so both
/// sources' records fall into the same streams shapes.
fn default_label_fields() -> BTreeMap<String, String> {
    [
        ("_SYSTEMD_UNIT", "unit"),
        ("PRIORITY", "severity"),
        ("_HOSTNAME", "hostname"),
    ]
    .into_iter()
    .map(|(f, l)| (f.to_string(), l.to_string()))
    .collect()
}

fn default_metadata_fields() -> BTreeMap<String, String> {
    [
        ("SYSLOG_IDENTIFIER", "app_name"),
        ("_PID", "procid"),
        ("_COMM", "comm"),
        ("_TRANSPORT", "transport"),
        ("_BOOT_ID", "boot_id"),
    ]
    .into_iter()
    .map(|(f, l)| (f.to_string(), l.to_string()))
    .collect()
}

/// `name` found in `PATH` (or `name` itself when it holds a `/`), if it is a file.
fn find_program(name: &str, ctx: &CheckContext<'_>) -> Option<PathBuf> {
    if name.contains('/') {
        let path = ctx.resolve(Path::new(name));
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A Loki-compatible label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ComponentConfig<dyn Source> for JournaldSourceConfig {
    fn check(mut self, ctx: &CheckContext<'_>) -> Result<Box<dyn Source>, CheckErrors> {
        let mut errors = Vec::new();
        match find_program(&self.journalctl_path, ctx) {
            None => errors.push(CheckError::at(
                "journalctl_path",
                format!(
                    "`{}` not found (install systemd's journalctl, or give its path)",
                    self.journalctl_path
                ),
            )),
            Some(path) => match std::process::Command::new(&path)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) if out.status.success() => self.journalctl = path,
                Ok(out) => errors.push(CheckError::at(
                    "journalctl_path",
                    format!("`{} --version` failed: {}", path.display(), out.status),
                )),
                Err(e) => errors.push(CheckError::at(
                    "journalctl_path",
                    format!("cannot run `{}`: {e}", path.display()),
                )),
            },
        }
        if let Some(dir) = &mut self.directory {
            let resolved = ctx.resolve(Path::new(dir.as_str()));
            if !resolved.is_dir() {
                errors.push(CheckError::at(
                    "directory",
                    format!("`{}` is not a directory", resolved.display()),
                ));
            }
            *dir = resolved.to_string_lossy().into_owned();
        }
        if self.directory.is_some() && !self.files.is_empty() {
            errors.push(CheckError::at(
                "files",
                "give `directory` or `files`, not both",
            ));
        }
        for file in &mut self.files {
            *file = ctx
                .resolve(Path::new(file.as_str()))
                .to_string_lossy()
                .into_owned();
        }
        for (i, unit) in self.units.iter().enumerate() {
            if unit.is_empty() || unit.starts_with('-') {
                errors.push(CheckError::at(
                    &format!("units.{i}"),
                    format!("`{unit}` is not a unit name"),
                ));
            }
        }
        for (field, label) in &self.label_fields {
            if !valid_label_name(label) {
                errors.push(CheckError::at(
                    &format!("label_fields.{field}"),
                    format!("`{label}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Box::new(self))
        } else {
            Err(CheckErrors(errors))
        }
    }
}

impl Source for JournaldSourceConfig {
    fn start(self: Box<Self>, ctx: SourceContext) -> BuiltSource {
        BuiltSource {
            task: Some(Box::pin(run(*self, ctx))),
            route: None,
        }
    }
}

/// journalctl's arguments: JSON entries, following, from `after` (a cursor) or `read_from`.
fn arguments(config: &JournaldSourceConfig, after: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = ["--output=json", "--follow", "--no-pager", "--all"]
        .map(String::from)
        .into();
    if let Some(dir) = &config.directory {
        args.push(format!("--directory={dir}"));
    }
    for file in &config.files {
        args.push(format!("--file={file}"));
    }
    for unit in &config.units {
        args.push(format!("--unit={unit}"));
    }
    match (after, config.read_from) {
        (Some(cursor), _) => {
            args.push(format!("--after-cursor={cursor}"));
            args.push("--no-tail".into());
        }
        (None, ReadFrom::Beginning) => args.push("--no-tail".into()),
        (None, ReadFrom::End) => args.push("--lines=0".into()),
    }
    args
}

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// A field's value as bytes: journalctl prints text as a string, anything else (binary,
/// invalid UTF-8) as an array of byte values, and a field given several times as an array
/// of those (the first is taken). Null (not printed) and other shapes: None.
fn field_bytes(value: &Value) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    match value {
        Value::String(s) => Some(Cow::Borrowed(s.as_bytes())),
        Value::Array(items) => match items.first() {
            Some(Value::Number(_)) => items
                .iter()
                .map(|v| v.as_u64().filter(|b| *b <= 255).map(|b| b as u8))
                .collect::<Option<Vec<u8>>>()
                .map(Cow::Owned),
            Some(first) => field_bytes(first),
            None => None,
        },
        _ => None,
    }
}

/// A field's value as text for a label or metadata (invalid UTF-8 replaced).
fn field_text(value: &Value) -> Option<String> {
    field_bytes(value).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The checkpoint file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    cursor: Option<String>,
}

/// How often the committed cursor is written out (and at exit).
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// The cursor of the last delivered entry, and the batches in flight with theirs.
struct Cursors {
    /// None: checkpoints are off.
    path: Option<PathBuf>,
    committed: Option<String>,
    in_flight: InFlight<String>,
    dirty: bool,
    last_write: Instant,
}

impl Cursors {
    fn load(data_dir: &Path, source: &str, enabled: bool) -> Cursors {
        let path = enabled.then(|| data_dir.join("checkpoints").join(format!("{source}.json")));
        let committed = path.as_ref().and_then(|p| match std::fs::read(p) {
            Ok(bytes) => match serde_json::from_slice::<OnDisk>(&bytes) {
                Ok(d) => d.cursor,
                Err(e) => {
                    tracing::warn!(component_id = source, path = %p.display(), error = %e,
                        "checkpoint file unreadable; starting from read_from");
                    None
                }
            },
            Err(_) => None,
        });
        Cursors {
            in_flight: InFlight::new(path.is_some().then(|| source.to_string())),
            path,
            committed,
            dirty: false,
            last_write: Instant::now(),
        }
    }

    /// Commits the settled prefix; writes the file at most every second.
    fn poll(&mut self) {
        if let Some(cursor) = self.in_flight.settled().pop() {
            self.committed = Some(cursor);
            self.dirty = true;
        }
        if self.dirty && self.last_write.elapsed() >= WRITE_EVERY {
            self.write();
        }
    }

    /// Waits (up to `limit`) for the batches in flight to settle, then writes the file.
    async fn finish(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.in_flight.is_empty() && Instant::now() < deadline {
            self.poll();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.poll();
        if self.dirty {
            self.write();
        }
    }

    fn write(&mut self) {
        self.last_write = Instant::now();
        let Some(path) = &self.path else {
            self.dirty = false;
            return;
        };
        let on_disk = OnDisk {
            cursor: self.committed.clone(),
        };
        match write_json(path, &on_disk) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot write checkpoint")
            }
        }
    }
}

/// How long a stopping source waits for its last batches' acknowledgements (the topology's
/// shutdown deadline usually ends it sooner).
const FINAL_ACK_WAIT: Duration = Duration::from_secs(600);
/// The delay before the first restart of a journalctl that exited, doubled up to
/// [`MAX_BACKOFF`] while it keeps exiting soon after its start.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A journalctl that ran this long before exiting restarts after [`FIRST_BACKOFF`] again.
const RAN_WELL: Duration = Duration::from_secs(60);

/// What turns entries into records: the label sets registered so far, and the fields.
struct Mapper {
    statics: Vec<Label>,
    label_fields: Vec<(String, String)>,
    metadata_fields: Vec<(String, String)>,
    keys: HashMap<Vec<Label>, LabelKey>,
}

impl Mapper {
    /// Adds one journalctl output line (one entry) to the batch; its cursor (None: the line
    /// is not an entry, counted and skipped). `full` is set when the batch is full.
    fn push(
        &mut self,
        batcher: &mut LineBatcher,
        line: &[u8],
        metrics: &crate::telemetry::ComponentMetrics,
        full: &mut bool,
    ) -> Option<String> {
        let entry: serde_json::Map<String, Value> = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                // journalctl prints only entries on stdout: this is a bug or a version
                // this source does not know. Nothing of the line is logged.
                events::component_error(
                    metrics,
                    "bad_entry",
                    &format!("journalctl printed a line that is not a JSON entry: {e}"),
                );
                return None;
            }
        };
        let message = entry.get("MESSAGE").and_then(field_bytes);
        let text = batcher.repair(message.as_deref().unwrap_or_default()).into_owned();
        let timestamp = entry
            .get("__REALTIME_TIMESTAMP")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<i64>().ok())
            .map(|us| us.saturating_mul(1000));
        let mut labels = self.statics.clone();
        for (field, label) in &self.label_fields {
            let Some(mut value) = entry.get(field).and_then(field_text) else {
                continue;
            };
            if field == "PRIORITY" {
                if let Some(name) = value.parse::<usize>().ok().and_then(|p| SEVERITIES.get(p)) {
                    value = name.to_string();
                }
            }
            labels.retain(|(n, _)| n != label);
            labels.push((label.clone(), value));
        }
        labels.sort();
        let key = match self.keys.get(&labels) {
            Some(k) => *k,
            None => {
                let k = batcher.register_labels(labels.clone());
                self.keys.insert(labels, k);
                k
            }
        };
        let values: Vec<(&str, String)> = self
            .metadata_fields
            .iter()
            .filter_map(|(field, key)| Some((key.as_str(), entry.get(field).and_then(field_text)?)))
            .collect();
        let metadata: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        *full = batcher.push_record(&text, timestamp, key, &metadata);
        entry
            .get("__CURSOR")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// A running journalctl: its output lines (read on a thread, which waits while the
/// pipeline is full, and so does journalctl) and the last line of its stderr.
struct Journalctl {
    child: Child,
    lines: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    last_error: Arc<Mutex<String>>,
    /// The thread logging journalctl's stderr (it ends when journalctl does).
    stderr_thread: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

/// Output lines queued between the reading thread and the source.
const QUEUED_LINES: usize = 256;

fn spawn(
    config: &JournaldSourceConfig,
    after: Option<&str>,
    name: &str,
) -> std::io::Result<Journalctl> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(&config.journalctl)
        .args(arguments(config, after))
        // Its own process group, so a stop reaches whatever `journalctl_path` started too
        // (a wrapper script's journalctl would otherwise keep the pipes open).
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, lines) = mpsc::channel(QUEUED_LINES);
    std::thread::Builder::new()
        .name("journalctl-out".into())
        .spawn(move || {
            let mut reader = std::io::BufReader::with_capacity(256 * 1024, stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    // A last line without its newline was cut off by journalctl's exit.
                    Ok(_) if line.last() != Some(&b'\n') => return,
                    Ok(_) => {
                        if tx.blocking_send(Ok(line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        })?;
    let last_error = Arc::new(Mutex::new(String::new()));
    let mut stderr_thread = None;
    if let Some(stderr) = child.stderr.take() {
        let (last, name) = (last_error.clone(), name.to_string());
        let thread = std::thread::Builder::new()
            .name("journalctl-err".into())
            .spawn(move || {
                // journalctl's own diagnostics (not entries): logged as they come.
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    tracing::warn!(component_id = %name, message = %line, "journalctl says");
                    *last.lock().unwrap() = line;
                }
            })?;
        stderr_thread = Some(thread);
    }
    tracing::info!(component_id = %name, resume_after_cursor = after.is_some(),
        "journald: journalctl started");
    Ok(Journalctl {
        child,
        lines,
        last_error,
        stderr_thread,
        started: Instant::now(),
    })
}

impl Journalctl {
    /// Stops journalctl (if still running) and reaps it: its exit status and the last line
    /// it wrote to stderr.
    async fn stop(mut self) -> (String, String) {
        // The whole group (the child leads it); the child itself in any case.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            // Its stderr closed with the exit: the thread ends; it is not waited for past a
            // second (a grandchild that left the group could hold the pipe open).
            if let Some(thread) = self.stderr_thread.take() {
                let deadline = Instant::now() + Duration::from_secs(1);
                while !thread.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            status
        })
        .await;
        let status = match status {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        let said = self.last_error.lock().unwrap().clone();
        (status, said)
    }
}

/// Sends the waiting batch with an acknowledgement that commits `cursor` once settled.
/// False when the pipeline has stopped.
async fn flush(
    batcher: &mut LineBatcher,
    ctx: &SourceContext,
    cursor: &Option<String>,
    cursors: &mut Cursors,
) -> bool {
    let Some(mut batch) = batcher.take() else {
        return true;
    };
    let (records, bytes) = (batch.len(), batch.line_bytes());
    let (ack, settled) = Ack::new();
    batch.acks.push(ack);
    if ctx.out.send(batch).await.is_err() {
        events::component_error(&ctx.metrics, "downstream_closed", "pipeline stopped");
        return false;
    }
    if let Some(cursor) = cursor {
        cursors.in_flight.push(settled, cursor.clone());
    }
    ctx.metrics.sent(records, bytes);
    true
}

/// Runs journalctl (again, after it exits) and forwards its entries until shutdown.
pub async fn run(config: JournaldSourceConfig, ctx: SourceContext) {
    let mut cursors = Cursors::load(&ctx.data_dir, &ctx.name, config.checkpoint);
    // The cursor of the last entry handed to the batcher: where a restarted journalctl
    // resumes (what is in flight after it is not read twice).
    let mut last_read = cursors.committed.clone();
    // True while journalctl was started after the checkpoint's cursor and printed nothing
    // yet: if it exits complaining about the cursor, the cursor is not one it can seek to.
    let mut from_checkpoint = last_read.is_some();
    let mut batcher = LineBatcher::new(
        config.batch.clone(),
        config.max_line_bytes,
        ctx.metrics.clone(),
    );
    let mut mapper = Mapper {
        statics: label_set(&config.labels),
        label_fields: config.label_fields.clone().into_iter().collect(),
        metadata_fields: config.metadata_fields.clone().into_iter().collect(),
        keys: HashMap::new(),
    };
    let mut backoff = FIRST_BACKOFF;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'outer: loop {
        let mut journal = match spawn(&config, last_read.as_deref(), &ctx.name) {
            Ok(j) => j,
            Err(e) => {
                events::component_error(
                    &ctx.metrics,
                    "journalctl_failed",
                    &format!("cannot start `{}`: {e}", config.journalctl.display()),
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.shutdown.cancelled() => break 'outer,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        loop {
            let wait = batcher.time_left().unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                line = journal.lines.recv() => {
                    let line = match line {
                        Some(Ok(line)) => line,
                        None => break, // journalctl's output ended: it exited
                        Some(Err(e)) => {
                            events::component_error(&ctx.metrics, "journalctl_failed",
                                &format!("reading journalctl's output: {e}"));
                            break;
                        }
                    };
                    batcher.mark_read_time();
                    let mut full = false;
                    if let Some(cursor) = mapper.push(&mut batcher, &line, &ctx.metrics, &mut full) {
                        last_read = Some(cursor);
                    }
                    from_checkpoint = false;
                    if full && !flush(&mut batcher, &ctx, &last_read, &mut cursors).await {
                        journal.stop().await;
                        break 'outer;
                    }
                }
                _ = tokio::time::sleep(wait), if !batcher.is_empty() => {
                    if !flush(&mut batcher, &ctx, &last_read, &mut cursors).await {
                        journal.stop().await;
                        break 'outer;
                    }
                }
                _ = tick.tick() => cursors.poll(),
                _ = ctx.shutdown.cancelled() => {
                    journal.stop().await;
                    break 'outer;
                }
            }
        }
        // journalctl's output ended without a shutdown: it exited (or broke its pipe).
        if journal.started.elapsed() >= RAN_WELL {
            backoff = FIRST_BACKOFF;
        }
        let (status, said) = journal.stop().await;
        events::component_error(
            &ctx.metrics,
            "journalctl_exited",
            &format!("journalctl exited ({status}; last said: `{said}`); restarting in {backoff:?}"),
        );
        if from_checkpoint && said.to_lowercase().contains("cursor") {
            // A checkpoint journalctl cannot seek to (written by another journal, damaged):
            // kept, it would fail every restart. Start where a first run would.
            tracing::warn!(component_id = %ctx.name, read_from = ?config.read_from,
                "journalctl refused the checkpoint's cursor; starting from read_from");
            last_read = None;
            from_checkpoint = false;
        }
        if !flush(&mut batcher, &ctx, &last_read, &mut cursors).await {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = ctx.shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    flush(&mut batcher, &ctx, &last_read, &mut cursors).await;
    cursors.finish(FINAL_ACK_WAIT).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AckStatus;

    fn check(dir: &Path, toml_text: &str) -> Result<(), CheckErrors> {
        crate::component::check_toml::<dyn Source, JournaldSourceConfig>("j", dir, toml_text)
            .map(drop)
    }

    #[test]
    fn a_missing_journalctl_or_directory_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let errors = check(
            dir.path(),
            "journalctl_path = \"/nonexistent/journalctl\"\ndirectory = \"nope\"\nlabel_fields = { _PID = \"p-id\" }",
        )
        .unwrap_err();
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["journalctl_path", "directory", "label_fields._PID"]);
        assert!(errors.0[0].message.contains("/nonexistent/journalctl"));
        let errors = check(dir.path(), "journalctl_path = \"no-such-journalctl-here\"").unwrap_err();
        assert_eq!(errors.0[0].key, "journalctl_path");
    }

    #[test]
    fn arguments_resume_after_the_cursor_or_start_at_read_from() {
        let mut config: JournaldSourceConfig =
            toml::from_str("directory = \"/j\"\nunits = [\"a.service\", \"b.service\"]").unwrap();
        let args = arguments(&config, Some("s=1;i=2"));
        assert_eq!(
            args,
            [
                "--output=json",
                "--follow",
                "--no-pager",
                "--all",
                "--directory=/j",
                "--unit=a.service",
                "--unit=b.service",
                "--after-cursor=s=1;i=2",
                "--no-tail"
            ]
        );
        assert_eq!(arguments(&config, None).last().unwrap(), "--no-tail");
        config.read_from = ReadFrom::End;
        assert_eq!(arguments(&config, None).last().unwrap(), "--lines=0");
    }

    #[test]
    fn entries_become_records_with_labels_metadata_and_time() {
        let metrics = crate::telemetry::Telemetry::new().component("j", "source");
        let mut batcher = LineBatcher::new(BatchConfig::default(), 1024, metrics.clone());
        let config: JournaldSourceConfig = toml::from_str("labels = { job = \"j\" }").unwrap();
        let mut mapper = Mapper {
            statics: label_set(&config.labels),
            label_fields: config.label_fields.into_iter().collect(),
            metadata_fields: config.metadata_fields.into_iter().collect(),
            keys: HashMap::new(),
        };
        let mut full = false;
        let text = br#"{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"1700000000000001","MESSAGE":"hello","PRIORITY":"3","_SYSTEMD_UNIT":"nginx.service","_HOSTNAME":"web1","_PID":"12","SYSLOG_IDENTIFIER":["nginx","other"]}"#;
        assert_eq!(
            mapper.push(&mut batcher, text, &metrics, &mut full).as_deref(),
            Some("c1")
        );
        let binary = br#"{"__CURSOR":"c2","MESSAGE":[98,105,255,110],"PRIORITY":"9"}"#;
        assert_eq!(
            mapper.push(&mut batcher, binary, &metrics, &mut full).as_deref(),
            Some("c2")
        );
        assert_eq!(mapper.push(&mut batcher, b"not json", &metrics, &mut full), None);
        let batch = batcher.take().unwrap();
        assert_eq!(batch.len(), 2);
        let first = batch.record(0);
        assert_eq!(first.line(), "hello");
        assert_eq!(first.timestamp(), 1_700_000_000_000_001_000);
        assert_eq!(first.label("severity"), Some("err"));
        assert_eq!(first.label("unit"), Some("nginx.service"));
        assert_eq!(first.label("hostname"), Some("web1"));
        assert_eq!(first.label("job"), Some("j"));
        assert_eq!(first.metadata_value("procid"), Some("12"));
        assert_eq!(first.metadata_value("app_name"), Some("nginx"));
        let second = batch.record(1);
        assert_eq!(second.line(), "bi\u{fffd}n");
        assert_eq!(second.label("severity"), Some("9"), "an unknown priority is kept as is");
        assert_eq!(second.label("unit"), None);
    }

    #[tokio::test]
    async fn the_cursor_commits_in_batch_order_and_stops_at_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut cursors = Cursors::load(dir.path(), "j", true);
        let mut acks = Vec::new();
        for c in ["a", "b", "c"] {
            let (ack, rx) = Ack::new();
            cursors.in_flight.push(rx, c.to_string());
            acks.push(ack);
        }
        let mut acks = acks.into_iter();
        let (a, b, c) = (acks.next().unwrap(), acks.next().unwrap(), acks.next().unwrap());
        drop(b); // settles before `a`: nothing yet
        cursors.poll();
        assert_eq!(cursors.committed, None);
        drop(a);
        c.mark(AckStatus::Failed);
        drop(c);
        cursors.finish(Duration::from_secs(1)).await;
        assert_eq!(cursors.committed.as_deref(), Some("b"));
        assert_eq!(
            Cursors::load(dir.path(), "j", true).committed.as_deref(),
            Some("b")
        );
        assert_eq!(Cursors::load(dir.path(), "j", false).committed, None);
    }
}
