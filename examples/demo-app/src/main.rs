//! `demo-app serve` runs the demo backend; `demo-app load` sends it traffic.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use demo_app::{LogTo, Options};

#[derive(Parser)]
#[command(about = "sluice's demo backend and its load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the demo backend.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: String,
        /// Append request log lines to this file (default: stdout).
        #[arg(long)]
        log_file: Option<PathBuf>,
        #[arg(long, default_value = "demo-app")]
        service_name: String,
    },
    /// Send requests to a running demo backend.
    Load {
        #[arg(long, default_value = "http://127.0.0.1:8088")]
        target: String,
        /// Requests per second.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            listen,
            log_file,
            service_name,
        } => {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| anyhow::anyhow!("binding {listen}: {e}"))?;
            eprintln!("demo-app: serving on http://{}", listener.local_addr()?);
            let log = log_file.map_or(LogTo::Stdout, LogTo::File);
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            demo_app::serve(listener, Options { log, service_name }, shutdown).await
        }
        Command::Load {
            target,
            rate,
            seconds,
        } => {
            let counts = demo_app::load::run(&target, rate, seconds.map(Duration::from_secs)).await;
            eprintln!("load: answers by status: {counts:?}");
            Ok(())
        }
    }
}
