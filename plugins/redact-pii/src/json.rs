//! JSON-aware redaction: a line that is a JSON object or array is walked, and only string
//! values (and numbers that are a whole match, e.g. a card number) are redacted, so the
//! line stays valid JSON.
//!
//! - String values are scanned as they are when they hold no escape; otherwise they are
//!   unescaped, scanned, and written back escaped (a placeholder never breaks an escape).
//! - Keys are never rewritten. A key listed in `json_keys` (case-insensitive) has its value
//!   redacted whatever it is (rule `json_key`); a secret-named key (see
//!   [`crate::rules::secrets`]) likewise (rule `secret`); an `authorization` key's value is a
//!   credential (rule `bearer_token`); a version-named key's dotted quads are not IPv4.
//!   Numbers, objects and arrays redacted whole become a JSON string placeholder.
//! - `drop` removes the member (or array element) whose value matched, commas included.
//! - Nested objects and arrays are walked; an array's elements inherit its key.
//!
//! A line that only looks like JSON (it fails to parse) is redacted as plain text.

use crate::byteset::Bits;
use crate::candidates::Candidates;
use crate::keys::KeyCache;
use crate::modes::Mode;
use crate::rules::{network, tokens, Match, Rule};
use crate::scan::{Ctx, Edit, What};
use crate::Redactor;

/// How a value is treated, from the key it belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyKind {
    /// Scan it.
    Scan(Ctx),
    /// Redact it whole under this rule.
    Whole(usize),
    /// An Authorization value: its credential.
    Auth,
    /// A phone-named key (`phone`, `mobile`, `phone_number`, `fax`, ...): a value that is
    /// only a phone number's digits and separators is one, even bare (`"4155552671"`);
    /// anything else is scanned.
    Phone,
}

/// Whether `key` names a phone number: it ends with `phone`, `mobile` or `fax` (with an
/// optional `number`/`_number`), or is `tel`, `cell` or `msisdn` (any case).
pub(crate) fn is_phone_key(key: &str) -> bool {
    let k = key.as_bytes();
    // Most keys are turned away by their last letter (phone, mobile, number, fax, tel, cell,
    // msisdn end in e, r, x, l or n).
    if !(3..=32).contains(&k.len())
        || !matches!(
            k[k.len() - 1].to_ascii_lowercase(),
            b'e' | b'r' | b'x' | b'l' | b'n'
        )
    {
        return false;
    }
    let ends = |suffix: &[u8]| {
        k.len() >= suffix.len() && k[k.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let stem = if ends(b"_number") || ends(b"-number") {
        &k[..k.len() - 7]
    } else if ends(b"number") {
        &k[..k.len() - 6]
    } else {
        k
    };
    let stem_ends = |suffix: &[u8]| {
        stem.len() >= suffix.len() && stem[stem.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    stem_ends(b"phone")
        || stem_ends(b"mobile")
        || stem_ends(b"fax")
        || [&b"tel"[..], b"cell", b"msisdn"]
            .iter()
            .any(|n| k.eq_ignore_ascii_case(n))
}

/// Whether `s` is only a phone number: digits, spaces, `-`, `.`, `(`, `)` and a leading
/// `+`, with 7 to 15 digits.
pub(crate) fn phone_shaped(s: &str) -> bool {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b' ' | b'-' | b'.' | b'(' | b')'))
}

impl Redactor {
    /// How the value of `key` is treated.
    pub(crate) fn key_kind(&self, key: &str) -> KeyKind {
        if self.on(Rule::JsonKey) && self.json_keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            return KeyKind::Whole(Rule::JsonKey as usize);
        }
        if self.on(Rule::Secret) && self.secret_keys.matches(key.as_bytes()) {
            return KeyKind::Whole(Rule::Secret as usize);
        }
        if self.on(Rule::BearerToken)
            && key.len() >= 13
            && key[key.len() - 13..].eq_ignore_ascii_case("authorization")
        {
            return KeyKind::Auth;
        }
        if self.on(Rule::Phone) && is_phone_key(key) {
            return KeyKind::Phone;
        }
        KeyKind::Scan(Ctx {
            version: network::is_version_key(key),
        })
    }

    /// Matches in a string value `s` of a key of kind `kind` (relative to `s`).
    pub(crate) fn value_matches(&self, s: &str, kind: KeyKind, out: &mut Vec<Match>) {
        self.value_matches_with(s, kind, out, |s, ctx, out| self.scan(s, ctx, out))
    }

    /// [`Redactor::value_matches`] scanning with `scan` (which may read candidates built
    /// for the whole line the value is in).
    #[inline]
    pub(crate) fn value_matches_with(
        &self,
        s: &str,
        kind: KeyKind,
        out: &mut Vec<Match>,
        mut scan: impl FnMut(&str, Ctx, &mut Vec<Match>),
    ) {
        match kind {
            KeyKind::Scan(ctx) => scan(s, ctx, out),
            KeyKind::Whole(rule) => {
                if !s.is_empty() {
                    out.push(Match {
                        start: 0,
                        end: s.len(),
                        rule,
                    })
                }
            }
            KeyKind::Auth => {
                let b = s.as_bytes();
                match tokens::scheme_at(b, 0).or_else(|| tokens::auth_value_at(b, 0)) {
                    Some((start, end)) => out.push(Match {
                        start,
                        end,
                        rule: Rule::BearerToken as usize,
                    }),
                    None => scan(s, Ctx::default(), out),
                }
            }
            KeyKind::Phone if phone_shaped(s) => out.push(Match {
                start: 0,
                end: s.len(),
                rule: Rule::Phone as usize,
            }),
            KeyKind::Phone => scan(s, Ctx::default(), out),
        }
    }
}

/// The shortest JSON number token a built-in rule can match whole: `1.2.3.4` (the walker
/// reads digits, signs, dots and exponents as one token). `tests.rs` checks tokens below it.
pub(crate) const SHORTEST_NUMBER_MATCH: usize = 7;

/// What the walker reads instead of searching: the candidates built for the whole line
/// (strings and numbers are scanned as slices of it, see [`Redactor::scan_within`]), the
/// quotes of a line without backslashes (then a string ends at the next quote, found in the
/// bitmap), and the remembered kinds of keys.
pub(crate) struct LineIndex<'a> {
    /// None: each value is scanned on its own, as text (the reference the tests compare
    /// with).
    pub candidates: Option<&'a mut Candidates>,
    /// Bit `i % 64` of word `i / 64`: byte `i` is `"`; only for a line with no `\`.
    pub quotes: Option<&'a [u64]>,
    pub keys: &'a mut KeyCache,
}

/// Walks one JSON line, collecting edits. `Err(())` when the line is not JSON.
pub(crate) struct Walker<'a> {
    r: &'a Redactor,
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    index: LineIndex<'a>,
    /// The edits, in order.
    pub edits: Vec<Edit>,
    /// Rules counted by `What::Text` edits.
    pub counted: Vec<usize>,
    matches: Vec<Match>,
    scratch: String,
}

type Res<T> = Result<T, ()>;

impl<'a> Walker<'a> {
    /// A walker over `s` that reuses `edits` and `matches` (cleared here) as buffers and
    /// reads `index`, built for `s`.
    pub(crate) fn new(
        r: &'a Redactor,
        s: &'a str,
        mut edits: Vec<Edit>,
        mut matches: Vec<Match>,
        index: LineIndex<'a>,
    ) -> Walker<'a> {
        edits.clear();
        matches.clear();
        Walker {
            r,
            s,
            b: s.as_bytes(),
            pos: 0,
            index,
            edits,
            counted: Vec::new(),
            matches,
            scratch: String::new(),
        }
    }

    /// The edits and the match buffer back.
    pub(crate) fn into_buffers(self) -> (Vec<Edit>, Vec<Match>) {
        (self.edits, self.matches)
    }

    /// Walks the whole line.
    pub(crate) fn walk(&mut self) -> Res<()> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array(KeyKind::Scan(Ctx::default()))?,
            _ => return Err(()),
        }
        self.ws();
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(())
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Res<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    /// A string at `pos` (its `"`): the content span and whether it has escapes.
    fn string(&mut self) -> Res<(usize, usize, bool)> {
        self.expect(b'"')?;
        let cs = self.pos;
        if let Some(quotes) = self.index.quotes {
            let ce = Bits(quotes).first_from(cs).ok_or(())?;
            self.pos = ce + 1;
            return Ok((cs, ce, false));
        }
        let mut esc = false;
        loop {
            let k = memchr::memchr2(b'"', b'\\', &self.b[self.pos..]).ok_or(())?;
            self.pos += k;
            if self.b[self.pos] == b'\\' {
                esc = true;
                self.pos += 2;
                if self.pos > self.b.len() {
                    return Err(());
                }
            } else {
                let ce = self.pos;
                self.pos += 1;
                return Ok((cs, ce, esc));
            }
        }
    }

    fn object(&mut self) -> Res<()> {
        self.expect(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut emitted = false;
        let mut prev_end = 0;
        let mut k = 0;
        loop {
            self.ws();
            let ks = self.pos;
            let (kcs, kce, kesc) = self.string()?;
            let kind = if kesc {
                let key = unescape(&self.s[kcs..kce]).ok_or(())?;
                self.r.key_kind(&key)
            } else {
                self.index.keys.kind_at(self.r, self.s, kcs, kce)
            };
            self.ws();
            self.expect(b':')?;
            self.ws();
            self.member(ks, kind, k, &mut emitted, &mut prev_end)?;
            k += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    }

    fn array(&mut self, kind: KeyKind) -> Res<()> {
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut emitted = false;
        let mut prev_end = 0;
        let mut k = 0;
        loop {
            self.ws();
            let es = self.pos;
            self.member(es, kind, k, &mut emitted, &mut prev_end)?;
            k += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    }

    /// One object member (starting at `ms`, its key) or array element (starting at `ms`,
    /// its value) whose value is at `pos`; removes it when its value is dropped.
    fn member(
        &mut self,
        ms: usize,
        kind: KeyKind,
        k: usize,
        emitted: &mut bool,
        prev_end: &mut usize,
    ) -> Res<()> {
        let mark = self.edits.len();
        let counted = self.counted.len();
        let dropped = self.value(kind)?;
        let ve = self.pos;
        if let Some(rule) = dropped {
            self.edits.truncate(mark);
            self.counted.truncate(counted);
            let start = if k > 0 { *prev_end } else { ms };
            self.edits.push(Edit {
                start,
                end: ve,
                what: What::Cut(Some(rule)),
            });
        } else {
            if !*emitted && k > 0 {
                self.edits.insert(
                    mark,
                    Edit {
                        start: *prev_end,
                        end: ms,
                        what: What::Cut(None),
                    },
                );
            }
            *emitted = true;
        }
        *prev_end = ve;
        Ok(())
    }

    /// A value at `pos`; `Ok(Some(rule))` when it is to be dropped (its member with it).
    fn value(&mut self, kind: KeyKind) -> Res<Option<usize>> {
        let vs = self.pos;
        match self.peek().ok_or(())? {
            b'"' => {
                let (cs, ce, esc) = self.string()?;
                self.string_value(cs, ce, esc, kind)
            }
            b'{' | b'[' => {
                if let KeyKind::Whole(rule) = kind {
                    self.skip_value()?;
                    return Ok(self.whole(vs, self.pos, rule));
                }
                if self.peek() == Some(b'{') {
                    self.object()?;
                } else {
                    self.array(kind)?;
                }
                Ok(None)
            }
            b'-' | b'0'..=b'9' => {
                let e = vs
                    + self.b[vs..]
                        .iter()
                        .take_while(|&&c| {
                            c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                        })
                        .count();
                self.pos = e;
                match kind {
                    KeyKind::Whole(rule) => Ok(self.whole(vs, e, rule)),
                    KeyKind::Phone if phone_shaped(&self.s[vs..e]) => {
                        Ok(self.whole(vs, e, Rule::Phone as usize))
                    }
                    // No built-in rule matches a whole number shorter than an IPv4
                    // address (`1.2.3.4`): cards, SSNs and phones are longer still, and
                    // the other rules need bytes a number has not.
                    _ if e - vs < SHORTEST_NUMBER_MATCH && self.r.custom.is_none() => Ok(None),
                    _ => {
                        // A number that is itself a match (a card number, say).
                        self.matches.clear();
                        let mut m = std::mem::take(&mut self.matches);
                        self.scan_slice(vs, e, Ctx::default(), &mut m);
                        let hit = m
                            .first()
                            .filter(|x| x.start == 0 && x.end == e - vs)
                            .map(|x| x.rule);
                        self.matches = m;
                        Ok(hit.and_then(|rule| self.whole(vs, e, rule)))
                    }
                }
            }
            b't' | b'f' | b'n' => {
                let lit: &[u8] = match self.b[vs] {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !self.b[vs..].starts_with(lit) {
                    return Err(());
                }
                self.pos += lit.len();
                Ok(None)
            }
            _ => Err(()),
        }
    }

    /// The matches in `[s, e)` of the line, scanned as a text of its own with the line's
    /// candidates.
    fn scan_slice(&mut self, s: usize, e: usize, ctx: Ctx, out: &mut Vec<Match>) {
        match self.index.candidates.as_deref_mut() {
            Some(c) => self.r.scan_within(&self.s[s..e], ctx, out, c, self.b, s),
            None => self.r.scan(&self.s[s..e], ctx, out),
        }
    }

    /// A non-string value `[s, e)` redacted whole: a quoted placeholder, or dropped.
    fn whole(&mut self, s: usize, e: usize, rule: usize) -> Option<usize> {
        if self.r.modes[rule] == Mode::Drop {
            return Some(rule);
        }
        self.edits.push(Edit {
            start: s,
            end: e,
            what: What::Quoted(rule),
        });
        None
    }

    fn string_value(
        &mut self,
        cs: usize,
        ce: usize,
        esc: bool,
        kind: KeyKind,
    ) -> Res<Option<usize>> {
        let mut m = std::mem::take(&mut self.matches);
        m.clear();
        let result = if !esc {
            let (r, s, b) = (self.r, self.s, self.b);
            let mut candidates = self.index.candidates.as_deref_mut();
            r.value_matches_with(
                &s[cs..ce],
                kind,
                &mut m,
                |v, ctx, out| match &mut candidates {
                    Some(c) => r.scan_within(v, ctx, out, c, b, cs),
                    None => r.scan(v, ctx, out),
                },
            );
            if let Some(d) = m.iter().find(|x| self.r.modes[x.rule] == Mode::Drop) {
                Some(d.rule)
            } else {
                for x in &m {
                    self.edits.push(Edit {
                        start: cs + x.start,
                        end: cs + x.end,
                        what: What::Render(x.rule),
                    });
                }
                None
            }
        } else {
            let text = unescape(&self.s[cs..ce]).ok_or(())?;
            self.r.value_matches(&text, kind, &mut m);
            if let Some(d) = m.iter().find(|x| self.r.modes[x.rule] == Mode::Drop) {
                Some(d.rule)
            } else if !m.is_empty() {
                let mut redacted = std::mem::take(&mut self.scratch);
                redacted.clear();
                let mut copied = 0;
                for x in &m {
                    redacted.push_str(&text[copied..x.start]);
                    self.r.render(x.rule, &text[x.start..x.end], &mut redacted);
                    self.counted.push(x.rule);
                    copied = x.end;
                }
                redacted.push_str(&text[copied..]);
                let mut escaped = String::with_capacity(redacted.len() + 8);
                escape(&redacted, &mut escaped);
                self.scratch = redacted;
                self.edits.push(Edit {
                    start: cs,
                    end: ce,
                    what: What::Text(escaped),
                });
                None
            } else {
                None
            }
        };
        self.matches = m;
        Ok(result)
    }

    /// Skips any value (used for values redacted whole).
    fn skip_value(&mut self) -> Res<()> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek().ok_or(())? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1).ok_or(())?;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

/// The text of a JSON string's content (between the quotes); `None` when an escape is
/// invalid.
pub fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
                    let s: String = chars.by_ref().take(4).collect();
                    (s.len() == 4).then(|| u32::from_str_radix(&s, 16).ok())?
                };
                let hi = hex(&mut chars)?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let rest = chars.as_str();
                    if rest.starts_with("\\u") {
                        chars.next();
                        chars.next();
                        let lo = hex(&mut chars)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            0xFFFD
                        }
                    } else {
                        0xFFFD
                    }
                } else {
                    hi
                };
                out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Appends `s` escaped as JSON string content.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}
