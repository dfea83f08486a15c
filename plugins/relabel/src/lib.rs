//! relabel: Prometheus's `relabel_configs` (as `metric_relabel_configs` uses them) for
//! metric samples, as a sluice metric-transform plugin.
//!
//! ```toml
//! [transforms.relabel]
//! type = "wasm"
//! plugin = "dist/plugins/relabel.wasm"
//! inputs = ["scrape"]
//! config = { rules = [
//!   { source_labels = ["__name__"], regex = "go_.*", action = "drop" },
//!   { source_labels = ["pod"], target_label = "k8s_pod" },
//!   { regex = "pod", action = "labeldrop" },
//! ] }
//! ```
//!
//! Each rule works as in Prometheus: the values of `source_labels` joined by `separator`
//! (default `;`) are matched against `regex` (default `(.*)`, anchored at both ends);
//! `replacement` (default `$1`) may use `$1`, `${1}` and `${name}`. Actions: `replace`
//! (default), `keep`, `drop`, `keepequal`, `dropequal`, `labelmap`, `labeldrop`,
//! `labelkeep`, `lowercase`, `uppercase`. `hashmod` is not supported (refused at init).
//! Rules run in order on each series; a series whose name becomes empty is dropped, and
//! series that become equal are merged.

use regex::Regex;
use serde::Deserialize;
use sluice_plugin::metrics::{label, set_label, Label};
use sluice_plugin::{Config, MetricPlugin, Metrics, ProcessMetrics};

/// One rule as the config writes it (Prometheus's field names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    #[serde(default)]
    source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    separator: String,
    #[serde(default = "default_regex")]
    regex: String,
    #[serde(default)]
    target_label: Option<String>,
    #[serde(default = "default_replacement")]
    replacement: String,
    #[serde(default = "default_action")]
    action: String,
}

fn default_separator() -> String {
    ";".into()
}
fn default_regex() -> String {
    "(.*)".into()
}
fn default_replacement() -> String {
    "$1".into()
}
fn default_action() -> String {
    "replace".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    rules: Vec<RuleConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// A checked rule.
#[derive(Debug)]
struct Rule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    target_label: String,
    replacement: String,
    action: Action,
}

/// What a rule does to one series.
enum Outcome {
    Keep,
    Drop,
}

impl Rule {
    fn check(index: usize, c: RuleConfig) -> Result<Rule, String> {
        let at = |msg: String| format!("rules[{index}]: {msg}");
        let action = match c.action.as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            "hashmod" => return Err(at("action `hashmod` is not supported".into())),
            other => return Err(at(format!("unknown action `{other}`"))),
        };
        let regex = Regex::new(&format!("^(?:{})$", c.regex))
            .map_err(|e| at(format!("regex `{}`: {e}", c.regex)))?;
        let target_label = c.target_label.unwrap_or_default();
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::KeepEqual
                | Action::DropEqual
                | Action::Lowercase
                | Action::Uppercase
        );
        if needs_target && target_label.is_empty() {
            return Err(at(format!("action `{}` needs `target_label`", c.action)));
        }
        let needs_sources = matches!(
            action,
            Action::Keep
                | Action::Drop
                | Action::KeepEqual
                | Action::DropEqual
                | Action::Lowercase
                | Action::Uppercase
        );
        if needs_sources && c.source_labels.is_empty() {
            return Err(at(format!("action `{}` needs `source_labels`", c.action)));
        }
        Ok(Rule {
            source_labels: c.source_labels,
            separator: c.separator,
            regex,
            target_label,
            replacement: c.replacement,
            action,
        })
    }

    fn source_value(&self, set: &[Label]) -> String {
        let mut out = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            out.push_str(label(set, name).unwrap_or(""));
        }
        out
    }

    fn apply(&self, set: &mut Vec<Label>) -> Outcome {
        match self.action {
            Action::Keep | Action::Drop => {
                let matched = self.regex.is_match(&self.source_value(set));
                if matched == (self.action == Action::Keep) {
                    Outcome::Keep
                } else {
                    Outcome::Drop
                }
            }
            Action::KeepEqual | Action::DropEqual => {
                let equal = self.source_value(set) == label(set, &self.target_label).unwrap_or("");
                if equal == (self.action == Action::KeepEqual) {
                    Outcome::Keep
                } else {
                    Outcome::Drop
                }
            }
            Action::Replace => {
                let value = self.source_value(set);
                if let Some(caps) = self.regex.captures(&value) {
                    let mut target = String::new();
                    caps.expand(&self.target_label, &mut target);
                    let mut replaced = String::new();
                    caps.expand(&self.replacement, &mut replaced);
                    if is_label_name(&target) {
                        if replaced.is_empty() {
                            set.retain(|(k, _)| *k != target);
                        } else {
                            set_label(set, &target, replaced);
                        }
                    }
                }
                Outcome::Keep
            }
            Action::Lowercase | Action::Uppercase => {
                let value = self.source_value(set);
                let changed = if self.action == Action::Lowercase {
                    value.to_lowercase()
                } else {
                    value.to_uppercase()
                };
                set_label(set, &self.target_label, changed);
                Outcome::Keep
            }
            Action::LabelMap => {
                let mut added = Vec::new();
                for (k, v) in set.iter() {
                    if let Some(caps) = self.regex.captures(k) {
                        let mut name = String::new();
                        caps.expand(&self.replacement, &mut name);
                        if is_label_name(&name) {
                            added.push((name, v.clone()));
                        }
                    }
                }
                for (k, v) in added {
                    set_label(set, &k, v);
                }
                Outcome::Keep
            }
            Action::LabelDrop => {
                set.retain(|(k, _)| !self.regex.is_match(k));
                Outcome::Keep
            }
            Action::LabelKeep => {
                set.retain(|(k, _)| self.regex.is_match(k));
                Outcome::Keep
            }
        }
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The plugin: its rules, in order.
pub struct Relabel {
    rules: Vec<Rule>,
}

impl Relabel {
    /// The rules of a config (for native tests and benchmarks).
    pub fn from_config(config: Config) -> Result<Relabel, String> {
        let s: Settings = config.parse()?;
        let rules = s
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| Rule::check(i, r))
            .collect::<Result<_, _>>()?;
        Ok(Relabel { rules })
    }
}

impl MetricPlugin for Relabel {
    fn init(config: Config) -> Result<Self, String> {
        Relabel::from_config(config)
    }
}

impl ProcessMetrics for Relabel {
    fn process_metrics(&mut self, batch: &mut Metrics) -> Result<(), String> {
        let mut dropped = Vec::new();
        for (i, set) in batch.series_mut().iter_mut().enumerate() {
            for rule in &self.rules {
                if let Outcome::Drop = rule.apply(set) {
                    dropped.push(i);
                    break;
                }
            }
        }
        for i in dropped {
            batch.drop_series(i);
        }
        Ok(())
    }
}

sluice_plugin::export_metric_plugin!(Relabel);

#[cfg(test)]
mod tests;
