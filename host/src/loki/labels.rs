//! Loki stream labels as text: the selector form a push request carries
//! (`{app="api", env="prod"}`, values quoted like Go's `strconv.Quote`), its parser, and the
//! rules that make a record's labels acceptable to Loki before they are sent.

use crate::event::Label;

/// Writes `labels` (sorted by name) in selector form: `{a="1", b="2"}`.
pub fn format(labels: &[Label]) -> String {
    let mut out = String::with_capacity(2 + labels.len() * 16);
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Why a selector string is not a label set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid stream labels at byte {at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

/// Parses `{name="value", ...}` into labels sorted by name (a later duplicate name wins).
/// Accepts the escapes of Go string literals and back-quoted raw values, as Loki does.
pub fn parse(text: &str) -> Result<Vec<Label>, ParseError> {
    let mut p = Parser { text, at: 0 };
    p.skip_space();
    p.expect(b'{', "expected `{`")?;
    let mut labels: Vec<Label> = Vec::new();
    loop {
        p.skip_space();
        if p.eat(b'}') {
            break;
        }
        if !labels.is_empty() {
            p.expect(b',', "expected `,` or `}`")?;
            p.skip_space();
            if p.eat(b'}') {
                break;
            }
        }
        let name = p.name()?;
        p.skip_space();
        p.expect(b'=', "expected `=`")?;
        p.skip_space();
        let value = p.quoted()?;
        labels.retain(|(n, _)| *n != name);
        labels.push((name, value));
    }
    p.skip_space();
    if p.at != text.len() {
        return Err(p.error("unexpected text after `}`"));
    }
    labels.sort();
    Ok(labels)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> ParseError {
        ParseError { at: self.at, what }
    }
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), ParseError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }
    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }
    fn name(&mut self) -> Result<String, ParseError> {
        let start = self.at;
        while let Some(b) = self.peek() {
            let ok =
                b.is_ascii_alphabetic() || b == b'_' || (self.at > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a label name"));
        }
        Ok(self.text[start..self.at].to_string())
    }
    fn quoted(&mut self) -> Result<String, ParseError> {
        if self.eat(b'`') {
            let rest = &self.text[self.at..];
            let end = rest.find('`').ok_or_else(|| self.error("unterminated `"))?;
            self.at += end + 1;
            return Ok(rest[..end].to_string());
        }
        self.expect(b'"', "expected a quoted value")?;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(c) = rest.chars().next() else {
                return Err(self.error("unterminated string"));
            };
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\n' => return Err(self.error("newline in string")),
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }
    fn hex(&mut self, digits: usize) -> Result<u32, ParseError> {
        let rest = &self.text.as_bytes()[self.at..];
        if rest.len() < digits {
            return Err(self.error("short escape"));
        }
        let mut v = 0u32;
        for b in &rest[..digits] {
            let d = (*b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad hex digit in escape"))?;
            v = v * 16 + d;
        }
        self.at += digits;
        Ok(v)
    }
    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let Some(b) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.at += 1;
        let c = match b {
            b'a' => '\u{7}',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'v' => '\u{b}',
            b'\\' => '\\',
            b'"' => '"',
            b'\'' => '\'',
            b'x' => char::from_u32(self.hex(2)?).ok_or_else(|| self.error("bad \\x escape"))?,
            b'u' => char::from_u32(self.hex(4)?).ok_or_else(|| self.error("bad \\u escape"))?,
            b'U' => char::from_u32(self.hex(8)?).ok_or_else(|| self.error("bad \\U escape"))?,
            b'0'..=b'7' => {
                let digits = &self.text.as_bytes()[self.at - 1..];
                if digits.len() < 3 || !digits[..3].iter().all(|d| (b'0'..=b'7').contains(d)) {
                    return Err(self.error("bad octal escape"));
                }
                let v = digits[..3]
                    .iter()
                    .fold(0u32, |v, d| v * 8 + (d - b'0') as u32);
                self.at += 2;
                char::from_u32(v).ok_or_else(|| self.error("bad octal escape"))?
            }
            _ => return Err(self.error("unknown escape")),
        };
        out.push(c);
        Ok(())
    }
}

/// The label Loki adds to a stream that lacks it, and does not count toward
/// `max_label_names_per_series`.
pub const SERVICE_NAME: &str = "service_name";

/// Loki's limits on a stream's labels, checked before sending so a bad label set becomes a
/// counted, explained error instead of a 400 for the whole request.
#[derive(Debug, Clone, Copy)]
pub struct LabelLimits {
    pub max_names: usize,
    pub max_name_bytes: usize,
    pub max_value_bytes: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        // Loki's defaults: max_label_names_per_series 15, max_label_name_length 1024,
        // max_label_value_length 2048.
        LabelLimits {
            max_names: 15,
            max_name_bytes: 1024,
            max_value_bytes: 2048,
        }
    }
}

/// What [`sanitize`] changed or refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fixes {
    /// Names with characters outside `[a-zA-Z0-9_]` (or a leading digit) rewritten.
    pub renamed: usize,
    /// Values cut to the value length limit.
    pub truncated: usize,
}

/// Why a label set cannot be sent.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("{0} label names, over the limit of {1}")]
    TooManyNames(usize, usize),
}

/// Whether `name` is a valid Loki label (or structured metadata) name,
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
}

/// `name` as a valid Loki label (or structured metadata) name, `[a-zA-Z_][a-zA-Z0-9_]*`:
/// other characters become `_`, and a leading digit (or nothing) gets a `_` in front.
/// Borrowed when `name` is already valid, which is nearly always: the sink calls this for
/// every structured metadata key of every record.
pub fn sanitize_name(name: &str) -> std::borrow::Cow<'_, str> {
    if is_valid_name(name.as_bytes()) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fixed.is_empty() || fixed.as_bytes()[0].is_ascii_digit() {
        fixed.insert(0, '_');
    }
    std::borrow::Cow::Owned(fixed)
}

/// Makes `labels` acceptable to Loki: internal names (`__` prefix) and empty values are
/// left out (Loki treats an empty value as no label), invalid names are rewritten with `_`,
/// over-long names and values are cut; two names that collide after rewriting keep the
/// first. An empty result becomes `service_name="unknown_service"`, as Loki itself names
/// such streams. Too many names is refused: dropping labels would merge streams silently.
pub fn sanitize(labels: &[Label], limits: &LabelLimits) -> Result<(Vec<Label>, Fixes), Refused> {
    let mut fixes = Fixes::default();
    let mut out: Vec<Label> = Vec::with_capacity(labels.len());
    for (name, value) in labels {
        if name.starts_with("__") || value.is_empty() {
            continue;
        }
        let mut fixed = sanitize_name(name).into_owned();
        if fixed.len() > limits.max_name_bytes {
            fixed.truncate(limits.max_name_bytes);
        }
        if fixed != *name {
            fixes.renamed += 1;
        }
        let value = if value.len() > limits.max_value_bytes {
            fixes.truncated += 1;
            crate::event::prefix_within(value, limits.max_value_bytes).to_string()
        } else {
            value.clone()
        };
        if out.iter().all(|(n, _)| *n != fixed) {
            out.push((fixed, value));
        }
    }
    if out.is_empty() {
        out.push((SERVICE_NAME.into(), "unknown_service".into()));
    }
    // Loki's validator does not count `service_name` (which its distributor adds itself
    // when a stream lacks it) toward max_label_names_per_series: a stream may carry it on
    // top of the limit (pkg/distributor/validator.go, ValidateLabels).
    let counted = out.len() - usize::from(out.iter().any(|(n, _)| n == SERVICE_NAME));
    if counted > limits.max_names {
        return Err(Refused::TooManyNames(counted, limits.max_names));
    }
    out.sort();
    Ok((out, fixes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn format_quotes_like_go() {
        let labels = l(&[("app", "a\"b\\c\nd"), ("env", "prod\u{1}é")]);
        let text = format(&labels);
        assert_eq!(text, r#"{app="a\"b\\c\nd", env="prod\x01é"}"#);
        assert_eq!(parse(&text).unwrap(), labels);
        assert_eq!(format(&[]), "{}");
    }

    #[test]
    fn parse_accepts_what_loki_accepts() {
        assert_eq!(
            parse(r#" { job = "x" ,app="\u00e9\101\t", raw=`a\b` } "#).unwrap(),
            l(&[("app", "éA\t"), ("job", "x"), ("raw", "a\\b")])
        );
        assert_eq!(parse("{}").unwrap(), vec![]);
        assert_eq!(parse(r#"{a="1",}"#).unwrap(), l(&[("a", "1")]));
    }

    #[test]
    fn parse_refuses_broken_selectors() {
        for bad in [
            "",
            "app=\"x\"",
            "{app=\"x\"",
            "{app=x}",
            "{1app=\"x\"}",
            "{app=\"x\\q\"}",
            "{app=\"x\" env=\"y\"}",
            "{app=\"x\"} trailing",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn sanitize_fixes_names_and_limits() {
        let limits = LabelLimits {
            max_names: 3,
            max_name_bytes: 8,
            max_value_bytes: 4,
        };
        let (out, fixes) = sanitize(
            &l(&[
                ("__path__", "/x"),
                ("app.name", "api"),
                ("9lives", "cat"),
                ("empty", ""),
                ("long", "abcdefé"),
            ]),
            &limits,
        )
        .unwrap();
        assert_eq!(
            out,
            l(&[("_9lives", "cat"), ("app_name", "api"), ("long", "abcd")])
        );
        assert_eq!(
            fixes,
            Fixes {
                renamed: 2,
                truncated: 1
            }
        );
        assert_eq!(
            sanitize(&[], &limits).unwrap().0,
            l(&[("service_name", "unknown_service")])
        );
        let many = l(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
        assert_eq!(sanitize(&many, &limits), Err(Refused::TooManyNames(4, 3)));
    }

    #[test]
    fn service_name_does_not_count_toward_the_name_limit() {
        let limits = LabelLimits::default();
        let mut names: Vec<Label> = (0..15).map(|i| (format!("l{i:02}"), "v".into())).collect();
        let (out, _) = sanitize(&names, &limits).unwrap();
        assert_eq!(out.len(), 15);
        names.push(("service_name".into(), "api".into()));
        let (out, _) = sanitize(&names, &limits).expect("service_name on top of 15 is fine");
        assert_eq!(out.len(), 16);
        names.push(("l15".into(), "v".into()));
        assert_eq!(
            sanitize(&names, &limits),
            Err(Refused::TooManyNames(16, 15))
        );
    }
}
