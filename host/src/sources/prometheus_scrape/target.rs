//! One target's scrape loop, as Prometheus runs it: a request every interval (the first
//! one at an offset within the interval taken from the target, so targets spread out),
//! the body parsed by its Content-Type, the target's labels put on every sample, the
//! report series (`up`, `scrape_duration_seconds`, `scrape_samples_scraped`) added, and
//! staleness markers for series that went missing. Each target runs as its own task, so a
//! slow target delays no other.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
};
use tokio_util::sync::CancellationToken;

use super::discovery::ScrapeTarget;
use super::parse::{self, Exposition, Format, ParseError};
use super::staleness::{Series, SeriesMemory};
use crate::channel::Fanout;
use crate::event::metrics::{stale_nan, MetricBatch, MetricFamily, MetricType, NAME_LABEL};
use crate::event::Label;
use crate::telemetry::{events, ComponentMetrics};

/// What Prometheus 2.42 sends: OpenMetrics preferred, the text format next.
pub const ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// The series every scrape reports about itself, with their help text.
const REPORT_SERIES: [(&str, &str); 3] = [
    ("up", "1 if the target's last scrape succeeded, else 0."),
    (
        "scrape_duration_seconds",
        "How long the target's last scrape took, in seconds.",
    ),
    (
        "scrape_samples_scraped",
        "How many samples the target's last scrape exposed.",
    ),
];

/// Where the bearer token comes from.
#[derive(Clone)]
pub enum Bearer {
    Token(String),
    /// Read at every scrape, so a rotated token is picked up.
    File(PathBuf),
}

/// How every target of the source is scraped.
#[derive(Clone)]
pub struct ScrapeSettings {
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub max_samples: usize,
    pub max_body_bytes: usize,
    pub bearer: Option<Bearer>,
}

/// What every target task of the source shares.
pub struct Shared {
    pub settings: ScrapeSettings,
    pub client: reqwest::Client,
    pub out: Fanout,
    pub metrics: ComponentMetrics,
}

/// Why a target task stops.
enum Stop {
    /// The collector stops (or reloads): no staleness markers, as the series may well go on
    /// after the restart (in effect Prometheus writes none at shutdown either).
    Shutdown,
    /// The target left discovery: every series it had is marked stale.
    Removed,
}

async fn stopped(shutdown: &CancellationToken, removed: &CancellationToken) -> Stop {
    tokio::select! {
        _ = shutdown.cancelled() => Stop::Shutdown,
        _ = removed.cancelled() => Stop::Removed,
    }
}

/// A failed scrape: its error kind (`scrape_failed`, `sample_limit_exceeded`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
}

impl Failure {
    fn scrape(detail: impl Into<String>) -> Failure {
        Failure {
            kind: "scrape_failed",
            detail: detail.into(),
        }
    }
}

/// A response body, decompressed, and the format its Content-Type names.
pub struct Body {
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// One target's state across scrapes.
pub struct TargetRunner {
    target: ScrapeTarget,
    shared: Arc<Shared>,
    memory: SeriesMemory,
    /// True once a report (`up`, ...) was sent: those series end with the target too.
    reported: bool,
    /// The last failure while the target keeps failing (a new one is logged, a repeat only
    /// counted).
    failing: Option<Failure>,
}

impl TargetRunner {
    pub fn new(target: ScrapeTarget, shared: Arc<Shared>) -> TargetRunner {
        TargetRunner {
            target,
            shared,
            memory: SeriesMemory::default(),
            reported: false,
            failing: None,
        }
    }

    /// Scrapes every interval until `shutdown` (return at once) or `removed` (mark every
    /// series of the target stale, then return).
    pub async fn run(mut self, shutdown: CancellationToken, removed: CancellationToken) {
        let interval = self.shared.settings.interval;
        let mut next = tokio::time::Instant::now() + spread_offset(&self.target, interval);
        loop {
            let woke = tokio::select! {
                biased;
                stop = stopped(&shutdown, &removed) => Err(stop),
                _ = tokio::time::sleep_until(next) => Ok(()),
            };
            if let Err(stop) = woke {
                return self.finish(stop).await;
            }
            let now = tokio::time::Instant::now();
            while next <= now {
                next += interval; // a scrape that overran skips the ticks it missed
            }
            let started_ms = now_ms();
            let clock = std::time::Instant::now();
            let timeout = self.shared.settings.timeout;
            let fetched = tokio::select! {
                biased;
                stop = stopped(&shutdown, &removed) => Err(stop),
                r = tokio::time::timeout(timeout, fetch(&self.shared, &self.target.url)) => Ok(r),
            };
            let fetched = match fetched {
                Err(stop) => return self.finish(stop).await,
                Ok(Ok(fetched)) => fetched,
                Ok(Err(_elapsed)) => Err(Failure::scrape(format!(
                    "timed out after {}s",
                    timeout.as_secs_f64()
                ))),
            };
            let batch = self.scraped(fetched, started_ms, clock.elapsed());
            if !self.send(batch).await {
                return;
            }
        }
    }

    /// The batch a scrape gives: its samples with the target's labels, staleness markers
    /// for the series it no longer has, and the report series. Counts and logs a failure.
    pub fn scraped(
        &mut self,
        fetched: Result<Body, Failure>,
        started_ms: i64,
        took: Duration,
    ) -> MetricBatch {
        let settings = &self.shared.settings;
        let parsed = fetched.and_then(|body| {
            let exposition = parse::parse(&body.bytes, body.format, settings.max_samples)
                .map_err(|e| match e {
                    ParseError::TooManySamples { .. } => Failure {
                        kind: "sample_limit_exceeded",
                        detail: e.to_string(),
                    },
                    e => Failure::scrape(format!("{} exposition: {e}", format_name(body.format))),
                })?;
            self.shared
                .metrics
                .received(exposition.samples.len(), body.bytes.len());
            Ok(exposition)
        });
        let mut batch = MetricBatch::default();
        let (up, scraped) = match parsed {
            Ok(exposition) => {
                let scraped = exposition.samples.len();
                let current = self.push_samples(&mut batch, exposition, started_ms);
                for gone in self.memory.replace(current) {
                    let series = batch.push_series(gone);
                    batch.push(series, stale_nan(), started_ms);
                }
                if self.failing.take().is_some() {
                    events::scrape_recovered(&self.shared.metrics, &self.target.url);
                }
                (1.0, scraped)
            }
            Err(failure) => {
                let news = self.failing.as_ref() != Some(&failure);
                events::scrape_failed(
                    &self.shared.metrics,
                    failure.kind,
                    &self.target.url,
                    &failure.detail,
                    news,
                );
                self.failing = Some(failure);
                for gone in self.memory.take_all() {
                    let series = batch.push_series(gone);
                    batch.push(series, stale_nan(), started_ms);
                }
                (0.0, 0)
            }
        };
        let report = [up, took.as_secs_f64(), scraped as f64];
        for ((name, help), value) in REPORT_SERIES.iter().zip(report) {
            let series = batch.push_series(self.report_series(name));
            batch.push(series, value, started_ms);
            batch.add_family(MetricFamily {
                name: name.to_string(),
                kind: MetricType::Gauge,
                help: help.to_string(),
                unit: String::new(),
            });
        }
        self.reported = true;
        batch
    }

    /// Adds the exposition's samples (each series once; a repeat is discarded and counted)
    /// and families; returns the series to watch for staleness.
    fn push_samples(
        &self,
        batch: &mut MetricBatch,
        exposition: Exposition,
        started_ms: i64,
    ) -> HashSet<Series> {
        let settings = &self.shared.settings;
        batch.families = exposition.families;
        let mut seen = HashSet::with_capacity(exposition.samples.len());
        let mut watched = HashSet::with_capacity(exposition.samples.len());
        let mut repeats = 0;
        for sample in exposition.samples {
            let series = sample_labels(
                &sample.name,
                sample.labels,
                &self.target.labels,
                settings.honor_labels,
            );
            if !seen.insert(series.clone()) {
                repeats += 1;
                continue;
            }
            let timestamp = match (settings.honor_timestamps, sample.timestamp_ms) {
                (true, Some(ts)) => ts,
                _ => {
                    watched.insert(series.clone());
                    started_ms
                }
            };
            let index = batch.push_series(series);
            batch.push(index, sample.value, timestamp);
        }
        if repeats > 0 {
            events::records_discarded(&self.shared.metrics, "duplicate_series", repeats);
        }
        watched
    }

    fn report_series(&self, name: &str) -> Series {
        let mut series = self.target.labels.clone();
        series.push((NAME_LABEL.to_string(), name.to_string()));
        series.sort();
        series
    }

    /// The staleness markers for every series the target has (the target went away).
    pub fn ended(&mut self, at_ms: i64) -> MetricBatch {
        let mut batch = MetricBatch::default();
        let mut gone = self.memory.take_all();
        if std::mem::take(&mut self.reported) {
            gone.extend(REPORT_SERIES.iter().map(|(name, _)| self.report_series(name)));
        }
        for series in gone {
            let index = batch.push_series(series);
            batch.push(index, stale_nan(), at_ms);
        }
        batch
    }

    async fn finish(mut self, stop: Stop) {
        if let Stop::Removed = stop {
            let batch = self.ended(now_ms());
            self.send(batch).await;
        }
    }

    /// Sends `batch` downstream; false when the pipeline has stopped.
    async fn send(&self, batch: MetricBatch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let (samples, bytes) = (batch.len(), batch.approx_bytes());
        if self.shared.out.send(batch).await.is_err() {
            events::component_error(&self.shared.metrics, "downstream_closed", "pipeline stopped");
            return false;
        }
        self.shared.metrics.sent(samples, bytes);
        true
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text format",
        Format::OpenMetrics => "OpenMetrics",
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    crate::event::now_ns() / 1_000_000
}

/// Where in the interval the target's scrapes fall: a fixed offset from its URL and labels.
fn spread_offset(target: &ScrapeTarget, interval: Duration) -> Duration {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    target.hash(&mut hasher);
    let interval_ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(hasher.finish() % interval_ms)
}

/// A sample's series: its exposed labels with the target's added, as Prometheus does it.
/// Without `honor_labels` a target label wins and the exposed label of that name is kept
/// as `exported_<name>` (`exported_exported_<name>` if that is taken, and so on); with
/// it, the exposed label wins. Empty values are dropped. Sorted, `__name__` included.
pub fn sample_labels(
    name: &str,
    exposed: Vec<Label>,
    target: &[Label],
    honor_labels: bool,
) -> Series {
    let mut set: BTreeMap<String, String> = exposed.into_iter().collect();
    if honor_labels {
        for (k, v) in target {
            let slot = set.entry(k.clone()).or_default();
            if slot.is_empty() {
                slot.clone_from(v);
            }
        }
    } else {
        let exposed_names: HashSet<String> = set.keys().cloned().collect();
        let mut conflicting: Vec<Label> = Vec::new();
        for (k, v) in target {
            if let Some(old) = set.insert(k.clone(), v.clone()) {
                if !old.is_empty() {
                    conflicting.push((k.clone(), old));
                }
            }
        }
        conflicting.sort_by_key(|(k, _)| k.len());
        let mut renamed: Vec<String> = Vec::new();
        for (k, value) in conflicting {
            let mut new_name = k;
            loop {
                new_name = format!("exported_{new_name}");
                let taken = exposed_names.contains(&new_name)
                    || target.iter().any(|(t, _)| *t == new_name)
                    || renamed.contains(&new_name);
                if !taken {
                    break;
                }
            }
            renamed.push(new_name.clone());
            set.insert(new_name, value);
        }
    }
    set.insert(NAME_LABEL.to_string(), name.to_string());
    set.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// GETs `url` and reads its body (decompressed, within `max_body_bytes`). The caller
/// bounds it with `scrape_timeout_secs`.
async fn fetch(shared: &Shared, url: &str) -> Result<Body, Failure> {
    let settings = &shared.settings;
    let mut request = shared
        .client
        .get(url)
        .header(ACCEPT, ACCEPT_HEADER)
        .header(ACCEPT_ENCODING, "gzip")
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            settings.timeout.as_secs_f64().to_string(),
        );
    if let Some(bearer) = &settings.bearer {
        let token = match bearer {
            Bearer::Token(t) => t.clone(),
            Bearer::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    Failure::scrape(format!("cannot read bearer_token_file {}: {e}", path.display()))
                })?
                .trim()
                .to_string(),
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Failure::scrape("the bearer token is not a valid header value"))?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| Failure::scrape(describe(&e)))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(Failure::scrape(format!("server returned HTTP status {status}")));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let format = Format::from_content_type(header(CONTENT_TYPE).as_deref());
    let gzip = match header(CONTENT_ENCODING).as_deref().map(str::trim) {
        None | Some("") => false,
        Some(e) if e.eq_ignore_ascii_case("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(Failure::scrape(format!("unsupported Content-Encoding `{other}`")))
        }
    };
    let limit = settings.max_body_bytes;
    let too_large = || Failure::scrape(format!("the body is larger than max_body_bytes ({limit})"));
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::scrape(describe(&e)))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if gzip {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(limit as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| Failure::scrape(format!("gzip body: {e}")))?;
        if plain.len() > limit {
            return Err(too_large());
        }
        bytes = plain;
    }
    Ok(Body { bytes, format })
}

/// An error with its chain of causes (reqwest's own message names only the URL).
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::metrics::is_stale;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        let mut v: Vec<Label> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    fn target() -> ScrapeTarget {
        ScrapeTarget {
            url: "http://127.0.0.1:1/metrics".into(),
            labels: labels(&[("instance", "127.0.0.1:1"), ("job", "app")]),
        }
    }

    fn runner(settings: impl FnOnce(&mut ScrapeSettings)) -> TargetRunner {
        let telemetry = crate::telemetry::Telemetry::new();
        let mut s = ScrapeSettings {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            honor_labels: false,
            honor_timestamps: true,
            max_samples: 100,
            max_body_bytes: 1 << 20,
            bearer: None,
        };
        settings(&mut s);
        let shared = Shared {
            settings: s,
            client: reqwest::Client::new(),
            out: Fanout::default(),
            metrics: telemetry.component("scrape", "source"),
        };
        TargetRunner::new(target(), Arc::new(shared))
    }

    fn body(text: &str) -> Result<Body, Failure> {
        Ok(Body {
            bytes: text.as_bytes().to_vec(),
            format: Format::Text,
        })
    }

    /// (name, labels without __name__, value) of every sample, stale markers as "STALE".
    fn rows(b: &MetricBatch) -> Vec<(String, Vec<Label>, String)> {
        assert_eq!(b.validate(), Ok(()));
        (0..b.len())
            .map(|i| {
                let set = &b.label_sets[b.series_of[i] as usize];
                let value = if is_stale(b.values[i]) {
                    "STALE".to_string()
                } else {
                    b.values[i].to_string()
                };
                let rest = set.iter().filter(|(k, _)| k != NAME_LABEL).cloned().collect();
                (b.series_name(b.series_of[i]).to_string(), rest, value)
            })
            .collect()
    }

    #[test]
    fn target_labels_win_and_clashing_exposed_ones_become_exported() {
        let t = target().labels;
        let s = sample_labels(
            "m",
            labels(&[("job", "theirs"), ("exported_job", "taken"), ("x", "1"), ("instance", "")]),
            &t,
            false,
        );
        assert_eq!(
            s,
            labels(&[
                ("__name__", "m"),
                ("exported_exported_job", "theirs"),
                ("exported_job", "taken"),
                ("instance", "127.0.0.1:1"),
                ("job", "app"),
                ("x", "1"),
            ])
        );
        let s = sample_labels("m", labels(&[("job", "theirs"), ("instance", "")]), &t, true);
        assert_eq!(
            s,
            labels(&[("__name__", "m"), ("instance", "127.0.0.1:1"), ("job", "theirs")])
        );
    }

    #[test]
    fn a_scrape_gives_samples_with_target_labels_and_the_report() {
        let mut r = runner(|_| {});
        let b = r.scraped(
            body("# TYPE a counter\na_total{x=\"1\"} 5\nb 2 1000\n"),
            7000,
            Duration::from_millis(250),
        );
        let t = |extra: &[(&str, &str)]| {
            let mut l = extra.to_vec();
            l.extend([("instance", "127.0.0.1:1"), ("job", "app")]);
            labels(&l)
        };
        assert_eq!(
            rows(&b),
            vec![
                ("a_total".into(), t(&[("x", "1")]), "5".into()),
                ("b".into(), t(&[]), "2".into()),
                ("up".into(), t(&[]), "1".into()),
                ("scrape_duration_seconds".into(), t(&[]), "0.25".into()),
                ("scrape_samples_scraped".into(), t(&[]), "2".into()),
            ]
        );
        assert_eq!(b.timestamps, vec![7000, 1000, 7000, 7000, 7000]);
        assert_eq!(b.family_of("a_total").unwrap().kind, MetricType::Counter);
        assert_eq!(b.family_of("up").unwrap().kind, MetricType::Gauge);
    }

    #[test]
    fn missing_series_get_markers_but_not_those_with_their_own_timestamps() {
        let mut r = runner(|_| {});
        r.scraped(body("a 1\nb 2\nc 3 1000\n"), 1000, Duration::ZERO);
        let b = r.scraped(body("a 1\n"), 2000, Duration::ZERO);
        let stale: Vec<String> = rows(&b)
            .into_iter()
            .filter(|(_, _, v)| v == "STALE")
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(stale, vec!["b".to_string()], "c had its own timestamp");
        let i = b.values.iter().position(|v| is_stale(*v)).unwrap();
        assert_eq!(b.timestamps[i], 2000);
    }

    #[test]
    fn without_honor_timestamps_the_scrape_time_is_used_and_tracked() {
        let mut r = runner(|s| s.honor_timestamps = false);
        let b = r.scraped(body("c 3 1000\n"), 5000, Duration::ZERO);
        assert_eq!(b.timestamps[0], 5000);
        let b = r.scraped(body(""), 6000, Duration::ZERO);
        assert_eq!(rows(&b)[0], ("c".into(), target().labels, "STALE".into()));
    }

    #[test]
    fn a_failed_scrape_reports_down_and_marks_every_series_stale() {
        let mut r = runner(|_| {});
        r.scraped(body("a 1\nb 2\n"), 1000, Duration::ZERO);
        let b = r.scraped(body("a 1\nb{ 2\n"), 2000, Duration::ZERO);
        let got: Vec<(String, String)> = rows(&b).into_iter().map(|(n, _, v)| (n, v)).collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), "STALE".into()),
                ("b".into(), "STALE".into()),
                ("up".into(), "0".into()),
                ("scrape_duration_seconds".into(), "0".into()),
                ("scrape_samples_scraped".into(), "0".into()),
            ]
        );
        assert_eq!(
            r.failing.as_ref().map(|f| f.kind),
            Some("scrape_failed")
        );
        assert!(r.failing.as_ref().unwrap().detail.contains("line 2"));
        // Recovery brings the series back, without markers.
        let b = r.scraped(body("a 1\n"), 3000, Duration::ZERO);
        assert!(!b.values.iter().any(|v| is_stale(*v)));
        assert!(r.failing.is_none());
    }

    #[test]
    fn over_the_sample_limit_the_scrape_fails() {
        let mut r = runner(|s| s.max_samples = 2);
        let b = r.scraped(body("a 1\nb 2\nc 3\n"), 1000, Duration::ZERO);
        assert_eq!(r.failing.as_ref().map(|f| f.kind), Some("sample_limit_exceeded"));
        let up = rows(&b).into_iter().find(|(n, _, _)| n == "up").unwrap();
        assert_eq!(up.2, "0");
    }

    #[test]
    fn a_repeated_series_is_kept_once() {
        let mut r = runner(|_| {});
        let b = r.scraped(body("a 1\na 2\n"), 1000, Duration::ZERO);
        assert_eq!(rows(&b)[0].2, "1");
        assert_eq!(rows(&b)[1].0, "up");
    }

    #[test]
    fn a_removed_target_marks_its_series_and_report_stale() {
        let mut r = runner(|_| {});
        assert!(r.ended(0).is_empty(), "nothing was scraped yet");
        r.scraped(body("a 1\n"), 1000, Duration::ZERO);
        let b = r.ended(9000);
        let got: Vec<(String, String)> = rows(&b).into_iter().map(|(n, _, v)| (n, v)).collect();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec!["a", "up", "scrape_duration_seconds", "scrape_samples_scraped"]
        );
        assert!(got.iter().all(|(_, v)| v == "STALE"));
        assert!(b.timestamps.iter().all(|t| *t == 9000));
    }

    #[test]
    fn the_offset_stays_within_the_interval() {
        let d = spread_offset(&target(), Duration::from_secs(1));
        assert!(d < Duration::from_secs(1));
        assert_eq!(d, spread_offset(&target(), Duration::from_secs(1)));
    }

    /// Answers one request on 127.0.0.1 with `head` (status line and headers) and `body`;
    /// the URL, and the request head it received.
    fn answer_once(
        head: &'static str,
        body: Vec<u8>,
    ) -> (String, std::thread::JoinHandle<String>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let _ = write!(
                stream,
                "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, server)
    }

    fn fetch_from(
        head: &'static str,
        body: Vec<u8>,
        settings: impl FnOnce(&mut ScrapeSettings),
    ) -> (Result<Body, Failure>, String) {
        let (url, server) = answer_once(head, body);
        let r = runner(settings);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(fetch(&r.shared, &url));
        (result, server.join().unwrap())
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn fetch_sends_prometheus_headers_and_reads_the_format_and_gzip() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0\r\nContent-Encoding: gzip";
        let (result, request) = fetch_from(head, gzip(b"a 1\n# EOF\n"), |s| {
            s.bearer = Some(Bearer::Token("s3cret".into()));
            s.timeout = Duration::from_secs(7);
        });
        let body = result.unwrap();
        assert_eq!(body.bytes, b"a 1\n# EOF\n");
        assert_eq!(body.format, Format::OpenMetrics);
        let request = request.to_ascii_lowercase();
        for header in [
            format!("accept: {}", ACCEPT_HEADER.to_ascii_lowercase()),
            "accept-encoding: gzip".to_string(),
            "authorization: bearer s3cret".to_string(),
            "x-prometheus-scrape-timeout-seconds: 7".to_string(),
        ] {
            assert!(request.contains(&format!("{header}\r\n")), "{header} in {request}");
        }
    }

    #[test]
    fn fetch_fails_on_a_bad_status_or_a_body_over_the_limit() {
        let (result, _) = fetch_from("HTTP/1.1 503 Service Unavailable", b"busy".to_vec(), |_| {});
        let failure = result.err().unwrap();
        assert_eq!(failure.detail, "server returned HTTP status 503 Service Unavailable");
        let big = vec![b'#'; 100];
        let (result, _) = fetch_from("HTTP/1.1 200 OK", big.clone(), |s| s.max_body_bytes = 99);
        assert!(result.err().unwrap().detail.contains("larger than max_body_bytes (99)"));
        // The limit holds after decompression too (a gzip bomb is cut off).
        let head = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip";
        let (result, _) = fetch_from(head, gzip(&vec![b'#'; 1 << 20]), |s| {
            s.max_body_bytes = 4096
        });
        assert!(result.err().unwrap().detail.contains("larger than max_body_bytes (4096)"));
        let (result, _) = fetch_from("HTTP/1.1 200 OK", big, |s| s.max_body_bytes = 100);
        assert_eq!(result.unwrap().format, Format::Text);
    }
}
