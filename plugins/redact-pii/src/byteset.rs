//! A set of bytes whose membership can be tested 16 bytes at a time, and bitmaps of where a
//! byte occurs in a line.
//!
//! The scanner spends most of its time skipping bytes that cannot start a match. A
//! byte-at-a-time loop costs ~15 instructions a byte in the Wasm build (Cranelift keeps the
//! loop's state on the stack and checks the epoch on every back edge), so
//! [`crate::candidates`] classifies 16 bytes per step with the nibble lookup known from
//! Hyperscan's "shufti": one 16-entry table for the low nibble, one for the high nibble, AND
//! them, and any non-zero lane is a member. Each high nibble 0..8 gets its own bit, so every
//! set of ASCII bytes is exact; bytes 0x80.. are members all or none (their sign bit is
//! tested directly). [`ByteSet`] holds the tables; the vector code exists for wasm32 with
//! `simd128` (how `make plugins` builds) and for x86-64 with SSSE3 (detected at run time), so
//! the native twin the benchmarks compare the plugin with uses the same algorithm.

/// A set of bytes, see the module doc.
#[derive(Clone, Debug)]
pub struct ByteSet {
    /// Membership of every byte (the scalar path).
    table: [bool; 256],
    /// Bit `h` set in `low[l]` when byte `h << 4 | l` (h < 8) is a member.
    low: [u8; 16],
    /// `1 << h` for h < 8; 0 for the non-ASCII high nibbles.
    high: [u8; 16],
    /// Whether the bytes 0x80..=0xFF are members.
    non_ascii: bool,
}

impl ByteSet {
    /// The set whose members have `table[byte]` true. Bytes 0x80..=0xFF must all be members
    /// or all not; the membership of 0x80 decides.
    pub const fn new(table: [bool; 256]) -> ByteSet {
        let mut low = [0u8; 16];
        let mut high = [0u8; 16];
        let mut h = 0;
        while h < 8 {
            high[h] = 1 << h;
            let mut l = 0;
            while l < 16 {
                if table[h << 4 | l] {
                    low[l] |= 1 << h;
                }
                l += 1;
            }
            h += 1;
        }
        let non_ascii = table[0x80];
        let mut table = table;
        let mut b = 0x80;
        while b < 256 {
            table[b] = non_ascii;
            b += 1;
        }
        ByteSet {
            table,
            low,
            high,
            non_ascii,
        }
    }

    /// The set's tables in vector registers, loaded once before a loop.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(crate) fn tables_v128(&self) -> TablesV128 {
        use core::arch::wasm32::v128_load;
        // SAFETY: `low` and `high` are 16 bytes; v128_load takes unaligned addresses.
        unsafe {
            TablesV128 {
                low: v128_load(self.low.as_ptr() as *const _),
                high: v128_load(self.high.as_ptr() as *const _),
                non_ascii: self.non_ascii,
            }
        }
    }

    /// The set's tables in vector registers, loaded once before a loop.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn tables_m128(&self) -> TablesM128 {
        use core::arch::x86_64::_mm_loadu_si128;
        // SAFETY: `low` and `high` are 16 bytes; the loads are unaligned (SSE2, always
        // present).
        unsafe {
            TablesM128 {
                low: _mm_loadu_si128(self.low.as_ptr() as *const _),
                high: _mm_loadu_si128(self.high.as_ptr() as *const _),
                non_ascii: self.non_ascii,
            }
        }
    }

    /// Whether `c` is a member.
    #[inline(always)]
    pub fn contains(&self, c: u8) -> bool {
        self.table[c as usize]
    }

    /// Bit `k` set when `b[at + k]` is a member, for the 16 bytes from `at` (which must be
    /// in `b`): one vector step where the vector code exists.
    #[inline(always)]
    pub fn members16(&self, b: &[u8], at: usize) -> u32 {
        let chunk = &b[at..at + 16];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            // SAFETY: simd128 is enabled for this build; `chunk` is 16 bytes.
            let v = unsafe { core::arch::wasm32::v128_load(chunk.as_ptr() as *const _) };
            self.tables_v128().members(v)
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("ssse3") {
            // SAFETY: the CPU has SSSE3; `chunk` is 16 bytes.
            return unsafe { self.members16_ssse3(chunk) };
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        {
            self.members16_scalar(chunk)
        }
    }

    /// [`ByteSet::members16`] a byte at a time (the reference for the tests).
    #[cfg_attr(
        all(target_arch = "wasm32", target_feature = "simd128"),
        allow(dead_code)
    )]
    fn members16_scalar(&self, chunk: &[u8]) -> u32 {
        chunk
            .iter()
            .enumerate()
            .fold(0, |m, (k, &c)| m | (u32::from(self.contains(c)) << k))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "ssse3")]
    unsafe fn members16_ssse3(&self, chunk: &[u8]) -> u32 {
        let v = core::arch::x86_64::_mm_loadu_si128(chunk.as_ptr() as *const _);
        self.tables_m128().members(v)
    }
}

/// A [`ByteSet`]'s tables as wasm vectors ([`ByteSet::tables_v128`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Clone, Copy)]
pub(crate) struct TablesV128 {
    low: core::arch::wasm32::v128,
    high: core::arch::wasm32::v128,
    non_ascii: bool,
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl TablesV128 {
    /// Bit `k` set when byte `k` of `v` is a member: the nibble lookup of the module doc.
    #[inline(always)]
    pub(crate) fn members(self, v: core::arch::wasm32::v128) -> u32 {
        use core::arch::wasm32::*;
        let l = u8x16_swizzle(self.low, v128_and(v, u8x16_splat(0x0f)));
        let h = u8x16_swizzle(self.high, u8x16_shr(v, 4));
        // Equal-to-zero and a flipped mask: x86 has no byte "not equal".
        let mut m = !(u8x16_bitmask(i8x16_eq(v128_and(l, h), u8x16_splat(0))) as u32) & 0xffff;
        if self.non_ascii {
            m |= u8x16_bitmask(v) as u32;
        }
        m
    }
}

/// A [`ByteSet`]'s tables as SSE vectors ([`ByteSet::tables_m128`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct TablesM128 {
    low: core::arch::x86_64::__m128i,
    high: core::arch::x86_64::__m128i,
    non_ascii: bool,
}

#[cfg(target_arch = "x86_64")]
impl TablesM128 {
    /// Bit `k` set when byte `k` of `v` is a member: the nibble lookup of the module doc.
    ///
    /// # Safety
    /// The CPU must have SSSE3.
    #[target_feature(enable = "ssse3")]
    #[inline]
    pub(crate) unsafe fn members(self, v: core::arch::x86_64::__m128i) -> u32 {
        use core::arch::x86_64::*;
        let nibble = _mm_set1_epi8(0x0f);
        let l = _mm_shuffle_epi8(self.low, _mm_and_si128(v, nibble));
        let h = _mm_shuffle_epi8(self.high, _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
        let misses = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(l, h), _mm_setzero_si128()));
        let mut m = !(misses as u32) & 0xffff;
        if self.non_ascii {
            m |= _mm_movemask_epi8(v) as u32;
        }
        m
    }
}

/// The bitmap of where `byte` occurs in `b`, into `out` (cleared first): bit `i % 64` of
/// word `i / 64` is set when `b[i] == byte`. 16 bytes a step where the vector code exists.
pub fn bitmap_of(byte: u8, b: &[u8], out: &mut Vec<u64>) {
    out.clear();
    out.resize(b.len().div_ceil(64), 0);
    let mut i = 0;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        let needle = u8x16_splat(byte);
        while i + 16 <= b.len() {
            // SAFETY: simd128 is enabled for this build; `b[i..i + 16]` is in bounds.
            let mask = unsafe {
                let v = v128_load(b.as_ptr().add(i) as *const v128);
                u8x16_bitmask(u8x16_eq(v, needle)) as u64
            };
            out[i / 64] |= mask << (i % 64);
            i += 16;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; `b[i..i + 16]` is in bounds.
        unsafe {
            let needle = _mm_set1_epi8(byte as i8);
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                let mask = _mm_movemask_epi8(_mm_cmpeq_epi8(v, needle)) as u32 as u64;
                out[i / 64] |= mask << (i % 64);
                i += 16;
            }
        }
    }
    for (k, &c) in b.iter().enumerate().skip(i) {
        if c == byte {
            out[k / 64] |= 1 << (k % 64);
        }
    }
}

/// Positions in a bitmap made by [`bitmap_of`].
pub struct Bits<'a>(pub &'a [u64]);

impl Bits<'_> {
    /// How many positions below `pos` are set.
    pub fn count_below(&self, pos: usize) -> usize {
        let (w, bit) = (pos / 64, pos % 64);
        let full: usize = self.0[..w.min(self.0.len())]
            .iter()
            .map(|x| x.count_ones() as usize)
            .sum();
        let partial = match self.0.get(w) {
            Some(x) if bit > 0 => (x & ((1u64 << bit) - 1)).count_ones() as usize,
            _ => 0,
        };
        full + partial
    }

    /// The last set position below `pos`.
    pub fn last_below(&self, pos: usize) -> Option<usize> {
        let (mut w, bit) = (pos / 64, pos % 64);
        let mut word = match self.0.get(w) {
            Some(x) if bit > 0 => x & ((1u64 << bit) - 1),
            _ => 0,
        };
        w = w.min(self.0.len());
        loop {
            if word != 0 {
                return Some(w * 64 + 63 - word.leading_zeros() as usize);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            word = self.0[w];
        }
    }

    /// The first set position at or after `pos`.
    pub fn first_from(&self, pos: usize) -> Option<usize> {
        let mut w = pos / 64;
        let mut word = self.0.get(w)? & (!0u64 << (pos % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
            word = *self.0.get(w)?;
        }
    }
}

/// A [`ByteSet`] built at compile time, for a `static`: `byte_set!(|c| expr)` has the bytes
/// `c` for which the const expression `expr` is true (the const twin of [`table_of`]).
macro_rules! byte_set {
    (|$c:ident| $member:expr) => {
        $crate::byteset::ByteSet::new({
            let mut table = [false; 256];
            let mut i = 0;
            while i < 256 {
                let $c = i as u8;
                table[i] = $member;
                i += 1;
            }
            table
        })
    };
}
pub(crate) use byte_set;

/// The table of a set given by a predicate.
pub fn table_of(member: impl Fn(u8) -> bool) -> [bool; 256] {
    std::array::from_fn(|b| member(b as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members16_equals_the_table() {
        let sets = [
            ByteSet::new(table_of(|c| c.is_ascii_alphanumeric())),
            ByteSet::new(table_of(|c| c == b'.' || c >= 0x80)),
        ];
        let b: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        for set in &sets {
            for at in 0..b.len() - 16 {
                assert_eq!(
                    set.members16(&b, at),
                    set.members16_scalar(&b[at..at + 16]),
                    "{at}"
                );
            }
        }
    }

    fn sample() -> Vec<u8> {
        // Every byte value, at every alignment, with runs longer than a vector.
        let mut v = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..4096 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let r = (x >> 16) as u8;
            // Mostly letters, so the searches run over long stretches.
            v.push(if r.is_multiple_of(4) {
                r
            } else {
                b'a' + r % 26
            });
        }
        v
    }

    #[test]
    fn bitmap_and_bit_queries_follow_the_bytes() {
        let b = sample();
        for len in [0, 1, 15, 16, 17, 64, 100, b.len()] {
            let b = &b[..len];
            let mut words = Vec::new();
            bitmap_of(b'@', b, &mut words);
            let members: Vec<usize> = (0..len).filter(|&i| b[i] == b'@').collect();
            let bits = Bits(&words);
            for pos in 0..=len {
                let below: Vec<&usize> = members.iter().filter(|&&m| m < pos).collect();
                assert_eq!(bits.count_below(pos), below.len(), "len {len} pos {pos}");
                assert_eq!(bits.last_below(pos), below.last().map(|m| **m), "pos {pos}");
                let from = members.iter().find(|&&m| m >= pos).copied();
                assert_eq!(bits.first_from(pos), from, "len {len} pos {pos}");
            }
        }
    }

    #[test]
    fn membership_follows_the_table() {
        let set = ByteSet::new(table_of(|c| c == b'@' || c == 0xC3));
        assert!(set.contains(b'@'));
        assert!(!set.contains(b'A'));
        // Non-ASCII bytes follow 0x80, which is not a member.
        assert!(!set.contains(0xC3));
    }
}
