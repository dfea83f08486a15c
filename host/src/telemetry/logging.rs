//! The collector's own logs: JSON lines on stderr through `tracing`, filtered by
//! `SLUICE_LOG` (tracing's env-filter syntax, default `info`). A line written while the API
//! server handles a request carries the request's ids under `span` (`request_id`,
//! `trace_id`; `server::request_ids`).

/// Installs the global JSON log subscriber. Safe to call more than once.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .with_span_list(false)
        .try_init();
}
