//! Text helpers for plugin hot paths.

/// `a == b`, without a call to `memcmp` for slices of up to 16 bytes.
///
/// In a Wasm build, `==` on slices calls the guest's `memcmp`, a byte loop behind a
/// function call. Label names and values and JSON keys are mostly short; comparing them in
/// one or two word loads inline is several times cheaper there (the label-edit memo of
/// [`crate::Batch`] and the parse plugin's key matching use it). Longer slices use `==`.
#[inline(always)]
pub fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // One load each (the slice-to-array conversion compiles to a single unaligned load;
    // reading the bytes one by one was a call and eight bounds-checked loads in Wasm).
    #[inline(always)]
    fn u32_at(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"))
    }
    #[inline(always)]
    fn u64_at(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
    }
    match n {
        0 => true,
        // Bytes 0, n/2 and n-1 cover every byte of a slice of 1 to 3.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping loads cover the slice.
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

/// `out.push_str(s)`, without a call to `memcpy` for texts of up to 32 bytes.
///
/// In a Wasm build, `push_str` copies with `memory.copy`, which the runtime compiles to a
/// call out of the plugin's code into the host's `memmove`: for a few bytes (a mask, a
/// metadata key or value, the text between two redactions) the call costs more than the
/// copy. Up to 32 bytes this copies with two overlapping loads and stores of the widest
/// size that fits, inline. Longer texts use `push_str`.
#[inline(always)]
pub fn push_short(out: &mut String, s: &str) {
    let n = s.len();
    if n > 32 {
        out.push_str(s);
        return;
    }
    out.reserve(n);
    // SAFETY: `reserve` made room for `n` more bytes after `len`, every store below writes
    // inside `dst[..n]` and every load reads inside `s`, which cannot overlap the spare
    // capacity of `out` (it is borrowed while `out` is borrowed mutably). The bytes copied
    // are the whole of `s`, valid UTF-8, so `out` stays valid UTF-8 once its length grows.
    unsafe {
        let v = out.as_mut_vec();
        let len = v.len();
        copy_short(s.as_ptr(), v.as_mut_ptr().add(len), n);
        v.set_len(len + n);
    }
}

/// Copies `n <= 32` bytes from `src` to `dst` (not overlapping) with at most four loads and
/// stores. Comparisons, not a `match` on `n`: a `match` compiles to a jump table (an
/// indirect jump) in the Wasm build.
///
/// # Safety
/// `src[..n]` must be readable, `dst[..n]` writable, and the two must not overlap.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    use std::ptr::{read_unaligned as load, write_unaligned as store};
    if n >= 8 {
        if n > 16 {
            let (a, b) = (load(src as *const u64), load(src.add(8) as *const u64));
            let (c, d) = (
                load(src.add(n - 16) as *const u64),
                load(src.add(n - 8) as *const u64),
            );
            store(dst as *mut u64, a);
            store(dst.add(8) as *mut u64, b);
            store(dst.add(n - 16) as *mut u64, c);
            store(dst.add(n - 8) as *mut u64, d);
        } else {
            let (a, b) = (load(src as *const u64), load(src.add(n - 8) as *const u64));
            store(dst as *mut u64, a);
            store(dst.add(n - 8) as *mut u64, b);
        }
    } else if n >= 4 {
        let (a, b) = (load(src as *const u32), load(src.add(n - 4) as *const u32));
        store(dst as *mut u32, a);
        store(dst.add(n - 4) as *mut u32, b);
    } else if n > 0 {
        // Bytes 0, n/2 and n-1 cover every byte of 1 to 3.
        let (a, b, c) = (*src, *src.add(n / 2), *src.add(n - 1));
        *dst = a;
        *dst.add(n / 2) = b;
        *dst.add(n - 1) = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_slice_equality_for_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8)
                .map(|k| k.wrapping_mul(37).wrapping_add(1))
                .collect();
            assert!(eq_bytes(&a, &a.clone()), "{n}");
            assert!(!eq_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0, "{n}");
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 0x20;
                assert!(!eq_bytes(&a, &b), "{n} differs at {k}");
            }
        }
    }

    #[test]
    fn push_short_appends_like_push_str_for_every_length() {
        let text: String = (0..80u8).map(|k| char::from(b'!' + k)).collect();
        for prefix in [0usize, 1, 7, 31] {
            for n in 0..=40 {
                for at in [0usize, 3] {
                    let s = &text[at..at + n];
                    let mut expected = text[..prefix].to_string();
                    expected.push_str(s);
                    // A fresh string (no spare capacity) and one with room to spare.
                    let mut tight = text[..prefix].to_string();
                    tight.shrink_to_fit();
                    push_short(&mut tight, s);
                    assert_eq!(tight, expected, "prefix {prefix}, {n} bytes from {at}");
                    let mut roomy = String::with_capacity(128);
                    roomy.push_str(&text[..prefix]);
                    push_short(&mut roomy, s);
                    assert_eq!(roomy, expected, "prefix {prefix}, {n} bytes from {at}");
                }
            }
        }
        let mut multibyte = String::from("é");
        push_short(&mut multibyte, "ü→x");
        assert_eq!(multibyte, "éü→x");
    }
}
