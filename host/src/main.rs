//! The `sluice` command: `run`, `validate` and `test` a pipeline file. Thin: the library
//! does the work; this file parses arguments, prints errors and picks the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A telemetry collector with WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until SIGINT/SIGTERM (or until every source has finished).
    Run {
        /// The pipeline TOML file.
        config: PathBuf,
    },
    /// Check a pipeline: config, graph, and every plugin loaded and initialised.
    Validate {
        /// The pipeline TOML file.
        config: PathBuf,
    },
    /// Run the pipeline unit tests (`[[tests]]`) declared in the file.
    Test {
        /// The pipeline TOML file.
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    sluice::telemetry::logging::init();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Validate { config } => validate(config),
        Command::Test { config } => test(config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> Result<sluice::config::LoadedConfig, ExitCode> {
    sluice::config::load(path).map_err(|errors| {
        for e in &errors.0 {
            eprintln!("error: {e}");
        }
        ExitCode::FAILURE
    })
}

fn run(path: PathBuf) -> anyhow::Result<ExitCode> {
    let loaded = match load(&path) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice")
        .build()?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        sluice::topology::run(loaded, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The first SIGINT/SIGTERM asks for a drain; a second one exits at once.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    tracing::info!("signal received; draining (signal again to exit now)");
    shutdown.cancel();
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    tracing::warn!("second signal: exiting without draining");
    std::process::exit(130);
}

fn validate(path: PathBuf) -> anyhow::Result<ExitCode> {
    let loaded = match load(&path) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let config = &loaded.config;
    let runtime = sluice::topology::plugin_runtime(&config.data_dir)?;
    let telemetry = sluice::telemetry::Telemetry::new();
    if let Err(errors) = sluice::topology::build_transforms(&loaded, &runtime, &telemetry) {
        for e in &errors.0 {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: ok ({} sources, {} transforms, {} sinks, {} tests)",
        path.display(),
        config.sources.len(),
        config.transforms.len(),
        config.sinks.len(),
        config.tests.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn test(path: PathBuf) -> anyhow::Result<ExitCode> {
    let loaded = match load(&path) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let results = sluice::unit_test::run(&loaded)?;
    let mut failed = 0;
    for r in &results {
        if r.failures.is_empty() {
            println!("test {} ... ok", r.name);
        } else {
            failed += 1;
            println!("test {} ... FAILED", r.name);
            for f in &r.failures {
                println!("    {}", loaded.scrub(f));
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 && !results.is_empty() {
        ExitCode::SUCCESS
    } else if results.is_empty() {
        eprintln!("error: {} declares no [[tests]]", path.display());
        ExitCode::FAILURE
    } else {
        ExitCode::FAILURE
    })
}
