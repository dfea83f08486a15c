//! redact-pii: masks personal data in log lines, label values and metadata values.
//!
//! Rules (each match is replaced by a typed placeholder):
//!
//! - `email` -> `<email>`: `local@domain.tld`, local part `[A-Za-z0-9._%+-]`, a domain of
//!   at least two dot-separated labels ending in an alphabetic TLD of 2+ letters.
//! - `ipv4` -> `<ipv4>`: exactly four dot-separated octets 0-255, not touching other
//!   digits, dots or word characters (so `1.2.3.4.5`, `v10.2.3` and `1.2.3` stay); a port
//!   after `:` stays.
//! - `credit_card` -> `<credit_card>`: 13-19 digits, plain, or in groups separated by one
//!   kind of separator (space or `-`; first group of 4 digits, others 3-6), starting with
//!   2-6 (Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay: this keeps
//!   Unix timestamps in s/ms/us/ns, which start with 1, out) and passing the Luhn check.
//!
//! Config (the transform's `config` table):
//!
//! - `rules`: list of rule names to apply; default: all of them.
//! - `mode`: `"mask"` (default, the only mode so far).
//!
//! Unknown keys, rule names or modes are init errors naming them. When the pipeline
//! declares a counter `redactions_total` for the transform (one label: the rule name),
//! each batch adds its replacements per rule (label and metadata values are counted once
//! per distinct label set / per pair).
//!
//! The matcher is [`Redactor`], plain Rust usable natively (the host's benchmark links
//! it); the plugin glue only exists in the wasm32 build. It is a single pass: `memchr` for
//! `@`, and a byte loop to the next digit; the exact scanners run only where those hit.

use memchr::memchr;
use std::borrow::Cow;

/// A redaction rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Email addresses.
    Email = 0,
    /// IPv4 addresses.
    Ipv4 = 1,
    /// Payment card numbers (Luhn-checked).
    CreditCard = 2,
}

/// Replacements per rule, indexed by `Rule as usize`.
pub type Counts = [u64; 3];

impl Rule {
    /// Every rule, in index order.
    pub const ALL: [Rule; 3] = [Rule::Email, Rule::Ipv4, Rule::CreditCard];

    /// The rule's config name (also the `rule` label value of `redactions_total`).
    pub fn name(self) -> &'static str {
        ["email", "ipv4", "credit_card"][self as usize]
    }

    /// The text a match is replaced with in mode `mask`.
    pub fn placeholder(self) -> &'static str {
        ["<email>", "<ipv4>", "<credit_card>"][self as usize]
    }

    /// The rule of a config name.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// The compiled redaction rules. Cheap to build, `Sync`, no per-call allocation.
#[derive(Debug, Clone)]
pub struct Redactor {
    email: bool,
    ipv4: bool,
    card: bool,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&Rule::ALL)
    }
}

#[inline]
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

impl Redactor {
    /// A redactor applying `rules`.
    pub fn new(rules: &[Rule]) -> Redactor {
        Redactor {
            email: rules.contains(&Rule::Email),
            ipv4: rules.contains(&Rule::Ipv4),
            card: rules.contains(&Rule::CreditCard),
        }
    }

    /// Builds from the plugin's config table: `{"rules": [...], "mode": "mask"}`.
    pub fn from_config(
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Redactor, String> {
        if let Some(k) = config.keys().find(|k| *k != "rules" && *k != "mode") {
            return Err(format!("unknown config key `{k}` (known: rules, mode)"));
        }
        match config.get("mode") {
            None => {}
            Some(serde_json::Value::String(m)) if m == "mask" => {}
            Some(serde_json::Value::String(m)) => {
                return Err(format!("unknown mode `{m}` (known: mask)"))
            }
            Some(v) => return Err(format!("config key `mode` must be a string, got {v}")),
        }
        let Some(rules) = config.get("rules") else {
            return Ok(Redactor::default());
        };
        let list = rules.as_array().ok_or_else(|| {
            format!("config key `rules` must be a list of rule names, got {rules}")
        })?;
        let mut chosen = Vec::new();
        for v in list {
            let name = v
                .as_str()
                .ok_or_else(|| format!("config key `rules` must list rule names, got {v}"))?;
            chosen.push(Rule::from_name(name).ok_or_else(|| {
                format!("unknown rule `{name}` (known: email, ipv4, credit_card)")
            })?);
        }
        Ok(Redactor::new(&chosen))
    }

    /// [`Redactor::from_config`] from the config's JSON text.
    pub fn from_config_json(json: &str) -> Result<Redactor, String> {
        match serde_json::from_str(if json.trim().is_empty() { "{}" } else { json }) {
            Ok(serde_json::Value::Object(map)) => Redactor::from_config(&map),
            _ => Err("config must be a JSON object".into()),
        }
    }

    /// The rules this redactor applies.
    pub fn rules(&self) -> Vec<Rule> {
        let on = [self.email, self.ipv4, self.card];
        Rule::ALL.into_iter().filter(|r| on[*r as usize]).collect()
    }

    /// Redacts `line`: returns the number of replacements and, when it is not 0, appends
    /// the redacted line to `out`. When it is 0, `out` is left untouched (the line is clean
    /// and the caller keeps it as it is: nothing was copied).
    pub fn redact(&self, line: &str, out: &mut String) -> usize {
        self.redact_counted(line, out, &mut [0; 3])
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

    /// [`Redactor::redact`], also adding each replacement to `counts[rule as usize]`.
    pub fn redact_counted(&self, line: &str, out: &mut String, counts: &mut Counts) -> usize {
        let b = line.as_bytes();
        let n = b.len();
        let digits = self.ipv4 || self.card;
        let mut copied = 0; // line[..copied] is already in `out` (or replaced)
        let mut total = 0;
        let mut emit = |out: &mut String, copied: &mut usize, s: usize, e: usize, rule: Rule| {
            if total == 0 {
                out.reserve(n);
            }
            out.push_str(&line[*copied..s]);
            out.push_str(rule.placeholder());
            *copied = e;
            counts[rule as usize] += 1;
            total += 1;
        };
        let mut i = 0; // next byte to look at for digits
        let mut at = if self.email { memchr(b'@', b) } else { None };
        loop {
            let limit = at.unwrap_or(n);
            if digits {
                while i < limit && !b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                i = limit;
            }
            if i < limit {
                // A digit run starts at i, before the next '@'.
                match self.digit_match(b, i) {
                    Some((end, rule)) => {
                        emit(out, &mut copied, i, end, rule);
                        i = end;
                        if at.is_some_and(|a| a < end) {
                            at = memchr(b'@', &b[end..]).map(|p| p + end);
                        }
                    }
                    None => {
                        // Neither rule can start inside this word.
                        while i < n && is_word(b[i]) {
                            i += 1;
                        }
                    }
                }
            } else if let Some(a) = at {
                match email_at(b, a, copied) {
                    Some((s, e)) => {
                        emit(out, &mut copied, s, e, Rule::Email);
                        i = e;
                    }
                    None => i = a + 1,
                }
                at = memchr(b'@', &b[i..]).map(|p| p + i);
            } else {
                break;
            }
        }
        if total > 0 {
            out.push_str(&line[copied..]);
        }
        total
    }

    /// An IPv4 address or card number starting at the digit `b[d]`: (end, rule).
    #[inline]
    fn digit_match(&self, b: &[u8], d: usize) -> Option<(usize, Rule)> {
        let prev = if d > 0 { b[d - 1] } else { b' ' };
        if is_word(prev) || prev == b'.' {
            return None;
        }
        if self.ipv4 {
            if let Some(end) = ipv4_at(b, d) {
                return Some((end, Rule::Ipv4));
            }
        }
        if self.card && matches!(b[d], b'2'..=b'6') {
            // Not the continuation of a separated digit group ("1234-4111 ...").
            let continues = matches!(prev, b' ' | b'-') && d >= 2 && b[d - 2].is_ascii_digit() && {
                let mut k = d - 2;
                while k > 0 && b[k - 1].is_ascii_digit() {
                    k -= 1;
                }
                k == 0 || !is_word(b[k - 1])
            };
            if !continues {
                if let Some(end) = card_at(b, d) {
                    return Some((end, Rule::CreditCard));
                }
            }
        }
        None
    }
}

/// Four octets 0-255 from `d`, not followed by a digit, word character or `.digit`/`.word`.
fn ipv4_at(b: &[u8], d: usize) -> Option<usize> {
    let n = b.len();
    let mut j = d;
    for octet in 0..4 {
        if octet > 0 {
            if j < n && b[j] == b'.' {
                j += 1;
            } else {
                return None;
            }
        }
        let s = j;
        let mut v = 0u32;
        while j < n && j - s < 3 && b[j].is_ascii_digit() {
            v = v * 10 + u32::from(b[j] - b'0');
            j += 1;
        }
        if j == s || v > 255 || (j < n && b[j].is_ascii_digit()) {
            return None;
        }
    }
    match b.get(j) {
        Some(&c) if is_word(c) => None,
        Some(b'.') if b.get(j + 1).is_some_and(|&c| is_word(c) || c == b'.') => None,
        _ => Some(j),
    }
}

/// A Luhn-valid card number of 13-19 digits from `d`; the end of the longest one.
fn card_at(b: &[u8], d: usize) -> Option<usize> {
    let n = b.len();
    let mut digits = [0u8; 19];
    let mut count = 0;
    let mut j = d;
    while j < n && b[j].is_ascii_digit() {
        if count == 19 {
            return None; // a longer number: an id, not a card
        }
        digits[count] = b[j] - b'0';
        count += 1;
        j += 1;
    }
    let boundary = |j: usize| match b.get(j) {
        None => true,
        Some(&c) if is_word(c) => false,
        Some(b'.') => !b.get(j + 1).is_some_and(u8::is_ascii_digit),
        _ => true,
    };
    let sep = b.get(j).copied().filter(|c| matches!(c, b' ' | b'-'));
    let grouped = count == 4 && sep.is_some() && b.get(j + 1).is_some_and(u8::is_ascii_digit);
    if !grouped {
        return ((13..=19).contains(&count) && boundary(j) && luhn(&digits[..count])).then_some(j);
    }
    // Groups: 4, then 3-6 digits each, one kind of separator; candidate ends after each.
    let sep = sep.expect("grouped");
    let mut ends: [(usize, usize); 5] = [(0, 0); 5]; // (end offset, digit count)
    let mut found = 0;
    while b.get(j) == Some(&sep) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        let s = j + 1;
        let mut k = s;
        while k < n && b[k].is_ascii_digit() && count + (k - s) < 19 {
            digits[count + (k - s)] = b[k] - b'0';
            k += 1;
        }
        if !(3..=6).contains(&(k - s)) || b.get(k).is_some_and(u8::is_ascii_digit) {
            break;
        }
        count += k - s;
        j = k;
        if count >= 13 && found < ends.len() {
            ends[found] = (j, count);
            found += 1;
        }
    }
    ends[..found]
        .iter()
        .rev()
        .find(|&&(end, c)| boundary(end) && luhn(&digits[..c]))
        .map(|&(end, _)| end)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                if d > 4 {
                    2 * d - 9
                } else {
                    2 * d
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The email address around the `@` at `a`, not reaching back before `floor`: (start, end).
fn email_at(b: &[u8], a: usize, floor: usize) -> Option<(usize, usize)> {
    let mut s = a;
    while s > floor && is_local(b[s - 1]) {
        s -= 1;
    }
    while s < a && b[s] == b'.' {
        s += 1;
    }
    if s == a {
        return None;
    }
    let n = b.len();
    let mut e = a + 1;
    let mut label = 0;
    let mut last_dot = None;
    while e < n {
        let c = b[e];
        if c.is_ascii_alphanumeric() || c == b'-' {
            label += 1;
        } else if c == b'.' && label > 0 && b.get(e + 1).is_some_and(u8::is_ascii_alphanumeric) {
            last_dot = Some(e);
            label = 0;
        } else {
            break;
        }
        e += 1;
    }
    let tld = &b[last_dot? + 1..e];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some((s, e))
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use super::{Counts, Redactor, Rule};
    use sluice_plugin::{counter_add, metric_id, Batch, Config, Plugin};

    struct RedactPii {
        redactor: Redactor,
        metric: Option<u32>,
    }

    impl Plugin for RedactPii {
        fn init(config: Config) -> Result<Self, String> {
            Ok(RedactPii {
                redactor: Redactor::from_config(config.as_map())?,
                metric: metric_id("redactions_total"),
            })
        }

        fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
            let r = &self.redactor;
            let mut counts: Counts = [0; 3];
            batch.map_lines(|_, line, out| r.redact_counted(line, out, &mut counts) > 0);
            let mut out = String::new();
            batch.map_label_sets(|set| {
                let mut changed = false;
                for (_, value) in set.iter_mut() {
                    out.clear();
                    if r.redact_counted(value, &mut out, &mut counts) > 0 {
                        std::mem::swap(value, &mut out);
                        changed = true;
                    }
                }
                changed
            });
            batch.map_metadata_values(|_, _, value, out| {
                r.redact_counted(value, out, &mut counts) > 0
            });
            if let Some(metric) = self.metric {
                for rule in Rule::ALL {
                    if counts[rule as usize] > 0 {
                        counter_add(metric, &[rule.name()], counts[rule as usize] as f64, None);
                    }
                }
            }
            Ok(())
        }
    }

    sluice_plugin::export_plugin!(RedactPii);
}

#[cfg(test)]
mod tests;
