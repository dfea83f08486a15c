//! What a match becomes: the four modes and the keyed pseudonym (HMAC-SHA256).
//!
//! - `mask`: `<rule>`.
//! - `pseudonym`: `<rule:16 hex>`, the first 8 bytes of HMAC-SHA256(key, rule "\0"
//!   normalised value). Deterministic for a key, so the same value maps to the same token
//!   across lines, batches, instances and restarts and can be joined on; without the key it
//!   cannot be reversed by hashing guesses. Normalised: emails and IPv6 lower-cased;
//!   cards, phones, SSNs and IBANs reduced to their digits/letters (so `4111 1111 ...` and
//!   `4111-1111-...` map alike).
//! - `partial`: `<rule:kept>` with a non-identifying part kept (see [`partial`]); rules with
//!   nothing safe to keep fall back to `<rule>`.
//! - `drop`: the field goes: the JSON member or array element, the `key=value` pair, or
//!   else the value itself (see `crate::scan` and `crate::json`).

use sha2::{Digest, Sha256};

use crate::rules::Rule;

/// What a rule does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replace with `<rule>`.
    Mask,
    /// Replace with `<rule:hmac>`.
    Pseudonym,
    /// Replace with `<rule:kept part>`.
    Partial,
    /// Remove the field.
    Drop,
}

impl Mode {
    /// The mode of a config name (`hash` and `hmac` are aliases of `pseudonym`).
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "mask" => Some(Mode::Mask),
            "pseudonym" | "hash" | "hmac" => Some(Mode::Pseudonym),
            "partial" => Some(Mode::Partial),
            "drop" => Some(Mode::Drop),
            _ => None,
        }
    }
}

/// HMAC-SHA256 with a fixed key (RFC 2104), the pads absorbed once.
#[derive(Clone)]
pub struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl std::fmt::Debug for Hmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hmac(<key>)") // never print key material
    }
}

impl Hmac {
    /// Keys the MAC.
    pub fn new(key: &[u8]) -> Hmac {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
        let mut inner = Sha256::new();
        inner.update(&ipad);
        let mut outer = Sha256::new();
        outer.update(&opad);
        Hmac { inner, outer }
    }

    /// The full MAC of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for p in parts {
            inner.update(p);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Lower-case hex of `bytes`, appended to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// The value as the pseudonym hashes it (see the module docs).
pub fn normalise(rule: Option<Rule>, value: &str) -> std::borrow::Cow<'_, str> {
    match rule {
        Some(Rule::Email) | Some(Rule::Ipv6) => value.to_ascii_lowercase().into(),
        Some(Rule::CreditCard) | Some(Rule::Phone) | Some(Rule::Ssn) | Some(Rule::Iban) => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
            .into(),
        _ => value.into(),
    }
}

/// The part `partial` keeps of a match of `rule`, or `None` to mask:
///
/// | rule | kept | example |
/// |---|---|---|
/// | `email` | the domain | `<email:…@example.com>` |
/// | `ipv4` | the first three octets (the /24) | `<ipv4:10.1.2.…>` |
/// | `ipv6` | the first three groups (the /48) | `<ipv6:2001:db8:85a3:…>` |
/// | `credit_card`, `ssn`, `phone` | the last 4 digits | `<credit_card:…1111>` |
/// | `iban` | country code and last 4 | `<iban:GB…5432>` |
/// | `aws_access_key` | prefix and last 4 | `<aws_access_key:AKIA…MPLE>` |
/// | `github_token`, `slack_token` | the type prefix | `<github_token:ghp_…>` |
/// | `jwt` | the header segment (algorithm, type) | `<jwt:eyJhbGciOiJIUzI1NiJ9.…>` |
/// | `url_credentials` | the user name | `<url_credentials:alice:…>` |
/// | others, custom | nothing | `<secret>` |
pub fn partial(rule: Option<Rule>, value: &str) -> Option<String> {
    let last_digits = |n: usize| {
        let d: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
        (d.len() > n).then(|| format!("…{}", d[d.len() - n..].iter().collect::<String>()))
    };
    match rule? {
        Rule::Email => value.rfind('@').map(|a| format!("…{}", &value[a..])),
        Rule::Ipv4 => value.rfind('.').map(|d| format!("{}…", &value[..=d])),
        Rule::Ipv6 => {
            let cut = value
                .match_indices(':')
                .nth(2)
                .map(|(i, _)| i)
                .into_iter()
                .chain(value.find("::"))
                .min()?;
            (cut > 0).then(|| format!("{}:…", &value[..cut]))
        }
        Rule::CreditCard | Rule::Ssn | Rule::Phone => last_digits(4),
        Rule::Iban => {
            let c: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
            Some(format!(
                "{}…{}",
                c[..2].iter().collect::<String>(),
                c[c.len() - 4..].iter().collect::<String>()
            ))
        }
        Rule::AwsAccessKey => Some(format!("{}…{}", &value[..4], &value[value.len() - 4..])),
        Rule::GithubToken => {
            let p = if value.starts_with("github_pat_") {
                11
            } else {
                4
            };
            Some(format!("{}…", &value[..p]))
        }
        Rule::SlackToken => value
            .find('-')
            .filter(|&d| d <= 4)
            .map(|d| format!("{}…", &value[..=d])),
        Rule::Jwt => value.find('.').map(|d| format!("{}.…", &value[..d])),
        Rule::UrlCredentials => value.find(':').map(|c| format!("{}:…", &value[..c])),
        _ => None,
    }
}
