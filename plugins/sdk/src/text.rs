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
}
