//! The `prometheus_exporter` sink: keeps the latest value of every series it receives and
//! serves them in the Prometheus text format (0.0.4) at `path` (default `/apps/metrics`) on
//! the API server, for a Prometheus to scrape (with `honor_labels: true`, so the series
//! keep the `job` and `instance` of the target they were scraped from).
//!
//! A series leaves the exposition when a staleness marker for it arrives (the scrape
//! source sends one when a target stops exposing a series or goes away) or when it has not
//! been updated for `expire_after_secs`. Memory is bounded: each metric holds at most
//! `max_series` series and the sink `max_total_series`; samples of new series past either
//! limit are refused and counted in `sluice_series_refused_total{component_id,metric}`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde::Deserialize;

use super::Sink;
use crate::channel::Input;
use crate::component::{CheckContext, CheckError, CheckErrors, ComponentConfig};
use crate::encode::format_value;
use crate::event::metrics::{family_of, is_stale, series_name, MetricFamily, MetricType, NAME_LABEL};
use crate::event::{settle, AckStatus, Events, Label, MetricBatch, Signal};
use crate::server::{token_ok, check_route_path};
use crate::telemetry::{events, ComponentMetrics};

/// `type = "prometheus_exporter"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusExporterConfig {
    /// The route the series are served at on the API server.
    #[serde(default = "default_path")]
    pub path: String,
    /// Most series one metric (sample name) may hold; samples of new series past it are
    /// refused and counted.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// Most series the sink holds in all.
    #[serde(default = "default_max_total_series")]
    pub max_total_series: usize,
    /// A series not updated for this long leaves the exposition (for inputs that send no
    /// staleness markers).
    #[serde(default = "default_expire_after")]
    pub expire_after_secs: u64,
    /// Write each sample's timestamp (as received) after its value. Off by default: the
    /// scraping Prometheus then stamps samples with its scrape time, as for any exporter.
    #[serde(default)]
    pub timestamps: bool,
    /// When set, scrapes must carry `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

fn default_path() -> String {
    "/apps/metrics".into()
}
fn default_max_series() -> usize {
    1000
}
fn default_max_total_series() -> usize {
    100_000
}
fn default_expire_after() -> u64 {
    300
}

impl ComponentConfig<dyn Sink> for PrometheusExporterConfig {
    fn check(self, _: &CheckContext<'_>) -> Result<Box<dyn Sink>, CheckErrors> {
        let mut errors = Vec::new();
        if let Err(e) = check_route_path(&self.path) {
            errors.push(CheckError::at("path", e));
        }
        if self.max_series == 0 {
            errors.push(CheckError::at("max_series", "must be at least 1"));
        }
        if self.max_total_series < self.max_series {
            errors.push(CheckError::at(
                "max_total_series",
                format!("must be at least `max_series` ({})", self.max_series),
            ));
        }
        if self.expire_after_secs == 0 {
            errors.push(CheckError::at("expire_after_secs", "must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(CheckErrors(errors));
        }
        Ok(Box::new(Exporter {
            store: Arc::new(Mutex::new(Store::default())),
            config: self,
        }))
    }
}

/// The checked sink: its config and the store its route reads.
struct Exporter {
    config: PrometheusExporterConfig,
    store: Arc<Mutex<Store>>,
}

/// One series' latest sample.
#[derive(Debug, Clone)]
struct Latest {
    value: f64,
    timestamp_ms: i64,
    updated: Instant,
}

/// Every series held, with the family metadata seen for them.
#[derive(Debug, Default)]
struct Store {
    series: HashMap<Vec<Label>, Latest>,
    /// Series held per metric (sample) name.
    per_metric: HashMap<String, usize>,
    families: HashMap<String, MetricFamily>,
}

/// Samples of one batch the limits refused, per metric name.
type Refused = BTreeMap<String, (usize, &'static str)>;

impl Store {
    /// Takes in one batch: updates series, removes those a staleness marker ends, refuses
    /// new series past the limits.
    fn apply(&mut self, batch: &MetricBatch, limits: &PrometheusExporterConfig) -> Refused {
        let mut refused = Refused::new();
        let now = Instant::now();
        for f in &batch.families {
            self.families.insert(f.name.clone(), f.clone());
        }
        for i in 0..batch.len() {
            let set = &batch.label_sets[batch.series_of[i] as usize];
            let value = batch.values[i];
            let name = series_name(set);
            if is_stale(value) {
                if self.series.remove(set).is_some() {
                    self.forget(name);
                }
                continue;
            }
            let latest = Latest {
                value,
                timestamp_ms: batch.timestamps[i],
                updated: now,
            };
            if let Some(held) = self.series.get_mut(set) {
                // Keep the newest; an older sample arriving late does not win.
                if latest.timestamp_ms >= held.timestamp_ms {
                    *held = latest;
                }
                continue;
            }
            let count = self.per_metric.get(name).copied().unwrap_or(0);
            let limit = if count >= limits.max_series {
                Some("max_series")
            } else if self.series.len() >= limits.max_total_series {
                Some("max_total_series")
            } else {
                None
            };
            if let Some(limit) = limit {
                refused.entry(name.to_string()).or_insert((0, limit)).0 += 1;
                continue;
            }
            *self.per_metric.entry(name.to_string()).or_insert(0) += 1;
            self.series.insert(set.clone(), latest);
        }
        refused
    }

    fn forget(&mut self, name: &str) {
        if let Some(n) = self.per_metric.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                self.per_metric.remove(name);
            }
        }
    }

    /// Removes series not updated within `max_age`.
    fn expire(&mut self, max_age: Duration) {
        let now = Instant::now();
        let old: Vec<Vec<Label>> = self
            .series
            .iter()
            .filter(|(_, l)| now.duration_since(l.updated) > max_age)
            .map(|(k, _)| k.clone())
            .collect();
        for set in old {
            self.series.remove(&set);
            self.forget(series_name(&set));
        }
        let names = &self.per_metric;
        self.families.retain(|family, f| {
            names.contains_key(family.as_str())
                || f.kind
                    .sample_suffixes()
                    .iter()
                    .any(|s| names.contains_key(&format!("{family}{s}")))
        });
    }

    /// The exposition in the text format 0.0.4.
    fn render(&self, timestamps: bool) -> String {
        let families: Vec<MetricFamily> = self.families.values().cloned().collect();
        // Text-format family name -> (type, help, series).
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (set, latest) in &self.series {
            let name = series_name(set);
            let family = family_of(&families, name);
            let Some((key, kind)) = text_family(name, family) else {
                continue; // `_created` samples have no place in the text format
            };
            let group = groups.entry(key).or_insert_with(|| Group {
                kind,
                help: family.map(|f| f.help.clone()).unwrap_or_default(),
                series: Vec::new(),
            });
            group.series.push((set, latest));
        }
        let mut out = String::new();
        for (name, group) in groups {
            // Each series' sort key once (not per comparison: cloning labels in the
            // comparator made 100k series take seconds, with the store locked).
            let mut series: Vec<_> = group
                .series
                .into_iter()
                .map(|(set, latest)| (SeriesKey::of(set), set, latest))
                .collect();
            series.sort_by(|a, b| a.0.cmp(&b.0));
            if !group.help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {}", escape_help(&group.help));
            }
            let _ = writeln!(out, "# TYPE {name} {}", group.kind);
            for (_, set, latest) in series {
                write_sample(&mut out, set, latest, timestamps);
            }
        }
        out
    }
}

/// One family of the text exposition.
struct Group<'a> {
    kind: &'static str,
    help: String,
    series: Vec<(&'a Vec<Label>, &'a Latest)>,
}

/// The text-format family a sample name is written under, and its type there; None for
/// samples the text format has no place for. The text format names a counter by its
/// samples (`foo_total`), keeps histograms and summaries under the family name, and has no
/// info, stateset or gauge-histogram: those are written as gauges or untyped.
fn text_family(name: &str, family: Option<&MetricFamily>) -> Option<(String, &'static str)> {
    let Some(f) = family else {
        return Some((name.to_string(), "untyped"));
    };
    let suffix = name.strip_prefix(f.name.as_str()).unwrap_or("");
    if suffix == "_created" {
        return None;
    }
    Some(match f.kind {
        MetricType::Counter => (name.to_string(), "counter"),
        MetricType::Gauge => (name.to_string(), "gauge"),
        MetricType::Histogram => (f.name.clone(), "histogram"),
        MetricType::Summary => (f.name.clone(), "summary"),
        MetricType::Info | MetricType::StateSet => (name.to_string(), "gauge"),
        MetricType::GaugeHistogram | MetricType::Unknown => (name.to_string(), "untyped"),
    })
}

/// Where a series goes in its family: by labels other than `le`, then name, then `le` as
/// a number (so buckets read in ascending order, `+Inf` last).
struct SeriesKey<'a> {
    rest: Vec<&'a Label>,
    name: &'a str,
    le: f64,
}

impl<'a> SeriesKey<'a> {
    fn of(set: &'a [Label]) -> SeriesKey<'a> {
        SeriesKey {
            rest: set
                .iter()
                .filter(|(k, _)| k != "le" && k != NAME_LABEL)
                .collect(),
            name: series_name(set),
            le: set
                .iter()
                .find(|(k, _)| k == "le")
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .unwrap_or(f64::NEG_INFINITY),
        }
    }

    fn cmp(&self, other: &SeriesKey<'_>) -> std::cmp::Ordering {
        self.rest
            .cmp(&other.rest)
            .then_with(|| self.name.cmp(other.name))
            .then_with(|| self.le.total_cmp(&other.le))
    }
}

fn write_sample(out: &mut String, set: &[Label], latest: &Latest, timestamps: bool) {
    out.push_str(series_name(set));
    let mut first = true;
    for (k, v) in set.iter().filter(|(k, _)| k != NAME_LABEL) {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(latest.value));
    if timestamps {
        let _ = write!(out, " {}", latest.timestamp_ms);
    }
    out.push('\n');
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

impl Sink for Exporter {
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn serve_path(&self) -> Option<&str> {
        Some(&self.config.path)
    }

    fn route(&mut self) -> Option<axum::Router> {
        let store = self.store.clone();
        let token = self.config.token.clone();
        let timestamps = self.config.timestamps;
        let max_age = Duration::from_secs(self.config.expire_after_secs);
        let handler = move |headers: HeaderMap| async move {
            if !token_ok(&headers, token.as_deref()) {
                return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
            }
            let body = {
                let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
                store.expire(max_age);
                store.render(timestamps)
            };
            exposition(body)
        };
        Some(axum::Router::new().route(&self.config.path, axum::routing::get(handler)))
    }

    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, input, metrics))
    }
}

fn exposition(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Takes in every batch; each is acknowledged once its samples are in the store.
async fn run(exporter: Exporter, mut input: Input, metrics: ComponentMetrics) {
    let max_age = Duration::from_secs(exporter.config.expire_after_secs);
    let mut last_expiry = Instant::now();
    while let Some(events) = input.recv().await {
        let mut batch = match events {
            Events::Metrics(batch) => batch,
            Events::Logs(mut logs) => {
                // The topology check keeps logs away from this sink.
                events::component_error(&metrics, "wrong_signal", "a log batch reached a metrics sink; refused");
                settle(logs.take_acks(), AckStatus::Failed);
                continue;
            }
        };
        let (samples, bytes) = (batch.len(), batch.approx_bytes());
        metrics.received(samples, bytes);
        let refused = {
            let mut store = exporter.store.lock().unwrap_or_else(|e| e.into_inner());
            if last_expiry.elapsed() > Duration::from_secs(10) {
                store.expire(max_age);
                last_expiry = Instant::now();
            }
            store.apply(&batch, &exporter.config)
        };
        let mut refused_samples = 0;
        for (metric, (n, limit)) in &refused {
            events::series_refused(&metrics, metric, *n, limit);
            refused_samples += n;
        }
        metrics.sent(samples - refused_samples, bytes);
        settle(batch.take_acks(), AckStatus::Delivered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::metrics::stale_nan;

    fn config() -> PrometheusExporterConfig {
        toml::from_str("max_series = 2\nmax_total_series = 3").unwrap()
    }

    fn series(name: &str, labels: &[(&str, &str)]) -> Vec<Label> {
        let mut s: Vec<Label> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.push((NAME_LABEL.into(), name.into()));
        s.sort();
        s
    }

    fn batch(samples: &[(Vec<Label>, f64)]) -> MetricBatch {
        let mut b = MetricBatch::default();
        for (i, (set, v)) in samples.iter().enumerate() {
            let s = b.intern_series(set);
            b.push(s, *v, 1000 + i as i64);
        }
        b
    }

    #[test]
    fn families_render_with_help_and_type_in_the_text_format() {
        let mut store = Store::default();
        let mut b = batch(&[
            (series("http_requests_total", &[("code", "200"), ("user", "a\"b")]), 3.0),
            (series("latency_seconds_bucket", &[("le", "+Inf")]), 4.0),
            (series("latency_seconds_bucket", &[("le", "0.5")]), 1.0),
            (series("latency_seconds_sum", &[]), 2.5),
            (series("latency_seconds_count", &[]), 4.0),
            (series("http_requests_created", &[("code", "200")]), 1.7e9),
            (series("mystery", &[]), f64::INFINITY),
        ]);
        b.add_family(MetricFamily {
            name: "http_requests".into(),
            kind: MetricType::Counter,
            help: "Requests\nserved".into(),
            unit: String::new(),
        });
        b.add_family(MetricFamily {
            name: "latency_seconds".into(),
            kind: MetricType::Histogram,
            help: "Latency".into(),
            unit: "seconds".into(),
        });
        let limits: PrometheusExporterConfig = toml::from_str("").unwrap();
        assert!(store.apply(&b, &limits).is_empty());
        assert_eq!(
            store.render(false),
            "# HELP http_requests_total Requests\\nserved\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",user=\"a\\\"b\"} 3\n\
             # HELP latency_seconds Latency\n\
             # TYPE latency_seconds histogram\n\
             latency_seconds_bucket{le=\"0.5\"} 1\n\
             latency_seconds_bucket{le=\"+Inf\"} 4\n\
             latency_seconds_count 4\n\
             latency_seconds_sum 2.5\n\
             # TYPE mystery untyped\n\
             mystery +Inf\n"
        );
    }

    #[test]
    fn a_staleness_marker_removes_the_series_and_frees_its_place() {
        let mut store = Store::default();
        let a = series("x", &[("k", "a")]);
        let b = series("x", &[("k", "b")]);
        let c = series("x", &[("k", "c")]);
        let limits = config();
        store.apply(&batch(&[(a.clone(), 1.0), (b.clone(), 1.0)]), &limits);
        let refused = store.apply(&batch(&[(c.clone(), 1.0)]), &limits);
        assert_eq!(refused.get("x"), Some(&(1, "max_series")));
        store.apply(&batch(&[(a.clone(), stale_nan())]), &limits);
        assert!(!store.render(false).contains("k=\"a\""));
        assert!(store.apply(&batch(&[(c, 2.0)]), &limits).is_empty());
        assert!(store.render(false).contains("x{k=\"c\"} 2"));
    }

    #[test]
    fn the_total_limit_holds_across_metrics_and_old_series_expire() {
        let mut store = Store::default();
        let limits = config();
        let samples: Vec<(Vec<Label>, f64)> =
            ["a", "b", "c", "d"].iter().map(|n| (series(n, &[]), 1.0)).collect();
        let refused = store.apply(&batch(&samples), &limits);
        assert_eq!(refused.get("d"), Some(&(1, "max_total_series")));
        std::thread::sleep(Duration::from_millis(20));
        store.expire(Duration::from_millis(10));
        assert_eq!(store.render(false), "");
        assert!(store.per_metric.is_empty());
    }

    #[test]
    fn a_late_older_sample_does_not_replace_a_newer_one() {
        let mut store = Store::default();
        let limits = config();
        let s = series("g", &[]);
        let mut b = MetricBatch::default();
        let i = b.intern_series(&s);
        b.push(i, 2.0, 2000);
        b.push(i, 1.0, 1000);
        store.apply(&b, &limits);
        assert_eq!(store.render(true), "# TYPE g untyped\ng 2 2000\n");
    }

    #[test]
    fn check_refuses_bad_paths_and_limits() {
        let checked = crate::component::check_toml::<dyn Sink, PrometheusExporterConfig>(
            "e",
            std::path::Path::new("."),
            "path = \"/metrics\"\nmax_series = 0",
        );
        let Err(CheckErrors(errors)) = checked else {
            panic!("accepted")
        };
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["path", "max_series"]);
    }
}
