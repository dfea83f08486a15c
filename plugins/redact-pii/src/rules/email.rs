//! `email`: `local@domain.tld`, found by looking around an `@` (or a URL-encoded `%40`).
//!
//! - local part: letters, digits and `. _ % + - ' ! # * ^ ~` (so plus-tags and apostrophes
//!   as in `o'brien@...`), or a quoted local part `"john doe"@example.com`; case is kept;
//!   leading dots and apostrophes are not taken (`'a@b.io'` keeps its quotes); a
//!   `scheme://user@host` URL's user is not an address.
//! - domain: two or more dot-separated labels of letters, digits and `-`, ending in an
//!   alphabetic TLD of 2+ letters (`user@localhost`, `sha256@deadbeef` stay).

#[inline]
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'.' | b'_' | b'%' | b'+' | b'-' | b'\'' | b'!' | b'#' | b'*' | b'^' | b'~'
        )
}

/// The email address around the `@` at `a` (`at_len` is 1, or 3 for `%40`), not reaching
/// back before `floor`: (start, end).
pub fn email_at(b: &[u8], a: usize, at_len: usize, floor: usize) -> Option<(usize, usize)> {
    let mut s = a;
    if at_len == 1 && a > floor && b[a - 1] == b'"' {
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
        s = q;
    } else {
        while s > floor && is_local(b[s - 1]) {
            s -= 1;
        }
        // `%40` form: the local part cannot contain the encoding's own `%`.
        while s < a && matches!(b[s], b'.' | b'\'' | b'%') {
            s += 1;
        }
        // `scheme://user@host` is URL userinfo, not an address.
        if s == a || (s >= 3 && &b[s - 3..s] == b"://") {
            return None;
        }
    }
    let n = b.len();
    let mut e = a + at_len;
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
