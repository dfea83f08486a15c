//! The `sluice` command: `run`, `validate` and `test` a pipeline file, and `plugin
//! inspect|test|new|c-bindings|componentize` for plugin authors. Thin: the library does the
//! work; this file parses arguments, prints errors and picks the exit code.

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
    /// How sluice's own log lines look: `auto` (human-readable on a terminal, JSON lines
    /// otherwise), `json` or `text`.
    #[arg(long, global = true, default_value = "auto")]
    log_format: sluice::telemetry::logging::LogFormat,
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
    /// Print the pipeline as a graph: Graphviz DOT, or SVG (needs Graphviz's `dot`).
    Graph {
        /// The pipeline TOML file.
        config: PathBuf,
        /// `dot` or `svg`.
        #[arg(long, default_value = "dot", value_parser = ["dot", "svg"])]
        format: String,
    },
    /// A live terminal view of a running sluice, read from its API (q quits).
    Top {
        /// The collector's API address.
        #[arg(long, default_value = "http://127.0.0.1:9598")]
        url: String,
        /// A file holding the API token (or set SLUICE_API_TOKEN), for a collector with
        /// `protect_metrics`.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Print a live sample of the records leaving a source or transform of a running sluice
    /// (JSON lines; rate-limited, never slows the pipeline).
    Tap {
        /// The component's name in the pipeline.
        component: String,
        /// The collector's API address.
        #[arg(long, default_value = "http://127.0.0.1:9598")]
        url: String,
        /// Records a second at most.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Stop after this many records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// A file holding the API token (or set SLUICE_API_TOKEN).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Tools for plugin authors: inspect a component, run it on sample lines, start one,
    /// build a C one.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Print the contract version and world a component implements, its imports, size,
    /// compile time, cache state, and the time and memory one instance takes.
    Inspect {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// Use DIR/plugin-cache, as a pipeline with `data_dir = DIR` would.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The config `init` gets when an instance is measured (JSON or TOML).
        #[arg(long, value_name = "JSON_OR_TOML")]
        config: Option<String>,
    },
    /// Run one plugin on sample lines: print each output record as a JSON line, then each
    /// metric series it emitted.
    Test {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// The plugin's config: JSON (`{"labels":{"env":"x"}}`) or TOML
        /// (`labels = { env = "x" }`).
        #[arg(long, value_name = "JSON_OR_TOML")]
        config: Option<String>,
        /// Input file, one record per line (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Input lines are JSON records as this command prints them (line, labels,
        /// metadata, timestamp) rather than raw lines.
        #[arg(long)]
        records: bool,
        /// A label for every raw input line (repeatable).
        #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Records per `process` call.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Use DIR/plugin-cache, as a pipeline with `data_dir = DIR` would.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Start a plugin from the template of a language (see docs/plugins.md).
    New {
        /// The language.
        #[arg(long, value_enum)]
        lang: sluice::plugin_cli::Lang,
        /// The plugin's name ([a-z][a-z0-9_-]*).
        name: String,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        dir: Option<PathBuf>,
        /// Rust: the SDK crate (plugins/sdk) to depend on, when the new plugin is not inside
        /// a sluice checkout.
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// C plugins: write wit-bindgen's C bindings of the contract (log_transform.h, .c and
    /// _component_type.o) into a directory, for clang --target=wasm32-wasi.
    CBindings {
        /// Directory to write them into (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A WIT file or directory instead of the contract compiled into sluice.
        #[arg(long, value_name = "PATH")]
        wit: Option<PathBuf>,
        /// The world (a name or `package/world`).
        #[arg(long, default_value = sluice::plugin_c::DEFAULT_WORLD)]
        world: String,
    },
    /// C plugins: turn the core module clang linked with those bindings into a component
    /// (adding the WASI preview1 reactor adapter when the module imports preview1).
    Componentize {
        /// The core module (.wasm).
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    sluice::telemetry::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Validate { config } => validate(config),
        Command::Test { config } => test(config),
        Command::Graph { config, format } => graph(config, &format),
        Command::Top { url, token_file } => top(url, token_file),
        Command::Tap {
            component,
            url,
            rate,
            limit,
            token_file,
        } => tap(component, url, rate, limit, token_file),
        Command::Plugin(command) => plugin(command),
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
    sluice::topology::load(path).map_err(|errors| {
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
        sluice::reload::supervise(loaded, shutdown).await
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
    // The same checks as `sluice run` and a reload: every component built, nothing run.
    let telemetry = sluice::telemetry::Telemetry::new();
    let prepared = match sluice::topology::prepare(loaded, &telemetry) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let config = &prepared.loaded().config;
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

/// The API token from `--token-file`, else `SLUICE_API_TOKEN`.
fn api_token(token_file: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    Ok(match token_file {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading the token file {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("SLUICE_API_TOKEN").ok(),
    })
}

fn top(url: String, token_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let token = api_token(token_file)?;
    sluice::top::run(sluice::top::Options { url, token })?;
    Ok(ExitCode::SUCCESS)
}

fn tap(
    component: String,
    url: String,
    rate: f64,
    limit: usize,
    token_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let token = api_token(token_file)?;
    sluice::tap_cli::run(sluice::tap_cli::Options {
        url,
        component,
        rate,
        limit,
        token,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn graph(path: PathBuf, format: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let loaded = match load(&path) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let dot = sluice::config::to_dot(&loaded.config);
    if format == "dot" {
        print!("{dot}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run Graphviz's `dot` ({e}); install graphviz, or use --format dot"
            )
        })?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(dot.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "`dot -Tsvg` failed: {}", out.status);
    std::io::stdout().write_all(&out.stdout)?;
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

fn plugin(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Inspect {
            plugin,
            data_dir,
            config,
        } => {
            let report =
                sluice::plugin_cli::inspect(&plugin, data_dir.as_deref(), config.as_deref())?;
            print!("{report}");
        }
        PluginCommand::Test {
            plugin,
            config,
            input,
            records,
            labels,
            batch,
            data_dir,
        } => {
            let options = sluice::plugin_cli::TestOptions {
                config,
                input,
                records,
                labels,
                batch,
                data_dir,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let summary = sluice::plugin_cli::test(&plugin, &options, &mut out)?;
            std::io::Write::flush(&mut out)?;
            eprintln!(
                "{} records in, {} out, {} batches, {} metric samples",
                summary.records_in, summary.records_out, summary.batches, summary.metric_samples
            );
        }
        PluginCommand::New {
            lang,
            name,
            dir,
            sdk,
        } => {
            let files = sluice::plugin_cli::new(lang, &name, dir.as_deref(), sdk.as_deref())?;
            for f in &files {
                println!("created {}", f.display());
            }
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            print!(
                "next:\n{}",
                sluice::plugin_cli::next_steps(lang, &name, &dir)
            );
        }
        PluginCommand::CBindings { out, wit, world } => {
            for f in sluice::plugin_c::write_bindings(wit.as_deref(), &world, &out)? {
                println!("{}", f.display());
            }
        }
        PluginCommand::Componentize { module, output } => {
            sluice::plugin_c::componentize(&module, &output)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
