//! `email`: `local@domain.tld`, found by looking around an `@` (or a URL-encoded `%40`).
//!
//! - local part: letters, digits and `. _ % + - ' ! # * ^ ~` (so plus-tags and apostrophes
//!   as in `o'brien@...`), or a quoted local part `"john doe"@example.com`; case is kept;
//!   leading dots and apostrophes are not taken (`'a@b.io'` keeps its quotes); a
//!   `scheme://user@host` URL's user is not an address.
//! - domain: two or more dot-separated labels of letters, digits and `-`, ending in an
//!   alphabetic TLD of 2+ letters (`user@localhost`, `sha256@deadbeef` stay).

use crate::byteset::{byte_set, ByteSet};

#[inline]
const fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'.' | b'_' | b'%' | b'+' | b'-' | b'\'' | b'!' | b'#' | b'*' | b'^' | b'~'
        )
}

/// The email address around the `@` at `a` (`at_len` is 1, or 3 for `%40`), not reaching
/// back before `floor`: (start, end).
pub fn email_at(b: &[u8], a: usize, at_len: usize, floor: usize) -> Option<(usize, usize)> {
    let s = if at_len == 1 && a > floor && b[a - 1] == b'"' {
        // A quoted local part: "..."@domain
        let lo = a.saturating_sub(66).max(floor);
        let q = b[lo..a - 1]
            .iter()
            .rposition(|&c| c == b'"')
            .map(|p| p + lo)?;
        let inner = &b[q + 1..a - 1];
        if inner.is_empty() || inner.iter().any(|&c| c == b'\\' || c < b' ') {
            return None;
        }
        if q > 0 && super::is_word(b[q - 1]) {
            return None;
        }
        q
    } else {
        let mut start = local_start(b, a, floor);
        // `%40` form: the local part cannot contain the encoding's own `%`.
        while start < a && matches!(b[start], b'.' | b'\'' | b'%') {
            start += 1;
        }
        // `scheme://user@host` is URL userinfo, not an address.
        if start == a || (start >= 3 && &b[start - 3..start] == b"://") {
            return None;
        }
        start
    };
    let (e, last_dot) = domain(b, a + at_len);
    let tld = &b[last_dot? + 1..e];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some((s, e))
}

/// Bytes of a local part (`is_local`).
static LOCAL: ByteSet = byte_set!(|c| is_local(c));

/// ASCII letters and digits.
static ALNUM: ByteSet = byte_set!(|c| c.is_ascii_alphanumeric());

/// Where the local part ending before `a` starts: after the last byte of `b[floor..a]`
/// that cannot be in one. The 16 bytes before `a` are classified in one vector step; only
/// a local part that fills them all is walked back byte by byte.
#[inline]
fn local_start(b: &[u8], a: usize, floor: usize) -> usize {
    if a >= floor + 16 {
        let outside = !LOCAL.members16(b, a - 16) & 0xffff;
        if outside != 0 {
            return a - 16 + (32 - outside.leading_zeros()) as usize;
        }
        return local_start_bytewise(b, a - 16, floor);
    }
    local_start_bytewise(b, a, floor)
}

/// [`local_start`] a byte at a time.
fn local_start_bytewise(b: &[u8], a: usize, floor: usize) -> usize {
    let mut s = a;
    while s > floor && is_local(b[s - 1]) {
        s -= 1;
    }
    s
}

/// The domain from `start`: its end (labels of letters, digits and `-` joined by dots, each
/// dot after a label and before a letter or digit) and its last dot. The 32 bytes from
/// `start` are classified in two vector steps, and the end and the last dot read from the
/// masks; only a domain that runs past them is walked byte by byte.
#[inline]
fn domain(b: &[u8], start: usize) -> (usize, Option<usize>) {
    if start + 32 > b.len() {
        return domain_bytewise(b, start);
    }
    let both = |f: &dyn Fn(usize) -> u32| f(start) | f(start + 16) << 16;
    let alnum = both(&|at| ALNUM.members16(b, at));
    let dot = both(&|at| DOT.members16(b, at));
    let hyphen = both(&|at| HYPHEN.members16(b, at));
    let outside = !(alnum | dot | hyphen);
    if outside == 0 {
        return domain_bytewise(b, start);
    }
    // A dot ends the domain unless a label byte is before it and a letter or digit after.
    let label = alnum | hyphen;
    let bad_dot = dot & (!(label << 1) | !(alnum >> 1));
    let end = (outside | bad_dot).trailing_zeros();
    let dots = dot & ((1u32 << end) - 1);
    let last_dot = (dots != 0).then(|| start + (31 - dots.leading_zeros()) as usize);
    (start + end as usize, last_dot)
}

static DOT: ByteSet = byte_set!(|c| c == b'.');

static HYPHEN: ByteSet = byte_set!(|c| c == b'-');

/// [`domain`] a byte at a time.
fn domain_bytewise(b: &[u8], start: usize) -> (usize, Option<usize>) {
    let n = b.len();
    let mut e = start;
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
    (e, last_dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_steps_equal_the_bytewise_walks() {
        let alphabet = b"ab.-Z09_+'@ \"\xC3\xA9.-.";
        let mut x = 7u32;
        for _ in 0..20_000 {
            let len = (x >> 8) as usize % 70;
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    alphabet[(x >> 16) as usize % alphabet.len()]
                })
                .collect();
            for at in 0..=len {
                assert_eq!(domain(&b, at), domain_bytewise(&b, at), "{b:?} from {at}");
                for floor in [0, at / 2, at] {
                    assert_eq!(
                        local_start(&b, at, floor),
                        local_start_bytewise(&b, at, floor),
                        "{b:?} before {at} floor {floor}"
                    );
                }
            }
        }
    }
}
