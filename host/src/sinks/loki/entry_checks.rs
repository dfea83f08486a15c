//! What Loki would refuse about an entry that the sink can know before sending it: an entry
//! older than `reject_old_samples_max_age`, further in the future than
//! `creation_grace_period`, further behind its stream's newest entry than the out-of-order
//! window (`max_chunk_age / 2`), or carrying more structured metadata than
//! `max_structured_metadata_size` / `max_structured_metadata_entries_count`.
//!
//! Checked here because Loki answers a push by its *last* stream's error only: an entry it
//! refuses in an earlier stream is dropped while the request gets 204. The sink dead-letters
//! and counts such entries instead of sending them (docs/loki.md lists what is caught and
//! what only Loki can report).

use std::collections::HashMap;
use std::sync::Arc;

use super::StreamKey;

/// Loki's limits as the sink applies them, in nanoseconds and bytes (0: that check is off).
#[derive(Debug, Clone, Copy)]
pub struct EntryLimits {
    pub out_of_order_window_ns: i64,
    pub max_age_ns: i64,
    pub grace_ns: i64,
    pub max_metadata_bytes: usize,
    pub max_metadata_entries: usize,
}

/// Why an entry would be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryRefusal {
    TooOld,
    TooNew,
    TooFarBehind,
    MetadataTooLarge,
}

impl EntryRefusal {
    /// The discard counter's reason and the dead-letter row's.
    pub fn reason(self) -> &'static str {
        match self {
            EntryRefusal::TooOld => "too_old",
            EntryRefusal::TooNew => "too_new",
            EntryRefusal::TooFarBehind => "too_far_behind",
            EntryRefusal::MetadataTooLarge => "metadata_too_large",
        }
    }

    /// What Loki would have said, and which sink key sets the limit.
    pub fn message(self) -> &'static str {
        match self {
            EntryRefusal::TooOld => {
                "older than reject_old_samples_max_age_secs: Loki refuses it (entry too old)"
            }
            EntryRefusal::TooNew => {
                "newer than now + creation_grace_period_secs: Loki refuses it (entry too far in the future)"
            }
            EntryRefusal::TooFarBehind => {
                "older than its stream's newest entry minus out_of_order_window_secs: Loki refuses it (entry too far behind)"
            }
            EntryRefusal::MetadataTooLarge => {
                "more structured metadata than max_structured_metadata_bytes / _entries: Loki refuses it"
            }
        }
    }
}

impl EntryLimits {
    /// Whether an entry at `ts` with `metadata` (pairs, bytes) may be sent at `now`, to a
    /// stream whose newest entry so far is `newest`.
    pub fn check(
        &self,
        now: i64,
        newest: Option<i64>,
        ts: i64,
        metadata: (usize, usize),
    ) -> Result<(), EntryRefusal> {
        if self.max_age_ns > 0 && ts < now.saturating_sub(self.max_age_ns) {
            return Err(EntryRefusal::TooOld);
        }
        if self.grace_ns > 0 && ts > now.saturating_add(self.grace_ns) {
            return Err(EntryRefusal::TooNew);
        }
        if self.out_of_order_window_ns > 0 {
            if let Some(newest) = newest {
                if ts < newest.saturating_sub(self.out_of_order_window_ns) {
                    return Err(EntryRefusal::TooFarBehind);
                }
            }
        }
        let (pairs, bytes) = metadata;
        if (self.max_metadata_entries > 0 && pairs > self.max_metadata_entries)
            || (self.max_metadata_bytes > 0 && bytes > self.max_metadata_bytes)
        {
            return Err(EntryRefusal::MetadataTooLarge);
        }
        Ok(())
    }
}

/// The newest timestamp the sink has sent per stream, for the out-of-order window. Bounded:
/// past `limit` streams it starts over (a stream forgotten that way can lose the check for
/// one entry, which Loki then answers itself).
#[derive(Debug, Default)]
pub struct NewestByStream {
    newest: HashMap<Arc<StreamKey>, i64>,
    limit: usize,
}

impl NewestByStream {
    pub fn new(limit: usize) -> NewestByStream {
        NewestByStream {
            newest: HashMap::new(),
            limit: limit.max(1),
        }
    }

    pub fn get(&self, key: &StreamKey) -> Option<i64> {
        self.newest.get(key).copied()
    }

    /// Records that `key` was sent an entry at `ts`.
    pub fn observe(&mut self, key: &Arc<StreamKey>, ts: i64) {
        if let Some(newest) = self.newest.get_mut(key) {
            *newest = (*newest).max(ts);
            return;
        }
        if self.newest.len() >= self.limit {
            self.newest.clear();
        }
        self.newest.insert(key.clone(), ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn limits() -> EntryLimits {
        EntryLimits {
            out_of_order_window_ns: 3600 * S,
            max_age_ns: 7 * 86_400 * S,
            grace_ns: 600 * S,
            max_metadata_bytes: 64 * 1024,
            max_metadata_entries: 128,
        }
    }

    #[test]
    fn each_limit_refuses_just_past_its_edge() {
        let l = limits();
        let now = 1_800_000_000 * S;
        let ok = |newest, ts, md| l.check(now, newest, ts, md);
        assert_eq!(ok(None, now, (0, 0)), Ok(()));
        assert_eq!(ok(None, now - 7 * 86_400 * S, (0, 0)), Ok(()));
        assert_eq!(ok(None, now - 7 * 86_400 * S - 1, (0, 0)), Err(EntryRefusal::TooOld));
        assert_eq!(ok(None, now + 600 * S, (0, 0)), Ok(()));
        assert_eq!(ok(None, now + 600 * S + 1, (0, 0)), Err(EntryRefusal::TooNew));
        assert_eq!(ok(Some(now), now - 3600 * S, (0, 0)), Ok(()));
        assert_eq!(ok(Some(now), now - 3600 * S - 1, (0, 0)), Err(EntryRefusal::TooFarBehind));
        assert_eq!(ok(None, now, (128, 64 * 1024)), Ok(()));
        assert_eq!(ok(None, now, (129, 10)), Err(EntryRefusal::MetadataTooLarge));
        assert_eq!(ok(None, now, (1, 64 * 1024 + 1)), Err(EntryRefusal::MetadataTooLarge));
    }

    #[test]
    fn zero_turns_a_check_off() {
        let off = EntryLimits {
            out_of_order_window_ns: 0,
            max_age_ns: 0,
            grace_ns: 0,
            max_metadata_bytes: 0,
            max_metadata_entries: 0,
        };
        assert_eq!(off.check(100 * S, Some(100 * S), 0, (1000, 1 << 30)), Ok(()));
        assert_eq!(off.check(0, None, i64::MAX, (0, 0)), Ok(()));
    }

    #[test]
    fn newest_keeps_the_maximum_and_stays_bounded() {
        let key = |n: &str| {
            Arc::new(StreamKey {
                tenant: None,
                labels: n.into(),
            })
        };
        let mut newest = NewestByStream::new(2);
        let a = key("{a=\"1\"}");
        newest.observe(&a, 10);
        newest.observe(&a, 5);
        assert_eq!(newest.get(&a), Some(10));
        newest.observe(&key("{b=\"1\"}"), 1);
        newest.observe(&key("{c=\"1\"}"), 1);
        assert!(newest.newest.len() <= 2);
    }
}
