//! The built-in rules: their names, and one matcher module per family.
//!
//! Every matcher is a plain function over the line's bytes that is called only where the
//! scanner ([`crate::scan`]) saw a cheap trigger (a word start with the right first byte,
//! an `@`, a `+`, a `:`, a `=` ...) and returns the end (or the span) of a match. Matchers
//! check their own boundaries so that a match never starts or ends inside a longer word or
//! number: that is what keeps trace ids, hashes and order ids out.

pub mod custom;
pub mod email;
pub mod iban;
pub mod network;
pub mod numbers;
pub mod secrets;
pub mod tokens;

/// A built-in redaction rule. Custom rules from config come after these in a
/// [`crate::Redactor`]'s rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Email addresses.
    Email = 0,
    /// IPv4 addresses.
    Ipv4,
    /// IPv6 addresses, full and compressed.
    Ipv6,
    /// Payment card numbers (Luhn-checked).
    CreditCard,
    /// IBANs (mod-97 checked).
    Iban,
    /// US social security numbers.
    Ssn,
    /// Phone numbers: E.164 and common national formats.
    Phone,
    /// JSON Web Tokens.
    Jwt,
    /// `Bearer`/`Basic` credentials and Authorization header values.
    BearerToken,
    /// AWS access key ids.
    AwsAccessKey,
    /// GitHub tokens.
    GithubToken,
    /// Slack tokens and webhook URLs.
    SlackToken,
    /// Values of secret-named keys (`password=...`, `"api_key": ...`).
    Secret,
    /// `user:password` in URLs.
    UrlCredentials,
    /// Values of the JSON keys / labels / metadata keys listed in `json_keys`.
    JsonKey,
    /// PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----` to its `-----END`).
    PrivateKey,
    /// Provider API tokens by their prefix: Google Cloud API keys (`AIza`), GitLab
    /// (`glpat-`), Hugging Face (`hf_`), SendGrid (`SG.`).
    ApiToken,
}

/// Number of built-in rules.
pub const BUILTIN: usize = 17;

impl Rule {
    /// Every built-in rule, in index order.
    pub const ALL: [Rule; BUILTIN] = [
        Rule::Email,
        Rule::Ipv4,
        Rule::Ipv6,
        Rule::CreditCard,
        Rule::Iban,
        Rule::Ssn,
        Rule::Phone,
        Rule::Jwt,
        Rule::BearerToken,
        Rule::AwsAccessKey,
        Rule::GithubToken,
        Rule::SlackToken,
        Rule::Secret,
        Rule::UrlCredentials,
        Rule::JsonKey,
        Rule::PrivateKey,
        Rule::ApiToken,
    ];

    /// The rule's config name (also its placeholder `<name>` and the `rule` label value of
    /// `redactions_total`).
    pub fn name(self) -> &'static str {
        [
            "email",
            "ipv4",
            "ipv6",
            "credit_card",
            "iban",
            "ssn",
            "phone",
            "jwt",
            "bearer_token",
            "aws_access_key",
            "github_token",
            "slack_token",
            "secret",
            "url_credentials",
            "json_key",
            "private_key",
            "api_token",
        ][self as usize]
    }

    /// The text a match is replaced with in mode `mask`.
    pub fn placeholder(self) -> String {
        format!("<{}>", self.name())
    }

    /// The rule of a config name.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The built-in rule at table index `i`, if `i` is one.
    pub fn from_index(i: usize) -> Option<Rule> {
        Rule::ALL.get(i).copied()
    }
}

/// A match inside a scanned text: `[start, end)` and the index of its rule in the
/// redactor's rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// Rule table index.
    pub rule: usize,
}

/// `[A-Za-z0-9_]`.
#[inline]
pub const fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The byte before `i`, or a space at the start.
#[inline]
pub fn before(b: &[u8], i: usize) -> u8 {
    if i > 0 {
        b[i - 1]
    } else {
        b' '
    }
}

/// True when `b[i..]` starts with `lit`, ASCII case-insensitively.
#[inline]
pub fn starts_with_ci(b: &[u8], i: usize, lit: &[u8]) -> bool {
    b.len() >= i + lit.len() && b[i..i + lit.len()].eq_ignore_ascii_case(lit)
}

/// End of the run of bytes from `i` for which `f` holds.
#[inline]
pub fn run(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// A bit per pair of letters or digits (any case, [`pair_index`]): the last two of a set
/// of names, so that a key is told apart from every name at once by its own last two bytes
/// (the secret key names, [`secrets::SecretKeys`]; the names any rule reads keys by,
/// `crate::keys::KeySuffixes`).
pub type NameEnds = [u64; (36 * 36usize).div_ceil(64)];

/// Adds `name`'s last two bytes to `ends`; a name of one letter or digit adds every pair
/// ending in it. A name ending in anything else adds nothing: it matches only keys that
/// end the same way, which the filters never turn away ([`pair_index`] is None for them).
pub fn add_name_end(ends: &mut NameEnds, name: &[u8]) {
    match name {
        [.., a, b] => {
            if let Some(i) = pair_index(*a, *b) {
                ends[i / 64] |= 1 << (i % 64);
            }
        }
        [b] => {
            for a in (b'a'..=b'z').chain(b'0'..=b'9') {
                add_name_end(ends, &[a, *b]);
            }
        }
        [] => {}
    }
}

/// The index of two letters or digits (any case) among the 36 x 36 such pairs: key-name
/// filters ([`secrets::SecretKeys`], `crate::keys::KeySuffixes`) keep a bit per pair of
/// last letters. Each byte's place among the 36 is read from [`ALNUM_INDEX`]: the key
/// filters ask this of every JSON key of every line, and case-folding and range tests on
/// both bytes cost the Wasm build about 40 instructions a key.
#[inline(always)]
pub fn pair_index(a: u8, b: u8) -> Option<usize> {
    let (a, b) = (ALNUM_INDEX[a as usize], ALNUM_INDEX[b as usize]);
    (a != NOT_ALNUM && b != NOT_ALNUM).then(|| usize::from(a) * 36 + usize::from(b))
}

const NOT_ALNUM: u8 = u8::MAX;

/// Per byte: 0-25 for a letter of either case, 26-35 for a digit, else [`NOT_ALNUM`].
static ALNUM_INDEX: [u8; 256] = {
    let mut t = [NOT_ALNUM; 256];
    let mut c = 0;
    while c < 26 {
        t[b'a' as usize + c] = c as u8;
        t[b'A' as usize + c] = c as u8;
        c += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 26 + d as u8;
        d += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::pair_index;

    #[test]
    fn pair_index_numbers_letters_of_either_case_then_digits() {
        let ix = |c: u8| match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => Some(usize::from(c - b'a')),
            c @ b'0'..=b'9' => Some(26 + usize::from(c - b'0')),
            _ => None,
        };
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let expected = ix(a).zip(ix(b)).map(|(a, b)| a * 36 + b);
                assert_eq!(pair_index(a, b), expected, "{a} {b}");
            }
        }
    }
}
