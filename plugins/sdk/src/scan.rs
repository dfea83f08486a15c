//! Allocation-light scanners for plugins: the top-level fields of a JSON object or a
//! logfmt line, and timestamps (RFC 3339 or Unix seconds / ms / us / ns). Used by `parse`
//! (which lifts fields into labels and metadata) and `red-metrics` (which reads request
//! fields from lines parse did not lift).

use std::borrow::Cow;
use std::ops::Range;

/// One top-level field of a line.
#[derive(Debug, PartialEq)]
pub struct Field<'a> {
    /// The key, unescaped.
    pub key: Cow<'a, str>,
    /// The value, unescaped; nested JSON objects and arrays as their raw text.
    pub value: Cow<'a, str>,
    /// True when the value was a (JSON or quoted logfmt) string.
    pub quoted: bool,
    /// Byte range of the whole `key: value` / `key=value` pair in the line.
    pub span: Range<usize>,
}

/// The line is not a JSON object / logfmt.
#[derive(Debug, PartialEq)]
pub struct Invalid;

/// Whitespace: the bytes of `u8::is_ascii_whitespace`.
const WS: u8 = 1;
/// Ends a bare JSON value: whitespace, `,`, `}` or `]`.
const BARE_END: u8 = 2;
/// Ends a logfmt key: whitespace, `=` or `"`.
const KEY_END: u8 = 4;

/// The classes of each byte, for the scanners' byte loops: read from this table rather than
/// matched, because the compiler turns a `match` on the byte (whitespace, then `,` or `}`)
/// into a jump table, and in the Wasm build each step then paid an indirect jump that the
/// CPU mostly mispredicted (a third of `json_wanted`'s time on log lines).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let ws = [b' ', b'\t', b'\n', 0x0c, b'\r'];
    let mut k = 0;
    while k < ws.len() {
        t[ws[k] as usize] = WS | BARE_END | KEY_END;
        k += 1;
    }
    t[b',' as usize] = BARE_END;
    t[b'}' as usize] = BARE_END;
    t[b']' as usize] = BARE_END;
    t[b'=' as usize] = KEY_END;
    t[b'"' as usize] = KEY_END;
    t
};

/// Whether `c` is in `class`.
#[inline(always)]
fn is(c: u8, class: u8) -> bool {
    CLASS[c as usize] & class != 0
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is(b[i], WS) {
        i += 1;
    }
    i
}

/// A quick filter on field names: turns away most keys that cannot be one of a plugin's
/// wanted names by their length and first byte alone, before any full comparison (in Wasm
/// the comparisons of every key against every wanted name cost more than the scan itself).
/// A key that passes may still not be wanted: compare it in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Bit `n` set when a wanted name is `n` bytes long (63 stands for 63 and longer).
    lengths: u64,
    /// Bit `c` set when a wanted name starts with byte `c`.
    first: [u64; 4],
}

impl KeyFilter {
    /// The filter of `names`.
    pub fn new<'n>(names: impl IntoIterator<Item = &'n str>) -> KeyFilter {
        let mut filter = KeyFilter::default();
        for name in names {
            filter.lengths |= 1 << name.len().min(63);
            if let Some(&c) = name.as_bytes().first() {
                filter.first[(c >> 6) as usize] |= 1 << (c & 63);
            }
        }
        filter
    }

    /// False when `key` is surely none of the names.
    #[inline(always)]
    pub fn may_match(&self, key: &[u8]) -> bool {
        self.lengths & (1 << key.len().min(63)) != 0
            && key
                .first()
                .is_none_or(|&c| self.first[(c >> 6) as usize] & (1 << (c & 63)) != 0)
    }
}

/// Calls `f` on each top-level field of the JSON object `s`.
pub fn json<'a>(s: &'a str, f: impl FnMut(Field<'a>)) -> Result<(), Invalid> {
    json_wanted(s, |_| true, f)
}

/// Like [`json`], but calls `f` only for fields whose raw key text (between its quotes)
/// `wanted` accepts; the others are checked and skipped without building a [`Field`] or
/// unescaping their value. A key with escapes is always offered. The whole object is still
/// read, so a line is valid or not the same way as with [`json`].
pub fn json_wanted<'a>(
    s: &'a str,
    wanted: impl Fn(&[u8]) -> bool,
    mut f: impl FnMut(Field<'a>),
) -> Result<(), Invalid> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(Invalid);
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(()).ok_or(Invalid);
    }
    loop {
        let start = i;
        if b.get(i) != Some(&b'"') {
            return Err(Invalid);
        }
        // An unwanted key (without escapes) is not unescaped, nor is its value; a wanted one
        // without escapes is the text between its quotes, found once.
        let raw_end = quote_or_backslash(b, i + 1);
        let key = if b.get(raw_end) == Some(&b'"') {
            let start = i + 1;
            i = raw_end + 1;
            wanted(&b[start..raw_end]).then(|| Cow::Borrowed(&s[start..raw_end]))
        } else {
            let (key, end) = json_string(s, i)?;
            i = end;
            Some(key)
        };
        i = skip_ws(b, i);
        if b.get(i) != Some(&b':') {
            return Err(Invalid);
        }
        i = skip_ws(b, i + 1);
        let end = match key {
            None => match b.get(i) {
                Some(b'"') => skip_string(b, i)?,
                Some(b'{' | b'[') => json_nested(b, i)?,
                Some(_) => scalar_end(b, i)?,
                None => return Err(Invalid),
            },
            Some(key) => {
                let (value, quoted, end) = match b.get(i) {
                    Some(b'"') => {
                        let (v, end) = json_string(s, i)?;
                        (v, true, end)
                    }
                    Some(b'{' | b'[') => {
                        let end = json_nested(b, i)?;
                        (Cow::Borrowed(&s[i..end]), false, end)
                    }
                    Some(_) => {
                        let e = scalar_end(b, i)?;
                        (Cow::Borrowed(&s[i..e]), false, e)
                    }
                    None => return Err(Invalid),
                };
                f(Field {
                    key,
                    value,
                    quoted,
                    span: start..end,
                });
                end
            }
        };
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(()).ok_or(Invalid),
            _ => return Err(Invalid),
        }
    }
}

/// The end of the bare value (number, `true`, `false`, `null`) starting at `b[i]`.
#[inline(always)]
fn scalar_end(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let mut e = i;
    while e < b.len() && !is(b[e], BARE_END) {
        e += 1;
    }
    if e == i {
        return Err(Invalid);
    }
    Ok(e)
}

/// The offset after the JSON string starting at the quote `b[i]`, checking its escapes as
/// [`json_string`] does but without unescaping.
fn skip_string(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let mut j = quote_or_backslash(b, i + 1);
    loop {
        match b.get(j) {
            Some(b'"') => return Ok(j + 1),
            Some(b'\\') => {
                match b.get(j + 1).ok_or(Invalid)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        let hex = b.get(j + 2..j + 6).ok_or(Invalid)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(Invalid);
                        }
                        j += 6;
                    }
                    _ => return Err(Invalid),
                }
                j = quote_or_backslash(b, j);
            }
            _ => return Err(Invalid),
        }
    }
}

/// The JSON string starting at the quote `s[i]`, unescaped, and the offset after it.
fn json_string(s: &str, i: usize) -> Result<(Cow<'_, str>, usize), Invalid> {
    let b = s.as_bytes();
    let mut j = quote_or_backslash(b, i + 1);
    match b.get(j) {
        Some(b'"') => return Ok((Cow::Borrowed(&s[i + 1..j]), j + 1)),
        None => return Err(Invalid),
        _ => {}
    }
    let mut out = String::from(&s[i + 1..j]);
    loop {
        match b.get(j) {
            None => return Err(Invalid),
            Some(b'"') => return Ok((Cow::Owned(out), j + 1)),
            Some(b'\\') => {
                let c = match b.get(j + 1).ok_or(Invalid)? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hex = |at: usize| {
                            s.get(at..at + 4)
                                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or(Invalid)
                        };
                        let hi = hex(j + 2)?;
                        j += 4;
                        let code =
                            if (0xd800..0xdc00).contains(&hi) && s[j + 2..].starts_with("\\u") {
                                let lo = hex(j + 4)?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    j += 6;
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    hi
                                }
                            } else {
                                hi
                            };
                        char::from_u32(code).unwrap_or('\u{fffd}')
                    }
                    _ => return Err(Invalid),
                };
                out.push(c);
                j += 2;
            }
            Some(_) => {
                let start = j;
                j = quote_or_backslash(b, j);
                out.push_str(&s[start..j]);
            }
        }
    }
}

/// The first `"` or `\\` in `b[from..]` (or `b.len()`), 16 bytes a step in the Wasm build.
/// Inlined at each caller and without a call to a general search: most strings of a log
/// line are short keys and values that one vector compare settles, and in Wasm the calls
/// (prologue, stack and epoch checks, memchr2's set-up) cost more than the search.
#[inline(always)]
fn quote_or_backslash(b: &[u8], from: usize) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        by16(b, from, |k| {
            // SAFETY: simd128 is enabled for this build; `by16` passes k + 16 <= b.len().
            unsafe {
                let v = v128_load(b.as_ptr().add(k) as *const v128);
                u8x16_bitmask(v128_or(
                    u8x16_eq(v, u8x16_splat(b'"')),
                    u8x16_eq(v, u8x16_splat(b'\\')),
                )) as u32
            }
        })
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        memchr::memchr2(b'"', b'\\', &b[from..]).map_or(b.len(), |k| from + k)
    }
}

/// The first byte of `b[from..]` that `probe` marks (or `b.len()`): `probe(k)` has bit `j`
/// set when `b[k + j]` is wanted, for `k + 16 <= b.len()`. Lines shorter than 16 bytes are
/// read a byte at a time; the last step re-reads the line's final 16 bytes.
#[inline(always)]
#[cfg_attr(
    not(all(target_arch = "wasm32", target_feature = "simd128")),
    allow(dead_code)
)]
fn by16(b: &[u8], from: usize, probe: impl Fn(usize) -> u32) -> usize {
    let n = b.len();
    if n < 16 {
        return b[from..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            .map_or(n, |k| from + k);
    }
    let mut at = from;
    while at + 16 <= n {
        let mask = probe(at);
        if mask != 0 {
            return at + mask.trailing_zeros() as usize;
        }
        at += 16;
    }
    if at >= n {
        return n;
    }
    // The bytes of the final 16 from `at` on (the ones before it are already clean).
    let mask = probe(n - 16) >> (at - (n - 16));
    if mask != 0 {
        at + mask.trailing_zeros() as usize
    } else {
        n
    }
}

/// The end of the JSON object or array starting at `b[i]` (brackets balanced outside strings).
fn json_nested(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j += 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    Err(Invalid)
}

/// Calls `f` on each `key=value` / `key="quoted value"` pair of a logfmt line (a bare `key`
/// reads as `key=true`). Invalid: an unterminated quote, or no `key=` pair at all.
pub fn logfmt<'a>(s: &'a str, mut f: impl FnMut(Field<'a>)) -> Result<(), Invalid> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut pairs = 0;
    loop {
        i = skip_ws(b, i);
        if i >= b.len() {
            return if pairs > 0 { Ok(()) } else { Err(Invalid) };
        }
        let start = i;
        while i < b.len() && !is(b[i], KEY_END) {
            i += 1;
        }
        let key = &s[start..i];
        if key.is_empty() {
            return Err(Invalid);
        }
        if b.get(i) != Some(&b'=') {
            f(Field {
                key: Cow::Borrowed(key),
                value: Cow::Borrowed("true"),
                quoted: false,
                span: start..i,
            });
            continue;
        }
        i += 1;
        pairs += 1;
        let (value, quoted) = if b.get(i) == Some(&b'"') {
            let (v, end) = logfmt_quoted(s, i)?;
            i = end;
            (v, true)
        } else {
            let v0 = i;
            while i < b.len() && !is(b[i], WS) {
                i += 1;
            }
            (Cow::Borrowed(&s[v0..i]), false)
        };
        f(Field {
            key: Cow::Borrowed(key),
            value,
            quoted,
            span: start..i,
        });
    }
}

fn logfmt_quoted(s: &str, i: usize) -> Result<(Cow<'_, str>, usize), Invalid> {
    let body = &s[i + 1..];
    match body.find(['"', '\\']) {
        Some(k) if body.as_bytes()[k] == b'"' => {
            return Ok((Cow::Borrowed(&body[..k]), i + 1 + k + 1))
        }
        None => return Err(Invalid),
        _ => {}
    }
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((Cow::Owned(out), i + 1 + k + 1)),
            '\\' => match chars.next().ok_or(Invalid)?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    Err(Invalid)
}

/// Parses a timestamp into nanoseconds since the Unix epoch: RFC 3339 (`T` or space
/// between date and time; no offset reads as UTC) or a Unix number whose magnitude tells
/// the unit (< 1e11 seconds, < 1e14 ms, < 1e17 us, else ns; a fraction is allowed).
pub fn timestamp(v: &str) -> Option<i64> {
    let v = v.trim();
    let b = v.as_bytes();
    if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' {
        return rfc3339(b);
    }
    unix_number(v)
}

fn unix_number(v: &str) -> Option<i64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty()
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let n: i64 = int.parse().ok()?;
    let unit: i64 = if n < 100_000_000_000 {
        1_000_000_000 // seconds until the year 5138
    } else if n < 100_000_000_000_000 {
        1_000_000 // ms
    } else if n < 100_000_000_000_000_000 {
        1_000 // us
    } else {
        1
    };
    let mut frac_ns = 0i64;
    let mut scale = unit;
    for d in frac.bytes().take(9) {
        scale /= 10;
        frac_ns += i64::from(d - b'0') * scale;
    }
    n.checked_mul(unit)?.checked_add(frac_ns)
}

fn rfc3339(b: &[u8]) -> Option<i64> {
    let num = |r: Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100_000_000;
        while i < b.len() && b[i].is_ascii_digit() {
            nanos += i64::from(b[i] - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<(), Invalid>, v: Vec<Field<'_>>) -> Option<Vec<(String, String, bool)>> {
        r.ok()?;
        Some(
            v.into_iter()
                .map(|f| (f.key.into_owned(), f.value.into_owned(), f.quoted))
                .collect(),
        )
    }

    fn j(s: &str) -> Option<Vec<(String, String, bool)>> {
        let mut v = Vec::new();
        let r = json(s, |f| v.push(f));
        fields(r, v)
    }

    fn l(s: &str) -> Option<Vec<(String, String, bool)>> {
        let mut v = Vec::new();
        let r = logfmt(s, |f| v.push(f));
        fields(r, v)
    }

    fn t(k: &str, v: &str, q: bool) -> (String, String, bool) {
        (k.into(), v.into(), q)
    }

    #[test]
    fn byte_classes_are_the_matches_they_replace() {
        for c in 0..=255u8 {
            assert_eq!(is(c, WS), c.is_ascii_whitespace(), "{c}");
            assert_eq!(
                is(c, BARE_END),
                matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace(),
                "{c}"
            );
            assert_eq!(
                is(c, KEY_END),
                c == b'=' || c == b'"' || c.is_ascii_whitespace(),
                "{c}"
            );
        }
    }

    #[test]
    fn json_fields() {
        assert_eq!(
            j(r#" {"a":"x", "n": 12.5 ,"b":true,"o":{"k":[1,"}"]},"e":"q\"\u00e9\n","z":null} "#)
                .unwrap(),
            [
                t("a", "x", true),
                t("n", "12.5", false),
                t("b", "true", false),
                t("o", r#"{"k":[1,"}"]}"#, false),
                t("e", "q\"é\n", true),
                t("z", "null", false)
            ]
        );
        assert_eq!(j("{}").unwrap(), []);
        assert_eq!(j(r#"{"s":"\ud83d\ude00"}"#).unwrap(), [t("s", "😀", true)]);
        for bad in [
            "",
            "plain text",
            "[1,2]",
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":"x}"#,
            r#"{"a":1} x"#,
            r#"{a:1}"#,
        ] {
            assert_eq!(j(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_wanted_offers_the_same_fields_and_validity_as_json() {
        let lines = [
            r#"{"ts":"2025-11-24T12:00:00Z","level":"info","msg":"a \"quoted\" \u00e9 b","n":12,"o":{"x":[1,"}"]},"req_id":"ab"}"#,
            r#"{"level":"warn","bad":"\x"}"#,
            r#"{"level":"warn","bad":"\u+123"}"#,
            r#"{"le\u0076el":"escaped key","other":true}"#,
            r#"{"level":"x","unterminated":"abc}"#,
            r#"{"level":"x",}"#,
            r#"{"a":1} trailing"#,
            r#"{ "level" : "spaced" , "t" : null }"#,
            r#"{}"#,
            r#"{"x":"\ud83d\ude00","level":"emoji"}"#,
        ];
        let wanted = |k: &[u8]| k == b"level";
        for line in lines {
            let mut all = Vec::new();
            let full = json(line, |f| all.push(f));
            all.retain(|f| f.key == "level" || f.key.contains('\\') || f.key.starts_with("le"));
            let mut some = Vec::new();
            let filtered = json_wanted(line, wanted, |f| some.push(f));
            some.retain(|f| f.key == "level" || f.key.starts_with("le"));
            assert_eq!(full, filtered, "validity of {line}");
            if full.is_ok() {
                assert_eq!(all, some, "fields of {line}");
            }
        }
    }

    #[test]
    fn by16_finds_the_first_quote_or_backslash() {
        let sample = |len: usize, seed: usize| -> Vec<u8> {
            (0..len)
                .map(|k| match (k * 7 + seed * 13) % 41 {
                    0 => b'"',
                    1 => b'\\',
                    _ => b'a',
                })
                .collect()
        };
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 70, 200] {
            for seed in 0..8 {
                let b = sample(len, seed);
                let probe = |k: usize| {
                    (0..16).fold(0u32, |m, j| {
                        m | (u32::from(matches!(b[k + j], b'"' | b'\\')) << j)
                    })
                };
                for from in 0..=len {
                    let expected = b[from..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\')
                        .map_or(len, |k| from + k);
                    assert_eq!(
                        by16(&b, from, probe),
                        expected,
                        "len {len} seed {seed} from {from}"
                    );
                    assert_eq!(quote_or_backslash(&b, from), expected);
                }
            }
        }
    }

    #[test]
    fn json_spans() {
        let s = r#"{"a":"x", "b":2}"#;
        let mut spans = Vec::new();
        json(s, |f| spans.push(&s[f.span])).unwrap();
        assert_eq!(spans, [r#""a":"x""#, r#""b":2"#]);
    }

    #[test]
    fn logfmt_fields() {
        assert_eq!(
            l(r#"level=info msg="hello \"world\"" dur=1.5s flag empty= x="é\\""#).unwrap(),
            [
                t("level", "info", false),
                t("msg", "hello \"world\"", true),
                t("dur", "1.5s", false),
                t("flag", "true", false),
                t("empty", "", false),
                t("x", "é\\", true)
            ]
        );
        assert_eq!(l("just some words"), None);
        assert_eq!(l(r#"a=1 b="unterminated"#), None);
        assert_eq!(l(""), None);
    }

    #[test]
    fn timestamps() {
        let base = 1_705_314_225_000_000_000; // 2024-01-15T10:23:45Z
        assert_eq!(timestamp("2024-01-15T10:23:45Z"), Some(base));
        assert_eq!(
            timestamp("2024-01-15T10:23:45.123Z"),
            Some(base + 123_000_000)
        );
        assert_eq!(
            timestamp("2024-01-15 10:23:45.123456789"),
            Some(base + 123_456_789)
        );
        assert_eq!(timestamp("2024-01-15T11:23:45+01:00"), Some(base));
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp("1705314225"), Some(base));
        assert_eq!(timestamp("1705314225.5"), Some(base + 500_000_000));
        assert_eq!(timestamp("1705314225123"), Some(base + 123_000_000));
        assert_eq!(timestamp("1705314225123456"), Some(base + 123_456_000));
        assert_eq!(timestamp("1705314225123456789"), Some(base + 123_456_789));
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-15T10:23:45X",
            "-5",
            "1e9",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }
}
