//! Credential-shaped tokens: `jwt`, `aws_access_key`, `github_token`, `slack_token`,
//! `bearer_token`.
//!
//! - `jwt`: `eyJ` + base64url header, `.`, payload, `.`, signature (may be empty, as for
//!   `alg: none`); up to five segments (JWE).
//! - `aws_access_key`: `AKIA`, `ASIA`, `ABIA` or `ACCA` + 16 capitals/digits.
//! - `github_token`: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` + 30+ letters/digits;
//!   `github_pat_` + 22+ letters/digits/`_`.
//! - `slack_token`: `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxe-`, `xapp-` + 10+
//!   letters/digits/`-`; webhook URLs `https://hooks.slack.com/services/...` (the whole
//!   URL).
//! - `bearer_token`: the credential after `Bearer ` or `Basic ` (any case; the scheme word
//!   stays), and the value of an `Authorization` header/key (`Authorization: Token abc`,
//!   `authorization=abc`); a credential is 8+ token characters with a digit or a
//!   punctuation character or 20+ long, so `Bearer token expired` stays.
//! - `private_key`: a PEM block from `-----BEGIN <type> PRIVATE KEY-----` (RSA, EC, DSA,
//!   OPENSSH, ENCRYPTED or none) to its `-----END ... PRIVATE KEY-----`, whatever is
//!   between (escaped `\n`s in a plain line, real ones in a JSON string); a block cut off
//!   before its end is redacted to the end of the text. Public keys and certificates stay.
//! - `api_token`: provider tokens by prefix and length: Google Cloud API keys `AIza` + 35
//!   of `[A-Za-z0-9_-]`; GitLab `glpat-` + 20+; Hugging Face `hf_` + 30+ letters/digits;
//!   SendGrid `SG.` + 22 + `.` + 43. (Secrets after secret-named keys, whatever their
//!   shape, are the `secret` rule.)

use super::{is_word, run, starts_with_ci};

#[inline]
fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// A JWT at `s` (which starts with `eyJ`): its end.
pub fn jwt_at(b: &[u8], s: usize) -> Option<usize> {
    let mut j = run(b, s + 3, is_b64url);
    if j - s < 8 {
        return None;
    }
    let mut segments = 1;
    while segments < 5 && b.get(j) == Some(&b'.') {
        let e = run(b, j + 1, is_b64url);
        if segments == 1 && e - (j + 1) < 4 {
            return None; // the payload
        }
        segments += 1;
        j = e;
    }
    if segments < 3 {
        return None;
    }
    // A trailing `.` after the signature is sentence punctuation, not a segment.
    (!b.get(j).is_some_and(|&c| is_word(c))).then_some(j)
}

/// An AWS access key id at `s` (which starts with `A`): its end.
pub fn aws_at(b: &[u8], s: usize) -> Option<usize> {
    let p = b.get(s..s + 4)?;
    if !matches!(p, b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA") {
        return None;
    }
    let e = run(b, s + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (e - s == 20 && !b.get(e).is_some_and(|&c| is_word(c))).then_some(e)
}

/// A GitHub token at `s` (which starts with `g`): its end.
pub fn github_at(b: &[u8], s: usize) -> Option<usize> {
    if b[s..].starts_with(b"github_pat_") {
        let e = run(b, s + 11, is_word);
        return (e - (s + 11) >= 22).then_some(e);
    }
    let p = b.get(s..s + 4)?;
    if !(p[0] == b'g' && p[1] == b'h' && matches!(p[2], b'p' | b'o' | b'u' | b's' | b'r'))
        || p[3] != b'_'
    {
        return None;
    }
    let e = run(b, s + 4, |c| c.is_ascii_alphanumeric());
    (e - (s + 4) >= 30 && !b.get(e).is_some_and(|&c| is_word(c))).then_some(e)
}

/// A Slack token at `s` (which starts with `x`): its end.
pub fn slack_at(b: &[u8], s: usize) -> Option<usize> {
    let p = b.get(s..s + 5)?;
    let ok = (p.starts_with(b"xox") && matches!(p[3], b'b' | b'p' | b'a' | b'r' | b's' | b'e'))
        || p.starts_with(b"xapp");
    if !ok || p[4] != b'-' {
        return None;
    }
    let e = run(b, s + 5, |c| c.is_ascii_alphanumeric() || c == b'-');
    (e - (s + 5) >= 10 && !b.get(e).is_some_and(|&c| is_word(c))).then_some(e)
}

/// A Slack webhook URL whose host starts at `h` (`hooks.slack.com/services/...`), with
/// the `https://` before it if present: (start, end).
pub fn slack_webhook_at(b: &[u8], h: usize, floor: usize) -> Option<(usize, usize)> {
    const HOST: &[u8] = b"hooks.slack.com/services/";
    if !b[h..].starts_with(HOST) {
        return None;
    }
    let e = run(b, h + HOST.len(), |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-')
    });
    if e - (h + HOST.len()) < 8 {
        return None;
    }
    let mut s = h;
    for scheme in [&b"https://"[..], b"http://"] {
        if h >= scheme.len() + floor && b[h - scheme.len()..h].eq_ignore_ascii_case(scheme) {
            s = h - scheme.len();
        }
    }
    Some((s, e))
}

#[inline]
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
}

/// A credential at `v`: 8+ token characters with a digit or punctuation, or 20+ long.
/// Returns its end.
pub fn credential_at(b: &[u8], v: usize) -> Option<usize> {
    let mut e = run(b, v, is_token);
    // Sentence punctuation is not part of it.
    while e > v && matches!(b[e - 1], b'.') {
        e -= 1;
    }
    let t = &b[v..e];
    let shaped = t.len() >= 20
        || t.iter().any(|&c| {
            c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
        });
    (t.len() >= 8 && shaped).then_some(e)
}

/// `Bearer <credential>` / `Basic <credential>` at `s`: the credential's span.
pub fn scheme_at(b: &[u8], s: usize) -> Option<(usize, usize)> {
    let word = if starts_with_ci(b, s, b"bearer") {
        6
    } else if starts_with_ci(b, s, b"basic") {
        5
    } else {
        return None;
    };
    let v = run(b, s + word, |c| c == b' ');
    if v == s + word || v - (s + word) > 3 {
        return None;
    }
    credential_at(b, v).map(|e| (v, e))
}

/// The value of an Authorization header/value at `v` (after `Authorization:`): the
/// credential's span. A `Bearer`/`Basic` value is left to [`scheme_at`]; another scheme
/// word (`Token`, `Digest`, `ApiKey`) followed by a space is kept.
pub fn auth_value_at(b: &[u8], v: usize) -> Option<(usize, usize)> {
    if scheme_at(b, v).is_some() {
        return None;
    }
    let w = run(b, v, |c| c.is_ascii_alphabetic());
    let c = if w > v && b.get(w) == Some(&b' ') {
        w + 1
    } else {
        v
    };
    let e = run(b, c, is_token);
    (e - c >= 6).then_some((c, e))
}

/// `Authorization` (any case) at `s` followed by `:`/`=` (optionally quoted key, spaces,
/// an opening quote): the credential's span.
pub fn authorization_at(b: &[u8], s: usize) -> Option<(usize, usize)> {
    if !starts_with_ci(b, s, b"authorization") {
        return None;
    }
    let mut j = s + 13;
    if matches!(b.get(j), Some(b'"') | Some(b'\'')) {
        j += 1;
    }
    if !matches!(b.get(j), Some(b':') | Some(b'=')) {
        return None;
    }
    j = run(b, j + 1, |c| c == b' ');
    if matches!(b.get(j), Some(b'"') | Some(b'\'')) {
        j += 1;
    }
    auth_value_at(b, j)
}

/// A PEM private key block at the `-` at `s` (`-----BEGIN ... PRIVATE KEY-----`): its end.
pub fn private_key_at(b: &[u8], s: usize) -> Option<usize> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const TAIL: &[u8] = b"PRIVATE KEY-----";
    if !b[s..].starts_with(BEGIN) {
        return None;
    }
    // The label: capital words (`RSA`, `OPENSSH`, `ENCRYPTED`, ...) ending in PRIVATE KEY.
    let label = s + BEGIN.len();
    let words_end = run(b, label, |c| c.is_ascii_uppercase() || c == b' ');
    if words_end - label > 40
        || words_end < label + 11
        || b.get(words_end - 11..words_end + 5) != Some(TAIL)
    {
        return None;
    }
    let header_end = words_end + 5;
    let Some(end) = b[header_end..]
        .windows(9)
        .position(|w| w == b"-----END ")
        .map(|p| header_end + p + 9)
    else {
        return Some(b.len()); // cut off before its end: all of it is key material
    };
    Some(
        b[end..]
            .windows(5)
            .position(|w| w == b"-----")
            .map_or(b.len(), |p| end + p + 5),
    )
}

/// A provider API token at the word start `s` (`AIza...`, `glpat-...`, `hf_...`,
/// `SG....`): its end.
pub fn api_token_at(b: &[u8], s: usize) -> Option<usize> {
    let tail = |from: usize, min: usize, max: usize, ok: fn(u8) -> bool| {
        let e = run(b, from, ok);
        let len = e - from;
        ((min..=max).contains(&len) && !b.get(e).copied().is_some_and(is_b64url)).then_some(e)
    };
    let rest = &b[s..];
    if rest.starts_with(b"AIza") {
        tail(s + 4, 35, 35, is_b64url)
    } else if rest.starts_with(b"glpat-") {
        tail(s + 6, 20, 64, is_b64url)
    } else if rest.starts_with(b"hf_") {
        tail(s + 3, 30, 64, |c| c.is_ascii_alphanumeric())
    } else if rest.starts_with(b"SG.") {
        let dot = run(b, s + 3, is_b64url);
        if dot - (s + 3) != 22 || b.get(dot) != Some(&b'.') {
            return None;
        }
        tail(dot + 1, 43, 43, is_b64url)
    } else {
        None
    }
}
