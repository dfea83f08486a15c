//! Joining lines into multi-line records (stack traces, continuation lines), per file.
//!
//! `multiline = { start = '^\d{4}-' }`: a line matching `start` begins a record and every
//! following line that does not is appended to it (with `\n`). `multiline = { continuation
//! = '^\s' }`: a line matching `continuation` is appended to the record before it. A record
//! is finished by the next record's first line, or when no line came for `timeout_ms` (the
//! last trace of a quiet file is not held forever), or at the file's end for good. A record
//! grows to at most `max_line_bytes` (+1, so the batcher cuts it and counts the cut).

use std::time::{Duration, Instant};

use regex::bytes::Regex;
use serde::Deserialize;

/// `multiline = { ... }` of a file source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this regex begins a record.
    #[serde(default)]
    pub start: Option<String>,
    /// A line matching this regex continues the record before it.
    #[serde(default)]
    pub continuation: Option<String>,
    /// A record waiting this long for its next line is finished, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    1000
}

/// How lines are told apart: the checked form of [`MultilineConfig`].
#[derive(Debug, Clone)]
pub struct Multiline {
    rule: Rule,
    pub timeout: Duration,
    max_bytes: usize,
}

#[derive(Debug, Clone)]
enum Rule {
    Start(Regex),
    Continuation(Regex),
}

/// A record being joined in one file: its bytes so far, the file offset after its last
/// line, and when its last line came.
#[derive(Debug, Default)]
pub struct Pending {
    bytes: Vec<u8>,
    end: u64,
    since: Option<Instant>,
}

impl Pending {
    /// True when no record is being joined.
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
    }
}

impl MultilineConfig {
    /// Checks the config: exactly one of `start` and `continuation`, a valid regex. The
    /// error names the key at fault.
    pub fn check(&self, max_bytes: usize) -> Result<Multiline, (&'static str, String)> {
        let rule = match (&self.start, &self.continuation) {
            (Some(s), None) => Rule::Start(compile(s).map_err(|e| ("start", e))?),
            (None, Some(c)) => Rule::Continuation(compile(c).map_err(|e| ("continuation", e))?),
            _ => return Err(("", "needs exactly one of `start` and `continuation`".into())),
        };
        Ok(Multiline {
            rule,
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            max_bytes,
        })
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("not a valid regex: {e}"))
}

impl Multiline {
    /// Takes one complete line of a file (without its newline), which ends at file offset
    /// `end`. Returns the record it finished, if it begins a new one, with the file offset
    /// after that record.
    pub fn push(&self, pending: &mut Pending, line: &[u8], end: u64) -> Option<(Vec<u8>, u64)> {
        let joins = match &self.rule {
            Rule::Start(re) => !re.is_match(line),
            Rule::Continuation(re) => re.is_match(line),
        };
        let finished = if joins && !pending.is_empty() {
            None
        } else {
            self.take(pending)
        };
        if !pending.is_empty() {
            pending.bytes.push(b'\n');
        }
        let room = (self.max_bytes + 1).saturating_sub(pending.bytes.len());
        pending
            .bytes
            .extend_from_slice(&line[..line.len().min(room)]);
        pending.end = end;
        pending.since = Some(Instant::now());
        finished
    }

    /// True when the record being joined waited `timeout` for its next line.
    pub fn due(&self, pending: &Pending) -> bool {
        pending.since.is_some_and(|t| t.elapsed() >= self.timeout)
    }

    /// The record being joined, finished now, with the file offset after it.
    pub fn take(&self, pending: &mut Pending) -> Option<(Vec<u8>, u64)> {
        pending.since.take()?;
        Some((std::mem::take(&mut pending.bytes), pending.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(config: &str, text: &str) -> Vec<String> {
        let m = toml::from_str::<MultilineConfig>(config)
            .unwrap()
            .check(1 << 20)
            .unwrap();
        let mut pending = Pending::default();
        let mut out = Vec::new();
        let mut end = 0;
        for line in text.lines() {
            end += line.len() as u64 + 1;
            if let Some((r, _)) = m.push(&mut pending, line.as_bytes(), end) {
                out.push(String::from_utf8(r).unwrap());
            }
        }
        if let Some((r, at)) = m.take(&mut pending) {
            assert_eq!(at, end);
            out.push(String::from_utf8(r).unwrap());
        }
        out
    }

    const PYTHON: &str = "2026-12-07 10:00:00 ERROR boom\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad\n2026-12-07 10:00:01 INFO next\n";
    const JAVA: &str = "2026-12-07 10:00:02 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat com.example.Foo.bar(Foo.java:10)\nCaused by: java.io.IOException: disk\n\t... 2 more\n2026-12-07 10:00:03 INFO ok\n";

    #[test]
    fn a_start_pattern_joins_python_and_java_traces_to_their_first_line() {
        let records = join("start = '^\\d{4}-'", PYTHON);
        assert_eq!(records.len(), 2);
        assert!(records[0].starts_with("2026-12-07 10:00:00 ERROR boom\nTraceback"));
        assert!(records[0].ends_with("ValueError: bad"));
        let records = join("start = '^\\d{4}-'", JAVA);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].lines().count(), 5);
    }

    #[test]
    fn a_continuation_pattern_joins_indented_lines_to_the_one_before() {
        let records = join("continuation = '^[\\t ]'", "a\n  b\n\tc\nd\n e\n");
        assert_eq!(records, ["a\n  b\n\tc", "d\n e"]);
    }

    #[test]
    fn a_quiet_record_is_due_after_its_timeout() {
        let m = toml::from_str::<MultilineConfig>("start = '^x'\ntimeout_ms = 10")
            .unwrap()
            .check(100)
            .unwrap();
        let mut p = Pending::default();
        assert!(m.push(&mut p, b"x1", 3).is_none());
        assert!(!m.due(&p));
        std::thread::sleep(Duration::from_millis(15));
        assert!(m.due(&p));
        assert_eq!(m.take(&mut p), Some((b"x1".to_vec(), 3)));
        assert!(p.is_empty());
    }

    #[test]
    fn both_or_neither_pattern_and_bad_regexes_are_refused_by_key() {
        let check = |c: &str| {
            toml::from_str::<MultilineConfig>(c)
                .unwrap()
                .check(10)
                .err()
        };
        assert_eq!(check("start = 'a'\ncontinuation = 'b'").unwrap().0, "");
        assert_eq!(check("").unwrap().0, "");
        assert_eq!(check("start = '('").unwrap().0, "start");
    }
}
