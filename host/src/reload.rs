//! Hot reload: the supervisor that runs one pipeline generation after another in the same
//! process. A reload is asked for by SIGHUP, `POST /-/reload`, or a change to the pipeline
//! file or one of its plugin files. The new config is loaded and every plugin loaded and
//! initialised *while the old pipeline keeps running*; if anything is wrong the reload is
//! refused (logged with the located reason and counted in
//! `sluice_config_reloads_total{result="failure"}`) and nothing changes. Otherwise the old
//! generation drains exactly as on shutdown (sources stop, every in-flight batch reaches
//! its sinks and is acknowledged, file checkpoints are written) and the new one starts with
//! the same metrics registry, so counters carry on rather than reset. Push senders see the
//! API port closed for the moment of the swap and retry, as they do for any restart.
//!
//! The whole pipeline is restarted rather than only the changed components: simpler to get
//! right, and a drain takes milliseconds when sinks are healthy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::LoadedConfig;
use crate::server::{ReloadRequest, ReloadSender};
use crate::telemetry::Telemetry;
use crate::topology;
use crate::topology::Prepared;

/// Loads the config at `path` and checks every component, loading and initialising its
/// plugins (without running anything): the same `prepare` as `sluice validate` and `sluice
/// run`. What it prepared is what then runs. Errors are the located messages, joined.
fn check(path: &Path, telemetry: &Telemetry) -> Result<Prepared, String> {
    let loaded = topology::load(path).map_err(|e| e.to_string())?;
    topology::prepare(loaded, telemetry).map_err(|e| e.to_string())
}

/// The files whose change triggers a reload: the pipeline and its plugins.
fn watched_files(prepared: &Prepared) -> Vec<PathBuf> {
    prepared
        .watched_files()
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect()
}

/// Watches `files` (through their directories) and asks for a reload when one changes,
/// once per burst of events.
fn watch_files(files: Vec<PathBuf>, tx: ReloadSender) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let wanted = files.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event.paths.iter().any(|p| wanted.iter().any(|w| w == p)) {
            let _ = raw_tx.send(());
        }
    })
    .ok()?;
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let _ = watcher.watch(&dir, notify::RecursiveMode::NonRecursive);
    }
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Editors write in several steps: wait for the burst to end.
            tokio::time::sleep(Duration::from_millis(300)).await;
            while raw_rx.try_recv().is_ok() {}
            let request = ReloadRequest {
                reason: "file changed",
                reply: None,
            };
            if tx.send(request).await.is_err() {
                return;
            }
        }
    });
    Some(watcher)
}

/// Asks for a reload on every SIGHUP.
fn watch_sighup(tx: ReloadSender) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot install the SIGHUP handler; reload by SIGHUP is off");
            return;
        };
        while hup.recv().await.is_some() {
            let request = ReloadRequest {
                reason: "SIGHUP",
                reply: None,
            };
            if tx.send(request).await.is_err() {
                return;
            }
        }
    });
}

/// Runs `first` and every generation reloaded after it until `shutdown` is cancelled or a
/// generation finishes by itself (every source done, e.g. `stop_at_eof`).
pub async fn supervise(first: LoadedConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let telemetry = Telemetry::new();
    let path = first.file.clone();
    let (tx, mut rx) = mpsc::channel::<ReloadRequest>(8);
    watch_sighup(tx.clone());
    let mut prepared = topology::prepare(first, &telemetry).map_err(|e| anyhow::anyhow!("{e}"))?;
    release_free_memory();
    loop {
        let _watcher = watch_files(watched_files(&prepared), tx.clone());
        let generation = CancellationToken::new();
        let mut running = tokio::spawn(topology::run(
            prepared,
            generation.clone(),
            telemetry.clone(),
            Some(tx.clone()),
        ));
        let next = loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    generation.cancel();
                    return running.await?;
                }
                finished = &mut running => return finished?,
                Some(request) = rx.recv() => {
                    tracing::info!(reason = request.reason, file = %path.display(), "reload requested");
                    let checked = check(&path, &telemetry);
                    let verdict = checked.as_ref().map(|_| ()).map_err(Clone::clone);
                    if let Some(reply) = request.reply {
                        let _ = reply.send(verdict);
                    }
                    match checked {
                        Ok(new) => break new,
                        Err(reason) => {
                            telemetry.config_reload("failure");
                            tracing::error!(reason = %reason, "reload refused; the running pipeline is unchanged");
                        }
                    }
                }
            }
        };
        generation.cancel();
        running.await??;
        release_free_memory();
        telemetry.config_reload("success");
        tracing::info!("reloaded: the new pipeline is starting");
        prepared = next;
    }
}

/// Hands memory that the allocator holds but no longer uses back to the operating system.
/// glibc keeps what each thread frees for reuse; after plugins are compiled (many
/// short-lived allocations on several compiler threads) or a replaced pipeline generation
/// has drained, that is megabytes of resident memory the collector will not use again soon.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
