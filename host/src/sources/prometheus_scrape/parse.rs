//! The two exposition formats a scrape may answer with, parsed into samples and family
//! metadata: the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! The parser is as lenient as Prometheus's own scrape parser where Prometheus is lenient
//! (metadata after samples, families split up, unknown escapes kept as written) and fails
//! where it fails: a malformed line fails the whole exposition with its line number, as does
//! a body that is not UTF-8, more samples than the limit, an OpenMetrics body without
//! `# EOF` or with anything after it. It never panics on input. Exemplars are skipped.
//!
//! Timestamps: the text format writes integer milliseconds, OpenMetrics seconds with an
//! optional fraction (rounded to the nearest millisecond here).

use std::collections::HashMap;

use crate::event::metrics::{MetricFamily, MetricType};
use crate::event::Label;

/// Which exposition format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Format {
    /// The format a response's `Content-Type` names: OpenMetrics for
    /// `application/openmetrics-text`, else the text format (as Prometheus falls back).
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }
}

/// One sample as exposed: its name, its labels (as written, without `__name__`), its value
/// and the timestamp it carried, if any (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<Label>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// A parsed exposition.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Exposition {
    pub samples: Vec<ParsedSample>,
    /// Families named by `# HELP`, `# TYPE` or `# UNIT` lines, each once, in order of
    /// appearance.
    pub families: Vec<MetricFamily>,
}

/// Why an exposition was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("more than {limit} samples (max_samples_per_scrape)")]
    TooManySamples { limit: usize },
    #[error("the OpenMetrics exposition does not end with `# EOF`")]
    MissingEof,
}

/// Parses `body` in `format`, refusing it when it holds more than `max_samples` samples.
pub fn parse(body: &[u8], format: Format, max_samples: usize) -> Result<Exposition, ParseError> {
    let mut parser = Parser {
        format,
        max_samples,
        exposition: Exposition::default(),
        family_index: HashMap::new(),
    };
    let mut seen_eof = false;
    let mut lines = body.split(|b| *b == b'\n').enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let line_number = index + 1;
        if raw.is_empty() && lines.peek().is_none() {
            break; // the newline ending the last line
        }
        let at = |message: String| ParseError::Line {
            line: line_number,
            message,
        };
        if seen_eof {
            return Err(at("text after `# EOF`".into()));
        }
        let line = std::str::from_utf8(raw).map_err(|e| at(format!("invalid UTF-8: {e}")))?;
        seen_eof = parser.line(line, line_number)?;
    }
    if format == Format::OpenMetrics && !seen_eof {
        return Err(ParseError::MissingEof);
    }
    Ok(parser.exposition)
}

struct Parser {
    format: Format,
    max_samples: usize,
    exposition: Exposition,
    family_index: HashMap<String, usize>,
}

impl Parser {
    /// Parses line `number`; true when it was `# EOF`.
    fn line(&mut self, line: &str, number: usize) -> Result<bool, ParseError> {
        let at = |message: String| ParseError::Line {
            line: number,
            message,
        };
        let open_metrics = self.format == Format::OpenMetrics;
        let line = if open_metrics {
            line
        } else {
            line.trim_start_matches([' ', '\t'])
        };
        if line.trim().is_empty() {
            return if open_metrics {
                Err(at("empty line (OpenMetrics allows none)".into()))
            } else {
                Ok(false)
            };
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment).map_err(at);
        }
        if self.exposition.samples.len() >= self.max_samples {
            return Err(ParseError::TooManySamples {
                limit: self.max_samples,
            });
        }
        let sample = sample(line, self.format).map_err(at)?;
        self.exposition.samples.push(sample);
        Ok(false)
    }

    /// A line after its `#`: HELP, TYPE, UNIT or EOF; in the text format anything else is a
    /// comment, in OpenMetrics an error.
    fn comment(&mut self, rest: &str) -> Result<bool, String> {
        let open_metrics = self.format == Format::OpenMetrics;
        let body = if open_metrics {
            if rest == " EOF" {
                return Ok(true);
            }
            match rest.strip_prefix(' ') {
                Some(body) => body,
                None => return Err("expected a space after `#`".into()),
            }
        } else {
            rest.trim_start_matches([' ', '\t'])
        };
        let (keyword, after) = split_token(body);
        let metadata = matches!(keyword, "HELP" | "TYPE") || (open_metrics && keyword == "UNIT");
        if !metadata {
            return if open_metrics {
                Err(format!(
                    "`# {keyword}`: OpenMetrics allows only HELP, TYPE, UNIT and EOF comments"
                ))
            } else {
                Ok(false) // a plain comment
            };
        }
        let after = if open_metrics {
            after.strip_prefix(' ').ok_or("expected a metric name")?
        } else {
            after.trim_start_matches([' ', '\t'])
        };
        let name_end = after
            .find(|c: char| !is_metric_name_char(c))
            .unwrap_or(after.len());
        let name = &after[..name_end];
        check_metric_name(name)?;
        let text = &after[name_end..];
        let text = if text.is_empty() {
            ""
        } else if open_metrics {
            text.strip_prefix(' ')
                .ok_or_else(|| format!("expected a space after `{name}`"))?
        } else {
            match text.strip_prefix([' ', '\t']) {
                Some(t) => t.trim_start_matches([' ', '\t']),
                None => return Err(format!("expected a space after `{name}`")),
            }
        };
        let family = self.family(name);
        match keyword {
            "HELP" => family.help = unescape_help(text, open_metrics),
            "TYPE" => {
                let kind = text.trim_end();
                family.kind = MetricType::parse(kind)
                    .ok_or_else(|| format!("unknown metric type `{kind}` for `{name}`"))?;
            }
            _ => family.unit = text.to_string(),
        }
        Ok(false)
    }

    fn family(&mut self, name: &str) -> &mut MetricFamily {
        let families = &mut self.exposition.families;
        let index = *self.family_index.entry(name.to_string()).or_insert_with(|| {
            families.push(MetricFamily {
                name: name.to_string(),
                ..MetricFamily::default()
            });
            families.len() - 1
        });
        &mut families[index]
    }
}

/// `text` split at its first space or tab: (the token, the rest from that space on).
fn split_token(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    text.split_at(end)
}

fn is_metric_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn check_metric_name(name: &str) -> Result<(), String> {
    match name.chars().next() {
        None => Err("expected a metric name".into()),
        Some(c) if c.is_ascii_digit() => Err(format!("invalid metric name `{name}`")),
        Some(_) => Ok(()),
    }
}

fn unescape_help(text: &str, open_metrics: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if open_metrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A position in one line.
struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.line[self.pos..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.line[self.pos..]
    }

    /// Skips spaces and tabs; how many bytes.
    fn skip_blank(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(format!("expected `{c}` {what}"))
        }
    }
}

/// One sample line: `name{label="value",...} value [timestamp] [# exemplar]`.
fn sample(line: &str, format: Format) -> Result<ParsedSample, String> {
    let open_metrics = format == Format::OpenMetrics;
    let mut cur = Cursor { line, pos: 0 };
    let name = cur.take_while(is_metric_name_char);
    check_metric_name(name)?;
    // The text format allows blanks between the name and its labels.
    let mut gap = if open_metrics { 0 } else { cur.skip_blank() };
    let mut labels: Vec<Label> = Vec::new();
    if cur.peek() == Some('{') {
        cur.pos += 1;
        labels = label_set(&mut cur, open_metrics)?;
        gap = cur.skip_blank();
    } else if gap == 0 {
        gap = cur.skip_blank();
    }
    if gap == 0 {
        return Err(match cur.peek() {
            None => format!("`{name}` has no value"),
            Some(c) => format!("unexpected `{c}` after `{name}`"),
        });
    }
    let value_text = cur.take_while(|c| c != ' ' && c != '\t');
    let value = parse_value(value_text)?;
    let mut timestamp_ms = None;
    if cur.skip_blank() > 0 && !matches!(cur.peek(), None | Some('#')) {
        let ts = cur.take_while(|c| c != ' ' && c != '\t');
        timestamp_ms = Some(parse_timestamp(ts, format)?);
        cur.skip_blank();
    }
    match cur.peek() {
        None => {}
        Some('#') if open_metrics => {} // an exemplar: not kept
        Some(c) => return Err(format!("unexpected `{c}` after the value of `{name}`")),
    }
    Ok(ParsedSample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// The labels after a `{`, through the closing `}`.
fn label_set(cur: &mut Cursor<'_>, open_metrics: bool) -> Result<Vec<Label>, String> {
    let mut labels: Vec<Label> = Vec::new();
    loop {
        if !open_metrics {
            cur.skip_blank();
        }
        if cur.peek() == Some('}') {
            cur.pos += 1;
            return Ok(labels);
        }
        let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        match name.chars().next() {
            None => {
                return Err(match cur.peek() {
                    None => "unterminated label set".to_string(),
                    Some(c) => format!("expected a label name, found `{c}`"),
                })
            }
            Some(c) if c.is_ascii_digit() => return Err(format!("invalid label name `{name}`")),
            Some(_) => {}
        }
        if !open_metrics {
            cur.skip_blank();
        }
        cur.expect('=', &format!("after label name `{name}`"))?;
        if !open_metrics {
            cur.skip_blank();
        }
        cur.expect('"', &format!("to open the value of label `{name}`"))?;
        let value = label_value(cur).ok_or_else(|| format!("unterminated value of label `{name}`"))?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label `{name}` appears twice"));
        }
        labels.push((name.to_string(), value));
        if !open_metrics {
            cur.skip_blank();
        }
        match cur.peek() {
            Some(',') => cur.pos += 1,
            Some('}') => {}
            None => return Err("unterminated label set".into()),
            Some(c) => return Err(format!("expected `,` or `}}` after label `{name}`, found `{c}`")),
        }
    }
}

/// A label value after its opening quote, through the closing one (None: no closing
/// quote). `\\`, `\"` and `\n` are unescaped; any other escape is kept as written.
fn label_value(cur: &mut Cursor<'_>) -> Option<String> {
    let mut out = String::new();
    let mut chars = cur.rest().char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                cur.pos += i + 1;
                return Some(out);
            }
            '\\' => match chars.next()? {
                (_, '\\') => out.push('\\'),
                (_, '"') => out.push('"'),
                (_, 'n') => out.push('\n'),
                (_, other) => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}

/// A sample value: a decimal or exponent float, `NaN`, `+Inf`, `-Inf` (in any case, as
/// Go's ParseFloat reads them).
fn parse_value(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|_| !text.contains('_'))
        .ok_or_else(|| format!("invalid value `{text}`"))
}

/// A timestamp: integer milliseconds (text format) or seconds (OpenMetrics).
fn parse_timestamp(text: &str, format: Format) -> Result<i64, String> {
    let invalid = || format!("invalid timestamp `{text}`");
    match format {
        Format::Text => text.parse::<i64>().map_err(|_| invalid()),
        Format::OpenMetrics => {
            let seconds = text.parse::<f64>().map_err(|_| invalid())?;
            let ms = (seconds * 1000.0).round();
            if ms.is_finite() && ms.abs() < i64::MAX as f64 {
                Ok(ms as i64)
            } else {
                Err(invalid())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn text(body: &str) -> Result<Exposition, ParseError> {
        parse(body.as_bytes(), Format::Text, 1000)
    }

    fn om(body: &str) -> Result<Exposition, ParseError> {
        parse(body.as_bytes(), Format::OpenMetrics, 1000)
    }

    fn line_error(result: Result<Exposition, ParseError>) -> (usize, String) {
        match result {
            Err(ParseError::Line { line, message }) => (line, message),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn the_content_type_picks_the_format() {
        let om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        assert_eq!(Format::from_content_type(Some(om)), Format::OpenMetrics);
        let text = "text/plain; version=0.0.4; charset=utf-8";
        assert_eq!(Format::from_content_type(Some(text)), Format::Text);
        assert_eq!(Format::from_content_type(None), Format::Text);
        assert_eq!(
            Format::from_content_type(Some("application/json")),
            Format::Text
        );
    }

    #[test]
    fn text_format_samples_metadata_and_comments() {
        let body = "# A comment\n\
                    # HELP http_requests_total The total \\\\ number\\n of requests.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    \n\
                    http_requests_total{method=\"post\",code=\"400\",}    3   1395066363000\n\
                    metric_without_timestamp_and_labels 12.47\n\
                    # TYPE untyped_thing untyped\n\
                    untyped_thing { a = \"b\" } 1e3\n";
        let e = text(body).unwrap();
        assert_eq!(e.samples.len(), 4);
        assert_eq!(
            e.samples[0],
            ParsedSample {
                name: "http_requests_total".into(),
                labels: labels(&[("method", "post"), ("code", "200")]),
                value: 1027.0,
                timestamp_ms: Some(1395066363000),
            }
        );
        assert_eq!(e.samples[1].labels[1], ("code".into(), "400".into()));
        assert_eq!(e.samples[1].value, 3.0);
        assert_eq!(e.samples[2].labels, vec![]);
        assert_eq!(e.samples[2].timestamp_ms, None);
        assert_eq!(e.samples[3].labels, labels(&[("a", "b")]));
        assert_eq!(e.samples[3].value, 1000.0);
        assert_eq!(e.families.len(), 2);
        assert_eq!(e.families[0].name, "http_requests_total");
        assert_eq!(e.families[0].kind, MetricType::Counter);
        assert_eq!(e.families[0].help, "The total \\ number\n of requests.");
        assert_eq!(e.families[1].kind, MetricType::Unknown);
    }

    #[test]
    fn label_values_are_unescaped() {
        let body = "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\",odd=\"\\t\"} 1.458255915e9\n";
        let e = text(body).unwrap();
        assert_eq!(
            e.samples[0].labels,
            labels(&[
                ("path", "C:\\DIR\\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\""),
                ("odd", "\\t"),
            ])
        );
        assert_eq!(e.samples[0].value, 1.458255915e9);
        // Braces, commas and `#` inside a value are text.
        let e = om("a{x=\"}, # {\"} 1\n# EOF\n").unwrap();
        assert_eq!(e.samples[0].labels, labels(&[("x", "}, # {")]));
    }

    #[test]
    fn special_values_parse() {
        let e = text("a NaN\nb +Inf\nc -Inf\nd Inf\ne -0.5e-3\n").unwrap();
        let values: Vec<f64> = e.samples.iter().map(|s| s.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1], f64::INFINITY);
        assert_eq!(values[2], f64::NEG_INFINITY);
        assert_eq!(values[3], f64::INFINITY);
        assert_eq!(values[4], -0.0005);
    }

    #[test]
    fn openmetrics_with_units_exemplars_and_second_timestamps() {
        let body = "# TYPE request_seconds histogram\n\
                    # UNIT request_seconds seconds\n\
                    # HELP request_seconds How long \\\"requests\\\" took.\n\
                    request_seconds_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.05 1520879607.789\n\
                    request_seconds_bucket{le=\"+Inf\"} 10\n\
                    request_seconds_count 10 1520879607.789\n\
                    request_seconds_sum 1.5 1520879607\n\
                    # TYPE jobs counter\n\
                    jobs_total 3 # {} 1\n\
                    # EOF\n";
        let e = om(body).unwrap();
        assert_eq!(e.samples.len(), 5);
        assert_eq!(e.samples[0].value, 8.0);
        assert_eq!(e.samples[0].timestamp_ms, None);
        assert_eq!(e.samples[1].labels, labels(&[("le", "+Inf")]));
        assert_eq!(e.samples[2].timestamp_ms, Some(1520879607789));
        assert_eq!(e.samples[3].timestamp_ms, Some(1520879607000));
        assert_eq!(e.samples[4].name, "jobs_total");
        let f = &e.families[0];
        assert_eq!(
            (f.name.as_str(), f.kind, f.unit.as_str(), f.help.as_str()),
            (
                "request_seconds",
                MetricType::Histogram,
                "seconds",
                "How long \"requests\" took."
            )
        );
        assert_eq!(e.families[1].kind, MetricType::Counter);
    }

    #[test]
    fn openmetrics_needs_eof_last_and_no_blank_lines() {
        assert_eq!(om("a 1\n"), Err(ParseError::MissingEof));
        assert_eq!(om("a 1\n# EOF"), Ok(om("a 1\n# EOF\n").unwrap()));
        assert_eq!(line_error(om("a 1\n# EOF\nb 2\n")).0, 3);
        let (line, message) = line_error(om("a 1\n\nb 2\n# EOF\n"));
        assert_eq!(line, 2);
        assert!(message.contains("empty line"), "{message}");
        let (line, message) = line_error(om("# just a comment\n# EOF\n"));
        assert_eq!(line, 1);
        assert!(message.contains("only HELP, TYPE, UNIT and EOF"), "{message}");
        // The text format takes `# EOF` as a comment and blank lines as nothing.
        assert_eq!(text("a 1\n\n# EOF\n").unwrap().samples.len(), 1);
    }

    #[test]
    fn malformed_lines_fail_with_their_line_number() {
        let cases: &[(&str, usize, &str)] = &[
            ("ok 1\nbad{a=\"b\" 1\n", 2, "expected `,` or `}`"),
            ("ok 1\nok 2\nno_value\n", 3, "has no value"),
            ("x{a=\"unterminated} 1\n", 1, "unterminated value of label `a`"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "label `a` appears twice"),
            ("x{1a=\"1\"} 1\n", 1, "invalid label name `1a`"),
            ("x{a \"1\"} 1\n", 1, "expected `=` after label name `a`"),
            ("x{a=1} 1\n", 1, "expected `\"` to open the value"),
            ("x one\n", 1, "invalid value `one`"),
            ("x 1_000\n", 1, "invalid value `1_000`"),
            ("x 1 12.5\n", 1, "invalid timestamp `12.5`"),
            ("x 1 2 3\n", 1, "unexpected `3`"),
            ("9x 1\n", 1, "invalid metric name `9x`"),
            ("{a=\"b\"} 1\n", 1, "expected a metric name"),
            ("x{a=\"b\"\n", 1, "unterminated label set"),
            ("# TYPE x flavour\nx 1\n", 1, "unknown metric type `flavour`"),
            ("x 1 # {a=\"b\"} 1\n", 1, "unexpected `#`"),
        ];
        for (body, line, needle) in cases {
            let (got_line, message) = line_error(text(body));
            assert_eq!(got_line, *line, "{body:?}: {message}");
            assert!(message.contains(needle), "{body:?}: {message}");
        }
        // OpenMetrics is strict about spacing.
        let (line, message) = line_error(om("x  {a=\"b\"} 1\n# EOF\n"));
        assert_eq!(line, 1);
        assert!(message.contains("invalid value"), "{message}");
        let (_, message) = line_error(om("x 1 nope\n# EOF\n"));
        assert!(message.contains("invalid timestamp `nope`"), "{message}");
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let (line, message) = line_error(parse(b"a 1\nb{x=\"\xff\"} 1\n", Format::Text, 10));
        assert_eq!(line, 2);
        assert!(message.contains("invalid UTF-8"), "{message}");
    }

    #[test]
    fn the_sample_limit_fails_the_exposition() {
        let body = "a 1\nb 2\nc 3\n";
        assert_eq!(parse(body.as_bytes(), Format::Text, 3).unwrap().samples.len(), 3);
        assert_eq!(
            parse(body.as_bytes(), Format::Text, 2),
            Err(ParseError::TooManySamples { limit: 2 })
        );
        // Comments do not count.
        let body = "# HELP a x\n# TYPE a gauge\na 1\nb 2\n";
        assert_eq!(parse(body.as_bytes(), Format::Text, 2).unwrap().samples.len(), 2);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"ab_:{}=\",# \\\n\t01.eE+-InfNa\xc3\xa9\xff";
        for _ in 0..5000 {
            let len = (seed % 40) as usize;
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse(&body, Format::Text, 5);
            let _ = parse(&body, Format::OpenMetrics, 5);
        }
    }
}
