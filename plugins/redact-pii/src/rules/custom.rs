//! Custom rules from config: `custom = [{ name = "employee_id", pattern = "EMP-[0-9]{6}" }]`.
//!
//! All patterns are compiled into one multi-pattern regex (`regex-automata`'s meta
//! engine), so a line is searched once for all of them, and only when any are configured.
//! Matches are leftmost-first; where a custom match overlaps a built-in one, the one that
//! starts first (then the longer) wins.

use regex_automata::meta::Regex;

use super::Match;

/// The compiled custom rules.
#[derive(Debug, Clone)]
pub struct Custom {
    regex: Regex,
    /// Rule table index of pattern 0 (pattern i is `first + i`).
    first: usize,
}

impl Custom {
    /// Compiles `patterns`; pattern i becomes rule table index `first + i`.
    pub fn new(patterns: &[String], first: usize) -> Result<Custom, String> {
        let regex = Regex::new_many(patterns).map_err(|e| {
            let which = e
                .pattern()
                .map(|p| format!(" #{}", p.as_usize() + 1))
                .unwrap_or_default();
            format!("custom rule pattern{which} does not compile: {e}")
        })?;
        Ok(Custom { regex, first })
    }

    /// Appends the matches in `text` (non-empty ones only) to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<Match>) {
        for m in self.regex.find_iter(text) {
            if !m.is_empty() {
                out.push(Match {
                    start: m.start(),
                    end: m.end(),
                    rule: self.first + m.pattern().as_usize(),
                });
            }
        }
    }
}
