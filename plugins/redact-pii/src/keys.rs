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
/// Keys longer than this are worked out every time (they are rare, and hashing and keeping
/// them costs more than it saves).
const LONGEST: usize = 48;

/// Key kinds by key, for one redactor at a time (see the module docs).
#[derive(Default)]
pub(crate) struct KeyCache {
    owner: u64,
    slots: Vec<Option<(Box<[u8]>, KeyKind)>>,
}

impl KeyCache {
    /// The kind of `key` under `r`.
    #[inline]
    pub(crate) fn kind(&mut self, r: &Redactor, key: &str) -> KeyKind {
        let k = key.as_bytes();
        if k.is_empty() || k.len() > LONGEST {
            return r.key_kind(key);
        }
        if self.owner != r.identity.0 || self.slots.is_empty() {
            self.owner = r.identity.0;
            self.slots.clear();
            self.slots.resize(SLOTS, None);
        }
        let slot = &mut self.slots[slot_of(k)];
        if let Some((kept, kind)) = slot {
            // Compared inline: `==` on slices is a `memcmp` call in Wasm.
            if kept.len() == k.len() && kept.iter().zip(k).all(|(a, b)| a == b) {
                return *kind;
            }
        }
        let kind = r.key_kind(key);
        *slot = Some((k.into(), kind));
        kind
    }
}

/// A slot for a non-empty key: its length and first, middle and last bytes, mixed.
#[inline]
fn slot_of(k: &[u8]) -> usize {
    let n = k.len();
    let h = (n as u32)
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add(u32::from(k[0]) << 16)
        .wrapping_add(u32::from(k[n / 2]) << 8)
        .wrapping_add(u32::from(k[n - 1]))
        .wrapping_mul(0x85EB_CA6B);
    (h >> 26) as usize & (SLOTS - 1)
}
