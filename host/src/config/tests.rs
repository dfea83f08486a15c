//! Unit tests of config loading: defaults, path resolution, located errors.

use std::path::Path;

use super::*;
use serde::Deserialize;

/// A schema standing in for the component registries (which live above this layer): one
/// kind per section, reading a few keys with their types.
struct TestSchema;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only to check the keys' types
struct TestKind {
    include: Option<Vec<String>>,
    plugin: Option<String>,
    config: Option<toml::Table>,
    path: Option<String>,
}

impl Schema for TestSchema {
    fn kinds(&self, section: NodeKind) -> Vec<&'static str> {
        match section {
            NodeKind::Source => vec!["file"],
            NodeKind::Transform => vec!["wasm"],
            NodeKind::Sink => vec!["file", "stdout"],
        }
    }

    fn parse(&self, _: NodeKind, _: &str, options: toml::Value) -> Result<(), String> {
        TestKind::deserialize(options)
            .map(drop)
            .map_err(|e| e.message().to_string())
    }
}

fn load_str(text: &str, path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    super::load_str(text, path, &TestSchema)
}

const GOOD: &str = r#"
data_dir = "state"

[sources.app]
type = "file"
include = ["logs/*.log"]

[transforms.redact]
type = "wasm"
inputs = ["app"]
plugin = "plugins/redact.wasm"
config = { rules = ["email"], nested = { deep = [1, 2] } }

[sinks.out]
type = "file"
inputs = ["redact"]
path = "out/x.log"
"#;

#[test]
fn good_config_loads_with_defaults_and_resolved_paths() {
    let loaded = load_str(GOOD, Path::new("/etc/sluice/p.toml")).unwrap();
    let c = &loaded.config;
    assert_eq!(c.data_dir, Path::new("/etc/sluice/state"));
    assert_eq!(c.api.address.to_string(), "127.0.0.1:9598");
    assert_eq!(c.sources["app"].kind, "file");
    assert_eq!(
        c.sources["app"].options["include"].as_array().unwrap()[0].as_str(),
        Some("logs/*.log"),
        "components resolve their own paths when checked"
    );
    assert_eq!(loaded.base_dir(), Path::new("/etc/sluice"));
    assert_eq!(c.transforms["redact"].inputs, ["app"]);
    assert!(c.transforms["redact"].options.get("inputs").is_none());
    assert!(c.transforms["redact"].options.get("type").is_none());
    assert_eq!(c.sinks["out"].kind, "file");
    let g = Graph::of(c);
    assert_eq!(g.consumers("app"), ["redact"]);
    assert_eq!(g.transforms_in_order(), ["redact"]);
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = GOOD.replace("path = \"out/x.log\"", "path = 5");
    let errors = load_str(&text, Path::new("p.toml")).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "sinks.out.path");
    assert_eq!(errors[0].line, Some(17));
    assert!(errors[0].message.contains("invalid type"), "{}", errors[0]);
}

#[test]
fn unknown_kind_lists_the_known_ones() {
    let text = GOOD.replace("type = \"wasm\"", "type = \"lua\"");
    let errors = load_str(&text, Path::new("p.toml")).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "transforms.redact.type");
    assert_eq!(errors[0].message, "unknown variant `lua`, expected `wasm`");
    let text = GOOD.replace("type = \"file\"\ninputs", "type = \"nope\"\ninputs");
    let errors = load_str(&text, Path::new("p.toml")).unwrap_err().0;
    assert_eq!(
        errors[0].message,
        "unknown variant `nope`, expected `file` or `stdout`"
    );
}

#[test]
fn a_name_in_two_sections_is_a_collision_not_a_sink_input() {
    let text = format!("{GOOD}\n[sinks.app]\ntype = \"stdout\"\ninputs = [\"redact\"]\n");
    let errors = load_str(&text, Path::new("p.toml")).unwrap_err().0;
    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`sinks.app`: the name is also used in `sources`")),
        "{messages:?}"
    );
    assert!(
        messages.iter().all(|m| !m.contains("is a sink")),
        "no follow-on error calls the source a sink: {messages:?}"
    );
}

#[test]
fn no_sources_or_sinks_is_an_error() {
    let errors = load_str("data_dir = \"/x\"\n", Path::new("p.toml"))
        .unwrap_err()
        .0;
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["sources", "sinks"]);
}
