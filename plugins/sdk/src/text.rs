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
    let u32_at = |s: &[u8], at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    let u64_at = |s: &[u8], at: usize| {
        u64::from_le_bytes([
            s[at],
            s[at + 1],
            s[at + 2],
            s[at + 3],
            s[at + 4],
            s[at + 5],
            s[at + 6],
            s[at + 7],
        ])
    };
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
