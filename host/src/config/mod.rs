//! The pipeline configuration: TOML in, typed config out.
//!
//! [`load`] reads a file, substitutes `${ENV}` / `${file:PATH}` secrets in string values,
//! has every component's table deserialised by its kind (through a [`Schema`] that the layers
//! above provide, so this layer names no component) so that all problems are reported at
//! once, and checks the graph (unknown inputs, cycles, unused components). Every
//! [`ConfigError`] names the file, the TOML key and its line. `data_dir` is resolved against
//! the directory of the config file here; components resolve their own relative paths
//! against [`LoadedConfig::base_dir`] when they are checked.

mod dot;
mod graph;
mod locate;
mod secrets;
mod test_cases;
mod types;

pub use dot::to_dot;
pub use graph::{Graph, NodeKind};
pub use secrets::Secrets;
pub use test_cases::*;
pub use types::*;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use locate::Locator;

/// One problem in a config file, located by file, key and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// The dotted TOML key, e.g. `transforms.redact.inputs`.
    pub key: String,
    /// 1-based line of the key in the file, when it could be found.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: ", self.file.display(), line)?,
            None => write!(f, "{}: ", self.file.display())?,
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "`{}`: {}", self.key, self.message)
        }
    }
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A loaded, checked configuration and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub file: PathBuf,
    /// Secret values substituted into the config; scrubbed from anything printed.
    pub secrets: Secrets,
    /// The file's text, to locate errors found after loading (plugin failures).
    text: std::sync::Arc<str>,
}

impl LoadedConfig {
    /// The directory of the config file: relative paths in it are relative to this.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Replaces every substituted secret in `text` with `***`.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.scrub(text)
    }

    /// An error about the key `path` of this file (for problems found after loading, such as
    /// a plugin that does not load), located and scrubbed of secrets.
    pub fn error_at(&self, path: &[&str], message: &str) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            key: path.join("."),
            line: Locator::new(&self.text).and_then(|l| l.line_of(path)),
            message: self.secrets.scrub(message),
        }
    }
}

/// What loading needs from the layers above: which `type` names each section accepts and
/// whether a component's keys deserialise as its kind's config. Implemented by
/// `topology::SCHEMA` over the component registries.
pub trait Schema {
    /// The `type` names `section` accepts, in the order to list them.
    fn kinds(&self, section: NodeKind) -> Vec<&'static str>;
    /// Deserialises `options` as the config of `kind` (which `kinds` listed); the serde
    /// message when they do not fit.
    fn parse(&self, section: NodeKind, kind: &str, options: toml::Value) -> Result<(), String>;
}

/// Collects errors while loading, each located by key path.
struct Report<'a> {
    file: &'a Path,
    locator: Option<Locator>,
    secrets: &'a Secrets,
    errors: Vec<ConfigError>,
}

impl Report<'_> {
    fn error(&mut self, path: &[&str], message: impl Into<String>) {
        let line = self.locator.as_ref().and_then(|l| l.line_of(path));
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            key: path.join("."),
            line,
            message: self.secrets.scrub(&message.into()),
        });
    }

    /// Deserialises `value` (the table at `path`) as `T`, reporting a failure at the most
    /// precise key the error names.
    fn parse<T: DeserializeOwned>(&mut self, path: &[&str], value: toml::Value) -> Option<T> {
        let original = value.clone();
        match T::deserialize(value) {
            Ok(t) => Some(t),
            Err(e) => {
                self.serde_error(path, e.message(), &original);
                None
            }
        }
    }

    /// Reports the serde `message` about the table `value` at `path`, at the most precise
    /// key it names.
    fn serde_error(&mut self, path: &[&str], message: &str, value: &toml::Value) {
        let mut full: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        if let Some(key) = culprit_key(message, value) {
            full.extend(key);
        }
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        self.error(&full, message);
    }
}

/// The key inside `table` that a serde message is about: the field it names ("unknown
/// field `x`", "missing field `x`"), or else the key holding the value it quotes
/// ("invalid type: integer `5`", "unknown variant `middle`"), if exactly one does.
fn culprit_key(message: &str, table: &toml::Value) -> Option<Vec<String>> {
    let quoted = field_named_in(message).or_else(|| string_quoted_in(message))?;
    let toml::Value::Table(table) = table else {
        return None;
    };
    if message.starts_with("unknown field") || message.starts_with("duplicate field") {
        return Some(vec![quoted]);
    }
    if message.starts_with("missing field") {
        return None; // the table itself is where the field is missing
    }
    let mut found = Vec::new();
    for (key, value) in table {
        let matches = |v: &toml::Value| match v {
            toml::Value::String(s) => *s == quoted,
            other => other.to_string() == quoted,
        };
        match value {
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if matches(item) {
                        found.push(vec![key.clone(), i.to_string()]);
                    }
                }
            }
            v if matches(v) => found.push(vec![key.clone()]),
            _ => {}
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

/// The string value a serde message quotes: `invalid type: string "abc", expected u64`.
fn string_quoted_in(message: &str) -> Option<String> {
    let start = message.find("string \"")? + "string \"".len();
    let len = message[start..].find('"')?;
    Some(message[start..start + len].to_string())
}

/// The field a serde message names in backticks, e.g. "unknown field `inclde`, expected ...".
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// Reads and checks the config file at `path`, components by `schema`.
pub fn load(path: &Path, schema: &dyn Schema) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    load_str(&text, path, schema)
}

/// Parses and checks config `text` that was read from `path` (used for locations and for
/// resolving relative paths).
pub fn load_str(
    text: &str,
    path: &Path,
    schema: &dyn Schema,
) -> Result<LoadedConfig, ConfigErrors> {
    let mut secrets = Secrets::default();
    let no_secrets = Secrets::default();
    let mut report = Report {
        file: path,
        locator: None,
        secrets: &no_secrets,
        errors: Vec::new(),
    };
    let mut root: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let e: toml::de::Error = e;
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                key: String::new(),
                line,
                message: format!("invalid TOML: {}", e.message()),
            }]));
        }
    };
    report.locator = Locator::new(text);

    // Secrets first, so that every later message can be scrubbed of them.
    let mut secret_errors = Vec::new();
    secrets::interpolate_table(&mut root, &mut Vec::new(), &mut secrets, &mut secret_errors);
    for (key, message) in secret_errors {
        let key_parts: Vec<&str> = key.split('.').collect();
        report.error(&key_parts, message);
    }
    let secrets_for_report = secrets.clone();
    report.secrets = &secrets_for_report;

    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let config = parse_root(&mut report, root, &base_dir, schema);
    if let Some(config) = &config {
        graph::check(config, &mut report);
    }
    if !report.errors.is_empty() {
        return Err(ConfigErrors(report.errors));
    }
    let config = config.expect("no errors means the config parsed");
    Ok(LoadedConfig {
        config,
        file: path.to_path_buf(),
        secrets,
        text: text.into(),
    })
}

fn parse_root(
    report: &mut Report,
    mut root: toml::Table,
    base_dir: &Path,
    schema: &dyn Schema,
) -> Option<Config> {
    let sections = [NodeKind::Source, NodeKind::Transform, NodeKind::Sink];
    let mut components: [BTreeMap<String, toml::Value>; 3] = Default::default();
    for (i, section) in sections.iter().enumerate() {
        let key = section.section();
        match root.remove(key) {
            None => {}
            Some(toml::Value::Table(t)) => components[i] = t.into_iter().collect(),
            Some(_) => report.error(&[key], "must be a table of named components"),
        }
    }
    let tests = root.remove("tests");
    let top: Option<TopLevel> = report.parse(&[], toml::Value::Table(root));

    let mut ok = top.is_some();
    let mut tables: [BTreeMap<String, ComponentTable>; 3] = Default::default();
    for (i, section) in sections.iter().enumerate() {
        for (name, value) in std::mem::take(&mut components[i]) {
            match component_table(report, schema, *section, &name, value) {
                Some(table) => {
                    tables[i].insert(name, table);
                }
                None => ok = false,
            }
        }
    }
    let tests = match tests {
        None => Vec::new(),
        Some(value) => match report.parse::<Vec<TestCase>>(&["tests"], value) {
            Some(t) => t,
            None => {
                ok = false;
                Vec::new()
            }
        },
    };
    if !ok {
        return None;
    }
    let top = top?;
    let data_dir = if top.data_dir.is_absolute() {
        top.data_dir
    } else {
        base_dir.join(top.data_dir)
    };
    let [sources, transforms, sinks] = tables;
    Some(Config {
        data_dir,
        api: top.api,
        shutdown_timeout_secs: top.shutdown_timeout_secs,
        sources,
        transforms,
        sinks,
        tests,
    })
}

/// Splits one component's table into its `type`, its `inputs` and the rest, and has the
/// schema deserialise the rest as that kind's config; reports what is wrong.
fn component_table(
    report: &mut Report,
    schema: &dyn Schema,
    section: NodeKind,
    name: &str,
    value: toml::Value,
) -> Option<ComponentTable> {
    let path = [section.section(), name];
    let toml::Value::Table(mut table) = value else {
        report.error(&path, "must be a table with a `type`");
        return None;
    };
    let kinds = schema.kinds(section);
    let kind = match table.remove("type") {
        None => {
            report.error(&path, "missing field `type`");
            return None;
        }
        Some(toml::Value::String(kind)) if kinds.contains(&kind.as_str()) => kind,
        Some(other) => {
            let shown = match &other {
                toml::Value::String(s) => format!("unknown variant `{s}`"),
                v => format!("invalid type: {}", v.type_str()),
            };
            let expected = match kinds.as_slice() {
                [one] => format!("`{one}`"),
                [a, b] => format!("`{a}` or `{b}`"),
                many => format!(
                    "one of {}",
                    many.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            report.error(
                &[section.section(), name, "type"],
                format!("{shown}, expected {expected}"),
            );
            return None;
        }
    };
    let mut inputs = Vec::new();
    if section != NodeKind::Source {
        match table.remove("inputs") {
            None => {
                report.error(&path, "missing field `inputs`");
                return None;
            }
            Some(value) => {
                match report.parse::<Vec<String>>(&[section.section(), name, "inputs"], value) {
                    Some(list) => inputs = list,
                    None => return None,
                }
            }
        }
    }
    let mut buffer = None;
    if section == NodeKind::Sink {
        if let Some(value) = table.remove("buffer") {
            buffer =
                Some(report.parse::<BufferConfig>(&[section.section(), name, "buffer"], value)?);
        }
    }
    let options = toml::Value::Table(table);
    if let Err(message) = schema.parse(section, &kind, options.clone()) {
        report.serde_error(&path, &message, &options);
        return None;
    }
    Some(ComponentTable {
        kind,
        inputs,
        buffer,
        options,
    })
}

#[cfg(test)]
mod tests;
