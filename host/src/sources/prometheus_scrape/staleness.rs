//! Staleness bookkeeping for one target, as Prometheus keeps it: the series its last
//! scrape gave, so that a series missing from the next scrape (or from a failed one, or
//! from every scrape once the target goes away) gets a staleness marker.
//!
//! Only series whose samples carried the scrape's own time are remembered: a series that
//! exposes its own timestamps is not marked stale, as in Prometheus.

use std::collections::HashSet;

use crate::event::Label;

/// A series: its sorted label set, `__name__` included.
pub type Series = Vec<Label>;

/// The series a target's last scrape gave.
#[derive(Debug, Default)]
pub struct SeriesMemory {
    last: HashSet<Series>,
}

impl SeriesMemory {
    /// Remembers `current` (what this scrape gave) instead of the last scrape's series;
    /// returns the series that were in the last scrape and are not in this one, sorted.
    pub fn replace(&mut self, current: HashSet<Series>) -> Vec<Series> {
        let previous = std::mem::replace(&mut self.last, current);
        let mut gone: Vec<Series> = previous
            .into_iter()
            .filter(|s| !self.last.contains(s))
            .collect();
        gone.sort();
        gone
    }

    /// Forgets every series; returns them sorted (a failed scrape, or the target's end).
    pub fn take_all(&mut self) -> Vec<Series> {
        self.replace(HashSet::new())
    }

    /// How many series are remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True when no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str) -> Series {
        vec![("__name__".to_string(), name.to_string())]
    }

    fn set(names: &[&str]) -> HashSet<Series> {
        names.iter().map(|n| series(n)).collect()
    }

    #[test]
    fn series_missing_from_the_next_scrape_are_returned_once() {
        let mut m = SeriesMemory::default();
        assert!(m.replace(set(&["a", "b", "c"])).is_empty(), "the first scrape");
        assert_eq!(m.replace(set(&["a", "d"])), vec![series("b"), series("c")]);
        assert!(m.replace(set(&["a", "d"])).is_empty(), "already marked");
        assert_eq!(m.replace(set(&["d", "b"])), vec![series("a")]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn take_all_forgets_everything() {
        let mut m = SeriesMemory::default();
        m.replace(set(&["b", "a"]));
        assert_eq!(m.take_all(), vec![series("a"), series("b")]);
        assert!(m.is_empty());
        assert!(m.take_all().is_empty());
    }
}
