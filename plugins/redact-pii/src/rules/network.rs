//! `ipv4` and `ipv6`.
//!
//! - `ipv4`: exactly four dot-separated octets 0-255, not touching other digits, dots or
//!   word characters (`1.2.3.4.5`, `v10.2.3.4`, `1.2.3` stay), and not a version: a dotted
//!   quad right after `version`, `ver`, `release`, `build` (`version 1.2.3.4`,
//!   `app_version=1.2.3.4`, `"version": "1.2.3.4"`) stays. A `:port` after it stays.
//! - `ipv6`: eight groups of 1-4 hex digits, or fewer with one `::`, optionally ending in
//!   a dotted IPv4 (`::ffff:1.2.3.4`); a `%zone` is left in place. Forms with fewer than
//!   three groups must contain a digit (`::1`, `fe80::1`; not `dead::beef`), so C++/Rust
//!   paths and `hh:mm:ss` times (no `::`, fewer than eight groups) stay.

use super::{before, is_word};

/// Four octets 0-255 from `d`, not followed by a digit, word character or `.digit`/`.word`.
pub fn ipv4_at(b: &[u8], d: usize) -> Option<usize> {
    let mut j = octet(b, d)?;
    for _ in 1..4 {
        if b.get(j) != Some(&b'.') {
            return None;
        }
        j = octet(b, j + 1)?;
    }
    match b.get(j) {
        Some(&c) if is_word(c) => None,
        Some(b'.') if b.get(j + 1).is_some_and(|&c| is_word(c) || c == b'.') => None,
        _ => Some(j),
    }
}

/// The end of a decimal octet (0-255, one to three digits, not followed by a digit) at
/// `b[j]`. Straight-line code, not a loop over the digits: in the Wasm build every loop
/// pays an epoch check and spills around it, and this runs at most digit runs of a line.
#[inline(always)]
fn octet(b: &[u8], j: usize) -> Option<usize> {
    let digit = |k: usize| {
        b.get(k)
            .map(|c| u32::from(c.wrapping_sub(b'0')))
            .filter(|v| *v < 10)
    };
    let d0 = digit(j)?;
    let Some(d1) = digit(j + 1) else {
        return Some(j + 1);
    };
    let Some(d2) = digit(j + 2) else {
        return Some(j + 2);
    };
    (digit(j + 3).is_none() && d0 * 100 + d1 * 10 + d2 <= 255).then_some(j + 3)
}

/// True when the text before `s` names a version: `version`, `ver`, `release`, `build`,
/// `rev` (as a key's last word), then up to three of `space : = " '`.
pub fn preceded_by_version(b: &[u8], s: usize) -> bool {
    let mut k = s;
    let stop = s.saturating_sub(4);
    while k > stop && matches!(b[k - 1], b' ' | b':' | b'=' | b'"' | b'\'') {
        k -= 1;
    }
    // Every version word ends in one of these (most words before an address do not).
    // (`k == 0`: only separators back to the text's start, no word.)
    if k == s
        || k == 0
        || !matches!(
            b[k - 1].to_ascii_lowercase(),
            b'n' | b'r' | b'e' | b'd' | b'v'
        )
    {
        return false;
    }
    let mut w = k;
    while w > 0 && b[w - 1].is_ascii_alphabetic() {
        w -= 1;
    }
    is_version_word(&b[w..k])
}

/// True for `version`-like key words (the last alphabetic word of a key).
pub fn is_version_word(w: &[u8]) -> bool {
    let ends = |suffix: &[u8]| {
        w.len() >= suffix.len() && w[w.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    ends(b"version")
        || w.eq_ignore_ascii_case(b"ver")
        || w.eq_ignore_ascii_case(b"release")
        || w.eq_ignore_ascii_case(b"build")
        || w.eq_ignore_ascii_case(b"rev")
}

/// True when a key (JSON key, label name) names a version: its last alphabetic word is a
/// version word (`version`, `app_version`, `agentVersion`, `build`).
pub fn is_version_key(key: &str) -> bool {
    let k = key.as_bytes();
    let e = k.len();
    let mut w = e;
    while w > 0 && k[w - 1].is_ascii_alphabetic() {
        w -= 1;
    }
    is_version_word(&k[w..e])
}

#[inline]
fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

/// Whether an IPv6 address may start at `s` given the bytes before it.
#[inline]
pub fn ipv6_can_start(b: &[u8], s: usize) -> bool {
    let p = before(b, s);
    if is_word(p) || p == b'.' {
        return false;
    }
    if p == b':' {
        // `addr:2001:db8::1` yes; `ab:cd` (inside a group list) no.
        return s >= 2 && !is_hex(b[s - 2]) && b[s - 2] != b':';
    }
    true
}

/// An IPv6 address from `s` (a hex digit, or the first `:` of a leading `::`): its end.
/// The caller checks [`ipv6_can_start`].
pub fn ipv6_at(b: &[u8], s: usize) -> Option<usize> {
    let n = b.len();
    let mut j = s;
    let mut groups = 0usize;
    let mut double = false;
    let mut digit = false;
    if b[j] == b':' {
        if b.get(j + 1) != Some(&b':') {
            return None;
        }
        double = true;
        j += 2;
    }
    loop {
        let gs = j;
        while j < n && j - gs < 4 && is_hex(b[j]) {
            j += 1;
        }
        if j == gs {
            break; // after a `::` at the end ("fe80::")
        }
        if j < n && b[j] == b'.' {
            // An embedded IPv4 tail.
            let all_digits = b[gs..j].iter().all(u8::is_ascii_digit);
            let room = if double { groups + 2 <= 7 } else { groups == 6 };
            if all_digits && room {
                if let Some(e) = ipv4_at(b, gs) {
                    groups += 2;
                    j = e;
                    digit = true;
                    return finish(b, s, j, groups, double, digit);
                }
            }
            return None;
        }
        if j < n && (is_hex(b[j]) || is_word(b[j])) {
            return None;
        }
        digit |= b[gs..j].iter().any(u8::is_ascii_digit);
        groups += 1;
        if groups > 8 {
            return None;
        }
        if j + 1 < n && b[j] == b':' {
            if b[j + 1] == b':' {
                if double {
                    return None;
                }
                double = true;
                j += 2;
                continue;
            }
            if is_hex(b[j + 1]) {
                j += 1;
                continue;
            }
        }
        break;
    }
    finish(b, s, j, groups, double, digit)
}

fn finish(
    b: &[u8],
    _s: usize,
    j: usize,
    groups: usize,
    double: bool,
    digit: bool,
) -> Option<usize> {
    let ok = if double {
        (1..=7).contains(&groups)
    } else {
        groups == 8
    };
    if !ok || (groups < 3 && !digit) {
        return None;
    }
    match b.get(j) {
        Some(&c) if is_word(c) => None,
        Some(b'.') if b.get(j + 1).is_some_and(|&c| is_word(c)) => None,
        _ => Some(j),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop `ipv4_at` was before its octets were read in straight-line code.
    fn ipv4_at_loop(b: &[u8], d: usize) -> Option<usize> {
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

    /// Only separators between the text's start and the address: nothing to read back to
    /// (this indexed before the start of the text once).
    #[test]
    fn an_address_after_only_separators_has_no_version_word() {
        for text in [
            " 10.1.2.3",
            ": 10.1.2.3",
            "\"10.1.2.3",
            "= 10.1.2.3",
            "10.1.2.3",
        ] {
            let s = text.find('1').unwrap();
            assert!(!preceded_by_version(text.as_bytes(), s), "{text}");
        }
        assert!(preceded_by_version(b"version 10.1.2.3", 8));
    }

    #[test]
    fn straight_line_octets_equal_the_loop() {
        let alphabet = b"01234567890122555....a ";
        let mut x = 99u32;
        let mut found = 0;
        for _ in 0..100_000 {
            let len = 1 + (x >> 8) as usize % 24;
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    alphabet[(x >> 16) as usize % alphabet.len()]
                })
                .collect();
            for d in 0..len {
                let expected = ipv4_at_loop(&b, d);
                found += usize::from(expected.is_some());
                assert_eq!(ipv4_at(&b, d), expected, "{}", String::from_utf8_lossy(&b));
            }
        }
        assert!(found > 500, "only {found} addresses in the sample");
    }
}
