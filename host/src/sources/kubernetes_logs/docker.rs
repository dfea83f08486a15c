//! Docker's json-file log format (nodes whose runtime is Docker via cri-dockerd):
//! `{"log":"text\n","stream":"stderr","time":"2026-12-07T10:00:00.123456789Z"}`. A `log`
//! without its trailing newline is a part of a line Docker split (at 16 KiB); the rest
//! follows in the next entries of the same stream.

use std::borrow::Cow;

use serde::Deserialize;

use super::cri::{Part, Stream, TimeParser};

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// Parses one json-file line; None when it is not one.
pub fn parse<'a>(line: &'a [u8], times: &mut TimeParser) -> Option<Part<Cow<'a, str>>> {
    let entry: Entry<'a> = serde_json::from_slice(line).ok()?;
    let stream = Stream::parse(entry.stream.as_bytes())?;
    let timestamp = times.parse(entry.time.as_bytes())?;
    let (text, partial) = match entry.log {
        Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(s) => (Cow::Borrowed(s), false),
            None => (Cow::Borrowed(s), true),
        },
        Cow::Owned(mut s) => {
            let full = s.ends_with('\n');
            if full {
                s.pop();
            }
            (Cow::Owned(s), !full)
        }
    };
    Some(Part {
        timestamp,
        stream,
        partial,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_whole_and_split() {
        let mut times = TimeParser::default();
        let p = parse(
            br#"{"log":"GET /cart 200\n","stream":"stdout","time":"2026-12-07T10:00:00.5Z"}"#,
            &mut times,
        )
        .unwrap();
        assert_eq!(p.text, "GET /cart 200");
        assert!(!p.partial);
        assert_eq!(p.stream, Stream::Stdout);
        assert_eq!(p.timestamp, 1_796_637_600_500_000_000);
        let p = parse(
            br#"{"log":"say \"hi\"\ttab","stream":"stderr","time":"2026-12-07T10:00:00Z"}"#,
            &mut times,
        )
        .unwrap();
        assert_eq!(p.text, "say \"hi\"\ttab");
        assert!(p.partial);
        assert_eq!(p.stream, Stream::Stderr);
        let p = parse(
            br#"{"log":"\u00e9t\u00e9\n","stream":"stdout","time":"2026-12-07T10:00:00Z"}"#,
            &mut times,
        )
        .unwrap();
        assert_eq!(p.text, "été");
        assert!(!p.partial);
    }

    #[test]
    fn not_json_file_lines() {
        let mut times = TimeParser::default();
        for line in [
            &br#"{"log":"x\n","stream":"stdout"}"#[..],
            br#"{"log":"x\n","stream":"stdin","time":"2026-12-07T10:00:00Z"}"#,
            br#"{"log":"x\n","stream":"stdout","time":"noon"}"#,
            br#"{"log":"x\n","stream":"stdout","time":"2026-12-07T10:00:00Z""#,
            b"2026-12-07T10:00:00Z stdout F x",
        ] {
            assert!(parse(line, &mut times).is_none(), "{}", String::from_utf8_lossy(line));
        }
    }
}
