//! regex-redact: the benchmark issue's orientation workload as a plugin, kept as a
//! yardstick for the Wasm/native ratio (not shipped in `dist/plugins`).
//!
//! It masks emails and IPv4 addresses with one combined `regex::Regex` and `replace_all`
//! over each line: plain library code of the kind a user writes, with no hand-written
//! SIMD. bench/pipelines.py runs it in sluice and its native twin (examples/native_bench.rs,
//! the same plugin type and SDK batch code called in process) in the same run, next to
//! redact-pii, so the table shows what the Wasm boundary and Cranelift cost on ordinary
//! code as well as on redact-pii's hand-vectorised scanner. Config: none.

use std::borrow::Cow;

use regex::{Captures, Regex};

/// Emails, then dotted-quad IPv4 addresses, as one alternation (one pass per line).
pub const PATTERN: &str =
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b";

/// The plugin: the compiled pattern and how many matches the last batch had.
pub struct RegexRedact {
    regex: Regex,
    last_batch_redactions: u64,
}

impl RegexRedact {
    /// Matches replaced in the last batch (for checking the twin against the plugin).
    pub fn last_batch_redactions(&self) -> u64 {
        self.last_batch_redactions
    }

    /// `line` with every match replaced by `<email>` or `<ipv4>`, and the number replaced.
    pub fn redact<'a>(&self, line: &'a str) -> (Cow<'a, str>, u64) {
        let mut count = 0;
        let out = self.regex.replace_all(line, |c: &Captures| {
            count += 1;
            if c[0].contains('@') {
                "<email>"
            } else {
                "<ipv4>"
            }
        });
        (out, count)
    }
}

impl sluice_plugin::Plugin for RegexRedact {
    fn init(_config: sluice_plugin::Config) -> Result<Self, String> {
        let regex = Regex::new(PATTERN).map_err(|e| format!("pattern: {e}"))?;
        Ok(RegexRedact {
            regex,
            last_batch_redactions: 0,
        })
    }

    fn process(&mut self, batch: &mut sluice_plugin::Batch) -> Result<(), String> {
        let mut total = 0;
        batch.map_lines(|_, line, out| {
            let (redacted, count) = self.redact(line);
            total += count;
            match redacted {
                Cow::Borrowed(_) => false,
                Cow::Owned(s) => {
                    out.push_str(&s);
                    true
                }
            }
        });
        self.last_batch_redactions = total;
        Ok(())
    }
}

sluice_plugin::export_plugin!(RegexRedact);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin::{Batch, Config, Plugin};

    #[test]
    fn masks_emails_and_ipv4_and_leaves_other_lines() {
        let mut plugin = RegexRedact::init(Config::from_json("{}").unwrap()).unwrap();
        let mut batch = Batch::new();
        batch.push("mail bob@example.com from 10.1.2.3 ok", 0, &[], &[]);
        batch.push("nothing here, version 1.2.3", 0, &[], &[]);
        plugin.process(&mut batch).unwrap();
        let cols = batch.into_log_batch();
        assert_eq!(
            cols.lines,
            "mail <email> from <ipv4> oknothing here, version 1.2.3"
        );
        assert_eq!(plugin.last_batch_redactions(), 2);
    }
}
