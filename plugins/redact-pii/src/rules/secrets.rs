//! `secret` (values of secret-named keys) and `url_credentials`.
//!
//! - `secret`: the value after a key whose name is a secret name, in `key=value`,
//!   `key="value"`, `key: value` and `"key": "value"` forms (in JSON lines the walker
//!   passes the key). A key matches when its last words, joined, equal a listed name: words
//!   split at `_ - .` and lower-to-upper case changes, compared case-insensitively, so
//!   `password`, `db_password`, `DB-PASSWORD`, `userPassword`, `X-Api-Key` (`api_key`),
//!   `aws_secret_access_key` (`secret_access_key`) match, while `bypass` (`pass`),
//!   `secretary` (`secret`) and `token_count` (`token`) do not.
//! - `url_credentials`: `scheme://user:password@host` — the `user:password` part.

use super::run;
use super::{add_name_end, pair_index, NameEnds};

/// The default secret key names (`secret_keys` replaces them, `extra_secret_keys` adds).
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "client_secret",
    "private_key",
    "secret_key",
    "secret_access_key",
    "credentials",
    "session_key",
    "account_key",
    "shared_access_key",
    "sas_token",
    "signing_key",
    "encryption_key",
    "master_key",
    "connection_string",
];

/// Secret key names, normalised (lower case, separators removed).
#[derive(Debug, Clone, Default)]
pub struct SecretKeys {
    names: Vec<Vec<u8>>,
    /// Bit per name, indexed by the name's last byte: a cheap first filter.
    by_last: [u64; 4],
    /// Bit per name, indexed by its last two letters or digits ([`pair_index`]); names of
    /// one letter set every pair ending in it.
    by_last_two: NameEnds,
}

/// Lower-case letters and digits of a key, and where its words start.
struct Normalised {
    buf: [u8; 64],
    len: usize,
    /// Bit i set when a word starts at normalised offset i (i < 64).
    starts: u64,
}

fn normalise(key: &[u8]) -> Option<Normalised> {
    let mut n = Normalised {
        buf: [0; 64],
        len: 0,
        starts: 1,
    };
    let mut prev_lower = false;
    let mut sep = false;
    for &c in key {
        if c.is_ascii_alphanumeric() {
            if n.len == 64 {
                return None;
            }
            if (sep || (prev_lower && c.is_ascii_uppercase())) && n.len > 0 {
                n.starts |= 1 << n.len;
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            sep = false;
            n.buf[n.len] = c.to_ascii_lowercase();
            n.len += 1;
        } else {
            sep = true;
            prev_lower = false;
        }
    }
    (n.len > 0).then_some(n)
}

impl SecretKeys {
    /// From key names as written in config.
    pub fn new<S: AsRef<str>>(names: &[S]) -> SecretKeys {
        let mut k = SecretKeys::default();
        for name in names {
            if let Some(n) = normalise(name.as_ref().as_bytes()) {
                let v = n.buf[..n.len].to_vec();
                let last = v[v.len() - 1];
                k.by_last[usize::from(last >> 6)] |= 1 << (last & 63);
                add_name_end(&mut k.by_last_two, &v);
                if !k.names.contains(&v) {
                    k.names.push(v);
                }
            }
        }
        k
    }

    /// The names, normalised (lower case, separators removed).
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.names.iter().map(Vec::as_slice)
    }

    /// True when no names are listed.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether a key whose last letter or digit is `last` can name a secret: false for
    /// most keys, at the cost of a bit test.
    #[inline]
    pub fn may_end_with(&self, last: u8) -> bool {
        let last = last.to_ascii_lowercase();
        self.by_last[usize::from(last >> 6)] & (1 << (last & 63)) != 0
    }

    /// Whether a key ending in the letters or digits `a`, `b` can name a secret.
    #[inline]
    pub fn may_end_with_pair(&self, a: u8, b: u8) -> bool {
        match pair_index(a, b) {
            Some(i) => self.by_last_two[i / 64] & (1 << (i % 64)) != 0,
            None => true,
        }
    }

    /// Whether `key` names a secret (see the module docs).
    pub fn matches(&self, key: &[u8]) -> bool {
        let Some(&last) = key.iter().rev().find(|c| c.is_ascii_alphanumeric()) else {
            return false;
        };
        if !self.may_end_with(last) {
            return false;
        }
        let Some(n) = normalise(key) else {
            return false;
        };
        let k = &n.buf[..n.len];
        self.names.iter().any(|name| {
            k.len() >= name.len()
                && k.ends_with(name)
                && n.starts & (1 << (k.len() - name.len())) != 0
        })
    }
}

#[inline]
fn is_key(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// The key that ends right before the `=` or `:` at `i` (unquoted, or in `"` or `'`),
/// not reaching back before `floor`: its span.
pub fn key_before(b: &[u8], i: usize, floor: usize) -> Option<(usize, usize)> {
    let mut ke = i;
    let quote = match b.get(i.wrapping_sub(1)) {
        Some(&q) if i > floor && (q == b'"' || q == b'\'') => {
            ke -= 1;
            Some(q)
        }
        _ => None,
    };
    let mut ks = ke;
    while ks > floor && is_key(b[ks - 1]) {
        ks -= 1;
    }
    if ks == ke {
        return None;
    }
    if let Some(q) = quote {
        if ks == floor || b[ks - 1] != q {
            return None;
        }
    }
    Some((ks, ke))
}

/// The value after the separator at `i` (`=` or `:`): skips spaces (for `:`), takes a
/// quoted value to its closing quote, or an unquoted one up to a delimiter. Returns the
/// value's span, not empty.
pub fn value_after(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut v = i + 1;
    if b[i] == b':' {
        v = run(b, v, |c| c == b' ');
    }
    match b.get(v) {
        Some(&q) if q == b'"' || q == b'\'' => {
            let close = memchr::memchr(q, &b[v + 1..])? + v + 1;
            (close > v + 1).then_some((v + 1, close))
        }
        Some(_) => {
            // `&` ends a value in a query string (`key=value&...`), not after `key: `.
            let amp = b[i] == b'=';
            let e = run(b, v, |c| {
                !(c.is_ascii_whitespace()
                    || (amp && c == b'&')
                    || matches!(
                        c,
                        b',' | b';' | b')' | b'}' | b']' | b'"' | b'\'' | b'<' | b'>'
                    ))
            });
            (e > v).then_some((v, e))
        }
        None => None,
    }
}

/// `user:password` of a URL whose `://` starts at `i`: its span.
pub fn url_credentials_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !b[i..].starts_with(b"://") || i == 0 || !b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let s = i + 3;
    let end = run(b, s, |c| {
        !(c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>'))
    });
    let at = memchr::memrchr(b'@', &b[s..end])? + s;
    let colon = memchr::memchr(b':', &b[s..at])? + s;
    (colon > s || at > colon + 1).then_some((s, at))
}
