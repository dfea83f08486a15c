//! What Loki does with a decoded push, modelled on one distributor in front of one
//! ingester (replication factor 1, as a single-binary Loki runs):
//!
//! 1. The distributor (`pkg/distributor/distributor.go`, `pushWithResolver`) skips streams
//!    without entries, validates each stream's labels (`validator.go`, `ValidateLabels`:
//!    every entry of a bad stream is refused) and each entry (`ValidateEntry`), and keeps
//!    the valid rest. Its refusals are answered 400 with all their messages, after the
//!    rest was stored. With a tenant ingestion rate limit, a push over it is refused whole
//!    (429) before anything is stored.
//! 2. The ingester (`pkg/ingester/instance.go`, `Push`) pushes the streams one after the
//!    other (`pkg/ingester/stream.go`, `Push`/`validateEntries`): an exact copy of the
//!    stream's last entry is skipped; an entry over the per-stream rate limit, or older than
//!    the stream's newest entry minus the out-of-order window, is refused; an exact
//!    duplicate (timestamp, line and structured metadata) is not stored twice. The loop
//!    keeps one error: the last stream's (a later stream without error clears it). So an
//!    entry refused in an earlier stream is lost while the push may be answered 204.
//!    The ingester's error wins over the distributor's 400.
//!
//! The double counts every refusal by reason, every duplicate by stream, and the entries
//! refused in pushes answered 2xx ([`Store::silently_dropped`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::limits::{Limits, Reason, TokenBucket};
use crate::wire::{self, PushedEntry, RawStream};
use crate::{Labels, StreamId};

/// `service_name` does not count toward `max_label_names_per_series`
/// (`ValidateLabels`: `if ls.Has(push.LabelServiceName) { numLabelNames-- }`).
pub const SERVICE_NAME: &str = "service_name";
/// Labels that mark Loki's own streams, whose labels are not validated.
const INTERNAL_LABELS: [&str; 2] = ["__aggregated_metric__", "__pattern__"];
/// Labels only Loki may set (from `X-Loki-Backfill-Shard`); a push carrying them is refused.
pub(crate) const RESERVED_LABELS: [&str; 2] = ["__backfill__", "__backfill_shard__"];
/// Structured metadata not counted in its size (`util.StructuredMetadataSize`).
const UNCOUNTED_METADATA: &str = "detected_level";
/// The ingester reports at most this many refused entries of a stream
/// (`ingester.max-ignored-stream-errors`).
const MAX_RETURNED_ERRORS: usize = 10;

/// One stream's ingester state.
#[derive(Default)]
pub(crate) struct StreamState {
    highest_ts: Option<i64>,
    last: Option<EntryKey>,
    limiter: Option<TokenBucket>,
    seen: HashSet<EntryKey>,
}

/// What makes two entries of a stream the same for Loki: timestamp, line and structured
/// metadata (sorted).
type EntryKey = (i64, String, Vec<(String, String)>);

fn entry_key(e: &PushedEntry) -> EntryKey {
    let mut metadata = e.metadata.clone();
    metadata.sort();
    (e.ts, e.line.clone(), metadata)
}

/// Everything the double holds and has counted.
#[derive(Default)]
pub(crate) struct Store {
    /// Entries in arrival order per (tenant, stream).
    pub(crate) streams: BTreeMap<StreamId, Vec<PushedEntry>>,
    pub(crate) state: HashMap<StreamId, StreamState>,
    pub(crate) duplicates: BTreeMap<StreamId, usize>,
    pub(crate) refused: BTreeMap<Reason, usize>,
    pub(crate) silently_dropped: usize,
    tenants: HashMap<Option<String>, TokenBucket>,
}

/// A refused entry (or stream) and Loki's message for it.
struct Refusal {
    reason: Reason,
    message: String,
}

impl Store {
    /// Ingests a decoded push; returns the status and body to answer.
    pub(crate) fn push(
        &mut self,
        limits: &Limits,
        marker: Option<&str>,
        tenant: Option<String>,
        streams: Vec<RawStream>,
        now_ns: i64,
    ) -> (u16, String) {
        let mut refused_here = 0;
        let (status, body) =
            self.push_inner(limits, marker, tenant, streams, now_ns, &mut refused_here);
        if (200..300).contains(&status) {
            self.silently_dropped += refused_here;
        }
        (status, body)
    }

    fn refuse(&mut self, reason: Reason, n: usize, refused_here: &mut usize) {
        *self.refused.entry(reason).or_default() += n;
        *refused_here += n;
    }

    fn push_inner(
        &mut self,
        limits: &Limits,
        marker: Option<&str>,
        tenant: Option<String>,
        streams: Vec<RawStream>,
        now_ns: i64,
        refused_here: &mut usize,
    ) -> (u16, String) {
        if streams.is_empty() {
            return (
                422,
                "error at least one valid stream is required for ingestion".into(),
            );
        }
        // The distributor.
        let mut errors: Vec<String> = Vec::new();
        let mut valid: Vec<(Labels, String, Vec<PushedEntry>)> = Vec::new();
        for stream in streams {
            if stream.entries.is_empty() {
                continue;
            }
            // Empty values are absent labels (syntax.ParseLabels: ls.WithoutEmpty()).
            let mut pairs: Vec<(String, String)> = stream
                .labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let text = wire::labels_string(pairs.iter().map(|(k, v)| (k, v)));
            if let Err(r) = validate_labels(limits, &pairs, &text) {
                self.refuse(r.reason, stream.entries.len(), refused_here);
                errors.push(r.message);
                continue;
            }
            let mut kept = Vec::new();
            for entry in stream.entries {
                let checked =
                    validate_entry(limits, now_ns, &text, &entry).and_then(|()| match marker {
                        Some(m) if entry.line.contains(m) => Err(Refusal {
                            reason: Reason::Marked,
                            message: format!(
                                "entry for stream '{text}' refused: its line contains {}",
                                wire::quote(m)
                            ),
                        }),
                        _ => Ok(()),
                    });
                match checked {
                    Ok(()) => kept.push(entry),
                    Err(r) => {
                        self.refuse(r.reason, 1, refused_here);
                        errors.push(r.message);
                    }
                }
            }
            if !kept.is_empty() {
                valid.push((pairs.into_iter().collect(), text, kept));
            }
        }
        let validation_error = (!errors.is_empty()).then(|| (400, grouped(&errors)));
        if valid.is_empty() {
            return validation_error.unwrap_or((204, String::new()));
        }
        if let Some(limit) = limits.ingestion_rate_limit {
            let bytes: usize = valid
                .iter()
                .flat_map(|(_, _, entries)| entries)
                .map(entry_size)
                .sum();
            let bucket = self
                .tenants
                .entry(tenant.clone())
                .or_insert_with(|| TokenBucket::new(limit));
            if bucket.limit != limit {
                *bucket = TokenBucket::new(limit);
            }
            if !bucket.allow(bytes) {
                let lines: usize = valid.iter().map(|(_, _, e)| e.len()).sum();
                self.refuse(Reason::RateLimited, lines, refused_here);
                return (
                    429,
                    format!(
                        "ingestion rate limit exceeded for user {} (limit: {} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                        tenant_name(&tenant),
                        limit.bytes_per_sec as u64
                    ),
                );
            }
        }
        // The ingester: one error survives, the last stream's.
        let mut last_error = None;
        for (labels, text, entries) in valid {
            let id = (tenant.clone(), labels);
            last_error = self.push_stream(limits, id, &text, entries, refused_here);
        }
        last_error
            .or(validation_error)
            .unwrap_or((204, String::new()))
    }

    /// One stream through the ingester; its error, if any of its entries was refused.
    fn push_stream(
        &mut self,
        limits: &Limits,
        id: StreamId,
        text: &str,
        entries: Vec<PushedEntry>,
        refused_here: &mut usize,
    ) -> Option<(u16, String)> {
        let total = entries.len();
        let mut failed: Vec<(i64, Reason, String)> = Vec::new();
        let mut stored = Vec::new();
        let mut duplicates = 0;
        let state = self.state.entry(id.clone()).or_default();
        for entry in entries {
            let key = entry_key(&entry);
            if state.last.as_ref() == Some(&key) {
                duplicates += 1;
                continue;
            }
            if let Some(limit) = limits.per_stream_rate_limit {
                let limiter = state.limiter.get_or_insert_with(|| TokenBucket::new(limit));
                if limiter.limit != limit {
                    *limiter = TokenBucket::new(limit);
                }
                let bytes = entry_size(&entry);
                if !limiter.allow(bytes) {
                    failed.push((
                        entry.ts,
                        Reason::StreamRateLimit,
                        format!(
                            "Per stream rate limit exceeded (limit: {}/sec) while attempting to ingest for stream '{text}' totaling {}, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased",
                            byte_size(limit.bytes_per_sec as u64),
                            byte_size(bytes as u64)
                        ),
                    ));
                    continue;
                }
            }
            if let Some(highest) = state.highest_ts {
                let cutoff = highest.saturating_sub(limits.out_of_order_window.as_nanos() as i64);
                if entry.ts < cutoff {
                    failed.push((
                        entry.ts,
                        Reason::TooFarBehind,
                        format!(
                            "entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}",
                            rfc3339(entry.ts),
                            rfc3339(cutoff)
                        ),
                    ));
                    continue;
                }
            }
            state.highest_ts = Some(state.highest_ts.map_or(entry.ts, |h| h.max(entry.ts)));
            state.last = Some(key.clone());
            if !state.seen.insert(key) {
                duplicates += 1;
                continue;
            }
            stored.push(entry);
        }
        if duplicates > 0 {
            *self.duplicates.entry(id.clone()).or_default() += duplicates;
        }
        if !stored.is_empty() {
            self.streams.entry(id.clone()).or_default().extend(stored);
        }
        for (_, reason, _) in &failed {
            self.refuse(*reason, 1, refused_here);
        }
        let (_, last_reason, _) = failed.last()?;
        let status = match last_reason {
            Reason::StreamRateLimit => 429,
            _ => 400,
        };
        let mut body = String::new();
        for (ts, _, message) in failed.iter().take(MAX_RETURNED_ERRORS) {
            body.push_str(&format!(
                "entry with timestamp {} ignored, reason: '{message}',\n",
                go_time(*ts)
            ));
        }
        body.push_str(&format!(
            "user '{}', total ignored: {} out of {total} for stream: {text}",
            tenant_name(&id.0),
            failed.len()
        ));
        Some((status, body))
    }
}

fn tenant_name(tenant: &Option<String>) -> &str {
    // Loki without auth_enabled files everything under the tenant "fake".
    tenant.as_deref().unwrap_or("fake")
}

/// `ValidateLabels`, on labels without empty values, sorted by name.
fn validate_labels(limits: &Limits, pairs: &[(String, String)], text: &str) -> Result<(), Refusal> {
    if pairs.is_empty() {
        return Err(Refusal {
            reason: Reason::MissingLabels,
            message: "error at least one label pair is required per stream".into(),
        });
    }
    if pairs
        .iter()
        .any(|(k, _)| INTERNAL_LABELS.contains(&k.as_str()))
    {
        return Ok(());
    }
    let mut names = pairs.len();
    if pairs.iter().any(|(k, _)| k == SERVICE_NAME) {
        names -= 1;
    }
    if names > limits.max_label_names_per_series {
        return Err(Refusal {
            reason: Reason::MaxLabelNamesPerSeries,
            message: format!(
                "entry for stream '{text}' has {names} label names; limit {}",
                limits.max_label_names_per_series
            ),
        });
    }
    let mut previous: Option<&str> = None;
    for (name, value) in pairs {
        if name.len() > limits.max_label_name_length {
            return Err(Refusal {
                reason: Reason::LabelNameTooLong,
                message: format!("stream '{text}' has label name too long: '{name}'"),
            });
        }
        if value.len() > limits.max_label_value_length {
            return Err(Refusal {
                reason: Reason::LabelValueTooLong,
                message: format!("stream '{text}' has label value too long: '{value}'"),
            });
        }
        if previous == Some(name.as_str()) {
            return Err(Refusal {
                reason: Reason::DuplicateLabelNames,
                message: format!("stream '{text}' has duplicate label name: '{name}'"),
            });
        }
        previous = Some(name);
    }
    Ok(())
}

/// `ValidateEntry`: age, future, line size, then structured metadata.
fn validate_entry(
    limits: &Limits,
    now_ns: i64,
    text: &str,
    entry: &PushedEntry,
) -> Result<(), Refusal> {
    let oldest = now_ns.saturating_sub(limits.reject_old_samples_max_age.as_nanos() as i64);
    if limits.reject_old_samples && entry.ts < oldest {
        return Err(Refusal {
            reason: Reason::GreaterThanMaxSampleAge,
            message: format!(
                "entry for stream '{text}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(entry.ts),
                rfc3339(oldest)
            ),
        });
    }
    let newest = now_ns.saturating_add(limits.creation_grace_period.as_nanos() as i64);
    if entry.ts > newest {
        return Err(Refusal {
            reason: Reason::TooFarInFuture,
            message: format!(
                "entry for stream '{text}' has timestamp too new: {}",
                rfc3339(entry.ts)
            ),
        });
    }
    if limits.max_line_size != 0 && entry.line.len() > limits.max_line_size {
        return Err(Refusal {
            reason: Reason::LineTooLong,
            message: format!(
                "max entry size '{}' bytes exceeded for stream '{text}' while adding an entry with length '{}' bytes",
                limits.max_line_size,
                entry.line.len()
            ),
        });
    }
    if !entry.metadata.is_empty() {
        if !limits.allow_structured_metadata {
            return Err(Refusal {
                reason: Reason::DisallowedStructuredMetadata,
                message: format!(
                    "stream '{text}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it"
                ),
            });
        }
        let size = metadata_size(&entry.metadata);
        let max = limits.max_structured_metadata_size;
        if max != 0 && size > max {
            return Err(Refusal {
                reason: Reason::StructuredMetadataTooLarge,
                message: format!(
                    "stream '{text}' has structured metadata too large: '{size}' bytes, limit: '{max}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it"
                ),
            });
        }
        let count = entry.metadata.len();
        let max = limits.max_structured_metadata_entries_count;
        if max != 0 && count > max {
            return Err(Refusal {
                reason: Reason::StructuredMetadataTooMany,
                message: format!(
                    "stream '{text}' has too many structured metadata labels: '{count}', limit: '{max}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it"
                ),
            });
        }
    }
    Ok(())
}

/// Structured metadata bytes as Loki counts them: names and values, `detected_level` aside.
pub fn metadata_size(metadata: &[(String, String)]) -> usize {
    metadata
        .iter()
        .filter(|(k, _)| k != UNCOUNTED_METADATA)
        .map(|(k, v)| k.len() + v.len())
        .sum()
}

/// An entry's bytes for rate limits: its line and structured metadata.
pub fn entry_size(entry: &PushedEntry) -> usize {
    entry.line.len() + metadata_size(&entry.metadata)
}

/// Loki's `GroupedErrors`: each distinct message once, prefixed `N errors like: ` when
/// there are several (Loki orders them by map iteration; here, first seen first).
fn grouped(errors: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in errors {
        match counts.iter_mut().find(|(m, _)| *m == e.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((e, 1)),
        }
    }
    let unique = counts.len();
    counts
        .iter()
        .map(|(m, n)| {
            if unique > 1 || *n > 1 {
                format!("{n} errors like: {m}")
            } else {
                m.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `datasize.ByteSize.String()`: the largest binary unit that divides the size exactly.
fn byte_size(bytes: u64) -> String {
    for (shift, unit) in [
        (60, "EB"),
        (50, "PB"),
        (40, "TB"),
        (30, "GB"),
        (20, "MB"),
        (10, "KB"),
    ] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// (year, month, day, seconds of day, nanoseconds) of a Unix time in nanoseconds, UTC.
fn civil(ns: i64) -> (i64, u32, u32, i64, i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, sod, nanos)
}

/// Go's `time.RFC3339` in UTC: `2006-01-02T15:04:05Z`.
pub fn rfc3339(ns: i64) -> String {
    let (y, mo, d, sod, _) = civil(ns);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time(ns: i64) -> String {
    let (y, mo, d, sod, nanos) = civil(ns);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_go_formats_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(
            go_time(1_700_000_000_000_000_001),
            "2023-11-14 22:13:20.000000001 +0000 UTC"
        );
        assert_eq!(
            go_time(1_700_000_000_500_000_000),
            "2023-11-14 22:13:20.5 +0000 UTC"
        );
        assert_eq!(go_time(-1), "1969-12-31 23:59:59.999999999 +0000 UTC");
    }

    #[test]
    fn sizes_print_as_datasize_prints_them() {
        assert_eq!(byte_size(3 << 20), "3MB");
        assert_eq!(byte_size(15 << 20), "15MB");
        assert_eq!(byte_size(1536), "1536B");
        assert_eq!(byte_size(2048), "2KB");
        assert_eq!(byte_size(0), "0B");
    }

    #[test]
    fn grouped_errors_read_as_lokis() {
        assert_eq!(grouped(&["a".into()]), "a");
        assert_eq!(grouped(&["a".into(), "a".into()]), "2 errors like: a");
        assert_eq!(
            grouped(&["a".into(), "b".into(), "a".into()]),
            "2 errors like: a; 1 errors like: b"
        );
    }

    #[test]
    fn detected_level_is_not_counted_in_metadata_size() {
        let m = vec![
            ("detected_level".to_string(), "info".to_string()),
            ("k".to_string(), "vv".to_string()),
        ];
        assert_eq!(metadata_size(&m), 3);
    }
}
