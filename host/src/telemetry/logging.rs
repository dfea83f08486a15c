//! The collector's own logs through `tracing` on stderr, filtered by `SLUICE_LOG`
//! (tracing's env-filter syntax, default `info`): JSON lines when stderr is not a terminal
//! (a file, a pipe, journald, a container runtime), human-readable lines when it is, so
//! records on stdout and logs on stderr are easy to tell apart; `--log-format` overrides. A
//! line written while the API server handles a request carries the request's ids under
//! `span` (`request_id`, `trace_id`; `server::request_ids`).

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "auto" => Ok(LogFormat::Auto),
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            other => Err(format!("`{other}`: use auto, json or text")),
        }
    }
}

/// Installs the global log subscriber. Safe to call more than once.
pub fn init(format: LogFormat) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    if json {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(false)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }
}
