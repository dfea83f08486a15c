//! The plugin's config table -> [`Redactor`].
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `rules` | list of rule names | all built-in rules | the rules to apply |
//! | `disable` | list of rule names | `[]` | rules not to apply (after `rules`) |
//! | `mode` | `mask`, `pseudonym` (`hash`, `hmac`), `partial`, `drop` | `mask` | every rule's mode |
//! | `modes` | table rule name -> mode | `{}` | per-rule modes (custom rules too) |
//! | `pseudonym_key` | string | none | the HMAC key; required when any rule is `pseudonym` (use `${ENV}` or `${file:PATH}`) |
//! | `secret_keys` | list of key names | see [`DEFAULT_SECRET_KEYS`] | secret key names (replaces the default) |
//! | `extra_secret_keys` | list of key names | `[]` | more secret key names |
//! | `json_keys` | list of key names | `[]` | JSON keys, label names and metadata keys whose values are redacted whatever they are (rule `json_key`) |
//! | `custom` | list of `{ name, pattern, mode? }` | `[]` | custom regex rules |
//! | `json` | bool | `true` | JSON-aware redaction of JSON lines |
//! | `labels` | bool | `true` | redact label values |
//! | `metadata` | bool | `true` | redact structured metadata values |
//! | `audit` | bool | `false` | add structured metadata `redactions` = `rule@start-end,...` (byte spans of the input line that were replaced; never the values) |
//! | `metric_labels` | list of strings | `[]` | extra label values appended after the rule to `redactions_total` samples (e.g. the transform name) |
//! | `series_labels_kept` | list of label names | `["__name__", "le", "quantile", "job", "instance"]` | on metric batches: labels whose values are never redacted (series identity: a scrape target's `instance` is usually an address) |
//!
//! Unknown keys, rule names or modes are init errors naming them.

use serde_json::{Map, Value};

use crate::modes::{Hmac, Mode};
use crate::rules::custom::Custom;
use crate::rules::secrets::{SecretKeys, DEFAULT_SECRET_KEYS};
use crate::rules::{Rule, BUILTIN};
use crate::Redactor;

const KEYS: &[&str] = &[
    "rules",
    "disable",
    "mode",
    "modes",
    "pseudonym_key",
    "secret_keys",
    "extra_secret_keys",
    "json_keys",
    "custom",
    "json",
    "labels",
    "metadata",
    "metric_labels",
    "series_labels_kept",
    "audit",
];

/// Metric labels whose values are series identity, not data: left as they are.
pub const DEFAULT_SERIES_LABELS_KEPT: &[&str] = &["__name__", "le", "quantile", "job", "instance"];

fn str_list(config: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    let Some(v) = config.get(key) else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| format!("config key `{key}` must be a list of strings, got {v}"))?;
    list.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("config key `{key}` must be a list of strings, got {x}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn bool_key(config: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match config.get(key) {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("config key `{key}` must be a boolean, got {v}")),
    }
}

fn mode(key: &str, v: &Value) -> Result<Mode, String> {
    let name = v
        .as_str()
        .ok_or_else(|| format!("config key `{key}` must be a string, got {v}"))?;
    Mode::from_name(name).ok_or_else(|| {
        format!("unknown mode `{name}` in `{key}` (known: mask, pseudonym, partial, drop)")
    })
}

fn known_rules() -> String {
    Rule::ALL.map(Rule::name).join(", ")
}

/// Builds a redactor from the config table (see the module docs).
pub fn from_config(config: &Map<String, Value>) -> Result<Redactor, String> {
    if let Some(k) = config.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown config key `{k}` (known: {})",
            KEYS.join(", ")
        ));
    }
    let mut r = Redactor::new(&Rule::ALL);
    // Custom rules first: their names are valid in `rules`, `disable` and `modes`.
    let mut patterns = Vec::new();
    let mut custom_modes = Vec::new();
    if let Some(v) = config.get("custom") {
        let list = v
            .as_array()
            .ok_or_else(|| format!("config key `custom` must be a list of tables, got {v}"))?;
        for (i, item) in list.iter().enumerate() {
            let t = item.as_object().ok_or_else(|| {
                format!(
                    "config key `custom` item {} must be a table, got {item}",
                    i + 1
                )
            })?;
            if let Some(k) = t
                .keys()
                .find(|k| !["name", "pattern", "mode"].contains(&k.as_str()))
            {
                return Err(format!(
                    "unknown key `{k}` in `custom` item {} (known: name, pattern, mode)",
                    i + 1
                ));
            }
            let field = |f: &str| {
                t.get(f)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("`custom` item {} needs `{f}` (a string)", i + 1))
            };
            let name = field("name")?;
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
            if !valid {
                return Err(format!(
                    "custom rule name `{name}` must be lower-case letters, digits and `_`"
                ));
            }
            if r.names.iter().any(|n| n == name) {
                return Err(format!("custom rule name `{name}` is already a rule"));
            }
            patterns.push(field("pattern")?.to_owned());
            r.names.push(name.to_owned());
            r.masks.push(format!("<{name}>"));
            custom_modes.push(match t.get("mode") {
                Some(m) => Some(mode(&format!("custom.{name}.mode"), m)?),
                None => None,
            });
        }
    }
    let index = |r: &Redactor, name: &str, key: &str| {
        r.names.iter().position(|n| n == name).ok_or_else(|| {
            format!(
                "unknown rule `{name}` in `{key}` (known: {}{})",
                known_rules(),
                if r.names.len() > BUILTIN {
                    format!(", {}", r.names[BUILTIN..].join(", "))
                } else {
                    String::new()
                }
            )
        })
    };
    let total = r.names.len();
    let mut enabled = vec![true; total];
    if let Some(list) = str_list(config, "rules")? {
        enabled = vec![false; total];
        // Custom rules are enabled unless disabled: `rules` selects among built-ins.
        for e in enabled.iter_mut().skip(BUILTIN) {
            *e = true;
        }
        for name in &list {
            enabled[index(&r, name, "rules")?] = true;
        }
    }
    let disable = str_list(config, "disable")?.unwrap_or_default();
    for name in &disable {
        enabled[index(&r, name, "disable")?] = false;
    }
    let default_mode = match config.get("mode") {
        Some(v) => mode("mode", v)?,
        None => Mode::Mask,
    };
    r.modes = vec![default_mode; total];
    for (i, m) in custom_modes.iter().enumerate() {
        if let Some(m) = m {
            r.modes[BUILTIN + i] = *m;
        }
    }
    if let Some(v) = config.get("modes") {
        let t = v
            .as_object()
            .ok_or_else(|| format!("config key `modes` must be a table of rule = mode, got {v}"))?;
        for (name, m) in t {
            let i = index(&r, name, "modes")?;
            r.modes[i] = mode(&format!("modes.{name}"), m)?;
        }
    }
    match config.get("pseudonym_key") {
        None => {}
        Some(Value::String(k)) if !k.is_empty() => r.hmac = Some(Hmac::new(k.as_bytes())),
        Some(_) => return Err("config key `pseudonym_key` must be a non-empty string".into()),
    }
    let mut secret: Vec<String> = match str_list(config, "secret_keys")? {
        Some(list) => list,
        None => DEFAULT_SECRET_KEYS.iter().map(|s| s.to_string()).collect(),
    };
    secret.extend(str_list(config, "extra_secret_keys")?.unwrap_or_default());
    r.secret_keys = SecretKeys::new(&secret);
    r.json_keys = str_list(config, "json_keys")?.unwrap_or_default();
    // `json_key` applies whenever keys are listed (whatever `rules` says), unless disabled.
    enabled[Rule::JsonKey as usize] =
        !r.json_keys.is_empty() && !disable.iter().any(|d| d == Rule::JsonKey.name());
    if r.hmac.is_none() {
        if let Some(i) = (0..total).find(|&i| enabled[i] && r.modes[i] == Mode::Pseudonym) {
            return Err(format!(
                "rule `{}` uses mode `pseudonym`, which needs `pseudonym_key` (e.g. \"${{REDACT_KEY}}\")",
                r.names[i]
            ));
        }
    }
    r.json = bool_key(config, "json")?;
    r.labels = bool_key(config, "labels")?;
    r.metadata = bool_key(config, "metadata")?;
    r.audit = matches!(config.get("audit"), Some(Value::Bool(true)));
    if let Some(v) = config.get("audit").filter(|v| !v.is_boolean()) {
        return Err(format!("config key `audit` must be a boolean, got {v}"));
    }
    r.metric_labels = str_list(config, "metric_labels")?.unwrap_or_default();
    r.series_labels_kept = str_list(config, "series_labels_kept")?.unwrap_or_else(|| {
        DEFAULT_SERIES_LABELS_KEPT
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    r.on.copy_from_slice(&enabled[..BUILTIN]);
    r.update_triggers();
    if !patterns.is_empty() {
        // Disabled custom rules are left out of the regex.
        let on: Vec<usize> = (0..patterns.len())
            .filter(|&i| enabled[BUILTIN + i])
            .collect();
        if on.len() == patterns.len() {
            r.custom = Some(Custom::new(&patterns, BUILTIN)?);
        } else {
            // Keep indices stable: disabled patterns are replaced by one that never matches.
            let p: Vec<String> = patterns
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if on.contains(&i) {
                        p.clone()
                    } else {
                        "[^\\s\\S]".into()
                    }
                })
                .collect();
            r.custom = Some(Custom::new(&p, BUILTIN)?);
        }
    }
    Ok(r)
}
