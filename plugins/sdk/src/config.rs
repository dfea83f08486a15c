//! [`Config`]: the transform's `config` table, as the host passes it to `init` (JSON).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A plugin's configuration: the pipeline's `[transforms.NAME.config]` table, always a JSON
/// object (`{}` when the pipeline gives none). Read it with the typed getters, which return
/// `Ok(None)` for a missing key and an error naming the key for a value of the wrong type,
/// or deserialize it whole with [`Config::parse`].
#[derive(Debug, Clone, Default)]
pub struct Config {
    map: Map<String, Value>,
}

impl Config {
    /// Parses the JSON the host passes to `init`; empty input reads as `{}`.
    pub fn from_json(json: &str) -> Result<Config, String> {
        if json.trim().is_empty() {
            return Ok(Config::default());
        }
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(Config { map }),
            Ok(_) => Err("config must be a table (JSON object)".into()),
            Err(e) => Err(format!("config is not valid JSON: {e}")),
        }
    }

    /// The whole table.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// Deserializes the whole table into `T` (use `#[serde(deny_unknown_fields)]` to reject
    /// unknown keys).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_path_to_error::deserialize(Value::Object(self.map.clone())).map_err(|e| {
            match e.path().to_string().as_str() {
                "." => format!("invalid config: {}", e.inner()),
                path => format!("invalid config key `{path}`: {}", e.inner()),
            }
        })
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Fails naming the first key not in `allowed` (catches typos in the pipeline TOML).
    pub fn check_keys(&self, allowed: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "unknown config key `{k}` (known: {})",
                allowed.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, String> {
        self.typed(key, "a string", Value::as_str)
    }

    /// `key` as a boolean.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, String> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    /// `key` as a non-negative integer.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, String> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// `key` as a list of strings.
    pub fn get_str_list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        self.typed(key, "a list of strings", |v| {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
    }

    /// `key` as a table of strings, as (name, value) pairs in the table's order.
    pub fn get_str_map(&self, key: &str) -> Result<Option<Vec<(String, String)>>, String> {
        self.typed(key, "a table of strings", |v| {
            v.as_object()?
                .iter()
                .map(|(k, s)| Some((k.clone(), s.as_str()?.to_owned())))
                .collect()
        })
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        what: &str,
        get: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => get(v)
                .map(Some)
                .ok_or_else(|| format!("config key `{key}` must be {what}, got {v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters() {
        let c =
            Config::from_json(r#"{"a":"x","b":true,"n":3,"l":["p","q"],"m":{"k":"v"}}"#).unwrap();
        assert_eq!(c.get_str("a").unwrap(), Some("x"));
        assert_eq!(c.get_bool("b").unwrap(), Some(true));
        assert_eq!(c.get_u64("n").unwrap(), Some(3));
        assert_eq!(c.get_str_list("l").unwrap().unwrap(), ["p", "q"]);
        assert_eq!(
            c.get_str_map("m").unwrap().unwrap(),
            [("k".to_string(), "v".to_string())]
        );
        assert_eq!(c.get_str("missing").unwrap(), None);
        assert!(c.get_str("b").unwrap_err().contains("`b`"));
        assert!(c
            .check_keys(&["a", "b", "l", "m"])
            .unwrap_err()
            .contains("`n`"));
        assert!(Config::from_json("").unwrap().as_map().is_empty());
        assert!(Config::from_json("[1]").is_err());
    }

    #[test]
    fn parse_typed() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct C {
            mode: String,
        }
        let c = Config::from_json(r#"{"mode":"mask"}"#).unwrap();
        assert_eq!(c.parse::<C>().unwrap().mode, "mask");
        let c = Config::from_json(r#"{"mode":"mask","x":1}"#).unwrap();
        assert!(c.parse::<C>().unwrap_err().contains("x"));
    }
}
