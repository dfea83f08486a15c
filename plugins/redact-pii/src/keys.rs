//! Remembered key kinds: what a JSON key or a metadata key means to the redactor (a secret,
//! an `Authorization`, a phone, a version, or nothing: [`crate::json::KeyKind`]) is worked out
//! once per distinct key and then looked up, because log records repeat the same few keys on
//! every line. Working it out compares the key with every secret key name, the phone and
//! version suffixes; looking it up is a hash of a few bytes and one comparison.
//!
//! The cache lives in the caller's scratch buffers, which may outlive a redactor or serve
//! several (the thread-local ones do), so it is tied to one redactor by its [`Identity`]: a
//! lookup for another one clears it first.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::json::KeyKind;
use crate::rules::{add_name_end, pair_index, NameEnds};
use crate::scan::Ctx;
use crate::Redactor;

/// A number no other redactor has, taken anew by every clone: a cache filled for one
/// redactor is never read for another, even a modified copy of it.
#[derive(Debug)]
pub(crate) struct Identity(u64);

static NEXT_IDENTITY: AtomicU64 = AtomicU64::new(1);

impl Identity {
    pub(crate) fn new() -> Identity {
        Identity(NEXT_IDENTITY.fetch_add(1, Ordering::Relaxed))
    }
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity::new()
    }
}

/// Slots of the direct-mapped table (a power of two).
const SLOTS: usize = 64;
/// Keys longer than this are worked out every time (they are rare, and keeping them costs
/// more than it saves).
const LONGEST: usize = 32;
const WORDS: usize = LONGEST / 8;

/// A key as little-endian words, zero past its end, and its length: compared a word at a
/// time (a byte loop in Wasm pays a deadline check per byte).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Packed {
    words: [u64; WORDS],
    len: usize,
}

impl Packed {
    /// The key `line[s..e]` packed, when it is not empty and not longer than [`LONGEST`].
    /// Reads whole words of the line (masked past the key) when the line has them, else
    /// builds the last word from its bytes; never through a byte buffer (copying bytes
    /// into a buffer and reading it back as words stalls the load on x86 and is a
    /// `memory.copy` call in Wasm).
    #[inline]
    fn of(line: &[u8], s: usize, e: usize) -> Option<Packed> {
        let len = e - s;
        if len == 0 || len > LONGEST {
            return None;
        }
        let mut p = Packed {
            words: [0; WORDS],
            len,
        };
        let word = |at: usize| u64::from_le_bytes(line[at..at + 8].try_into().expect("8 bytes"));
        if s + LONGEST <= line.len() {
            for (j, w) in p.words.iter_mut().enumerate() {
                let keep = len.saturating_sub(8 * j).min(8);
                let mask = if keep == 8 {
                    !0
                } else {
                    (1u64 << (8 * keep)) - 1
                };
                *w = word(s + 8 * j) & mask;
            }
        } else {
            let full = len / 8;
            for (j, w) in p.words.iter_mut().take(full).enumerate() {
                *w = word(s + 8 * j);
            }
            let mut last = 0u64;
            for (k, &c) in line[s + 8 * full..e].iter().enumerate() {
                last |= u64::from(c) << (8 * k);
            }
            if full < WORDS {
                p.words[full] = last;
            }
        }
        Some(p)
    }

    #[inline]
    fn slot(&self) -> usize {
        let h = (self.words[0] ^ self.len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 58) as usize & (SLOTS - 1)
    }
}

/// Key kinds by key, for one redactor at a time (see the module docs).
#[derive(Default)]
pub(crate) struct KeyCache {
    owner: u64,
    slots: Vec<(Packed, KeyKind)>,
}

impl KeyCache {
    /// The kind of `key` under `r` (a metadata key).
    #[cfg_attr(
        not(any(target_arch = "wasm32", feature = "native-twin", test)),
        allow(dead_code)
    )]
    #[inline]
    pub(crate) fn kind(&mut self, r: &Redactor, key: &str) -> KeyKind {
        self.kind_at(r, key, 0, key.len())
    }

    /// The kind under `r` of the key `text[s..e]` (a JSON key in its line: read in words
    /// from the line).
    #[inline]
    pub(crate) fn kind_at(&mut self, r: &Redactor, text: &str, s: usize, e: usize) -> KeyKind {
        if !r.key_suffixes.may_be_special(&text.as_bytes()[s..e]) {
            return KeyKind::Scan(Ctx::default());
        }
        let Some(packed) = Packed::of(text.as_bytes(), s, e) else {
            return r.key_kind(&text[s..e]);
        };
        if self.owner != r.identity.0 || self.slots.is_empty() {
            self.owner = r.identity.0;
            self.slots.clear();
            // Length 0 marks an empty slot (no key packs to it).
            self.slots
                .resize(SLOTS, (Packed::default(), KeyKind::Whole(0)));
        }
        let slot = &mut self.slots[packed.slot()];
        if slot.0 == packed {
            return slot.1;
        }
        let kind = r.key_kind(&text[s..e]);
        *slot = (packed, kind);
        kind
    }
}

/// The last two letters or digits (any case) of every key name that means something to a
/// redactor: a secret name, a `json_keys` entry, `authorization`, the phone and version
/// words. A key that ends in two letters or digits that are not among them is an ordinary
/// key, told by one bit test: most keys of most lines (`ts`, `msg`, `path`, `req_id`) never
/// reach the cache or the name comparisons. Keys shorter than two bytes, or ending in
/// anything else, are not decided here.
#[derive(Debug, Clone)]
pub(crate) struct KeySuffixes {
    bits: NameEnds,
}

impl KeySuffixes {
    /// No suffixes (before [`KeySuffixes::of`]).
    pub(crate) fn empty() -> KeySuffixes {
        KeySuffixes {
            bits: NameEnds::default(),
        }
    }

    /// The suffixes of `r`'s key names (its enabled rules, secret names and `json_keys`).
    pub(crate) fn of(r: &Redactor) -> KeySuffixes {
        let mut s = KeySuffixes::empty();
        let mut add = |name: &[u8]| add_name_end(&mut s.bits, name);
        // The version words (`key_kind` asks `is_version_key` whatever the rules).
        for w in ["version", "ver", "release", "build", "rev"] {
            add(w.as_bytes());
        }
        if r.on(crate::Rule::Phone) {
            for w in ["phone", "mobile", "fax", "number", "tel", "cell", "msisdn"] {
                add(w.as_bytes());
            }
        }
        if r.on(crate::Rule::BearerToken) {
            add(b"authorization");
        }
        if r.on(crate::Rule::Secret) {
            for name in r.secret_keys.names() {
                add(name);
            }
        }
        if r.on(crate::Rule::JsonKey) {
            for k in &r.json_keys {
                add(k.as_bytes());
            }
        }
        s
    }

    /// False when `key` is certainly an ordinary key (its kind is a plain scan).
    #[inline(always)]
    pub(crate) fn may_be_special(&self, key: &[u8]) -> bool {
        let n = key.len();
        n < 2 || self.may_end_with(key[n - 2], key[n - 1])
    }

    /// False when a key of two bytes or more ending in `a`, `b` is certainly ordinary.
    #[inline(always)]
    pub(crate) fn may_end_with(&self, a: u8, b: u8) -> bool {
        match pair_index(a, b) {
            Some(i) => self.bits[i / 64] & (1 << (i % 64)) != 0,
            None => true,
        }
    }
}
