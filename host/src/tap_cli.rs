//! `sluice tap COMPONENT`: prints a live sample of the records leaving a source or transform
//! of a running collector, one JSON object a line, read from its API (`/api/tap/NAME`,
//! `telemetry::tap`): rate-limited on the collector's side, and a slow reader only loses
//! samples (counted there), never slows the pipeline.

use std::io::Write;

/// What `tap` was asked for.
pub struct Options {
    /// The collector's API, e.g. `http://127.0.0.1:9598`.
    pub url: String,
    pub component: String,
    /// Records a second at most.
    pub rate: f64,
    /// Records in all; the tap ends after them.
    pub limit: usize,
    pub token: Option<String>,
}

/// Streams the tap to stdout until `limit` records, the collector closes it, or Ctrl-C.
pub fn run(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let url = format!(
            "{}/api/tap/{}?rate={}&limit={}",
            options.url.trim_end_matches('/'),
            options.component,
            options.rate,
            options.limit
        );
        let mut request = reqwest::Client::new().get(&url);
        if let Some(token) = &options.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach sluice at {}: {e}", options.url))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("{url}: {status}: {}", body.trim());
        }
        let mut stdout = std::io::stdout();
        while let Some(chunk) = response.chunk().await? {
            stdout.write_all(&chunk)?;
            stdout.flush()?;
        }
        Ok(())
    })
}
