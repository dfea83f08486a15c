//! Where the scanner has to look: a bitmap of the bytes at which an enabled rule can start,
//! built 16 bytes a step for a window of the line at a time.
//!
//! A byte is a candidate when it is a trigger (see `Redactor::update_triggers`) and not a
//! word byte preceded by a word byte: rules start at punctuation or at the start of a word,
//! never inside one. The scanner used to find each trigger with a vector search and then
//! skip the rest of its word with another, two calls per word; in the Wasm build each call
//! paid a prologue, an epoch check and reloads of its tables (bench/RESULTS.md). With the
//! bitmap, finding the next candidate is a bit scan over a few words.
//!
//! For a JSON line the same pass can also mark its quotes, colons and blanks and note
//! whether it has a backslash ([`Candidates::with_marks`]): the JSON fast path needs them
//! (strings, and which strings are keys), and reading the line once for all saves passes
//! of their own.
//!
//! The vector code exists for wasm32 with `simd128` and for x86-64 with SSSE3 (detected once
//! per window), like [`crate::byteset`]; the scalar loop is the reference the unit tests
//! compare them with.

use crate::byteset::{byte_set, ByteSet};

/// Bytes per window (a multiple of 64).
const WINDOW: usize = 1024;
const WORDS: usize = WINDOW / 64;

/// Every word byte (`rules::is_word`).
pub static WORD: ByteSet = byte_set!(|c| crate::rules::is_word(c));

/// The candidates of one window of a line: bit `k` of `bits` is byte `base + k`.
pub struct Candidates {
    base: usize,
    end: usize,
    bits: [u64; WORDS],
    /// Whether windows also mark quotes and backslashes (see [`Candidates::with_marks`]).
    marks: bool,
    /// Bit `k`: byte `base + k` is `"` (only with `marks`).
    quotes: [u64; WORDS],
    /// Bit `k`: byte `base + k` is `:` (only with `marks`).
    colons: [u64; WORDS],
    /// Bit `k`: byte `base + k` is a space or a control byte (only with `marks`).
    blanks: [u64; WORDS],
    /// The window has a `\` (only with `marks`).
    backslash: bool,
}

/// What [`Candidates::with_marks`] found in a whole line besides its candidates.
pub struct Marks<'a> {
    /// Bit `i % 64` of word `i / 64`: byte `i` is `"` (the layout of
    /// [`crate::byteset::bitmap_of`]; words past the line are 0).
    pub quotes: &'a [u64],
    /// Its colons, alike.
    pub colons: &'a [u64],
    /// Its spaces and control bytes (JSON's whitespace among them), alike.
    pub blanks: &'a [u64],
    /// The line has a backslash.
    pub backslash: bool,
}

impl Candidates {
    /// An empty window; the first [`Candidates::next`] builds one.
    pub fn new() -> Candidates {
        Candidates {
            base: 0,
            end: 0,
            bits: [0; WORDS],
            marks: false,
            quotes: [0; WORDS],
            colons: [0; WORDS],
            blanks: [0; WORDS],
            backslash: false,
        }
    }

    /// The candidates of `b` from its start, built now, marking quotes and backslashes as
    /// well; [`Candidates::marks`] has them when the line fits in one window.
    pub fn with_marks(triggers: &ByteSet, b: &[u8]) -> Candidates {
        let mut c = Candidates::new();
        c.marks = true;
        c.build(triggers, b, 0);
        c
    }

    /// The quotes and backslash of the whole line `b` this was built for with
    /// [`Candidates::with_marks`]; None when the line is longer than one window (or the
    /// window moved).
    pub fn marks(&self, b: &[u8]) -> Option<Marks<'_>> {
        (self.marks && self.base == 0 && self.end == b.len()).then_some(Marks {
            quotes: &self.quotes,
            colons: &self.colons,
            blanks: &self.blanks,
            backslash: self.backslash,
        })
    }

    /// Takes byte `i` out of the candidates of the current window (a byte the caller knows
    /// no rule starts at); a byte outside the window is left alone.
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if (self.base..self.end).contains(&i) {
            let rel = i - self.base;
            self.bits[rel / 64] &= !(1 << (rel % 64));
        }
    }

    /// The first candidate at or after `i` in `b` (`b.len()` when there is none).
    #[inline]
    pub fn next(&mut self, triggers: &ByteSet, b: &[u8], mut i: usize) -> usize {
        let n = b.len();
        while i < n {
            if i < self.base || i >= self.end {
                self.build(triggers, b, i);
            }
            let rel = i - self.base;
            let mut w = rel / 64;
            let mut word = self.bits[w] & (!0u64 << (rel % 64));
            loop {
                if word != 0 {
                    return self.base + w * 64 + word.trailing_zeros() as usize;
                }
                w += 1;
                if w == WORDS || self.base + w * 64 >= self.end {
                    break;
                }
                word = self.bits[w];
            }
            i = self.end;
        }
        n
    }

    /// Fills the window starting at `base`.
    fn build(&mut self, triggers: &ByteSet, b: &[u8], base: usize) {
        self.base = base;
        self.end = b.len().min(base + WINDOW);
        self.bits = [0; WORDS];
        if self.marks {
            self.quotes = [0; WORDS];
            self.colons = [0; WORDS];
            self.blanks = [0; WORDS];
            self.backslash = false;
        }
        let carry = base > 0 && WORD.contains(b[base - 1]);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            // SAFETY: simd128 is enabled for this build.
            unsafe { self.build_wasm(triggers, b, carry) }
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("ssse3") {
                // SAFETY: the CPU has SSSE3.
                unsafe { self.build_ssse3(triggers, b, carry) }
            } else {
                self.build_scalar(triggers, b, carry)
            }
        }
        #[cfg(not(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            target_arch = "x86_64"
        )))]
        {
            self.build_scalar(triggers, b, carry)
        }
    }

    /// [`Candidates::build`] a byte at a time (`carry`: the byte before `base` is a word
    /// byte).
    pub fn build_scalar(&mut self, triggers: &ByteSet, b: &[u8], mut carry: bool) {
        for (k, &c) in b[self.base..self.end].iter().enumerate() {
            let word = WORD.contains(c);
            if triggers.contains(c) && !(word && carry) {
                self.bits[k / 64] |= 1 << (k % 64);
            }
            if self.marks {
                self.quotes[k / 64] |= ((c == b'"') as u64) << (k % 64);
                self.colons[k / 64] |= ((c == b':') as u64) << (k % 64);
                self.blanks[k / 64] |= ((c <= b' ') as u64) << (k % 64);
                self.backslash |= c == b'\\';
            }
            carry = word;
        }
    }

    /// Adds 16 bytes' masks at `rel` (a multiple of 16): bit `k` of each is about byte
    /// `rel + k`; only the low `valid` bits count. Returns the carry for the next 16.
    #[inline(always)]
    fn add16(&mut self, rel: usize, m: Masks16, carry: bool, valid: usize) -> bool {
        let keep = if valid >= 16 {
            0xffff
        } else {
            (1u32 << valid) - 1
        };
        let preceded = (m.word << 1) | carry as u32;
        let hits = m.trig & !(m.word & preceded) & keep;
        self.bits[rel / 64] |= (hits as u64) << (rel % 64);
        if self.marks {
            self.quotes[rel / 64] |= ((m.quote & keep) as u64) << (rel % 64);
            self.colons[rel / 64] |= ((m.colon & keep) as u64) << (rel % 64);
            self.blanks[rel / 64] |= ((m.blank & keep) as u64) << (rel % 64);
            self.backslash |= m.backslash & keep != 0;
        }
        valid >= 16 && m.word & 0x8000 != 0
    }

    /// Adds 64 bytes' masks at `rel` (a multiple of 64, so one whole word of each bitmap,
    /// zeroed before). Returns the carry for the next bytes.
    #[inline(always)]
    fn add64(&mut self, rel: usize, m: [Masks16; 4], carry: bool) -> bool {
        let join = |f: fn(&Masks16) -> u32| {
            m.iter()
                .enumerate()
                .fold(0u64, |all, (k, m)| all | (f(m) as u64) << (16 * k))
        };
        let (trig, word) = (join(|m| m.trig), join(|m| m.word));
        let preceded = (word << 1) | carry as u64;
        self.bits[rel / 64] = trig & !(word & preceded);
        if self.marks {
            self.quotes[rel / 64] = join(|m| m.quote);
            self.colons[rel / 64] = join(|m| m.colon);
            self.blanks[rel / 64] = join(|m| m.blank);
            self.backslash |= join(|m| m.backslash) != 0;
        }
        word >> 63 != 0
    }

    /// The steps of a window of a line of `n >= 16` bytes: `masks(at)` gives the masks of
    /// `b[at..at + 16]` (the vector code of one architecture; the quote and backslash masks
    /// only when `self.marks`). 64 bytes a step while they fit: in the Wasm build every
    /// loop iteration pays an epoch check, and the compiler spills the vector constants
    /// around it, so four loads per iteration cost less than one. Then 16 bytes a step; the
    /// last partial one reloads the line's final 16 bytes and shifts.
    #[inline(always)]
    fn fill(&mut self, n: usize, mut carry: bool, masks: impl Fn(usize) -> Masks16) {
        let mut rel = 0;
        while self.base + rel + 64 <= self.end {
            let at = self.base + rel;
            let m = [masks(at), masks(at + 16), masks(at + 32), masks(at + 48)];
            carry = self.add64(rel, m, carry);
            rel += 64;
        }
        while self.base + rel < self.end {
            let at = self.base + rel;
            let (load, shift) = if at + 16 <= n {
                (at, 0)
            } else {
                (n - 16, at - (n - 16))
            };
            let m = masks(load).shifted(shift);
            carry = self.add16(rel, m, carry, self.end - at);
            rel += 16;
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(never)]
    unsafe fn build_wasm(&mut self, triggers: &ByteSet, b: &[u8], carry: bool) {
        use core::arch::wasm32::*;
        let n = b.len();
        if n < 16 {
            return self.build_scalar(triggers, b, carry);
        }
        let (trig, word) = (triggers.tables_v128(), WORD.tables_v128());
        let marks = self.marks;
        let eq = |v: v128, c: u8| u8x16_bitmask(u8x16_eq(v, u8x16_splat(c))) as u32;
        self.fill(n, carry, |at| {
            let v = v128_load(b.as_ptr().add(at) as *const v128);
            Masks16 {
                trig: trig.members(v),
                word: word.members(v),
                quote: if marks { eq(v, b'"') } else { 0 },
                colon: if marks { eq(v, b':') } else { 0 },
                blank: if marks {
                    u8x16_bitmask(u8x16_le(v, u8x16_splat(b' '))) as u32
                } else {
                    0
                },
                backslash: if marks { eq(v, b'\\') } else { 0 },
            }
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "ssse3")]
    unsafe fn build_ssse3(&mut self, triggers: &ByteSet, b: &[u8], carry: bool) {
        use core::arch::x86_64::*;
        let n = b.len();
        if n < 16 {
            return self.build_scalar(triggers, b, carry);
        }
        let (trig, word) = (triggers.tables_m128(), WORD.tables_m128());
        let marks = self.marks;
        let eq = |v: __m128i, c: u8| {
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u32 & 0xffff
        };
        // A closure has SSSE3 too (closures inherit target features).
        self.fill(n, carry, |at| {
            let v = _mm_loadu_si128(b.as_ptr().add(at) as *const __m128i);
            Masks16 {
                trig: trig.members(v),
                word: word.members(v),
                quote: if marks { eq(v, b'"') } else { 0 },
                colon: if marks { eq(v, b':') } else { 0 },
                blank: if marks {
                    let low = _mm_min_epu8(v, _mm_set1_epi8(b' ' as i8));
                    _mm_movemask_epi8(_mm_cmpeq_epi8(low, v)) as u32 & 0xffff
                } else {
                    0
                },
                backslash: if marks { eq(v, b'\\') } else { 0 },
            }
        });
    }
}

/// The candidates of a text of at most 64 bytes, as [`Candidates`] finds them (the rule of
/// [`Candidates::add16`]): bit `k` is set when `b[k]` is a trigger and not a word byte
/// after a word byte. 16 bytes a step (the last step overlapping the one before it); a
/// text under 16 bytes a byte at a time.
#[inline]
pub fn short_candidates(triggers: &ByteSet, b: &[u8]) -> u64 {
    debug_assert!(b.len() <= 64);
    let n = b.len();
    let (mut trig, mut word) = (0u64, 0u64);
    if n < 16 {
        for (k, &c) in b.iter().enumerate() {
            trig |= (triggers.contains(c) as u64) << k;
            word |= (WORD.contains(c) as u64) << k;
        }
    } else {
        let mut at = 0;
        loop {
            let step = at.min(n - 16);
            trig |= u64::from(triggers.members16(b, step)) << step;
            word |= u64::from(WORD.members16(b, step)) << step;
            at += 16;
            if at >= n {
                break;
            }
        }
    }
    trig & !(word & (word << 1))
}

/// Bit `k` of each: byte `k` of 16 is a trigger, a word byte, a quote, a colon, a blank
/// (space or control byte), a backslash.
#[derive(Clone, Copy)]
struct Masks16 {
    trig: u32,
    word: u32,
    quote: u32,
    colon: u32,
    blank: u32,
    backslash: u32,
}

impl Masks16 {
    /// The masks of the bytes from `shift` on (the last, overlapping load of a line).
    #[inline(always)]
    fn shifted(self, shift: usize) -> Masks16 {
        Masks16 {
            trig: self.trig >> shift,
            word: self.word >> shift,
            quote: self.quote >> shift,
            colon: self.colon >> shift,
            blank: self.blank >> shift,
            backslash: self.backslash >> shift,
        }
    }
}

impl Default for Candidates {
    fn default() -> Self {
        Candidates::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::byteset::table_of;

    fn sample(len: usize, seed: u32) -> Vec<u8> {
        let alphabet = b"ab_Z09@%:=+( .-\"{}\xC3\xA9\\\t\n\x01";
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                alphabet[(x >> 16) as usize % alphabet.len()]
            })
            .collect()
    }

    /// Every candidate from `from`, by repeated `next`.
    fn all(c: &mut Candidates, t: &ByteSet, b: &[u8], from: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = from;
        loop {
            i = c.next(t, b, i);
            if i >= b.len() {
                return out;
            }
            out.push(i);
            i += 1;
        }
    }

    /// The definition, byte by byte.
    fn reference(t: &ByteSet, b: &[u8], from: usize) -> Vec<usize> {
        (from..b.len())
            .filter(|&i| {
                t.contains(b[i]) && !(WORD.contains(b[i]) && i > 0 && WORD.contains(b[i - 1]))
            })
            .collect()
    }

    #[test]
    fn marks_equal_the_quote_bitmap_and_backslash_search() {
        let t = ByteSet::new(table_of(|c| c == b'@' || c.is_ascii_digit()));
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 200, 1023, 1024, 1025, 3000] {
            for seed in 0..4 {
                let mut b = sample(len, len as u32 * 4 + seed);
                if seed == 0 {
                    b.retain(|&c| c != b'\\');
                }
                let mut c = Candidates::with_marks(&t, &b);
                let Some(marks) = c.marks(&b) else {
                    assert!(b.len() > WINDOW, "len {len}");
                    continue;
                };
                let mut expected = Vec::new();
                crate::byteset::bitmap_of(b'"', &b, &mut expected);
                expected.resize(WORDS, 0);
                assert_eq!(marks.quotes, &expected[..], "len {len} seed {seed}");
                assert_eq!(marks.backslash, b.contains(&b'\\'), "len {len} seed {seed}");
                let bitmap = |member: fn(u8) -> bool| {
                    let mut words = vec![0u64; WORDS];
                    for (k, &c) in b.iter().enumerate() {
                        words[k / 64] |= (member(c) as u64) << (k % 64);
                    }
                    words
                };
                assert_eq!(marks.colons, &bitmap(|c| c == b':')[..], "len {len}");
                assert_eq!(marks.blanks, &bitmap(|c| c <= b' ')[..], "len {len}");
                // The candidates are the same as without marks.
                assert_eq!(all(&mut c, &t, &b, 0), reference(&t, &b, 0), "len {len}");
            }
        }
    }

    #[test]
    fn vector_windows_equal_the_definition() {
        let sets = [
            ByteSet::new(table_of(|c| c == b'@' || c == b'%' || c.is_ascii_digit())),
            ByteSet::new(table_of(|c| b"@%:=+(eAgxhBbaZ0123456789".contains(&c))),
            ByteSet::new(table_of(|_| true)),
            ByteSet::new(table_of(|_| false)),
        ];
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 200, 1023, 1024, 1025, 3000] {
            let b = sample(len, len as u32 + 7);
            for t in &sets {
                for from in [0, 1, 5, 16, 1000, 1030].into_iter().filter(|&f| f <= len) {
                    let mut c = Candidates::new();
                    assert_eq!(
                        all(&mut c, t, &b, from),
                        reference(t, &b, from),
                        "len {len} from {from}"
                    );
                }
                // Jumping ahead and back rebuilds the window where needed.
                let mut c = Candidates::new();
                for from in [len / 2, 0, len.saturating_sub(3), len / 3] {
                    let expected = reference(t, &b, from).first().copied().unwrap_or(len);
                    assert_eq!(c.next(t, &b, from), expected, "len {len} jump to {from}");
                }
            }
        }
    }
}
