//! Internal events: each function logs one structured line and bumps the matching counter,
//! so the collector's log and its metrics tell the same story. Record contents never appear
//! here (a redaction plugin may have been asked to hide them).

use super::ComponentMetrics;

/// A plugin call failed; `kind` is one of trap, timeout, memory, error, invalid_output.
pub fn plugin_call_failed(m: &ComponentMetrics, kind: &str, records: usize, detail: &str) {
    m.plugin_error(kind);
    tracing::warn!(
        component_id = %m.id,
        kind,
        records,
        detail,
        "plugin call failed; the batch goes to the on_error policy"
    );
}

/// Records were dropped on purpose (policy) or could not be delivered.
pub fn records_discarded(m: &ComponentMetrics, reason: &str, records: usize) {
    m.discarded(reason, records);
    tracing::warn!(component_id = %m.id, reason, records, "records discarded");
}

/// A source lost `bytes` it could not read (never silently: logged with the file).
pub fn bytes_lost(m: &ComponentMetrics, bytes: usize, file: &str, why: &str) {
    m.lost_bytes(bytes);
    tracing::warn!(component_id = %m.id, file, bytes, why, "bytes lost");
}

/// A component hit an error that did not lose records (retried, repaired, refused input).
pub fn component_error(m: &ComponentMetrics, kind: &str, detail: &str) {
    m.error(kind);
    tracing::warn!(component_id = %m.id, kind, detail, "component error");
}

/// A scrape of `target` failed (`kind`: `scrape_failed`, `sample_limit_exceeded`): counted
/// every time; logged when it is news (the target was up, or failed for another reason), so
/// a target that stays down logs once rather than at every interval.
pub fn scrape_failed(m: &ComponentMetrics, kind: &str, target: &str, detail: &str, news: bool) {
    m.error(kind);
    if news {
        tracing::warn!(
            component_id = %m.id,
            kind,
            scrape_target = target,
            detail,
            "scrape failed (up = 0); repeats of this failure are counted, not logged"
        );
    }
}

/// A target that was failing answered a scrape again.
pub fn scrape_recovered(m: &ComponentMetrics, target: &str) {
    tracing::info!(component_id = %m.id, scrape_target = target, "scrape succeeded again (up = 1)");
}

/// Lines were repaired rather than dropped (`truncated`, `invalid_utf8`): counted one by
/// one, logged at most once per component and reason every [`REPEAT_LOG_EVERY`] so that a
/// stream of bad lines cannot flood the log.
pub fn lines_repaired(m: &ComponentMetrics, reason: &'static str, lines: usize, detail: &str) {
    m.repaired(reason, lines);
    if first_in_window(&m.id, reason) {
        tracing::warn!(
            component_id = %m.id,
            reason,
            lines,
            detail,
            "lines repaired, not dropped (each is counted; repeats are logged again after a pause)"
        );
    }
}

/// A metrics sink refused samples of new series of `metric` at its series limit: counted
/// every time, logged once per component every [`REPEAT_LOG_EVERY`].
pub fn series_refused(m: &ComponentMetrics, metric: &str, samples: usize, limit: &str) {
    m.series_refused(metric, samples);
    if first_in_window(&m.id, "series_refused") {
        tracing::warn!(
            component_id = %m.id,
            metric,
            samples,
            limit,
            "new series refused at the series limit (each is counted in sluice_series_refused_total; repeats are logged again after a pause)"
        );
    }
}

/// A plugin logged more than its share; the rest of its messages this second were dropped.
pub fn plugin_logs_dropped(m: &ComponentMetrics) {
    m.plugin_log_dropped();
    if first_in_window(&m.id, "plugin_log_dropped") {
        tracing::warn!(
            component_id = %m.id,
            "the plugin logs too much; messages over the limit are dropped and counted"
        );
    }
}

/// How often a repeated event is logged again per component and reason.
pub const REPEAT_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// True when the event `(component, reason)` was not logged within [`REPEAT_LOG_EVERY`].
fn first_in_window(component: &str, reason: &'static str) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<HashMap<(String, &'static str), Instant>>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let last = last.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match last.get_mut(&(component.to_string(), reason)) {
        Some(at) if now.duration_since(*at) < REPEAT_LOG_EVERY => false,
        Some(at) => {
            *at = now;
            true
        }
        None => {
            last.insert((component.to_string(), reason), now);
            true
        }
    }
}
