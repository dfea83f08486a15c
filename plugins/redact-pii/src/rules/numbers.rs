//! Digit-shaped PII: `credit_card`, `ssn`, `phone`.
//!
//! - `credit_card`: 13-19 digits, plain, or in groups separated by one kind of separator
//!   (space or `-`; a first group of 4 digits, the others 3-6), starting with 2-6
//!   (Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay: this keeps Unix
//!   timestamps in s/ms/us/ns, which start with 1, out) and passing the Luhn check (so
//!   16-digit order ids that fail it stay).
//! - `ssn`: `AAA-GG-SSSS` with a valid area (not 000, 666 or 9xx), group (not 00) and
//!   serial (not 0000).
//! - `phone`: E.164 with `+` (`+14155552671`, `+44 20 7946 0958`, `+1 (555) 123-4567`,
//!   `+49-30-1234567`; 8-15 digits, also URL-encoded as `%2B...`); North American national
//!   forms `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `555 123 4567`,
//!   `1-555-123-4567`; and trunk-prefix national forms starting with 0 in groups
//!   (`020 7946 0958`, `07700 900123`, `01 23 45 67 89`, `030-1234567`; 10-11 digits);
//!   the international prefix `00` read like `+` (`0044 20 7946 0958`). Area codes are not
//!   validated: a number no numbering plan assigns (`(123) 456-7890`) is still a phone
//!   number in a log line. An extension after the number (`x123`, `ext. 45`, `#7`) is part
//!   of it. Bare digit runs without `+` or separators are not phones (they are ids,
//!   epochs), except as the value of a phone-named JSON key (`crate::json`).

use super::is_word;

/// True when a number that ended at `j` is not continued by a word or `.digit`.
#[inline]
fn num_boundary(b: &[u8], j: usize) -> bool {
    match b.get(j) {
        None => true,
        Some(&c) if is_word(c) => false,
        Some(b'.') | Some(b'-') => !b.get(j + 1).is_some_and(u8::is_ascii_digit),
        _ => true,
    }
}

/// A Luhn-valid card number of 13-19 digits from `d`; the end of the longest one.
pub fn card_at(b: &[u8], d: usize) -> Option<usize> {
    if !matches!(b[d], b'2'..=b'6') {
        return None;
    }
    let n = b.len();
    let mut digits = [0u8; 19];
    let mut count = 0;
    let mut j = d;
    while j < n && b[j].is_ascii_digit() {
        if count == 19 {
            return None; // a longer number: an id, not a card
        }
        digits[count] = b[j] - b'0';
        count += 1;
        j += 1;
    }
    let sep = b.get(j).copied().filter(|c| matches!(c, b' ' | b'-'));
    let grouped = count == 4 && sep.is_some() && b.get(j + 1).is_some_and(u8::is_ascii_digit);
    if !grouped {
        return ((13..=19).contains(&count) && num_boundary(b, j) && luhn(&digits[..count]))
            .then_some(j);
    }
    // Groups: 4, then 3-6 digits each, one kind of separator; candidate ends after each.
    let sep = sep.expect("grouped");
    let mut ends: [(usize, usize); 5] = [(0, 0); 5]; // (end offset, digit count)
    let mut found = 0;
    while b.get(j) == Some(&sep) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        let s = j + 1;
        let mut k = s;
        while k < n && b[k].is_ascii_digit() && count + (k - s) < 19 {
            digits[count + (k - s)] = b[k] - b'0';
            k += 1;
        }
        if !(3..=6).contains(&(k - s)) || b.get(k).is_some_and(u8::is_ascii_digit) {
            break;
        }
        count += k - s;
        j = k;
        if count >= 13 && found < ends.len() {
            ends[found] = (j, count);
            found += 1;
        }
    }
    ends[..found]
        .iter()
        .rev()
        .find(|&&(end, c)| num_boundary(b, end) && luhn(&digits[..c]))
        .map(|&(end, _)| end)
}

/// The Luhn check over decimal digits.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                if d > 4 {
                    2 * d - 9
                } else {
                    2 * d
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn digits_at(b: &[u8], i: usize, len: usize) -> Option<u32> {
    let s = b.get(i..i + len)?;
    s.iter()
        .all(u8::is_ascii_digit)
        .then(|| s.iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0')))
}

/// A US SSN `AAA-GG-SSSS` from `d`.
pub fn ssn_at(b: &[u8], d: usize) -> Option<usize> {
    let area = digits_at(b, d, 3)?;
    if b.get(d + 3) != Some(&b'-') || b.get(d + 6) != Some(&b'-') {
        return None;
    }
    let group = digits_at(b, d + 4, 2)?;
    let serial = digits_at(b, d + 7, 4)?;
    let end = d + 11;
    let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    (valid && num_boundary(b, end)).then_some(end)
}

/// An E.164 number at the `+` at `p` (or at `%2B` when `enc`): its end. Digit groups may
/// be separated by one kind of separator (space, `-`, `.`) and one group may be in
/// parentheses; groups are taken until 10 digits are reached (so a status code after
/// `+1 555 123 4567` is not swallowed), 8-15 digits in all.
pub fn e164_at(b: &[u8], p: usize, enc: bool) -> Option<usize> {
    let d = p + if enc { 3 } else { 1 };
    if !b.get(d).is_some_and(|c| matches!(c, b'1'..=b'9')) {
        return None;
    }
    let mut j = d;
    let mut total = 0;
    let mut end = d;
    let mut sep: Option<u8> = None;
    loop {
        let paren = b.get(j) == Some(&b'(');
        let k = j + usize::from(paren);
        let g = b[k.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if g == 0 || (paren && b.get(k + g) != Some(&b')')) {
            break;
        }
        total += g;
        if total > 15 {
            return None;
        }
        j = k + g + usize::from(paren);
        end = j;
        if total >= 10 {
            break;
        }
        match b.get(j).copied() {
            Some(c) if matches!(c, b' ' | b'-' | b'.') && sep.is_none_or(|s| s == c || paren) => {
                if !b
                    .get(j + 1)
                    .is_some_and(|&x| x.is_ascii_digit() || x == b'(')
                {
                    break;
                }
                // After a parenthesised area code, or after the country code, any
                // separator may follow (`+1 (415) 555-2671`, `+1 415-555-2671`).
                sep = if paren || total == g { None } else { Some(c) };
                j += 1;
            }
            Some(b'(') => {}
            Some(c) if paren && c.is_ascii_digit() => {}
            _ => break,
        }
    }
    ((8..=15).contains(&total) && num_boundary(b, end)).then(|| with_extension(b, end))
}

/// `end`, or the end of an extension right after a number that ended there: optional space
/// or comma, then `x`, `ext`, `ext.`, `extension` or `#` (any case), optional space, `.`
/// or `:`, then 1-6 digits.
pub fn with_extension(b: &[u8], end: usize) -> usize {
    let mut j = end;
    if matches!(b.get(j), Some(b' ') | Some(b',')) {
        j += 1;
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
    }
    let rest = &b[j.min(b.len())..];
    let lower = |i: usize| rest.get(i).map(u8::to_ascii_lowercase);
    let word = if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case(b"extension") {
        9
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"ext") {
        3
    } else if lower(0) == Some(b'x') || lower(0) == Some(b'#') {
        1
    } else {
        return end;
    };
    j += word;
    while matches!(b.get(j), Some(b' ') | Some(b'.') | Some(b':')) && j < end + word + 5 {
        j += 1;
    }
    let digits = b[j.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if (1..=6).contains(&digits) && num_boundary(b, j + digits) {
        j + digits
    } else {
        end
    }
}

/// A North American number `(555) 123-4567` at the `(` at `p`: its end.
pub fn nanp_paren_at(b: &[u8], p: usize) -> Option<usize> {
    digits_at(b, p + 1, 3)?;
    if b.get(p + 4) != Some(&b')') {
        return None;
    }
    let mut j = p + 5;
    if matches!(b.get(j), Some(b' ') | Some(b'.') | Some(b'-')) {
        j += 1;
    }
    digits_at(b, j, 3)?;
    let end = match b.get(j + 3).copied()? {
        b'-' | b'.' | b' ' => {
            digits_at(b, j + 4, 4)?;
            j + 8
        }
        // `(415) 5552671`
        c if c.is_ascii_digit() => {
            digits_at(b, j + 3, 4)?;
            j + 7
        }
        _ => return None,
    };
    num_boundary(b, end).then(|| with_extension(b, end))
}

/// A national-format number starting with the digit at `d` (`555-123-4567`,
/// `1-555-123-4567`, `020 7946 0958`, `01 23 45 67 89`): its end.
pub fn national_at(b: &[u8], d: usize) -> Option<usize> {
    if b[d] == b'0' && b.get(d + 1) == Some(&b'0') {
        // The international prefix 00, as `+`: `0044 20 7946 0958`, `00 44 20 ...`.
        let p = if matches!(b.get(d + 2), Some(b' ') | Some(b'-')) {
            d + 2
        } else {
            d + 1
        };
        // Unlike `+`, `00` followed by a bare digit run is an id (`0033669753107160`):
        // the number must be written in groups.
        if let Some(end) = e164_at(b, p, false) {
            if b[d..end]
                .iter()
                .any(|c| matches!(c, b' ' | b'-' | b'.' | b'('))
            {
                return Some(end);
            }
        }
    }
    if b[d] == b'0' {
        // Trunk prefix 0: first group 2-5 digits, then groups of 2-8, 10-11 digits in all.
        let first = b[d..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(2..=5).contains(&first) {
            return None;
        }
        let sep = *b.get(d + first)?;
        if !matches!(sep, b' ' | b'-' | b'.') {
            return None;
        }
        let mut j = d + first;
        let mut total = first;
        let mut count = 1;
        while b.get(j) == Some(&sep) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            let g = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(2..=8).contains(&g) || total + g > 11 {
                break;
            }
            total += g;
            count += 1;
            j += 1 + g;
        }
        return ((10..=11).contains(&total) && count >= 2 && num_boundary(b, j))
            .then(|| with_extension(b, j));
    }
    // North American: [1 sep] AAA sep XXX sep XXXX with one kind of separator, or
    // `1 (415) 555-2671`.
    let mut s = d;
    if b[d] == b'1' && matches!(b.get(d + 1), Some(b'-') | Some(b' ') | Some(b'.')) {
        if b.get(d + 2) == Some(&b'(') {
            return nanp_paren_at(b, d + 2);
        }
        s = d + 2;
    }
    digits_at(b, s, 3)?;
    let sep = *b.get(s + 3)?;
    if !matches!(sep, b'-' | b'.' | b' ') || (s != d && b[d + 1] != sep) {
        return None;
    }
    digits_at(b, s + 4, 3)?;
    if b.get(s + 7) != Some(&sep) {
        return None;
    }
    digits_at(b, s + 8, 4)?;
    let end = s + 12;
    num_boundary(b, end).then(|| with_extension(b, end))
}
