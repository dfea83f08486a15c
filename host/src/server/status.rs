//! The status page at `/` and its JSON at `/api/status`: the pipeline's components (name,
//! section, type, plugin) and edges, with each component's records and bytes in and out,
//! their rates, errors and discards by reason, channel fill and sink retries and backoff
//! state, read from the collector's own metrics. The page is plain HTML with the same numbers in a table (usable
//! with JavaScript off); a little inline JavaScript draws the graph with live rates on its
//! edges and refreshes every second. Everything is served from the binary, no external
//! assets. Record contents are never shown: only counts and error kinds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::telemetry::exposition::Format;
use crate::telemetry::Telemetry;

/// One component, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub name: String,
    /// `source`, `transform` or `sink`.
    pub section: &'static str,
    /// Its `type`.
    pub kind: String,
    /// The plugin's file name, for a wasm transform.
    pub plugin: Option<String>,
    /// The components it reads from.
    pub inputs: Vec<String>,
}

/// The pipeline's shape, handed to the server by whoever runs it.
#[derive(Debug, Clone, Default)]
pub struct PipelineView {
    pub nodes: Vec<NodeView>,
}

/// One component's numbers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Numbers {
    pub received_events: f64,
    pub sent_events: f64,
    pub received_bytes: f64,
    pub sent_bytes: f64,
    /// Records per second in and out, over the last sampling interval.
    pub received_per_sec: f64,
    pub sent_per_sec: f64,
    pub sent_bytes_per_sec: f64,
    /// Batches waiting in its input channel.
    pub channel_depth: f64,
    pub sink_retries: f64,
    /// A sink's requests waiting out a retry delay now, and the latest delay in seconds
    /// (0 once a request is delivered).
    pub sink_backoff_requests: f64,
    pub sink_backoff_seconds: f64,
    /// A sink's retry and backoff state in words (`backing off: 2 requests, 4.0 s`,
    /// `ok (5 retries)`, `ok`); empty for sources and transforms.
    pub sink_state: String,
    /// Errors by kind (`component_errors` and `plugin_errors` reasons), non-zero only.
    pub errors: BTreeMap<String, f64>,
    /// Records discarded by reason, non-zero only.
    pub discarded: BTreeMap<String, f64>,
    /// Values redacted by rule: a plugin counter with a `rule` label (redact-pii's
    /// `redactions_total`, as the pipeline declares it), non-zero only.
    pub redactions: BTreeMap<String, f64>,
    /// Plugin call duration quantiles in ms (over the sampling interval when calls were
    /// made in it, else since start), for wasm transforms.
    pub plugin_p50_ms: Option<f64>,
    pub plugin_p99_ms: Option<f64>,
    /// The plugin call duration histogram's cumulative buckets (upper bound, count).
    #[serde(skip)]
    call_buckets: Vec<(f64, f64)>,
}

/// The `q` quantile (0-1) of cumulative `buckets` (sorted by bound, `+Inf` last),
/// interpolated inside its bucket as Prometheus's `histogram_quantile` does.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            let share = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[derive(Debug, Clone, Serialize)]
struct ComponentStatus {
    #[serde(flatten)]
    node: NodeView,
    #[serde(flatten)]
    numbers: Numbers,
}

#[derive(Debug, Clone, Serialize)]
struct Status {
    components: Vec<ComponentStatus>,
    /// Seconds the rates were measured over.
    interval_secs: f64,
}

/// A reading of every component's counters at one time.
#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    numbers: BTreeMap<String, Numbers>,
}

/// The status routes' state: the view, and the last two readings (rates are the difference
/// between a reading and one at least a second older).
#[derive(Clone)]
pub struct StatusState {
    view: Arc<PipelineView>,
    telemetry: Telemetry,
    readings: Arc<Mutex<(Option<Snapshot>, Option<Snapshot>)>>,
}

/// Rates are measured over at least this long.
const MIN_INTERVAL: Duration = Duration::from_millis(900);

impl StatusState {
    pub fn new(view: PipelineView, telemetry: Telemetry) -> StatusState {
        StatusState {
            view: Arc::new(view),
            telemetry,
            readings: Arc::default(),
        }
    }

    /// Every component's numbers now, with rates against the last reading old enough.
    fn status(&self) -> Status {
        let now = Snapshot {
            at: Instant::now(),
            numbers: read(&self.telemetry.render(Format::Text)),
        };
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the newest reading that is at least MIN_INTERVAL old as the base.
        let (base, last) = &mut *readings;
        if let Some(l) = last.take() {
            if now.at.duration_since(l.at) >= MIN_INTERVAL {
                *base = Some(l);
            } else {
                *last = Some(l);
            }
        }
        let base_reading = base.clone();
        *last = Some(now.clone());
        drop(readings);
        let interval = base_reading
            .as_ref()
            .map(|b| now.at.duration_since(b.at).as_secs_f64())
            .unwrap_or(0.0);
        let components = self
            .view
            .nodes
            .iter()
            .map(|node| {
                let mut numbers = now.numbers.get(&node.name).cloned().unwrap_or_default();
                if let Some(before) = base_reading
                    .as_ref()
                    .and_then(|b| b.numbers.get(&node.name))
                {
                    if interval > 0.0 {
                        let rate = |now: f64, then: f64| ((now - then) / interval).max(0.0);
                        numbers.received_per_sec =
                            rate(numbers.received_events, before.received_events);
                        numbers.sent_per_sec = rate(numbers.sent_events, before.sent_events);
                        numbers.sent_bytes_per_sec = rate(numbers.sent_bytes, before.sent_bytes);
                    }
                }
                // Plugin call quantiles over the interval when calls were made in it.
                let window: Vec<(f64, f64)> = match base_reading
                    .as_ref()
                    .and_then(|b| b.numbers.get(&node.name))
                {
                    Some(before) if before.call_buckets.len() == numbers.call_buckets.len() => {
                        numbers
                            .call_buckets
                            .iter()
                            .zip(&before.call_buckets)
                            .map(|(now, then)| (now.0, now.1 - then.1))
                            .collect()
                    }
                    _ => numbers.call_buckets.clone(),
                };
                let buckets = if window.last().is_some_and(|b| b.1 > 0.0) {
                    &window
                } else {
                    &numbers.call_buckets
                };
                numbers.plugin_p50_ms = quantile(buckets, 0.5).map(|s| s * 1e3);
                numbers.plugin_p99_ms = quantile(buckets, 0.99).map(|s| s * 1e3);
                if node.section == "sink" {
                    numbers.sink_state = sink_state(&numbers);
                }
                ComponentStatus {
                    node: node.clone(),
                    numbers,
                }
            })
            .collect();
        Status {
            components,
            interval_secs: interval,
        }
    }
}

/// A sink's retry and backoff state in words, from its numbers.
pub fn sink_state(n: &Numbers) -> String {
    let retries = match n.sink_retries {
        0.0 => String::new(),
        1.0 => " (1 retry)".into(),
        r => format!(" ({r} retries)"),
    };
    match n.sink_backoff_requests {
        w if w > 0.0 => format!(
            "backing off: {w} request{}, {:.1} s{retries}",
            if w == 1.0 { "" } else { "s" },
            n.sink_backoff_seconds
        ),
        _ => format!("ok{retries}"),
    }
}

/// The per-component numbers of a text-format exposition.
fn read(exposition: &str) -> BTreeMap<String, Numbers> {
    let mut out: BTreeMap<String, Numbers> = BTreeMap::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let label = |key: &str| {
            let needle = format!("{key}=\"");
            labels.find(&needle).map(|at| {
                let rest = &labels[at + needle.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].to_string()
            })
        };
        let Some(component) = label("component_id") else {
            continue;
        };
        let n = out.entry(component).or_default();
        let reason = || label("reason").unwrap_or_else(|| "unknown".into());
        match name {
            "sluice_component_received_events_total" => n.received_events += value,
            "sluice_component_sent_events_total" => n.sent_events += value,
            "sluice_component_received_bytes_total" => n.received_bytes += value,
            "sluice_component_sent_bytes_total" => n.sent_bytes += value,
            "sluice_component_channel_depth" => n.channel_depth += value,
            "sluice_sink_retries_total" => n.sink_retries += value,
            "sluice_sink_backoff_requests" => n.sink_backoff_requests += value,
            "sluice_sink_backoff_seconds" => n.sink_backoff_seconds += value,
            "sluice_component_errors_total" | "sluice_plugin_errors_total" if value > 0.0 => {
                *n.errors.entry(reason()).or_default() += value
            }
            "sluice_component_discarded_events_total" if value > 0.0 => {
                *n.discarded.entry(reason()).or_default() += value
            }
            plugin
                if !plugin.starts_with("sluice_") && plugin.ends_with("_total") && value > 0.0 =>
            {
                if let Some(rule) = label("rule") {
                    *n.redactions.entry(rule).or_default() += value;
                }
            }
            "sluice_plugin_call_duration_seconds_bucket" => {
                let bound = match label("le").as_deref() {
                    Some("+Inf") => f64::INFINITY,
                    Some(le) => le.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                n.call_buckets.push((bound, value));
            }
            _ => {}
        }
    }
    out
}

/// `GET /api/status`.
pub async fn status_json(state: StatusState) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::to_string(&state.status()).unwrap_or_else(|_| "{}".into());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /`: the page, its table filled in on the server.
pub async fn page(state: StatusState) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = state.status();
    let mut rows = String::new();
    for c in &status.components {
        let n = &c.numbers;
        let kinds = |m: &BTreeMap<String, f64>| {
            m.iter()
                .map(|(k, v)| format!("{}: {v}", escape(k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            rows,
            "<tr data-component=\"{name}\"><td class=\"name\">{name}</td><td>{section}</td><td>{kind}{plugin}</td>\
             <td class=\"num\" data-field=\"received_per_sec\">{rin:.1}</td><td class=\"num\" data-field=\"sent_per_sec\">{rout:.1}</td>\
             <td class=\"num\" data-field=\"received_events\">{tin}</td><td class=\"num\" data-field=\"sent_events\">{tout}</td>\
             <td class=\"num\" data-field=\"sent_bytes\">{bytes}</td><td class=\"num\" data-field=\"channel_depth\">{depth}</td>\
             <td data-field=\"sink_state\">{sink}</td>\
             <td data-field=\"errors\">{errors}</td><td data-field=\"discarded\">{discarded}</td><td data-field=\"redactions\">{redactions}</td></tr>",
            name = escape(&c.node.name),
            section = c.node.section,
            kind = escape(&c.node.kind),
            plugin = c
                .node
                .plugin
                .as_deref()
                .map(|p| format!(" ({})", escape(p)))
                .unwrap_or_default(),
            rin = n.received_per_sec,
            rout = n.sent_per_sec,
            tin = n.received_events,
            tout = n.sent_events,
            bytes = n.sent_bytes,
            depth = n.channel_depth,
            sink = escape(&n.sink_state),
            errors = kinds(&n.errors),
            discarded = kinds(&n.discarded),
            redactions = kinds(&n.redactions),
        );
    }
    let html = PAGE
        .replace("{{rows}}", &rows)
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE: &str = include_str!("status.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_per_component() {
        let text = "# TYPE x counter\n\
            sluice_component_received_events_total{component_id=\"a\",component_kind=\"source\"} 10\n\
            sluice_component_sent_events_total{component_id=\"a\",component_kind=\"source\"} 9\n\
            sluice_component_errors_total{component_id=\"a\",reason=\"bad_body\"} 2\n\
            sluice_component_errors_total{component_id=\"a\",reason=\"other\"} 0\n\
            sluice_plugin_errors_total{component_id=\"t\",reason=\"trap\"} 1\n\
            sluice_component_discarded_events_total{component_id=\"t\",reason=\"plugin_failed\"} 5\n\
            redactions_total{rule=\"email\",component_id=\"t\"} 3\n\
            redactions_total{rule=\"ipv4\",component_id=\"t\"} 0\n\
            process_cpu_seconds_total 3\n";
        let n = read(text);
        assert_eq!(n["a"].received_events, 10.0);
        assert_eq!(n["a"].sent_events, 9.0);
        assert_eq!(n["a"].errors, BTreeMap::from([("bad_body".into(), 2.0)]));
        assert_eq!(n["t"].errors, BTreeMap::from([("trap".into(), 1.0)]));
        assert_eq!(n["t"].discarded["plugin_failed"], 5.0);
        assert_eq!(n["t"].redactions, BTreeMap::from([("email".into(), 3.0)]));
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let buckets = [
            (0.001, 50.0),
            (0.01, 90.0),
            (0.1, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile(&buckets, 0.5), Some(0.001));
        let p90 = quantile(&buckets, 0.9).unwrap();
        assert!((p90 - 0.01).abs() < 1e-12, "{p90}");
        let p99 = quantile(&buckets, 0.99).unwrap();
        assert!((p99 - 0.091).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(&[(f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
