//! The CRI log line format (what containerd and CRI-O write under /var/log/pods):
//! `<RFC 3339 time> <stdout|stderr> <P|F> <text>`, where `P` marks a part of a line the
//! runtime split (the rest follows in later lines of the same stream, up to an `F`). Also
//! the RFC 3339 timestamp parser both line formats use.

/// A container output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    pub fn parse(s: &[u8]) -> Option<Stream> {
        match s {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One decoded line of a container's output (a whole line or a part of one).
#[derive(Debug, PartialEq, Eq)]
pub struct Part<T> {
    /// ns since the epoch.
    pub timestamp: i64,
    pub stream: Stream,
    /// More of this line follows in the next part of the same stream.
    pub partial: bool,
    pub text: T,
}

/// Parses a CRI line (without its newline); None when it is not one.
pub fn parse<'a>(line: &'a [u8], times: &mut TimeParser) -> Option<Part<&'a [u8]>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = fields.next()?;
    let stream = Stream::parse(fields.next()?)?;
    let partial = match fields.next()? {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    // An empty line is written as `... F ` or, by some runtimes, `... F`.
    let text = fields.next().unwrap_or_default();
    Some(Part {
        timestamp: times.parse(time)?,
        stream,
        partial,
        text,
    })
}

/// Parses RFC 3339 timestamps (`2026-12-07T10:00:00.123456789Z`, `...+01:00`) to ns since
/// the epoch. The date, time and zone (the part that changes once a second) are parsed by
/// the `time` crate and remembered; the fraction is read here, so a stream of lines costs
/// one comparison and a few digits each.
#[derive(Default)]
pub struct TimeParser {
    /// The last `YYYY-MM-DDTHH:MM:SS` and zone parsed, and its seconds since the epoch.
    last: Option<([u8; 19], Vec<u8>, i64)>,
}

impl TimeParser {
    pub fn parse(&mut self, s: &[u8]) -> Option<i64> {
        if s.len() < 20 {
            return None;
        }
        let (head, rest) = s.split_at(19);
        let (mut frac, mut digits, mut i) = (0i64, 0u32, 0usize);
        if rest[0] == b'.' {
            i = 1;
            while i < rest.len() && rest[i].is_ascii_digit() {
                if digits < 9 {
                    frac = frac * 10 + i64::from(rest[i] - b'0');
                    digits += 1;
                }
                i += 1;
            }
            if i == 1 {
                return None;
            }
        }
        let frac = frac * 10i64.pow(9 - digits);
        let zone = &rest[i..];
        let seconds = match &self.last {
            Some((h, z, secs)) if h == head && z == zone => *secs,
            _ => {
                let mut whole = head.to_vec();
                whole.extend_from_slice(zone);
                let text = std::str::from_utf8(&whole).ok()?;
                let t = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                let secs = t.unix_timestamp();
                self.last = Some((head.try_into().ok()?, zone.to_vec(), secs));
                secs
            }
        };
        seconds.checked_mul(1_000_000_000)?.checked_add(frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_796_637_600; // 2026-12-07T10:00:00Z

    #[test]
    fn full_and_partial_lines() {
        let mut times = TimeParser::default();
        let p = parse(
            b"2026-12-07T10:00:00.123456789Z stdout F GET /cart 200",
            &mut times,
        )
        .unwrap();
        assert_eq!(
            p,
            Part {
                timestamp: T0 * 1_000_000_000 + 123_456_789,
                stream: Stream::Stdout,
                partial: false,
                text: &b"GET /cart 200"[..],
            }
        );
        let p = parse(b"2026-12-07T10:00:01Z stderr P half of it ", &mut times).unwrap();
        assert_eq!(p.stream, Stream::Stderr);
        assert!(p.partial);
        assert_eq!(p.text, b"half of it ");
        assert_eq!(p.timestamp, (T0 + 1) * 1_000_000_000);
        assert_eq!(
            parse(b"2026-12-07T10:00:01Z stdout F ", &mut times).unwrap().text,
            b""
        );
        assert_eq!(
            parse(b"2026-12-07T10:00:01Z stdout F", &mut times).unwrap().text,
            b""
        );
    }

    #[test]
    fn not_cri_lines() {
        let mut times = TimeParser::default();
        for line in [
            &b"plain text from somewhere"[..],
            b"2026-12-07T10:00:00Z stdin F x",
            b"2026-12-07T10:00:00Z stdout X x",
            b"2026-13-07T10:00:00Z stdout F x",
            b"yesterday stdout F x",
            b"",
        ] {
            assert!(parse(line, &mut times).is_none(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn timestamps_with_zones_and_any_fraction() {
        let mut t = TimeParser::default();
        let ns = |s: i64| s * 1_000_000_000;
        assert_eq!(t.parse(b"2026-12-07T10:00:00Z"), Some(ns(T0)));
        assert_eq!(t.parse(b"2026-12-07T10:00:00.5Z"), Some(ns(T0) + 500_000_000));
        assert_eq!(t.parse(b"2026-12-07T10:00:00.000000001Z"), Some(ns(T0) + 1));
        // Digits past nanoseconds are dropped, not rounded.
        assert_eq!(t.parse(b"2026-12-07T10:00:00.1234567899Z"), Some(ns(T0) + 123_456_789));
        assert_eq!(t.parse(b"2026-12-07T11:00:00.25+01:00"), Some(ns(T0) + 250_000_000));
        // The cache keys on the zone too.
        assert_eq!(t.parse(b"2026-12-07T11:00:00.25Z"), Some(ns(T0 + 3600) + 250_000_000));
        assert_eq!(t.parse(b"2026-12-07T10:00:00."), None);
        assert_eq!(t.parse(b"2026-12-07T10:00:00"), None);
        assert_eq!(t.parse(b"2026-12-07T10:00:00+0100"), None);
    }
}
