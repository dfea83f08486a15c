//! Unit tests of config loading: defaults, path resolution, located errors.

use std::path::Path;

use super::*;

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
    let SourceConfig::File(f) = &c.sources["app"] else {
        panic!("file source")
    };
    assert_eq!(f.include, ["/etc/sluice/logs/*.log"]);
    assert_eq!(f.read_from, ReadFrom::Beginning);
    assert_eq!(f.batch.max_records, 1024);
    let TransformConfig::Wasm(w) = &c.transforms["redact"];
    assert_eq!(w.plugin, Path::new("/etc/sluice/plugins/redact.wasm"));
    assert_eq!(w.on_error, OnError::Pass);
    assert_eq!(
        serde_json::to_string(&w.config).unwrap(),
        r#"{"nested":{"deep":[1,2]},"rules":["email"]}"#
    );
    let SinkConfig::File(s) = &c.sinks["out"] else {
        panic!("file sink")
    };
    assert_eq!(s.encoding, Encoding::Raw);
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
fn no_sources_or_sinks_is_an_error() {
    let errors = load_str("data_dir = \"/x\"\n", Path::new("p.toml"))
        .unwrap_err()
        .0;
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["sources", "sinks"]);
}
