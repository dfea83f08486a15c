//! {{name}}: a sluice log-transform plugin.
//!
//! Build: `cargo build --release --target wasm32-wasip2` -> target/wasm32-wasip2/release/{{crate}}.wasm
//! Try it: `sluice plugin test target/wasm32-wasip2/release/{{crate}}.wasm --input sample.log`
//!
//! Config: `labels = { name = "value" }`, set on every record (an example to replace).

use sluice_plugin::{Batch, Config, Plugin};

/// The plugin: built once per instance from its config, then called per batch.
pub struct MyPlugin {
    labels: Vec<(String, String)>,
}

impl Plugin for MyPlugin {
    fn init(config: Config) -> Result<Self, String> {
        config.check_keys(&["labels"])?;
        let labels = config.get_str_map("labels")?.unwrap_or_default();
        Ok(MyPlugin { labels })
    }

    fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
        for i in 0..batch.len() {
            for (name, value) in &self.labels {
                batch.set_label(i, name, value);
            }
        }
        Ok(())
    }
}

sluice_plugin::export_plugin!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_labels() {
        let config = Config::from_json(r#"{"labels":{"env":"prod"}}"#).unwrap();
        let mut plugin = MyPlugin::init(config).unwrap();
        let mut batch = Batch::new();
        batch.push("hello", 0, &[("app", "web")], &[]);
        plugin.process(&mut batch).unwrap();
        assert_eq!(batch.record(0).label("env"), Some("prod"));
        assert_eq!(batch.record(0).label("app"), Some("web"));
    }
}
