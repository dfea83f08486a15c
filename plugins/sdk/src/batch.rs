//! [`Batch`]: records to read and change on top of the WIT `log-batch` columns.
//!
//! Reads slice the columns directly. Edits rebuild only the columns they touch, in one pass,
//! copying nothing until the first change: [`Batch::map_lines`] (the hot path for
//! redaction), [`Batch::map_metadata_values`], [`Batch::retain`]. Label edits re-intern
//! label sets through a hash index; metadata edits are queued and applied in one pass.
//! [`Batch::into_log_batch`] returns columns that satisfy every rule in the WIT doc comment.

use crate::text::{eq_bytes, push_short};
use crate::LogBatch;
use std::collections::HashMap;
use std::ops::Range;

/// One label: (name, value).
pub type Label = (String, String);

/// A batch of log records (see the module docs). Build one from the host's columns with
/// `Batch::from(log_batch)`, or empty with [`Batch::default`] and [`Batch::push`].
#[derive(Debug, Default)]
pub struct Batch {
    cols: LogBatch,
    /// Hash of a label set -> indices of the sets with that hash; built on first label edit.
    set_index: Option<HashMap<u64, Vec<u32>>>,
    /// Recent label edits: (set before, name, value or removal) -> set after. Valid while
    /// `set_index` is (sets are only appended meanwhile); a parser setting `level` on every
    /// record then finds its set without hashing and comparing whole label sets.
    relabels: Vec<Relabel>,
    /// Label sets may be unused, duplicated or unsorted: normalise on return.
    labels_dirty: bool,
    /// Queued metadata edits; their keys and values live in `edit_buf`.
    edits: Vec<MetaEdit>,
    edit_buf: String,
    /// The records and lines are still the host's as sent (no line replaced, no record
    /// added or dropped): [`Batch::into_reply`] can then leave the lines out.
    lines_as_sent: bool,
    /// Every record's metadata is still what the host sent: with the lines kept,
    /// [`Batch::into_reply`] can leave the metadata out too.
    metadata_as_sent: bool,
}

/// One entry of [`Batch::relabels`].
#[derive(Debug, Clone)]
struct Relabel {
    from: u32,
    name: String,
    value: Option<String>,
    to: u32,
}

/// How many recent label edits [`Batch::relabels`] remembers.
const RELABEL_MEMO: usize = 16;

#[derive(Debug, Clone, Copy)]
struct MetaEdit {
    record: u32,
    /// `edit_buf[start..key_end]` is the key, `edit_buf[key_end..value_end]` the value.
    start: u32,
    key_end: u32,
    value_end: u32,
    remove: bool,
}

impl From<LogBatch> for Batch {
    /// Wraps the host's columns without copying or checking them (the host only sends
    /// batches that satisfy the WIT rules; see [`validate`]).
    fn from(cols: LogBatch) -> Batch {
        Batch {
            cols,
            lines_as_sent: true,
            metadata_as_sent: true,
            ..Batch::default()
        }
    }
}

/// Start of entry `i` in an end-offset column (`ends[i-1]`, or 0).
#[inline]
fn start(ends: &[u32], i: usize) -> usize {
    if i == 0 {
        0
    } else {
        ends[i - 1] as usize
    }
}

#[inline]
fn span(ends: &[u32], i: usize) -> Range<usize> {
    start(ends, i)..ends[i] as usize
}

/// FNV-1a over a label set, for interning.
fn hash_set<'a>(set: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (n, v) in set {
        for b in n.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn as_refs(set: &[Label]) -> impl Iterator<Item = (&str, &str)> + Clone {
    set.iter().map(|(n, v)| (n.as_str(), v.as_str()))
}

/// `set` (sorted by name) with `name` set to `value`, or removed when `value` is `None`.
fn edited<'a>(
    set: &'a [Label],
    name: &'a str,
    value: Option<&'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> + Clone {
    let p = set.partition_point(|(n, _)| n.as_str() < name);
    let skip = usize::from(set.get(p).is_some_and(|(n, _)| n == name));
    as_refs(&set[..p])
        .chain(value.map(|v| (name, v)))
        .chain(as_refs(&set[p + skip..]))
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.cols.line_ends.len()
    }

    /// True when the batch holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `i` (panics when `i >= len()`).
    pub fn record(&self, i: usize) -> Record<'_> {
        assert!(i < self.len(), "record {i} out of range ({})", self.len());
        Record { batch: self, i }
    }

    /// The records, in order.
    pub fn iter(&self) -> Records<'_> {
        Records {
            batch: self,
            range: 0..self.len(),
        }
    }

    /// The columns, read-only (metadata edits not yet applied are not in them).
    pub fn columns(&self) -> &LogBatch {
        &self.cols
    }

    /// The metadata columns, for reading many records' pairs faster than through
    /// [`Record::metadata`] (the text is checked for ASCII once; queued edits are not in
    /// them).
    pub fn metadata_columns(&self) -> MetadataColumns<'_> {
        MetadataColumns {
            cols: &self.cols,
            ascii: is_ascii(self.cols.metadata.as_bytes()),
        }
    }

    /// Applies queued edits, normalises label sets and returns columns that satisfy every
    /// rule of the WIT `log-batch` doc comment.
    pub fn into_log_batch(mut self) -> LogBatch {
        self.apply_metadata_edits();
        self.normalise_label_sets();
        self.cols
    }

    /// The columns to return to the host: [`Batch::into_log_batch`], except that when the
    /// records and their lines are still those the host sent, `lines` and `line-ends` are
    /// left empty (the contract's "lines kept" form, 0.1.1) and the host keeps its own
    /// copy: nothing is copied back out of the guest or checked again. When their
    /// metadata is unchanged too, the three metadata columns are left empty as well
    /// ("metadata kept", 0.1.4).
    pub fn into_reply(self) -> LogBatch {
        let keep = self.lines_as_sent && !self.is_empty();
        let keep_metadata = keep && self.metadata_as_sent;
        let mut cols = self.into_log_batch();
        if keep {
            cols.lines = String::new();
            cols.line_ends = Vec::new();
        }
        if keep_metadata {
            cols.metadata = String::new();
            cols.metadata_ends = Vec::new();
            cols.record_metadata_ends = Vec::new();
        }
        cols
    }

    // ----- lines and timestamps -----

    /// Rewrites lines in one pass: `f(i, line, out)` writes a replacement for record `i`
    /// into `out` (cleared before each call) and returns true, or returns false to keep the
    /// line. Nothing is copied until the first replacement; the new `lines` buffer is built
    /// once and `out` is reused, so there is no per-record allocation.
    pub fn map_lines(&mut self, mut f: impl FnMut(usize, &str, &mut String) -> bool) {
        let lines = &self.cols.lines;
        let ends = &mut self.cols.line_ends;
        let mut out = String::new();
        let mut new: Option<String> = None;
        let mut old_start = 0usize;
        for (i, end) in ends.iter_mut().enumerate() {
            let old_end = *end as usize;
            let line = &lines[old_start..old_end];
            out.clear();
            let changed = f(i, line, &mut out);
            if changed && new.is_none() {
                let mut buf = String::with_capacity(lines.len() + lines.len() / 8 + out.len());
                buf.push_str(&lines[..old_start]);
                new = Some(buf);
            }
            if let Some(buf) = new.as_mut() {
                buf.push_str(if changed { &out } else { line });
                *end = buf.len() as u32;
            }
            old_start = old_end;
        }
        if let Some(buf) = new {
            self.cols.lines = buf;
            self.lines_as_sent = false;
        }
    }

    /// Sets record `i`'s timestamp (nanoseconds since the Unix epoch).
    pub fn set_timestamp(&mut self, i: usize, nanos: i64) {
        self.cols.timestamps[i] = nanos;
    }

    // ----- labels -----

    /// Sets label `name` of record `i` to `value` (adding it if missing), re-interning the
    /// record's label set: sets stay sorted by name, without duplicates, each listed once.
    pub fn set_label(&mut self, i: usize, name: &str, value: &str) {
        let set = &self.cols.label_sets[self.cols.label_set_of[i] as usize];
        if set.iter().any(|(n, v)| {
            eq_bytes(n.as_bytes(), name.as_bytes()) && eq_bytes(v.as_bytes(), value.as_bytes())
        }) {
            return;
        }
        self.relabel(i, name, Some(value));
    }

    /// Removes label `name` from record `i` (no-op when absent).
    pub fn remove_label(&mut self, i: usize, name: &str) {
        let set = &self.cols.label_sets[self.cols.label_set_of[i] as usize];
        if set.iter().any(|(n, _)| n == name) {
            self.relabel(i, name, None);
        }
    }

    /// Drops the label-set index and, with it, the label-edit memo built on the same sets
    /// (call whenever sets are edited in place or renumbered).
    fn forget_label_index(&mut self) {
        self.set_index = None;
        self.relabels.clear();
    }

    fn relabel(&mut self, i: usize, name: &str, value: Option<&str>) {
        let from = self.cols.label_set_of[i];
        if let Some(hit) = self.relabels.iter().find(|r| {
            r.from == from
                && eq_bytes(r.name.as_bytes(), name.as_bytes())
                && match (r.value.as_deref(), value) {
                    (Some(a), Some(b)) => eq_bytes(a.as_bytes(), b.as_bytes()),
                    (a, b) => a.is_none() && b.is_none(),
                }
        }) {
            self.cols.label_set_of[i] = hit.to;
            self.labels_dirty = true;
            return;
        }
        if self.set_index.is_none() {
            let mut index: HashMap<u64, Vec<u32>> = HashMap::new();
            for (s, set) in self.cols.label_sets.iter().enumerate() {
                index
                    .entry(hash_set(as_refs(set)))
                    .or_default()
                    .push(s as u32);
            }
            self.set_index = Some(index);
        }
        let sets = &mut self.cols.label_sets;
        let index = self.set_index.as_mut().expect("built above");
        let old = &sets[self.cols.label_set_of[i] as usize];
        let want = edited(old, name, value);
        let hash = hash_set(want.clone());
        let candidates = index.entry(hash).or_default();
        let found = candidates
            .iter()
            .copied()
            .find(|&c| as_refs(&sets[c as usize]).eq(want.clone()));
        let target = match found {
            Some(c) => c,
            None => {
                let set: Vec<Label> = want.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
                sets.push(set);
                let c = (sets.len() - 1) as u32;
                candidates.push(c);
                c
            }
        };
        self.cols.label_set_of[i] = target;
        self.labels_dirty = true;
        if self.relabels.len() == RELABEL_MEMO {
            self.relabels.remove(0);
        }
        self.relabels.push(Relabel {
            from,
            name: name.to_owned(),
            value: value.map(str::to_owned),
            to: target,
        });
    }

    /// Calls `f` once on each distinct label set (not once per record): the cheap way to
    /// add, change or redact labels batch-wide. `f` returns whether it changed the set; it
    /// may push or edit labels in any order: changed sets are re-sorted by name (the last
    /// of duplicate names wins) and re-interned.
    pub fn map_label_sets(&mut self, mut f: impl FnMut(&mut Vec<Label>) -> bool) {
        let mut any = false;
        for set in &mut self.cols.label_sets {
            if f(set) {
                set.reverse();
                set.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the last-pushed name comes first
                set.dedup_by(|later, first| later.0 == first.0);
                any = true;
            }
        }
        if any {
            self.forget_label_index();
            self.labels_dirty = true;
        }
    }

    /// Drops unused label sets and merges equal ones.
    fn normalise_label_sets(&mut self) {
        if !self.labels_dirty {
            return;
        }
        let cols = &mut self.cols;
        let mut used = vec![false; cols.label_sets.len()];
        for &s in &cols.label_set_of {
            used[s as usize] = true;
        }
        let mut remap = vec![u32::MAX; cols.label_sets.len()];
        let mut kept: Vec<Vec<Label>> = Vec::new();
        {
            let mut seen: HashMap<&[Label], u32> = HashMap::new();
            for (s, set) in cols.label_sets.iter().enumerate() {
                if used[s] {
                    let next = seen.len() as u32;
                    remap[s] = *seen.entry(set.as_slice()).or_insert(next);
                }
            }
        }
        for (s, set) in cols.label_sets.iter_mut().enumerate() {
            if used[s] && remap[s] as usize == kept.len() {
                kept.push(std::mem::take(set));
            }
        }
        for s in &mut cols.label_set_of {
            *s = remap[*s as usize];
        }
        cols.label_sets = kept;
        self.forget_label_index();
        self.labels_dirty = false;
    }

    // ----- metadata -----

    /// Sets metadata `key` of record `i` to `value` (replacing it if present). Edits are
    /// queued and applied in one pass by [`Batch::apply_metadata_edits`], which
    /// [`Batch::retain`], [`Batch::map_metadata_values`] and returning from `process` call;
    /// reads see them after that.
    pub fn set_metadata(&mut self, i: usize, key: &str, value: &str) {
        self.queue_edit(i, key, value, false);
    }

    /// Removes metadata `key` from record `i` (queued like [`Batch::set_metadata`]).
    pub fn remove_metadata(&mut self, i: usize, key: &str) {
        self.queue_edit(i, key, "", true);
    }

    fn queue_edit(&mut self, i: usize, key: &str, value: &str, remove: bool) {
        assert!(i < self.len(), "record {i} out of range ({})", self.len());
        self.metadata_as_sent = false;
        let start = self.edit_buf.len() as u32;
        push_short(&mut self.edit_buf, key);
        let key_end = self.edit_buf.len() as u32;
        push_short(&mut self.edit_buf, value);
        self.edits.push(MetaEdit {
            record: i as u32,
            start,
            key_end,
            value_end: self.edit_buf.len() as u32,
            remove,
        });
    }

    /// Applies queued metadata edits, rebuilding the metadata columns from the first edited
    /// record on, in one pass.
    pub fn apply_metadata_edits(&mut self) {
        if self.edits.is_empty() || self.take_edits_as_columns() {
            return;
        }
        let mut edits = std::mem::take(&mut self.edits);
        edits.sort_by_key(|e| e.record); // stable: later edits of a key stay later
        let buf = &self.edit_buf;
        let key = |e: &MetaEdit| &buf[e.start as usize..e.key_end as usize];
        let value = |e: &MetaEdit| &buf[e.key_end as usize..e.value_end as usize];
        let c = &mut self.cols;
        let first = edits[0].record as usize;
        let first_pair = start(&c.record_metadata_ends, first);
        let keep_bytes = start(&c.metadata_ends, 2 * first_pair);
        let mut meta = String::with_capacity(c.metadata.len() + buf.len());
        meta.push_str(&c.metadata[..keep_bytes]);
        let mut ends = c.metadata_ends[..2 * first_pair].to_vec();
        let mut pairs = first_pair as u32;
        fn push(meta: &mut String, ends: &mut Vec<u32>, k: &str, v: &str) {
            push_short(meta, k);
            ends.push(meta.len() as u32);
            push_short(meta, v);
            ends.push(meta.len() as u32);
        }
        let mut e = 0;
        let mut old_start = first_pair; // the column is rewritten in place
        for r in first..c.record_metadata_ends.len() {
            let old = old_start..c.record_metadata_ends[r] as usize;
            old_start = old.end;
            let e0 = e;
            while e < edits.len() && edits[e].record as usize == r {
                e += 1;
            }
            let mine = &edits[e0..e];
            let last_for = |k: &str| {
                mine.iter()
                    .rev()
                    .find(|x| eq_bytes(key(x).as_bytes(), k.as_bytes()))
            };
            for p in old.clone() {
                let k = &c.metadata[span(&c.metadata_ends, 2 * p)];
                let v = &c.metadata[span(&c.metadata_ends, 2 * p + 1)];
                match last_for(k) {
                    None => push(&mut meta, &mut ends, k, v),
                    Some(x) if !x.remove => push(&mut meta, &mut ends, k, value(x)),
                    Some(_) => continue,
                }
                pairs += 1;
            }
            // New keys: the last edit of each key not already in the record.
            for (j, x) in mine.iter().enumerate() {
                let k = key(x);
                let later = mine[j + 1..]
                    .iter()
                    .any(|y| eq_bytes(key(y).as_bytes(), k.as_bytes()));
                let existing = old.clone().any(|p| {
                    eq_bytes(
                        c.metadata[span(&c.metadata_ends, 2 * p)].as_bytes(),
                        k.as_bytes(),
                    )
                });
                if !x.remove && !later && !existing {
                    push(&mut meta, &mut ends, k, value(x));
                    pairs += 1;
                }
            }
            c.record_metadata_ends[r] = pairs;
        }
        c.metadata = meta;
        c.metadata_ends = ends;
        self.edit_buf.clear();
        edits.clear();
        self.edits = edits; // keep the allocation
    }

    /// When the batch had no metadata and each queued edit sets a key not set before in
    /// its record, in record order (what a parser lifting fields does), the queued keys
    /// and values already are the new metadata columns: they are taken as they are, with
    /// no copy. Returns false (nothing changed) otherwise.
    fn take_edits_as_columns(&mut self) -> bool {
        let c = &mut self.cols;
        if !c.metadata_ends.is_empty() {
            return false;
        }
        let buf = self.edit_buf.as_bytes();
        // Keys of different lengths differ: most pairs are told apart without slicing.
        let same_key = |a: &MetaEdit, b: &MetaEdit| {
            a.key_end - a.start == b.key_end - b.start
                && eq_bytes(
                    &buf[a.start as usize..a.key_end as usize],
                    &buf[b.start as usize..b.key_end as usize],
                )
        };
        let edits = &self.edits;
        let mut record_start = 0;
        for (j, e) in edits.iter().enumerate() {
            if e.remove {
                return false;
            }
            if j > 0 && e.record != edits[j - 1].record {
                if e.record < edits[j - 1].record {
                    return false;
                }
                record_start = j;
            }
            if edits[record_start..j].iter().any(|x| same_key(x, e)) {
                return false;
            }
        }
        let mut ends = Vec::with_capacity(2 * edits.len());
        for e in edits {
            ends.push(e.key_end);
            ends.push(e.value_end);
        }
        let mut e = 0;
        for (r, end) in c.record_metadata_ends.iter_mut().enumerate() {
            while e < edits.len() && edits[e].record as usize == r {
                e += 1;
            }
            *end = e as u32;
        }
        c.metadata_ends = ends;
        std::mem::swap(&mut c.metadata, &mut self.edit_buf);
        self.edit_buf.clear();
        self.edits.clear();
        true
    }

    /// Rewrites metadata values in one pass (keys and pair counts stay): `f(i, key, value,
    /// out)` writes a replacement value for a pair of record `i` into `out` (cleared before
    /// each call) and returns true, or returns false to keep it. Applies queued edits first.
    pub fn map_metadata_values(
        &mut self,
        mut f: impl FnMut(usize, &str, &str, &mut String) -> bool,
    ) {
        self.apply_metadata_edits();
        let c = &mut self.cols;
        let mut out = String::new();
        let mut new: Option<String> = None;
        let mut p = 0usize;
        let mut k0 = 0usize; // old start of pair p's key (the column is rewritten in place)
        for (r, &rend) in c.record_metadata_ends.iter().enumerate() {
            while p < rend as usize {
                let (k1, v1) = (
                    c.metadata_ends[2 * p] as usize,
                    c.metadata_ends[2 * p + 1] as usize,
                );
                out.clear();
                let changed = f(r, &c.metadata[k0..k1], &c.metadata[k1..v1], &mut out);
                if changed && new.is_none() {
                    let mut buf = String::with_capacity(c.metadata.len() + out.len());
                    buf.push_str(&c.metadata[..k0]);
                    new = Some(buf);
                }
                if let Some(buf) = new.as_mut() {
                    push_short(buf, &c.metadata[k0..k1]);
                    c.metadata_ends[2 * p] = buf.len() as u32;
                    push_short(buf, if changed { &out } else { &c.metadata[k1..v1] });
                    c.metadata_ends[2 * p + 1] = buf.len() as u32;
                }
                k0 = v1;
                p += 1;
            }
        }
        if let Some(buf) = new {
            c.metadata = buf;
            self.metadata_as_sent = false;
        }
    }

    // ----- records -----

    /// Keeps only the records for which `f` returns true, compacting every column in one
    /// pass (nothing is rebuilt when all are kept). Applies queued metadata edits first.
    pub fn retain(&mut self, mut f: impl FnMut(&Record<'_>) -> bool) {
        self.apply_metadata_edits();
        let keep: Vec<bool> = self.iter().map(|r| f(&r)).collect();
        if keep.iter().all(|&k| k) {
            return;
        }
        self.lines_as_sent = false;
        let old = std::mem::take(&mut self.cols);
        let c = &mut self.cols;
        c.label_sets = old.label_sets;
        for (i, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
            c.lines.push_str(&old.lines[span(&old.line_ends, i)]);
            c.line_ends.push(c.lines.len() as u32);
            c.timestamps.push(old.timestamps[i]);
            c.label_set_of.push(old.label_set_of[i]);
            for p in span(&old.record_metadata_ends, i) {
                c.metadata
                    .push_str(&old.metadata[span(&old.metadata_ends, 2 * p)]);
                c.metadata_ends.push(c.metadata.len() as u32);
                c.metadata
                    .push_str(&old.metadata[span(&old.metadata_ends, 2 * p + 1)]);
                c.metadata_ends.push(c.metadata.len() as u32);
            }
            c.record_metadata_ends
                .push((c.metadata_ends.len() / 2) as u32);
        }
        self.labels_dirty = true;
    }

    /// Appends a record. `labels` may be in any order (sorted and deduplicated here, the
    /// last of duplicate names wins); `metadata` pairs are kept in order.
    pub fn push(
        &mut self,
        line: &str,
        nanos: i64,
        labels: &[(&str, &str)],
        metadata: &[(&str, &str)],
    ) {
        let mut set: Vec<(&str, &str)> = labels.iter().rev().copied().collect();
        set.sort_by(|a, b| a.0.cmp(b.0));
        set.dedup_by(|later, first| later.0 == first.0);
        let hash = hash_set(set.iter().copied());
        let c = &mut self.cols;
        let found = match &self.set_index {
            Some(index) => index.get(&hash).and_then(|cands| {
                cands
                    .iter()
                    .copied()
                    .find(|&s| as_refs(&c.label_sets[s as usize]).eq(set.iter().copied()))
            }),
            None => c
                .label_sets
                .iter()
                .position(|s| as_refs(s).eq(set.iter().copied()))
                .map(|s| s as u32),
        };
        let s = found.unwrap_or_else(|| {
            c.label_sets.push(
                set.iter()
                    .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            );
            let s = (c.label_sets.len() - 1) as u32;
            if let Some(index) = self.set_index.as_mut() {
                index.entry(hash).or_default().push(s);
            }
            s
        });
        c.lines.push_str(line);
        c.line_ends.push(c.lines.len() as u32);
        self.lines_as_sent = false;
        c.timestamps.push(nanos);
        c.label_set_of.push(s);
        for (k, v) in metadata {
            push_short(&mut c.metadata, k);
            c.metadata_ends.push(c.metadata.len() as u32);
            push_short(&mut c.metadata, v);
            c.metadata_ends.push(c.metadata.len() as u32);
        }
        c.record_metadata_ends
            .push((c.metadata_ends.len() / 2) as u32);
    }
}

/// A read-only view of one record of a [`Batch`].
#[derive(Clone, Copy)]
pub struct Record<'a> {
    batch: &'a Batch,
    i: usize,
}

impl<'a> Record<'a> {
    /// The record's index in its batch.
    pub fn index(&self) -> usize {
        self.i
    }

    /// The log line.
    pub fn line(&self) -> &'a str {
        let c = &self.batch.cols;
        &c.lines[span(&c.line_ends, self.i)]
    }

    /// Nanoseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.batch.cols.timestamps[self.i]
    }

    /// The label set, sorted by name.
    pub fn labels(&self) -> &'a [Label] {
        let c = &self.batch.cols;
        &c.label_sets[c.label_set_of[self.i] as usize]
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&'a str> {
        self.labels()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The structured metadata pairs, in order.
    pub fn metadata(&self) -> Metadata<'a> {
        Metadata::of(&self.batch.cols, self.i, false)
    }

    /// The value of metadata `key` (the first, if repeated).
    pub fn metadata_value(&self, key: &str) -> Option<&'a str> {
        self.metadata().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The line parsed as a JSON value, or None when it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.line()).ok()
    }
}

/// Writes `line` to `out` with each `(start, end, replacement)` byte span replaced. Spans
/// must be sorted by start; one that overlaps the previous, runs past the line or does not
/// fall on character boundaries is skipped. Returns how many were applied. Made for
/// [`Batch::map_lines`]: return `n > 0` from the closure.
pub fn replace_spans(line: &str, spans: &[(usize, usize, &str)], out: &mut String) -> usize {
    let mut copied = 0;
    let mut applied = 0;
    for &(start, end, replacement) in spans {
        let fits = copied <= start
            && start <= end
            && end <= line.len()
            && line.is_char_boundary(start)
            && line.is_char_boundary(end);
        if !fits {
            continue;
        }
        if applied == 0 {
            out.reserve(line.len());
        }
        push_short(out, &line[copied..start]);
        push_short(out, replacement);
        copied = end;
        applied += 1;
    }
    if applied > 0 {
        push_short(out, &line[copied..]);
    }
    applied
}

#[cfg(test)]
mod helper_tests {
    use super::replace_spans;

    #[test]
    fn replace_spans_applies_sorted_spans_and_skips_bad_ones() {
        let mut out = String::new();
        let n = replace_spans(
            "mail a@b.c from 10.0.0.1 é",
            &[
                (5, 10, "<email>"),
                (8, 12, "x"),
                (16, 24, "<ipv4>"),
                (26, 27, "no"),
            ],
            &mut out,
        );
        assert_eq!(n, 2);
        assert_eq!(out, "mail <email> from <ipv4> é");
        let mut untouched = String::new();
        assert_eq!(replace_spans("abc", &[(2, 9, "x")], &mut untouched), 0);
        assert!(untouched.is_empty());
    }
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("line", &self.line())
            .field("timestamp", &self.timestamp())
            .field("labels", &self.labels())
            .field("metadata", &self.metadata().collect::<Vec<_>>())
            .finish()
    }
}

/// Iterator over a batch's records (from [`Batch::iter`]).
pub struct Records<'a> {
    batch: &'a Batch,
    range: Range<usize>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;
    fn next(&mut self) -> Option<Record<'a>> {
        let i = self.range.next()?;
        Some(Record {
            batch: self.batch,
            i,
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl ExactSizeIterator for Records<'_> {}

impl<'a> IntoIterator for &'a Batch {
    type Item = Record<'a>;
    type IntoIter = Records<'a>;
    fn into_iter(self) -> Records<'a> {
        self.iter()
    }
}

/// Iterator over one record's metadata pairs (from [`Record::metadata`]).
pub struct Metadata<'a> {
    cols: &'a LogBatch,
    pairs: Range<usize>,
    /// Byte offset of the next pair's key (the previous pair's value end): each pair reads
    /// two offsets, not four.
    at: usize,
    /// The whole metadata text is ASCII (see [`MetadataColumns`]).
    ascii: bool,
}

impl<'a> Metadata<'a> {
    /// Record `i`'s pairs in `cols`.
    fn of(cols: &'a LogBatch, i: usize, ascii: bool) -> Metadata<'a> {
        let pairs = span(&cols.record_metadata_ends, i);
        Metadata {
            cols,
            at: start(&cols.metadata_ends, 2 * pairs.start),
            pairs,
            ascii,
        }
    }
}

impl<'a> Iterator for Metadata<'a> {
    type Item = (&'a str, &'a str);
    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let p = self.pairs.next()?;
        let c = self.cols;
        let key_start = self.at;
        let key_end = c.metadata_ends[2 * p] as usize;
        let value_end = c.metadata_ends[2 * p + 1] as usize;
        self.at = value_end;
        if self.ascii {
            let bytes = c.metadata.as_bytes();
            let (key, value) = (&bytes[key_start..key_end], &bytes[key_end..value_end]);
            // SAFETY: every byte of the text is ASCII, so any sub-slice is valid UTF-8.
            unsafe {
                Some((
                    std::str::from_utf8_unchecked(key),
                    std::str::from_utf8_unchecked(value),
                ))
            }
        } else {
            Some((
                &c.metadata[key_start..key_end],
                &c.metadata[key_end..value_end],
            ))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pairs.size_hint()
    }
}

/// A batch's metadata, for reading the pairs of many records (from
/// [`Batch::metadata_columns`]). When the whole text is ASCII (lifted fields nearly always
/// are), every byte offset is a character boundary, so pairs are sliced without checking
/// boundaries again: two checks per key and value were a fifth of red-metrics' per-record
/// work in Wasm.
pub struct MetadataColumns<'a> {
    cols: &'a LogBatch,
    ascii: bool,
}

impl<'a> MetadataColumns<'a> {
    /// Record `i`'s pairs, in order (as [`Record::metadata`] gives them).
    pub fn pairs(&self, i: usize) -> Metadata<'a> {
        Metadata::of(self.cols, i, self.ascii)
    }
}

/// Whether every byte is ASCII, 32 bytes per step (a byte or word loop pays a deadline
/// check per step in Wasm).
fn is_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(32);
    let mut high = 0u64;
    for c in &mut chunks {
        let word = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().expect("8 bytes"));
        high |= word(0) | word(8) | word(16) | word(24);
    }
    high & 0x8080_8080_8080_8080 == 0 && chunks.remainder().is_ascii()
}

/// Checks every rule of the WIT `log-batch` doc comment: column lengths, monotonic offsets
/// on UTF-8 boundaries, label-set indices in range, sets sorted by name and listed once.
pub fn validate(b: &LogBatch) -> Result<(), String> {
    let n = b.line_ends.len();
    for (name, len) in [
        ("timestamps", b.timestamps.len()),
        ("label-set-of", b.label_set_of.len()),
        ("record-metadata-ends", b.record_metadata_ends.len()),
    ] {
        if len != n {
            return Err(format!("{name} has {len} entries, line-ends {n}"));
        }
    }
    let offsets = |what: &str, s: &str, ends: &[u32]| -> Result<(), String> {
        let mut prev = 0;
        for (i, &e) in ends.iter().enumerate() {
            if e < prev || e as usize > s.len() || !s.is_char_boundary(e as usize) {
                return Err(format!(
                    "{what}[{i}] = {e} is out of order or not a char boundary"
                ));
            }
            prev = e;
        }
        Ok(())
    };
    offsets("line-ends", &b.lines, &b.line_ends)?;
    offsets("metadata-ends", &b.metadata, &b.metadata_ends)?;
    if !b.metadata_ends.len().is_multiple_of(2) {
        return Err("metadata-ends has an odd number of entries".into());
    }
    let pairs = (b.metadata_ends.len() / 2) as u32;
    let mut prev = 0;
    for (i, &e) in b.record_metadata_ends.iter().enumerate() {
        if e < prev || e > pairs {
            return Err(format!(
                "record-metadata-ends[{i}] = {e} is out of order or range"
            ));
        }
        prev = e;
    }
    if prev != pairs {
        return Err(format!("{pairs} metadata pairs but records use {prev}"));
    }
    if let Some(&s) = b
        .label_set_of
        .iter()
        .find(|&&s| s as usize >= b.label_sets.len())
    {
        return Err(format!("label-set-of refers to missing set {s}"));
    }
    let mut seen = std::collections::HashSet::new();
    for (s, set) in b.label_sets.iter().enumerate() {
        if set.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(format!(
                "label set {s} is not sorted by name or repeats a name"
            ));
        }
        if !seen.insert(set) {
            return Err(format!("label set {s} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        let mut b = Batch::new();
        b.push(
            "alpha",
            1,
            &[("app", "a"), ("env", "prod")],
            &[("trace_id", "t1")],
        );
        b.push("beta", 2, &[("env", "prod"), ("app", "a")], &[]);
        b.push(
            "gamma",
            3,
            &[("app", "b")],
            &[("trace_id", "t3"), ("user", "u3")],
        );
        b
    }

    fn lines(b: &Batch) -> Vec<&str> {
        b.iter().map(|r| r.line()).collect()
    }

    fn check(b: Batch) -> LogBatch {
        let out = b.into_log_batch();
        validate(&out).unwrap();
        out
    }

    #[test]
    fn push_interns_and_reads() {
        let b = sample();
        assert_eq!(b.len(), 3);
        assert_eq!(b.columns().label_sets.len(), 2);
        let r = b.record(1);
        assert_eq!((r.line(), r.timestamp()), ("beta", 2));
        assert_eq!(r.label("env"), Some("prod"));
        assert_eq!(r.labels()[0].0, "app");
        assert_eq!(
            b.record(2).metadata().collect::<Vec<_>>(),
            [("trace_id", "t3"), ("user", "u3")]
        );
        assert_eq!(b.record(0).metadata_value("trace_id"), Some("t1"));
        assert_eq!(b.record(1).metadata_value("trace_id"), None);
        check(b);
    }

    #[test]
    fn map_lines_copies_lazily() {
        let mut b = sample();
        b.map_lines(|_, _, _| false);
        assert_eq!(lines(&b), ["alpha", "beta", "gamma"]);
        b.map_lines(|i, line, out| {
            if i == 1 {
                out.push_str(&line.to_uppercase());
                out.push('!');
            }
            i == 1
        });
        assert_eq!(lines(&b), ["alpha", "BETA!", "gamma"]);
        b.map_lines(|i, _, out| {
            out.push_str(if i == 0 { "" } else { "x" });
            i == 0
        });
        assert_eq!(lines(&b), ["", "BETA!", "gamma"]);
        check(b);
    }

    #[test]
    fn a_reply_leaves_the_lines_out_only_while_they_are_the_hosts() {
        let from_host = || Batch::from(sample().into_log_batch());
        let kept = |cols: &LogBatch| cols.lines.is_empty() && cols.line_ends.is_empty();
        // Reads, unchanged lines, label, timestamp and metadata edits: lines kept.
        let mut b = from_host();
        b.map_lines(|_, _, _| false);
        b.retain(|_| true);
        b.set_label(0, "level", "info");
        b.set_timestamp(1, 9);
        b.set_metadata(2, "k", "v");
        let reply = b.into_reply();
        assert!(kept(&reply));
        assert_eq!((reply.timestamps.len(), reply.timestamps[1]), (3, 9));
        assert_eq!(
            reply.record_metadata_ends.len(),
            3,
            "edited metadata goes back"
        );
        // Metadata read, or rewritten with no value changed: kept too (0.1.4).
        let metadata_kept = |cols: &LogBatch| {
            cols.metadata.is_empty()
                && cols.metadata_ends.is_empty()
                && cols.record_metadata_ends.is_empty()
        };
        let mut b = from_host();
        assert_eq!(b.record(2).metadata_value("user"), Some("u3"));
        b.map_metadata_values(|_, _, _, _| false);
        b.set_label(1, "level", "warn");
        let reply = b.into_reply();
        assert!(kept(&reply) && metadata_kept(&reply));
        assert_eq!(reply.label_set_of.len(), 3);
        // A value rewritten or a key removed: the metadata goes back.
        let mut b = from_host();
        b.map_metadata_values(|_, k, _, out| {
            out.push('x');
            k == "user"
        });
        let reply = b.into_reply();
        assert!(kept(&reply) && !metadata_kept(&reply));
        let mut b = from_host();
        b.remove_metadata(0, "trace_id");
        assert!(!metadata_kept(&b.into_reply()));
        // With the lines going back, so does the metadata.
        let mut b = from_host();
        b.map_lines(|_, _, out| {
            out.push('x');
            true
        });
        assert!(!metadata_kept(&b.into_reply()));
        // Any line replaced, record dropped or record added: the lines go back.
        let mut b = from_host();
        b.map_lines(|i, _, out| {
            out.push('x');
            i == 2
        });
        assert_eq!(b.into_reply().lines, "alphabetax");
        let mut b = from_host();
        b.retain(|r| r.line() != "beta");
        assert_eq!(b.into_reply().lines, "alphagamma");
        let mut b = from_host();
        b.push("delta", 4, &[], &[]);
        assert_eq!(b.into_reply().line_ends.len(), 4);
        // Built in the guest, or empty: the ordinary form.
        assert_eq!(sample().into_reply().lines, "alphabetagamma");
        assert!(Batch::from(LogBatch::default())
            .into_reply()
            .timestamps
            .is_empty());
    }

    #[test]
    fn retain_compacts_all_columns() {
        let mut b = sample();
        b.retain(|r| r.line() != "beta");
        assert_eq!(lines(&b), ["alpha", "gamma"]);
        assert_eq!(b.record(1).timestamp(), 3);
        assert_eq!(b.record(1).metadata_value("user"), Some("u3"));
        assert_eq!(b.record(0).metadata_value("trace_id"), Some("t1"));
        b.retain(|r| r.index() == 1);
        let out = check(b);
        assert_eq!(out.label_sets, [vec![("app".into(), "b".into())]]);
        assert_eq!(out.label_set_of, [0]);
        assert_eq!(out.record_metadata_ends, [2]);
    }

    #[test]
    fn set_and_remove_labels_reintern() {
        let mut b = sample();
        b.set_label(2, "env", "prod");
        b.set_label(2, "app", "a"); // now equal to record 0's set
        assert_eq!(b.columns().label_set_of[2], b.columns().label_set_of[0]);
        b.set_label(0, "zone", "z1");
        b.set_label(1, "level", "info");
        assert_eq!(
            b.record(1).labels(),
            [
                ("app".into(), "a".into()),
                ("env".into(), "prod".into()),
                ("level".into(), "info".into())
            ]
        );
        b.remove_label(1, "level");
        b.remove_label(1, "missing");
        assert_eq!(b.columns().label_set_of[1], b.columns().label_set_of[2]);
        let out = check(b);
        assert_eq!(out.label_sets.len(), 2); // {app,env} and {app,env,zone}; the rest unused
    }

    #[test]
    fn repeated_label_edits_reuse_sets() {
        let mut b = Batch::new();
        for i in 0..40 {
            b.push("x", i, &[("app", if i % 3 == 0 { "a" } else { "b" })], &[]);
        }
        let levels = ["info", "warn", "error"];
        for i in 0..40 {
            b.set_label(i, "level", levels[i % 3]);
        }
        // Re-edit some records after others were edited (the memo must still be right),
        // and remove the label from a few.
        b.set_label(3, "level", "debug");
        b.remove_label(4, "level");
        for i in 0..40 {
            let r = b.record(i);
            let want = match i {
                3 => Some("debug"),
                4 => None,
                _ => Some(levels[i % 3]),
            };
            assert_eq!(r.label("level"), want, "record {i}");
            assert_eq!(r.label("app"), Some(if i % 3 == 0 { "a" } else { "b" }));
        }
        b.map_label_sets(|set| {
            set.push(("env".into(), "prod".into()));
            true
        });
        b.set_label(5, "level", "info");
        assert_eq!(b.record(5).label("level"), Some("info"));
        assert_eq!(b.record(5).label("env"), Some("prod"));
        let out = check(b);
        // app x level combinations: (a, info) (b, warn) (b, error) (a, debug) (b, none)
        // (b, info) for record 5.
        assert!(out.label_sets.len() <= 6, "{:?}", out.label_sets);
    }

    #[test]
    fn map_label_sets_sorts_and_merges() {
        let mut b = sample();
        b.map_label_sets(|set| {
            set.retain(|(n, _)| n != "app");
            set.push(("env".into(), "staging".into()));
            set.push(("cluster".into(), "c1".into()));
            true
        });
        assert_eq!(b.record(2).label("env"), Some("staging"));
        let out = check(b);
        assert_eq!(out.label_sets.len(), 1);
        assert_eq!(out.label_sets[0][0].0, "cluster");
    }

    #[test]
    fn metadata_edits_apply_in_one_pass() {
        let mut b = sample();
        b.set_metadata(1, "req", "r2");
        b.set_metadata(2, "user", "UX");
        b.set_metadata(2, "user", "U3");
        b.remove_metadata(2, "trace_id");
        b.set_metadata(0, "trace_id", "T1");
        b.remove_metadata(0, "nothing");
        b.apply_metadata_edits();
        assert_eq!(
            b.record(0).metadata().collect::<Vec<_>>(),
            [("trace_id", "T1")]
        );
        assert_eq!(b.record(1).metadata().collect::<Vec<_>>(), [("req", "r2")]);
        assert_eq!(b.record(2).metadata().collect::<Vec<_>>(), [("user", "U3")]);
        b.set_metadata(2, "late", "l");
        let out = check(b); // applied on return
        assert_eq!(out.record_metadata_ends, [1, 2, 4]);
    }

    /// Random edit sequences, on batches with and without metadata (the no-copy path and
    /// the general one), give what a per-record model of the rules gives: an existing key
    /// takes its last edit in place, a new key is added in the order of its last edit.
    #[test]
    fn metadata_edits_match_the_model() {
        let keys = ["a", "b", "cc", "dd"];
        let mut x = 3u64;
        let mut next = |n: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % n
        };
        for case in 0..2000 {
            let records = 1 + next(4);
            let mut b = Batch::new();
            let mut model: Vec<Vec<(String, String)>> = Vec::new();
            for r in 0..records {
                let old: Vec<(String, String)> = if case % 2 == 0 {
                    Vec::new()
                } else {
                    (0..next(3))
                        .map(|i| (keys[next(4)].to_string(), format!("o{r}{i}")))
                        .collect()
                };
                let refs: Vec<(&str, &str)> =
                    old.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                b.push("line", 0, &[], &refs);
                model.push(old);
            }
            let mut edits: Vec<Vec<(String, Option<String>)>> = vec![Vec::new(); records];
            let in_order = next(2) == 0;
            for e in 0..next(10) {
                let r = if in_order {
                    e * records / 10
                } else {
                    next(records)
                };
                let k = keys[next(4)];
                if next(5) == 0 {
                    b.remove_metadata(r, k);
                    edits[r].push((k.to_string(), None));
                } else {
                    let v = format!("v{e}");
                    b.set_metadata(r, k, &v);
                    edits[r].push((k.to_string(), Some(v)));
                }
            }
            b.apply_metadata_edits();
            for (r, mine) in edits.iter().enumerate() {
                let last = |k: &str| mine.iter().rev().find(|(ek, _)| ek == k);
                let old = &model[r];
                let mut want: Vec<(String, String)> = Vec::new();
                for (k, v) in old {
                    match last(k) {
                        None => want.push((k.clone(), v.clone())),
                        Some((_, Some(nv))) => want.push((k.clone(), nv.clone())),
                        Some((_, None)) => {}
                    }
                }
                for (j, (k, v)) in mine.iter().enumerate() {
                    let later = mine[j + 1..].iter().any(|(ek, _)| ek == k);
                    if let (Some(v), false, false) = (v, later, old.iter().any(|(ok, _)| ok == k)) {
                        want.push((k.clone(), v.clone()));
                    }
                }
                let got: Vec<(String, String)> = b
                    .record(r)
                    .metadata()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(got, want, "case {case}, record {r}: {mine:?} on {old:?}");
            }
            check(b);
        }
    }

    /// The column reader gives each record's pairs as [`Record::metadata`] does, on ASCII
    /// metadata (boundaries not checked again) and on metadata with other characters.
    #[test]
    fn metadata_columns_read_as_records_do() {
        for value in ["GET", "gét", "a".repeat(70).as_str()] {
            let mut b = Batch::new();
            b.push("x", 0, &[], &[("method", value), ("status", "200")]);
            b.push("y", 0, &[], &[]);
            b.push("z", 0, &[], &[("trace_id", "t"), ("route", value)]);
            let cols = b.metadata_columns();
            assert_eq!(cols.ascii, value.is_ascii());
            for r in b.iter() {
                let ours: Vec<_> = cols.pairs(r.index()).collect();
                assert_eq!(ours, r.metadata().collect::<Vec<_>>(), "{value}");
            }
        }
        let long_ascii = "k".repeat(100) + "é";
        assert!(!is_ascii(long_ascii.as_bytes()));
        assert!(!is_ascii(("é".to_string() + &"k".repeat(100)).as_bytes()));
        assert!(is_ascii("k".repeat(100).as_bytes()));
    }

    #[test]
    fn map_metadata_values_rewrites_values_only() {
        let mut b = sample();
        b.set_metadata(1, "user", "u2");
        b.map_metadata_values(|_, k, v, out| {
            out.push_str(&v.repeat(2));
            k == "user"
        });
        assert_eq!(b.record(1).metadata_value("user"), Some("u2u2"));
        assert_eq!(b.record(2).metadata_value("user"), Some("u3u3"));
        assert_eq!(b.record(2).metadata_value("trace_id"), Some("t3"));
        check(b);
    }

    #[test]
    fn validate_rejects_bad_columns() {
        let good = sample().into_log_batch();
        let mut bad = good.clone();
        bad.timestamps.pop();
        assert!(validate(&bad).is_err());
        let mut bad = good.clone();
        bad.label_sets.push(bad.label_sets[0].clone());
        assert!(validate(&bad).is_err());
        let mut bad = good.clone();
        bad.line_ends[0] = 100;
        assert!(validate(&bad).is_err());
        let mut bad = good;
        bad.record_metadata_ends[0] = 9;
        assert!(validate(&bad).is_err());
        validate(&LogBatch::default()).unwrap();
    }

    #[test]
    fn unicode_lines() {
        let mut b = Batch::new();
        b.push("héllo", 0, &[], &[]);
        b.push("wörld", 0, &[], &[]);
        b.map_lines(|i, l, out| {
            out.push_str(&l.replace('ö', "oe"));
            i == 1
        });
        assert_eq!(lines(&b), ["héllo", "woerld"]);
        check(b);
    }
}
