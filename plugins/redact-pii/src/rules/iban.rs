//! `iban`: a country code of an IBAN country, two check digits, then the BBAN in capitals
//! and digits, plain (`GB82WEST12345698765432`) or grouped in fours by single spaces or
//! dashes (`GB82 WEST 1234 5698 7654 32`); the length must be the country's IBAN length
//! and the whole must pass the ISO 13616 mod-97 check, which keeps hex ids and words out.

use super::is_word;

/// IBAN lengths by country code (SWIFT IBAN registry).
const LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

fn country_len(cc: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == cc)
        .map(|&(_, l)| usize::from(l))
}

#[inline]
fn is_bban(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

/// An IBAN starting at the capital letter at `s`: its end.
pub fn iban_at(b: &[u8], s: usize) -> Option<usize> {
    let head = b.get(s..s + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let len = country_len(&head[..2])?;
    let mut chars = [0u8; 34];
    let mut count = 0;
    let mut j = s;
    // Plain: one run of exactly `len` characters.
    while j < b.len() && is_bban(b[j]) && count < 34 {
        chars[count] = b[j];
        count += 1;
        j += 1;
    }
    if count != len {
        // Grouped in fours: "GB82 WEST 1234 ..." (the first run must be exactly 4).
        if count != 4 {
            return None;
        }
        let sep = *b.get(j)?;
        if !matches!(sep, b' ' | b'-') {
            return None;
        }
        while count < len && b.get(j) == Some(&sep) {
            let g = b[j + 1..].iter().take_while(|&&c| is_bban(c)).count();
            let want = (len - count).min(4);
            if g != want {
                return None;
            }
            chars[count..count + g].copy_from_slice(&b[j + 1..j + 1 + g]);
            count += g;
            j += 1 + g;
        }
        if count != len {
            return None;
        }
    }
    if b.get(j).is_some_and(|&c| is_word(c)) {
        return None;
    }
    mod97(&chars[..len]).then_some(j)
}

/// ISO 13616: move the first four characters to the end, letters to 10-35, mod 97 == 1.
pub fn mod97(iban: &[u8]) -> bool {
    let mut r: u32 = 0;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        if c.is_ascii_digit() {
            r = (r * 10 + u32::from(c - b'0')) % 97;
        } else {
            r = (r * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    r == 1
}
