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

/// A component hit an error that did not lose records (retried, repaired, refused input).
pub fn component_error(m: &ComponentMetrics, kind: &str, detail: &str) {
    m.error(kind);
    tracing::warn!(component_id = %m.id, kind, detail, "component error");
}
