//! The single pass over a text: finds every match of every enabled rule, left to right,
//! without overlaps, and turns matches into edits.
//!
//! The loop visits only candidate bytes (`candidates.rs`: triggers at punctuation or at a
//! word start, found 16 bytes a step), never the inside of a word. At a word start it
//! dispatches on the first byte (a digit: IPv4/card/SSN/phone, each only when the digit
//! run has its shape; `e`: `eyJ` JWT; `A`: `AKIA`/`Authorization`; `g`: `ghp_`; `x`:
//! `xoxb-`; `h`: Slack webhook; `B`/`b`: `Bearer`/`Basic`; a capital: IBAN); on
//! punctuation it looks at `@` and `%40` (email, looking back), `+` and `%2B` (E.164),
//! `(` (`(555) 123-4567`), `:` (IPv6, looking back over the hex digits of its first group,
//! or a leading `::`; `://` URL credentials; `key: value` secrets) and `=` (`key=value`
//! secrets). Each matcher runs only there, and checks its own boundaries.
//! Custom regex rules, when configured, are one more pass (all patterns at once) whose
//! matches are merged in.

use crate::byteset::ByteSet;
use crate::candidates::{short_candidates, Candidates};
use crate::modes::Mode;
use crate::rules::{
    before, email, iban, is_word, network, numbers, run, secrets, tokens, Match, Rule,
};
use crate::Redactor;

/// What the text around a scanned value says about it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    /// The value belongs to a version-named key: dotted quads are versions, not IPv4.
    pub version: bool,
}

/// An edit of a line: replace `[start, end)`.
#[derive(Debug)]
pub struct Edit {
    /// Start byte offset in the line.
    pub start: usize,
    /// End byte offset in the line (exclusive).
    pub end: usize,
    /// The replacement.
    pub what: What,
}

/// The replacement of an [`Edit`].
#[derive(Debug)]
pub enum What {
    /// The rule's rendering of the replaced text (mask, pseudonym or partial).
    Render(usize),
    /// The same, in double quotes (a JSON number/object/array replaced by a string).
    Quoted(usize),
    /// Ready text (already counted).
    Text(String),
    /// Nothing: the text is removed (`Some(rule)` counts a dropped field).
    Cut(Option<usize>),
}

impl Redactor {
    #[inline]
    pub(crate) fn on(&self, rule: Rule) -> bool {
        self.on[rule as usize]
    }

    /// Recomputes [`Redactor::triggers`] from the enabled rules: the first bytes the
    /// dispatch in [`Redactor::word_start`] and [`Redactor::punct`] acts on. Must list a
    /// superset of them; call after changing `on`, `modes` or the key lists. Also
    /// recomputes [`Redactor::json_text_scan`] and takes a new identity (key kinds
    /// remembered for the old config are not reused).
    pub(crate) fn update_triggers(&mut self) {
        self.identity = crate::keys::Identity::new();
        self.key_suffixes = crate::keys::KeySuffixes::of(self);
        let drops = (0..crate::rules::BUILTIN).any(|r| self.on[r] && self.modes[r] == Mode::Drop);
        let keyed = [Rule::JsonKey, Rule::Secret, Rule::BearerToken, Rule::Phone]
            .into_iter()
            .any(|r| self.on(r));
        self.json_text_scan = match (drops, keyed) {
            (true, _) => crate::JsonTextScan::Never,
            (false, true) => crate::JsonTextScan::WhenKeysArePlain,
            (false, false) => crate::JsonTextScan::Always,
        };
        let mut t = [false; 256];
        let mut set = |bytes: &[u8]| bytes.iter().for_each(|b| t[*b as usize] = true);
        let on = |r: Rule| self.on[r as usize];
        if on(Rule::Email) {
            set(b"@%");
        }
        if on(Rule::Phone) {
            set(b"%+(");
        }
        if on(Rule::UrlCredentials) || on(Rule::Ipv6) || on(Rule::Secret) {
            set(b":");
        }
        if on(Rule::Secret) {
            set(b"=");
        }
        if [Rule::Ipv4, Rule::CreditCard, Rule::Ssn, Rule::Phone]
            .into_iter()
            .any(on)
        {
            set(b"0123456789");
        }
        if on(Rule::Jwt) {
            set(b"e");
        }
        if on(Rule::AwsAccessKey) {
            set(b"A");
        }
        if on(Rule::GithubToken) {
            set(b"g");
        }
        if on(Rule::PrivateKey) {
            set(b"B");
        }
        if on(Rule::ApiToken) {
            set(b"AghS");
        }
        if on(Rule::SlackToken) {
            set(b"xh");
        }
        if on(Rule::BearerToken) {
            set(b"BbAa");
        }
        if on(Rule::Iban) {
            set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        }
        self.triggers = ByteSet::new(t);
    }

    /// Appends the matches in `s` (offsets relative to `s`) to `out`, sorted, without
    /// overlaps.
    ///
    /// A text of up to 64 bytes (most metadata and label values, short lines) has its
    /// candidates found in one word by [`short_candidates`] instead of a
    /// [`Candidates`] window: the same candidates, without setting up a 1 KiB window for a
    /// few bytes (in the default chain, scanning each record's 16-byte `req_id` cost a
    /// seventh of scanning its whole line that way).
    pub(crate) fn scan(&self, s: &str, ctx: Ctx, out: &mut Vec<Match>) {
        let b = s.as_bytes();
        if self.custom.is_none() && b.len() <= 64 {
            let bits = short_candidates(&self.triggers, b);
            self.scan_loop(b, ctx, out, Source::Short(bits));
            return;
        }
        self.scan_with(s, ctx, out, &mut Candidates::new());
    }

    /// [`Redactor::scan`] with candidates already built for `s` (or empty).
    pub(crate) fn scan_with(
        &self,
        s: &str,
        ctx: Ctx,
        out: &mut Vec<Match>,
        candidates: &mut Candidates,
    ) {
        self.scan_within(s, ctx, out, candidates, s.as_bytes(), 0);
    }

    /// [`Redactor::scan`] of `s`, the slice of `line` that starts at `off`, reading the
    /// candidates built for the whole line. The matches are the slice's alone (offsets
    /// relative to `s`; no matcher looks outside it), as if it were scanned by itself:
    /// the candidates are the same when the byte before the slice is not a word byte (a
    /// JSON string's quote, a number's `:`, `,` or `[`), which the caller makes sure of.
    pub(crate) fn scan_within(
        &self,
        s: &str,
        ctx: Ctx,
        out: &mut Vec<Match>,
        candidates: &mut Candidates,
        line: &[u8],
        off: usize,
    ) {
        let first = out.len();
        self.scan_builtin(s.as_bytes(), ctx, out, candidates, line, off);
        if let Some(custom) = &self.custom {
            let before_custom = out.len();
            custom.find(s, out);
            if out.len() > before_custom {
                let all = &mut out[first..];
                all.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
                let mut kept: Vec<Match> = Vec::with_capacity(all.len());
                for m in all.iter() {
                    if kept.last().is_none_or(|k| m.start >= k.end) {
                        kept.push(*m);
                    }
                }
                out.truncate(first);
                out.extend(kept);
            }
        }
    }

    /// The built-in rules' matches in `b`, which is `line[off..off + b.len()]`.
    fn scan_builtin(
        &self,
        b: &[u8],
        ctx: Ctx,
        out: &mut Vec<Match>,
        candidates: &mut Candidates,
        line: &[u8],
        off: usize,
    ) {
        self.scan_loop(b, ctx, out, Source::Window(candidates, line, off));
    }

    /// The scan of `b` visiting the candidates `source` has. One loop for both sources
    /// (not one per source): a second copy of the loop made the compiler stop inlining
    /// the matchers into it, which cost more than the short path saved.
    fn scan_loop(&self, b: &[u8], ctx: Ctx, out: &mut Vec<Match>, mut source: Source) {
        let n = b.len();
        let mut i = 0;
        let mut floor = 0;
        while i < n {
            // Most bytes cannot start anything an enabled rule looks for, and no rule
            // starts inside a word.
            i = source.next(&self.triggers, i, n);
            if i >= n {
                break;
            }
            let hit = if is_word(b[i]) {
                if self.skip_timestamps && b[i].is_ascii_digit() {
                    if let Some(end) = self.clean_timestamp_end(b, i) {
                        i = end;
                        continue;
                    }
                }
                self.word_start(b, i, floor, ctx)
            } else {
                self.punct(b, i, floor)
            };
            match hit {
                Some((s, e, rule)) => {
                    out.push(Match {
                        start: s,
                        end: e,
                        rule: rule as usize,
                    });
                    i = e.max(i + 1);
                    floor = e;
                }
                None => i += 1,
            }
        }
    }

    /// The end of an ISO 8601 date and time at the digit `b[i]` (`2025-11-24T12:00`, or
    /// with a space; then `:SS` and a `.fraction` when present) in which no rule can
    /// match, or None. Nearly every log line has one, and it holds up to eight candidates
    /// (each number, each colon), all of which the matchers turn down; skipping it whole
    /// gives the same matches. Why none matches: the date's later numbers and the
    /// fraction follow a digit and `-`, or a `.`, which ends every digit rule at once; the
    /// year and the hour have no digit rule's shape (IPv4 wants a `.`, cards a 4-digit
    /// group and a space or `-` then 3-6 digits, phones 3 digits or a leading 0 and a
    /// space, `-` or `.`); no IPv6 address starts at a two-digit group after `T` or after
    /// another group, nor after a space when two or three groups end without a further
    /// `:` (the skip is refused before one: `12:00::1`); and the key-value
    /// secret rule sees the two digits before each colon as a key's end, which is why the
    /// skip is off when a configured secret name ends in them. The time zone is not
    /// skipped. `tests.rs` scans timestamps of every shape with and without the skip.
    #[inline]
    fn clean_timestamp_end(&self, b: &[u8], i: usize) -> Option<usize> {
        let digit = |k: usize| b.get(i + k).is_some_and(u8::is_ascii_digit);
        let is = |k: usize, c: u8| b.get(i + k) == Some(&c);
        let shape = (0..4).all(digit)
            && is(4, b'-')
            && digit(5)
            && digit(6)
            && is(7, b'-')
            && digit(8)
            && digit(9)
            && (is(10, b'T') || is(10, b' '))
            && digit(11)
            && digit(12)
            && is(13, b':')
            && digit(14)
            && digit(15);
        if !shape {
            return None;
        }
        let secret_end = |k: usize| {
            self.on(Rule::Secret) && self.secret_keys.may_end_with_pair(b[i + k], b[i + k + 1])
        };
        if secret_end(11) {
            return None;
        }
        let mut end = i + 16;
        if is(16, b':') && digit(17) && digit(18) {
            if secret_end(14) {
                return None;
            }
            end = i + 19;
            if is(19, b'.') && digit(20) {
                end = run(b, i + 20, |c| c.is_ascii_digit());
            }
        }
        // What follows must not continue the last number (`12:00:001`: the skip would end
        // inside a digit run the scan reads differently) or the colon groups (`12:00::1`
        // after a space is an IPv6 address).
        if b.get(end).is_some_and(|&c| c.is_ascii_digit() || c == b':') {
            return None;
        }
        Some(end)
    }

    /// Matches that start at the punctuation byte `b[i]`.
    #[inline]
    fn punct(&self, b: &[u8], i: usize, floor: usize) -> Option<(usize, usize, Rule)> {
        match b[i] {
            b'@' if self.on(Rule::Email) => {
                email::email_at(b, i, 1, floor).map(|(s, e)| (s, e, Rule::Email))
            }
            b'%' => {
                let code = b.get(i + 1..i + 3)?;
                if code == b"40" && self.on(Rule::Email) {
                    email::email_at(b, i, 3, floor).map(|(s, e)| (s, e, Rule::Email))
                } else if code.eq_ignore_ascii_case(b"2B")
                    && self.on(Rule::Phone)
                    && !before(b, i).is_ascii_alphanumeric()
                {
                    numbers::e164_at(b, i, true).map(|e| (i, e, Rule::Phone))
                } else {
                    None
                }
            }
            b'+' if self.on(Rule::Phone) && !before(b, i).is_ascii_alphanumeric() => {
                numbers::e164_at(b, i, false).map(|e| (i, e, Rule::Phone))
            }
            b'(' if self.on(Rule::Phone) && !is_word(before(b, i)) => {
                numbers::nanp_paren_at(b, i).map(|e| (i, e, Rule::Phone))
            }
            b':' => {
                if self.on(Rule::Ipv6) {
                    if let Some(s) = ipv6_start_before_colon(b, i, floor) {
                        if let Some(e) = network::ipv6_at(b, s) {
                            return Some((s, e, Rule::Ipv6));
                        }
                    }
                }
                let next = b.get(i + 1).copied();
                if next == Some(b'/') {
                    if self.on(Rule::UrlCredentials) {
                        return secrets::url_credentials_at(b, i)
                            .map(|(s, e)| (s, e, Rule::UrlCredentials));
                    }
                    None
                } else if next == Some(b':') {
                    if self.on(Rule::Ipv6) && network::ipv6_can_start(b, i) {
                        return network::ipv6_at(b, i).map(|e| (i, e, Rule::Ipv6));
                    }
                    None
                } else {
                    self.secret_kv(b, i, floor)
                }
            }
            b'=' => self.secret_kv(b, i, floor),
            _ => None,
        }
    }

    /// `key=value` / `key: value` with a secret-named key: the value.
    #[inline]
    fn secret_kv(&self, b: &[u8], i: usize, floor: usize) -> Option<(usize, usize, Rule)> {
        if !self.on(Rule::Secret) {
            return None;
        }
        // The key's last two bytes: letters or digits no secret name ends with rule it out
        // before the key is looked for (a `:` in a time, a URL's port, most JSON keys).
        let end = match before(b, i) {
            b'"' | b'\'' if i > floor + 1 => i - 1,
            _ => i,
        };
        let last = before(b, end);
        if last.is_ascii_alphanumeric() {
            let ruled_out = if end >= floor + 2 && b[end - 2].is_ascii_alphanumeric() {
                !self.secret_keys.may_end_with_pair(b[end - 2], last)
            } else {
                !self.secret_keys.may_end_with(last)
            };
            if ruled_out {
                return None;
            }
        }
        let (ks, ke) = secrets::key_before(b, i, floor)?;
        if !self.secret_keys.matches(&b[ks..ke]) {
            return None;
        }
        if matches!(b.get(run(b, i + 1, |c| c == b' ')), Some(b'{') | Some(b'[')) {
            return None;
        }
        secrets::value_after(b, i).map(|(s, e)| (s, e, Rule::Secret))
    }

    /// Matches that start at the word start `b[i]`.
    #[inline]
    fn word_start(
        &self,
        b: &[u8],
        i: usize,
        floor: usize,
        ctx: Ctx,
    ) -> Option<(usize, usize, Rule)> {
        let c = b[i];
        if c.is_ascii_digit() {
            // No digit rule starts after a `.`, nor after a digit and `-` or `:` (a date, a
            // port or a time field). The three bytes are one bit test: as comparisons they
            // compiled to a jump table, an indirect jump at every number in the Wasm build.
            const AFTER: u64 = (1 << b'.') | (1 << b'-') | (1 << b':');
            let p = before(b, i);
            if p < 64 && (AFTER >> p) & 1 != 0 && (p == b'.' || before(b, i - 1).is_ascii_digit()) {
                return None;
            }
            // Each digit rule needs its own shape of the digit run here and the byte after
            // it (the first check each matcher makes): one look at the run decides which
            // matchers can match, instead of each reading it again to fail.
            let run = b[i..b.len().min(i + 20)]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let next = b.get(i + run).copied().unwrap_or(0);
            if self.on(Rule::Ipv4) && !ctx.version && run <= 3 && next == b'.' {
                if let Some(e) = network::ipv4_at(b, i) {
                    if !network::preceded_by_version(b, i) {
                        return Some((i, e, Rule::Ipv4));
                    }
                }
            }
            if self.on(Rule::CreditCard)
                && matches!(c, b'2'..=b'6')
                && ((13..=19).contains(&run) || (run == 4 && matches!(next, b' ' | b'-')))
            {
                if let Some(e) = numbers::card_at(b, i) {
                    return Some((i, e, Rule::CreditCard));
                }
            }
            if self.on(Rule::Ssn) && run == 3 && next == b'-' {
                if let Some(e) = numbers::ssn_at(b, i) {
                    return Some((i, e, Rule::Ssn));
                }
            }
            // Evaluated whole (`&`, `|`), not branch by branch: the branches on `c` compiled
            // to a jump table.
            let separated = matches!(next, b' ' | b'-' | b'.');
            let zero_led = (b.get(i + 1) == Some(&b'0')) | ((2..=5).contains(&run) & separated);
            let phone_shaped = ((c == b'0') & zero_led)
                | ((c == b'1') & (run == 1) & separated)
                | ((run == 3) & separated);
            if self.on(Rule::Phone) && phone_shaped {
                if let Some(e) = numbers::national_at(b, i) {
                    return Some((i, e, Rule::Phone));
                }
            }
            return None;
        }
        // Every letter rule reads a second byte of its own first: most words are turned away
        // here, before any matcher is called.
        if !second_byte_may_follow(c, b.get(i + 1).copied().unwrap_or(0)) {
            return None;
        }
        // A PEM block is found at the `B` of its `-----BEGIN` (a `-` trigger would stop the
        // scan at every dash of every date and UUID); provider tokens by their prefix. Each
        // matcher runs once: a miss falls through to the rules below.
        if c == b'B'
            && self.on(Rule::PrivateKey)
            && i >= 5
            && i - 5 >= floor
            && &b[i - 5..i] == b"-----"
        {
            if let Some(e) = tokens::private_key_at(b, i - 5) {
                return Some((i - 5, e, Rule::PrivateKey));
            }
        }
        if matches!(c, b'A' | b'g' | b'h' | b'S') && self.on(Rule::ApiToken) {
            if let Some(e) = tokens::api_token_at(b, i) {
                return Some((i, e, Rule::ApiToken));
            }
        }
        let hit = match c {
            b'e' if self.on(Rule::Jwt) && b[i..].starts_with(b"eyJ") => {
                tokens::jwt_at(b, i).map(|e| (i, e, Rule::Jwt))
            }
            b'A' if self.on(Rule::AwsAccessKey) => {
                tokens::aws_at(b, i).map(|e| (i, e, Rule::AwsAccessKey))
            }
            b'g' if self.on(Rule::GithubToken) => {
                tokens::github_at(b, i).map(|e| (i, e, Rule::GithubToken))
            }
            b'x' if self.on(Rule::SlackToken) => {
                tokens::slack_at(b, i).map(|e| (i, e, Rule::SlackToken))
            }
            b'h' if self.on(Rule::SlackToken) => {
                tokens::slack_webhook_at(b, i, floor).map(|(s, e)| (s, e, Rule::SlackToken))
            }
            _ => None,
        };
        if hit.is_some() {
            return hit;
        }
        if self.on(Rule::BearerToken) {
            let auth = match c {
                b'B' | b'b' => tokens::scheme_at(b, i),
                b'A' | b'a' => tokens::authorization_at(b, i),
                _ => None,
            };
            if let Some((s, e)) = auth {
                return Some((s, e, Rule::BearerToken));
            }
        }
        if c.is_ascii_uppercase() && self.on(Rule::Iban) {
            if let Some(e) = iban::iban_at(b, i) {
                return Some((i, e, Rule::Iban));
            }
        }
        None
    }

    /// Edits for the matches of a plain (non-JSON) text that starts at `base` in `line`:
    /// drop-mode matches remove their `key=value` pair when they are its whole value, or
    /// else themselves.
    pub(crate) fn plain_edits(
        &self,
        line: &str,
        base: usize,
        matches: &[Match],
        edits: &mut Vec<Edit>,
    ) {
        let b = line.as_bytes();
        let mut floor = edits.last().map_or(0, |e| e.end);
        for m in matches {
            let (s, e) = (base + m.start, base + m.end);
            let edit = if self.modes[m.rule] == Mode::Drop {
                let (ds, de) = drop_span(b, s, e, floor);
                Edit {
                    start: ds,
                    end: de,
                    what: What::Cut(Some(m.rule)),
                }
            } else {
                Edit {
                    start: s,
                    end: e,
                    what: What::Render(m.rule),
                }
            };
            floor = edit.end;
            edits.push(edit);
        }
    }
}

/// What a drop-mode match at `[s, e)` removes: the whole `key=value` / `key: value` /
/// `key="value"` pair (and one separator next to it) when the match is the pair's whole
/// value, else only the match.
fn drop_span(b: &[u8], s: usize, e: usize, floor: usize) -> (usize, usize) {
    let n = b.len();
    let (mut vs, mut ve) = (s, e);
    if vs > floor && ve < n && matches!(b[vs - 1], b'"' | b'\'') && b[ve] == b[vs - 1] {
        vs -= 1;
        ve += 1;
    }
    let mut k = vs;
    while k > floor && b[k - 1] == b' ' {
        k -= 1;
    }
    if k > floor && (b[k - 1] == b'=' || (b[k - 1] == b':' && k - 1 > floor)) {
        if let Some((mut ks, _)) = secrets::key_before(b, k - 1, floor) {
            if ks > floor && matches!(b[ks - 1], b'"' | b'\'') && b[k - 2] == b[ks - 1] {
                ks -= 1;
            }
            let at_end = ve == n || matches!(b[ve], b' ' | b'\t' | b'&' | b',' | b';');
            let key_start_ok = ks == floor || !is_word(b[ks - 1]);
            if at_end && key_start_ok {
                if ve < n && matches!(b[ve], b' ' | b'&' | b',' | b';') {
                    ve += 1;
                    if b[ve - 1] == b',' && b.get(ve) == Some(&b' ') {
                        ve += 1;
                    }
                } else if ks > floor && matches!(b[ks - 1], b' ' | b'&') {
                    ks -= 1;
                }
                return (ks, ve);
            }
        }
    }
    (s, e)
}

/// Where an IPv6 address that has its first `:` at `j` would start: an address begins
/// with 1-4 hex digits at a word start, so it is looked for from its first colon, back
/// over those digits, instead of at every word that starts with a hex digit (a third of
/// all words; bench/RESULTS.md, session 10). The start is one the scan could have stopped
/// at: not before `floor`, not inside a word, and not a digit run continuing a number
/// (`.1:` or `2024-1:`, as at a digit's word start).
#[inline]
fn ipv6_start_before_colon(b: &[u8], j: usize, floor: usize) -> Option<usize> {
    let mut s = j;
    while s > floor && j - s < 5 && b[s - 1].is_ascii_hexdigit() {
        s -= 1;
    }
    if s == j || j - s > 4 || !network::ipv6_can_start(b, s) {
        return None;
    }
    let p = before(b, s);
    if b[s].is_ascii_digit() && p == b'-' && before(b, s - 1).is_ascii_digit() {
        return None;
    }
    Some(s)
}

/// Whether a letter rule can start at a word starting `c`, `c2`: the union of the second
/// bytes the matchers start by checking (`Bearer`/`Basic`, `-----BEGIN`, `Authorization`,
/// `AKIA`-style AWS ids and `AIza`, `eyJ`, `ghp_`/`github_pat_`, `glpat-`, `hf_`,
/// `hooks.slack.com`, `SG.`, `xoxb-`/`xapp-`, and an IBAN's two capitals). Any enabled set
/// of rules checks a subset, so false here means no rule matches. Read from
/// [`SECOND_BYTES`]: as a `match` on `c` it compiled to a jump table, and in the Wasm build
/// the indirect jump at each word was mostly mispredicted.
#[inline(always)]
fn second_byte_may_follow(c: u8, c2: u8) -> bool {
    SECOND_BYTES[c as usize][(c2 >> 6) as usize] & (1 << (c2 & 63)) != 0
}

/// Per first byte, the second bytes [`second_byte_rule`] lets through, 256 bits each.
static SECOND_BYTES: [[u64; 4]; 256] = {
    let mut t = [[0u64; 4]; 256];
    let mut c = 0;
    while c < 256 {
        let mut c2 = 0;
        while c2 < 256 {
            if second_byte_rule(c as u8, c2 as u8) {
                t[c][c2 >> 6] |= 1 << (c2 & 63);
            }
            c2 += 1;
        }
        c += 1;
    }
    t
};

/// The rule of [`second_byte_may_follow`], as written (evaluated into [`SECOND_BYTES`] at
/// compile time).
const fn second_byte_rule(c: u8, c2: u8) -> bool {
    let lower = c2.to_ascii_lowercase();
    match c {
        b'A' => c2.is_ascii_uppercase() || c2 == b'u',
        b'a' => lower == b'u',
        b'B' => c2.is_ascii_uppercase() || matches!(lower, b'e' | b'a'),
        b'b' => matches!(lower, b'e' | b'a'),
        b'e' => c2 == b'y',
        b'g' => matches!(c2, b'h' | b'i' | b'l'),
        b'h' => matches!(c2, b'f' | b'o'),
        b'x' => matches!(c2, b'o' | b'a'),
        c if c.is_ascii_uppercase() => c2.is_ascii_uppercase(),
        _ => true,
    }
}

/// Where [`Redactor::scan_loop`] finds its candidates.
enum Source<'a> {
    /// A window over `line`, of which the scanned text starts at `off`.
    Window(&'a mut Candidates, &'a [u8], usize),
    /// The bitmap of a text of at most 64 bytes ([`short_candidates`]).
    Short(u64),
}

impl Source<'_> {
    /// The first candidate at or after `i` in the scanned text of `n` bytes, or `n`.
    #[inline(always)]
    fn next(&mut self, triggers: &ByteSet, i: usize, n: usize) -> usize {
        match self {
            Source::Window(c, line, off) => c.next(triggers, line, *off + i) - *off,
            Source::Short(bits) => {
                let rest = if i < 64 { *bits & (!0u64 << i) } else { 0 };
                if rest == 0 {
                    n
                } else {
                    rest.trailing_zeros() as usize
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{second_byte_may_follow, second_byte_rule};

    /// Every prefix a letter rule starts at passes the second-byte gate, in the cases the
    /// matchers accept.
    #[test]
    fn the_second_byte_gate_lets_every_rule_prefix_through() {
        for prefix in [
            "Bearer",
            "bearer",
            "BEARER",
            "Basic",
            "basic",
            "BEGIN",
            "Authorization",
            "authorization",
            "AUTHORIZATION",
            "AKIA",
            "ASIA",
            "ABIA",
            "ACCA",
            "AIza",
            "eyJ",
            "ghp_",
            "gho_",
            "github_pat_",
            "glpat-",
            "hf_",
            "hooks.slack.com",
            "SG.",
            "xoxb-",
            "xoxp-",
            "xapp-",
            "GB82",
            "DE89",
            "FR14",
        ] {
            let b = prefix.as_bytes();
            assert!(second_byte_may_follow(b[0], b[1]), "{prefix}");
        }
        for word in [
            "by", "alice", "api", "error", "get", "hello", "xml", "Info", "The",
        ] {
            let b = word.as_bytes();
            assert!(!second_byte_may_follow(b[0], b[1]), "{word}");
        }
    }

    #[test]
    fn the_second_byte_table_is_its_rule() {
        for c in 0..=255u8 {
            for c2 in 0..=255u8 {
                assert_eq!(
                    second_byte_may_follow(c, c2),
                    second_byte_rule(c, c2),
                    "{c} {c2}"
                );
            }
        }
    }
}
