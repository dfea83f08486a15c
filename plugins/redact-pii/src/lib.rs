//! redact-pii: redacts personal data and secrets in log lines, label values and structured
//! metadata values.
//!
//! The catalogue (each a named rule a pipeline can enable or disable; formats in each
//! module's docs, and in `docs/redaction.md`):
//!
//! | rule | module |
//! |---|---|
//! | `email` | [`rules::email`] |
//! | `ipv4`, `ipv6` | [`rules::network`] |
//! | `credit_card`, `ssn`, `phone` | [`rules::numbers`] |
//! | `iban` | [`rules::iban`] |
//! | `jwt`, `bearer_token`, `aws_access_key`, `github_token`, `slack_token` | [`rules::tokens`] |
//! | `secret`, `url_credentials` | [`rules::secrets`] |
//! | `json_key` | [`json`] (keys listed in `json_keys`) |
//! | custom regex rules | [`rules::custom`] |
//!
//! Each rule has a mode ([`modes`]): `mask` (`<email>`), `pseudonym` (`<email:3f9a...>`,
//! keyed HMAC-SHA256), `partial` (`<credit_card:…1111>`) or `drop` (the field goes). JSON
//! lines are redacted JSON-aware ([`json`]) and stay valid JSON. Config keys: [`config`].
//!
//! The matcher is [`Redactor`], plain Rust usable natively (`examples/native_bench.rs`
//! links it); the plugin glue only exists in the wasm32 build. It makes a single pass over
//! each line ([`scan`]): matchers run only where a cheap trigger byte says one may start.
//!
//! Metrics: when the pipeline declares a counter `redactions_total` for the transform,
//! each batch adds its redactions per rule (label `rule`, then any `metric_labels` from
//! config). Label values are counted once per distinct label set. Values are never put in
//! metrics or logs.

pub mod byteset;
pub mod candidates;
pub mod config;
pub mod json;
mod keys;
pub mod modes;
pub mod rules;
pub mod scan;

use sluice_plugin::push_short;
use std::borrow::Cow;

pub use modes::Mode;
pub use rules::Rule;

use candidates::Candidates;
use modes::Hmac;
use rules::custom::Custom;
use rules::secrets::SecretKeys;
use rules::{Match, BUILTIN};
use scan::{Ctx, Edit, What};

/// Buffers reused from line to line: the plugin keeps one ([`Redactor::redact_counted_in`]);
/// the other entry points use a thread-local one.
#[derive(Default)]
pub(crate) struct Scratch {
    edits: Vec<Edit>,
    matches: Vec<Match>,
    /// Where the quotes of a JSON line are (see [`Redactor::json_fast_edits`]).
    quotes: Vec<u64>,
    /// Where its colons and blanks are (the same).
    colons: Vec<u64>,
    blanks: Vec<u64>,
    /// The kinds of the JSON and metadata keys seen so far.
    pub(crate) keys: keys::KeyCache,
}

/// When a JSON line without escapes may be redacted by one text scan of the whole line
/// instead of the walker, given the enabled built-in rules (custom rules always walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonTextScan {
    /// A rule removes fields (`drop` mode): the walker removes whole members.
    Never,
    /// A rule reads keys (`secret`, `json_key`, `bearer_token`'s `authorization`,
    /// `phone`'s phone-named keys) and so do version-named keys: when every key of the line
    /// is an ordinary one, the text scan finds what the walker would; otherwise the walker.
    WhenKeysArePlain,
    /// No rule reads keys.
    Always,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Replacements per rule, indexed by rule table index (see [`Redactor::rule_names`]).
pub type Counts = Vec<u64>;

/// The compiled redaction rules. Built once, `Sync`, reused for every line.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Built-in rules that apply, by `Rule as usize`.
    on: [bool; BUILTIN],
    /// Rule table: built-in names, then custom rule names.
    names: Vec<String>,
    /// Per rule table entry, its mask-mode replacement `<name>`, written ahead.
    masks: Vec<String>,
    /// Mode per rule table entry.
    modes: Vec<Mode>,
    hmac: Option<Hmac>,
    secret_keys: SecretKeys,
    json_keys: Vec<String>,
    custom: Option<Custom>,
    json: bool,
    /// Use the text-scan fast path for JSON lines where it gives the walker's result
    /// (always, except in the tests that compare the two).
    json_fast: bool,
    /// Add structured metadata `redactions` listing what was replaced (rule and position).
    audit: bool,
    /// Bytes at which some enabled built-in rule can start looking ([`Redactor::scan`]
    /// skips every other byte at once); kept current by [`Redactor::update_triggers`].
    triggers: byteset::ByteSet,
    /// Skip ISO timestamps whole in the scan ([`Redactor::clean_timestamp_end`]); off
    /// only in [`Redactor::without_fast_paths`], the reference.
    skip_timestamps: bool,
    /// When a JSON line may be redacted by one text scan ([`Redactor::json_fast_edits`]);
    /// kept current by [`Redactor::update_triggers`].
    json_text_scan: JsonTextScan,
    labels: bool,
    metadata: bool,
    metric_labels: Vec<String>,
    series_labels_kept: Vec<String>,
    /// Ties remembered key kinds ([`keys::KeyCache`]) to this redactor; renewed by
    /// [`Redactor::update_triggers`] and by every clone.
    identity: keys::Identity,
    /// Tells most ordinary keys from keys with a meaning at once; kept current by
    /// [`Redactor::update_triggers`].
    key_suffixes: keys::KeySuffixes,
}

impl Default for Redactor {
    /// Every built-in rule, masked, with the default secret key names.
    fn default() -> Self {
        Redactor::new(&Rule::ALL)
    }
}

/// What became of a field (a label or metadata value) given to [`Redactor::redact_field`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Nothing matched.
    Keep,
    /// The redacted value was written to `out`.
    Replace,
    /// A drop-mode rule matched: remove the field.
    Drop,
}

impl Redactor {
    /// A redactor applying the built-in `rules`, masked, with the default secret keys.
    pub fn new(rules: &[Rule]) -> Redactor {
        let mut on = [false; BUILTIN];
        for r in rules {
            on[*r as usize] = true;
        }
        on[Rule::JsonKey as usize] = false; // no keys listed
        let mut r = Redactor {
            on,
            names: Rule::ALL.iter().map(|r| r.name().to_owned()).collect(),
            masks: Rule::ALL
                .iter()
                .map(|r| format!("<{}>", r.name()))
                .collect(),
            modes: vec![Mode::Mask; BUILTIN],
            hmac: None,
            secret_keys: SecretKeys::new(rules::secrets::DEFAULT_SECRET_KEYS),
            json_keys: Vec::new(),
            custom: None,
            json: true,
            json_fast: true,
            audit: false,
            triggers: byteset::ByteSet::new([true; 256]),
            json_text_scan: JsonTextScan::Never,
            skip_timestamps: true,
            labels: true,
            metadata: true,
            metric_labels: Vec::new(),
            series_labels_kept: Vec::new(),
            identity: keys::Identity::new(),
            key_suffixes: keys::KeySuffixes::empty(),
        };
        r.update_triggers();
        r
    }

    /// Builds from the plugin's config table (keys: [`config`]).
    pub fn from_config(
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Redactor, String> {
        config::from_config(config)
    }

    /// [`Redactor::from_config`] from the config's JSON text.
    pub fn from_config_json(json: &str) -> Result<Redactor, String> {
        match serde_json::from_str(if json.trim().is_empty() { "{}" } else { json }) {
            Ok(serde_json::Value::Object(map)) => Redactor::from_config(&map),
            _ => Err("config must be a JSON object".into()),
        }
    }

    /// This redactor with its JSON fast paths turned off: every JSON line goes through the
    /// plain JSON walker. The reference the fast paths are tested against
    /// (`tests/output_unchanged.rs`); as fast as ever in output, slower in time.
    pub fn without_fast_paths(mut self) -> Redactor {
        self.json_fast = false;
        self.skip_timestamps = false;
        self
    }

    /// The built-in rules this redactor applies.
    pub fn rules(&self) -> Vec<Rule> {
        Rule::ALL.into_iter().filter(|r| self.on(*r)).collect()
    }

    /// Names of the rule table (built-ins, then custom rules): [`Counts`] is indexed alike.
    pub fn rule_names(&self) -> &[String] {
        &self.names
    }

    /// A zeroed [`Counts`] for this redactor.
    pub fn new_counts(&self) -> Counts {
        vec![0; self.names.len()]
    }

    /// Whether label values are redacted (config `labels`).
    pub fn redacts_labels(&self) -> bool {
        self.labels
    }

    /// Whether metadata values are redacted (config `metadata`).
    pub fn redacts_metadata(&self) -> bool {
        self.metadata
    }

    /// Redacts the label values of metric series (contract 0.1.3's metric batches): every
    /// label but those in `series_labels_kept` goes through [`Redactor::redact_field`] (a
    /// secret-named label is dropped, a value holding PII is redacted by the rules).
    /// Returns whether `set` changed.
    pub fn redact_series(&self, set: &mut Vec<(String, String)>, counts: &mut [u64]) -> bool {
        self.redact_label_set(set, &self.series_labels_kept, counts)
    }

    /// Redacts the values of a label set (a log stream's, or a series'), leaving the labels
    /// named in `kept` as they are: each value goes through [`Redactor::redact_field`], a
    /// label whose field is to be dropped is removed. Returns whether `set` changed.
    pub fn redact_label_set(
        &self,
        set: &mut Vec<(String, String)>,
        kept: &[String],
        counts: &mut [u64],
    ) -> bool {
        let mut changed = false;
        let mut out = String::new();
        set.retain_mut(|(name, value)| {
            if kept.iter().any(|k| k == name) {
                return true;
            }
            out.clear();
            match self.redact_field(name, value, &mut out, counts) {
                Field::Keep => true,
                Field::Replace => {
                    std::mem::swap(value, &mut out);
                    changed = true;
                    true
                }
                Field::Drop => {
                    changed = true;
                    false
                }
            }
        });
        changed
    }

    /// Extra label values for `redactions_total` (config `metric_labels`).
    pub fn metric_labels(&self) -> &[String] {
        &self.metric_labels
    }

    /// Redacts `line`: returns the number of redactions and, when it is not 0, appends
    /// the redacted line to `out`. When it is 0, `out` is left untouched (the line is clean
    /// and the caller keeps it as it is: nothing was copied).
    pub fn redact(&self, line: &str, out: &mut String) -> usize {
        let mut counts = self.new_counts();
        self.redact_counted(line, out, &mut counts)
    }

    /// [`Redactor::redact`] returning the line itself when nothing matched.
    pub fn redact_cow<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        if self.redact(line, &mut out) == 0 {
            Cow::Borrowed(line)
        } else {
            Cow::Owned(out)
        }
    }

    /// [`Redactor::redact`], also adding each redaction to `counts[rule]` (`counts` as
    /// from [`Redactor::new_counts`]).
    pub fn redact_counted(&self, line: &str, out: &mut String, counts: &mut [u64]) -> usize {
        // Buffers reused across lines (no allocation per line once warm).
        SCRATCH.with_borrow_mut(|sc| self.redact_counted_in(line, out, counts, sc))
    }

    /// [`Redactor::redact_counted`] with the caller's buffers: no thread-local access and
    /// borrow check per line (the plugin's per-line path).
    pub(crate) fn redact_counted_in(
        &self,
        line: &str,
        out: &mut String,
        counts: &mut [u64],
        sc: &mut Scratch,
    ) -> usize {
        sc.edits.clear();
        let counted = self.line_edits(line, Ctx::default(), sc);
        self.apply(line, &sc.edits, &counted, out, counts)
    }

    /// [`Redactor::redact_counted`], also writing to `audit` what was replaced, for
    /// operators to check: `rule@start-end` per replaced span of the input line (byte
    /// offsets, end exclusive), comma-separated; a span rewritten whole (a JSON string with
    /// escapes, a dropped field) names every rule counted in it, joined by `+`. Never the
    /// replaced text. `audit` is left empty when nothing was replaced.
    pub fn redact_audited(
        &self,
        line: &str,
        out: &mut String,
        counts: &mut [u64],
        audit: &mut String,
    ) -> usize {
        use std::fmt::Write;
        audit.clear();
        SCRATCH.with_borrow_mut(|sc| {
            sc.edits.clear();
            let counted = self.line_edits(line, Ctx::default(), sc);
            for e in &sc.edits {
                let rules: Vec<&str> = match &e.what {
                    What::Render(r) | What::Quoted(r) | What::Cut(Some(r)) => {
                        vec![self.names[*r].as_str()]
                    }
                    What::Text(_) => counted.iter().map(|r| self.names[*r].as_str()).collect(),
                    What::Cut(None) => continue,
                };
                if rules.is_empty() {
                    continue;
                }
                if !audit.is_empty() {
                    audit.push(',');
                }
                let _ = write!(audit, "{}@{}-{}", rules.join("+"), e.start, e.end);
            }
            self.apply(line, &sc.edits, &counted, out, counts)
        })
    }

    /// True when the config asks for the `redactions` audit metadata (`audit = true`).
    pub fn audits(&self) -> bool {
        self.audit
    }

    /// Redacts the value of a label or metadata pair named `key`: a key listed in
    /// `json_keys` or a secret-named key redacts the whole value; otherwise the value is
    /// scanned like a line (a version-named key keeps dotted quads). A drop-mode match
    /// asks for the field to be removed.
    pub fn redact_field(
        &self,
        key: &str,
        value: &str,
        out: &mut String,
        counts: &mut [u64],
    ) -> Field {
        self.redact_field_in(
            self.key_kind(key),
            value,
            out,
            counts,
            &mut Scratch::default(),
        )
    }

    /// [`Redactor::redact_field`] for a key whose kind ([`Redactor::key_kind`]) is known,
    /// with buffers the caller keeps: the plugin looks a repeated metadata key up once per
    /// batch instead of once per record.
    pub(crate) fn redact_field_in(
        &self,
        kind: json::KeyKind,
        value: &str,
        out: &mut String,
        counts: &mut [u64],
        sc: &mut Scratch,
    ) -> Field {
        sc.edits.clear();
        let mut counted = Vec::new();
        match kind {
            json::KeyKind::Scan(ctx) => counted = self.line_edits(value, ctx, sc),
            _ => {
                sc.matches.clear();
                self.value_matches(value, kind, &mut sc.matches);
                self.plain_edits(value, 0, &sc.matches, &mut sc.edits);
            }
        }
        if let Some(e) = sc.edits.iter().find_map(|e| match e.what {
            What::Cut(Some(rule)) => Some(rule),
            _ => None,
        }) {
            counts[e] += 1;
            return Field::Drop;
        }
        if self.apply(value, &sc.edits, &counted, out, counts) > 0 {
            Field::Replace
        } else {
            Field::Keep
        }
    }

    /// The edits for a line (JSON-aware when it is a JSON object or array), and the rules
    /// counted inside ready-made text edits.
    fn line_edits(&self, line: &str, ctx: Ctx, sc: &mut Scratch) -> Vec<usize> {
        let first = line.as_bytes().iter().find(|c| !c.is_ascii_whitespace());
        if self.json && matches!(first, Some(b'{') | Some(b'[')) {
            if self.json_fast
                && self.custom.is_none()
                && self.json_text_scan != JsonTextScan::Never
                && self.json_fast_edits(line, ctx, sc)
            {
                return Vec::new();
            }
            if let Some(counted) = self.walk_json(line, sc) {
                return counted;
            }
            sc.edits.clear();
        }
        sc.matches.clear();
        self.scan(line, ctx, &mut sc.matches);
        if !sc.matches.is_empty() {
            self.plain_edits(line, 0, &sc.matches, &mut sc.edits);
        }
        Vec::new()
    }

    /// The JSON walker's edits for `line` into `sc.edits`, and the rules counted inside
    /// ready-made text edits; None when the line is not JSON. One vector pass over the line
    /// builds the scanner's candidates and, when it has no backslash, its quote bitmap: the
    /// walker then finds each string's end in the bitmap and scans every value as a slice
    /// of the line (see [`json::LineIndex`]) instead of searching and building candidates
    /// per value; key kinds come from `sc.keys`.
    fn walk_json(&self, line: &str, sc: &mut Scratch) -> Option<Vec<usize>> {
        let b = line.as_bytes();
        let mut candidates = Candidates::with_marks(&self.triggers, b);
        let quotes = if !self.json_fast {
            false
        } else if let Some(marks) = candidates.marks(b) {
            if !marks.backslash {
                sc.quotes.clear();
                sc.quotes
                    .extend_from_slice(&marks.quotes[..b.len().div_ceil(64)]);
            }
            !marks.backslash
        } else if memchr::memchr(b'\\', b).is_none() {
            byteset::bitmap_of(b'"', b, &mut sc.quotes);
            true
        } else {
            false
        };
        let mut fresh = keys::KeyCache::default();
        let index = json::LineIndex {
            candidates: self.json_fast.then_some(&mut candidates),
            quotes: quotes.then_some(&sc.quotes[..]),
            keys: if self.json_fast {
                &mut sc.keys
            } else {
                &mut fresh
            },
        };
        let mut w = json::Walker::new(
            self,
            line,
            std::mem::take(&mut sc.edits),
            std::mem::take(&mut sc.matches),
            index,
        );
        let ok = w.walk().is_ok();
        let counted = std::mem::take(&mut w.counted);
        (sc.edits, sc.matches) = w.into_buffers();
        ok.then_some(counted)
    }

    /// The fast path for a JSON line: when it has no escape, its strings are the spans
    /// between consecutive quotes, so one text scan of the whole line finds what scanning
    /// each string value would. A match inside a value string is replaced in place; a match
    /// that is a whole bare token (a number) is replaced by a quoted placeholder. Anything
    /// else (a match in a key, across a quote, or inside a longer bare token) returns false
    /// and the line goes through the JSON walker instead. The line's validity as JSON is not
    /// checked: a line that only looks like JSON is redacted like text, with bare-token
    /// matches quoted.
    fn json_fast_edits(&self, line: &str, ctx: Ctx, sc: &mut Scratch) -> bool {
        let b = line.as_bytes();
        // One vector pass finds the scanner's candidates, marks every quote and looks for
        // a backslash (for a line longer than the candidates' window, the quotes and the
        // backslash are looked for in passes of their own). Each match then asks the quote
        // bitmap instead of walking the quotes one search at a time up to it.
        let mut candidates = Candidates::with_marks(&self.triggers, b);
        let whole_line = candidates.marks(b).map(|m| m.backslash);
        let backslash = whole_line.unwrap_or_else(|| memchr::memchr(b'\\', b).is_some());
        if backslash {
            return false;
        }
        sc.matches.clear();
        sc.edits.clear();
        let keyed = self.json_text_scan == JsonTextScan::WhenKeysArePlain;
        if keyed {
            let words = b.len().div_ceil(64);
            let marked = match candidates.marks(b) {
                Some(marks) => {
                    for (to, from) in [
                        (&mut sc.quotes, marks.quotes),
                        (&mut sc.colons, marks.colons),
                        (&mut sc.blanks, marks.blanks),
                    ] {
                        to.clear();
                        to.extend_from_slice(&from[..words]);
                    }
                    true
                }
                None => {
                    byteset::bitmap_of(b'"', b, &mut sc.quotes);
                    false
                }
            };
            let colons_blanks = marked.then_some((&sc.colons[..], &sc.blanks[..]));
            let quotes = byteset::Bits(&sc.quotes);
            if !self.keys_are_plain(line, quotes, colons_blanks, &mut sc.keys, &mut candidates) {
                return false;
            }
        }
        self.scan_with(line, ctx, &mut sc.matches, &mut candidates);
        if sc.matches.is_empty() {
            return true;
        }
        let quotes = match candidates.marks(b) {
            Some(marks) if !keyed => byteset::Bits(marks.quotes),
            _ => {
                if !keyed {
                    byteset::bitmap_of(b'"', b, &mut sc.quotes);
                }
                byteset::Bits(&sc.quotes)
            }
        };
        for m in &sc.matches {
            let inside = quotes.count_below(m.start) % 2 == 1;
            let next_quote = quotes.first_from(m.start);
            // The first quote at or after the match's start: inside the match, it spans
            // a string's end.
            if next_quote.is_some_and(|q| q < m.end) {
                return false;
            }
            let what = if inside {
                let string_start = quotes.last_below(m.start).unwrap_or(0);
                // A key's string is followed by `:`: keys are never rewritten.
                let close = next_quote.unwrap_or(b.len());
                let after = b[close.min(b.len())..]
                    .iter()
                    .skip(1)
                    .find(|c| !c.is_ascii_whitespace());
                if after == Some(&b':') || string_start >= m.start {
                    return false;
                }
                What::Render(m.rule)
            } else {
                let before = b[..m.start].iter().rev().find(|c| !c.is_ascii_whitespace());
                let after = b[m.end..].iter().find(|c| !c.is_ascii_whitespace());
                // A bare token matched whole (a card number) becomes a quoted placeholder;
                // with rules that read keys the walker does that, and keeps a line that is
                // not JSON after all as text (the output of those configs is the walker's).
                if keyed
                    || !matches!(before, Some(b':' | b'[' | b','))
                    || !matches!(after, Some(b',' | b'}' | b']'))
                {
                    return false;
                }
                What::Quoted(m.rule)
            };
            sc.edits.push(Edit {
                start: m.start,
                end: m.end,
                what,
            });
        }
        true
    }

    /// Whether every key of the escape-free JSON line `line` (a string followed by `:`;
    /// `quotes` marks its quotes) is an ordinary one, whose value the walker would scan as
    /// text (no secret, `json_keys`, authorization, phone or version name). With the
    /// line's colons and blanks marked (`marks`, a line of one candidates window), a key
    /// is a quote right before a colon, found a word at a time; a quote followed by a blank
    /// (`"key" :`) sends the line to the string-by-string loop. Both only ever look at more
    /// strings than the keys (a value that starts with `:`), never at fewer.
    ///
    /// In the word-at-a-time case the colon after each such quote is also taken out of
    /// `candidates`: at a `:` after a quote no rule matches once the string before it is an
    /// ordinary key (no URL scheme ends in a quote, no IPv6 group is a quote, and the
    /// key-value secret rule would read that very key), unless a second `:` follows (a
    /// leading `::` of an IPv6 address).
    fn keys_are_plain(
        &self,
        line: &str,
        quotes: byteset::Bits,
        marks: Option<(&[u64], &[u64])>,
        keys: &mut keys::KeyCache,
        candidates: &mut Candidates,
    ) -> bool {
        let plain = |keys: &mut keys::KeyCache, open: usize, close: usize| {
            self.key_is_plain(keys, line, open, close)
        };
        let q = quotes.0;
        if let Some((colons, blanks)) = marks {
            let followed = |bits: &[u64], w: usize| {
                (bits[w] >> 1) | (bits.get(w + 1).map_or(0, |next| next << 63))
            };
            let spaced = q
                .iter()
                .enumerate()
                .any(|(w, quote)| quote & followed(blanks, w) != 0);
            if !spaced {
                for (w, quote) in q.iter().enumerate() {
                    let mut closes = quote & followed(colons, w);
                    while closes != 0 {
                        let close = w * 64 + closes.trailing_zeros() as usize;
                        closes &= closes - 1;
                        let Some(open) = quotes.last_below(close) else {
                            continue;
                        };
                        if !plain(keys, open, close) {
                            return false;
                        }
                        if line.as_bytes().get(close + 2) != Some(&b':') {
                            candidates.remove(close + 1);
                        }
                    }
                }
                return true;
            }
        }
        let b = line.as_bytes();
        let mut from = 0;
        while let Some(open) = quotes.first_from(from) {
            let Some(close) = quotes.first_from(open + 1) else {
                return true;
            };
            from = close + 1;
            let after = b[from..].iter().find(|c| !c.is_ascii_whitespace());
            if after == Some(&b':') && !plain(keys, open, close) {
                return false;
            }
        }
        true
    }

    /// Whether the key between the quotes at `open` and `close` of `line` is an ordinary
    /// one. Most keys are told by their last two bytes, inline, without a call.
    #[inline(always)]
    fn key_is_plain(
        &self,
        keys: &mut keys::KeyCache,
        line: &str,
        open: usize,
        close: usize,
    ) -> bool {
        let b = line.as_bytes();
        let n = close - open - 1;
        if n >= 2 && !self.key_suffixes.may_end_with(b[close - 2], b[close - 1]) {
            return true;
        }
        matches!(
            keys.kind_at(self, line, open + 1, close),
            json::KeyKind::Scan(Ctx { version: false })
        )
    }

    /// Writes `line` with `edits` applied to `out` (nothing when there are none) and counts
    /// them; returns the number of redactions.
    fn apply(
        &self,
        line: &str,
        edits: &[Edit],
        counted: &[usize],
        out: &mut String,
        counts: &mut [u64],
    ) -> usize {
        if edits.is_empty() {
            return 0;
        }
        out.reserve(line.len());
        let mut copied = 0;
        let mut total = counted.len();
        for &rule in counted {
            counts[rule] += 1;
        }
        for e in edits {
            push_short(out, &line[copied..e.start]);
            match &e.what {
                What::Render(rule) if self.modes[*rule] == Mode::Mask => {
                    push_short(out, &self.masks[*rule]);
                    counts[*rule] += 1;
                    total += 1;
                }
                What::Render(rule) => {
                    self.render(*rule, &line[e.start..e.end], out);
                    counts[*rule] += 1;
                    total += 1;
                }
                What::Quoted(rule) => {
                    out.push('"');
                    self.render(*rule, &line[e.start..e.end], out);
                    out.push('"');
                    counts[*rule] += 1;
                    total += 1;
                }
                What::Text(text) => push_short(out, text),
                What::Cut(Some(rule)) => {
                    counts[*rule] += 1;
                    total += 1;
                }
                What::Cut(None) => {}
            }
            copied = e.end;
        }
        push_short(out, &line[copied..]);
        total.max(1)
    }

    /// Appends what a match `value` of rule table entry `rule` becomes in its mode
    /// (nothing for `drop`).
    pub(crate) fn render(&self, rule: usize, value: &str, out: &mut String) {
        let name = &self.names[rule];
        let builtin = Rule::from_index(rule);
        match self.modes[rule] {
            Mode::Drop => {}
            Mode::Mask => push_short(out, &self.masks[rule]),
            Mode::Pseudonym => {
                let norm = modes::normalise(builtin, value);
                let mac = self
                    .hmac
                    .as_ref()
                    .expect("pseudonym mode is refused at init without a key")
                    .mac(&[name.as_bytes(), b"\0", norm.as_bytes()]);
                out.push('<');
                out.push_str(name);
                out.push(':');
                modes::push_hex(out, &mac[..8]);
                out.push('>');
            }
            Mode::Partial => {
                out.push('<');
                out.push_str(name);
                if let Some(kept) = modes::partial(builtin, value) {
                    out.push(':');
                    out.push_str(&kept);
                }
                out.push('>');
            }
        }
    }
}

/// The plugin: [`Redactor`] behind the SDK's [`sluice_plugin::Plugin`] trait. Built for
/// wasm32, and natively with the `native-twin` feature for the benchmark's native twin.
#[cfg(any(target_arch = "wasm32", feature = "native-twin"))]
pub mod plugin {
    use super::{Field, Redactor, Scratch};
    use sluice_plugin::{counter_add, metric_id, Batch, Config, Metrics, Plugin, ProcessMetrics};

    /// The `redact_pii` transform's plugin type.
    pub struct RedactPii {
        redactor: Redactor,
        metric: Option<u32>,
        counts: Vec<u64>,
        scratch: Scratch,
    }

    impl RedactPii {
        /// Redactions made in the last batch, all rules together.
        pub fn last_batch_redactions(&self) -> u64 {
            self.counts.iter().sum()
        }
    }

    impl Plugin for RedactPii {
        fn init(config: Config) -> Result<Self, String> {
            let redactor = Redactor::from_config(config.as_map())?;
            let counts = redactor.new_counts();
            Ok(RedactPii {
                redactor,
                metric: metric_id("redactions_total"),
                counts,
                scratch: Scratch::default(),
            })
        }

        fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
            let r = &self.redactor;
            let counts = &mut self.counts;
            let scratch = &mut self.scratch;
            counts.iter_mut().for_each(|c| *c = 0);
            if r.audits() {
                let mut audit = String::new();
                let mut audits: Vec<(usize, String)> = Vec::new();
                batch.map_lines(|i, line, out| {
                    let n = r.redact_audited(line, out, counts, &mut audit);
                    if !audit.is_empty() {
                        audits.push((i, std::mem::take(&mut audit)));
                    }
                    n > 0
                });
                for (i, spans) in &audits {
                    batch.set_metadata(*i, "redactions", spans);
                }
            } else {
                batch.map_lines(|_, line, out| r.redact_counted_in(line, out, counts, scratch) > 0);
            }
            if r.redacts_labels() {
                batch.map_label_sets(|set| r.redact_label_set(set, &[], counts));
            }
            if r.redacts_metadata() {
                let mut drops: Vec<(usize, String)> = Vec::new();
                batch.map_metadata_values(|i, key, value, out| {
                    let kind = scratch.keys.kind(r, key);
                    match r.redact_field_in(kind, value, out, counts, scratch) {
                        Field::Keep => false,
                        Field::Replace => true,
                        Field::Drop => {
                            drops.push((i, key.to_owned()));
                            false
                        }
                    }
                });
                for (i, key) in &drops {
                    batch.remove_metadata(*i, key);
                }
            }
            self.count_redactions();
            Ok(())
        }
    }

    impl RedactPii {
        /// Adds the last batch's redactions to `redactions_total`, per rule.
        fn count_redactions(&self) {
            let Some(metric) = self.metric else { return };
            let mut labels: Vec<&str> = vec![""];
            labels.extend(self.redactor.metric_labels().iter().map(String::as_str));
            for (i, name) in self.redactor.rule_names().iter().enumerate() {
                if self.counts[i] > 0 {
                    labels[0] = name;
                    counter_add(metric, &labels, self.counts[i] as f64, None);
                }
            }
        }
    }

    impl ProcessMetrics for RedactPii {
        /// Redacts the label values of every series (see [`Redactor::redact_series`]).
        fn process_metrics(&mut self, batch: &mut Metrics) -> Result<(), String> {
            self.counts.iter_mut().for_each(|c| *c = 0);
            for set in batch.series_mut() {
                self.redactor.redact_series(set, &mut self.counts);
            }
            self.count_redactions();
            Ok(())
        }
    }

    sluice_plugin::export_plugin!(RedactPii, metrics);
}

#[cfg(test)]
mod tests;
