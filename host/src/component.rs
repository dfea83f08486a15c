//! The contract every component kind shares: a config struct that deserialises from its
//! `[sources|transforms|sinks.NAME]` table (without `type` and `inputs`), and a `check` that
//! turns it into something ready to run. Everything that can fail on a config fails in
//! `check` (endpoints, credentials, TLS files, globs, routes, plugin load and init), so
//! `sluice validate`, the reload check and `sluice run` all refuse the same configs, through
//! the same `topology::prepare`.
//!
//! Each layer above defines what a built component of its kind is (`sources::Source`,
//! `transforms::Transform`, `sinks::Sink`) and lists its kinds with [`registry!`]: adding a
//! component is one file (or folder) plus one line in that list.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::config::Secrets;
use crate::runtime::PluginRuntime;
use crate::telemetry::Telemetry;

/// What a component's `check` may use.
pub struct CheckContext<'a> {
    /// The component's name in the pipeline.
    pub name: &'a str,
    /// The directory of the config file: relative paths in it are relative to this.
    pub base_dir: &'a Path,
    /// The pipeline's `data_dir` (created before any check runs).
    pub data_dir: &'a Path,
    /// The collector's metrics (kept across reloads).
    pub telemetry: &'a Telemetry,
    /// The plugin runtime (engine, linker, compiled-component cache).
    pub runtime: &'a PluginRuntime,
    /// Secrets substituted into the file: whatever a component prints that could hold one
    /// (a plugin's log messages) is scrubbed of them.
    pub secrets: &'a Secrets,
}

impl CheckContext<'_> {
    /// `path` resolved against the config file's directory when it is relative.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_relative() {
            self.base_dir.join(path)
        } else {
            path.to_path_buf()
        }
    }
}

/// One problem a check found, at a key of the component's table (dotted, relative to it:
/// `tls.ca_file`; empty for the component itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub key: String,
    pub message: String,
}

impl CheckError {
    /// A problem with the key `key` of the component's table.
    pub fn at(key: &str, message: impl Into<String>) -> CheckError {
        CheckError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Every problem a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckErrors(pub Vec<CheckError>);

impl From<CheckError> for CheckErrors {
    fn from(e: CheckError) -> Self {
        CheckErrors(vec![e])
    }
}

/// A component kind's config (one per `type`): deserialised from the component's table
/// with `deny_unknown_fields`, then checked into `Built` (a `Box<dyn Source>`, etc.).
pub trait ComponentConfig<Built: ?Sized>: DeserializeOwned {
    /// Checks everything about this config that can fail before it runs, and returns the
    /// component ready to run.
    fn check(self, ctx: &CheckContext<'_>) -> Result<Box<Built>, CheckErrors>;
}

/// One entry of a registry: a `type` name and how to parse and check its config.
pub struct Kind<Built: ?Sized> {
    pub name: &'static str,
    parse: fn(toml::Value) -> Result<(), String>,
    check: fn(toml::Value, &CheckContext<'_>) -> Result<Box<Built>, CheckErrors>,
}

impl<Built: ?Sized> Kind<Built> {
    /// The kind `name` with the config type `C`.
    pub const fn new<C: ComponentConfig<Built>>(name: &'static str) -> Kind<Built> {
        Kind {
            name,
            parse: parse_only::<C, Built>,
            check: parse_and_check::<C, Built>,
        }
    }

    /// Deserialises `options` only (the serde message when they do not fit).
    pub fn parse(&self, options: toml::Value) -> Result<(), String> {
        (self.parse)(options)
    }

    /// Deserialises and checks `options`.
    pub fn check(
        &self,
        options: toml::Value,
        ctx: &CheckContext<'_>,
    ) -> Result<Box<Built>, CheckErrors> {
        (self.check)(options, ctx)
    }
}

fn parse_only<C: ComponentConfig<B>, B: ?Sized>(options: toml::Value) -> Result<(), String> {
    C::deserialize(options)
        .map(drop)
        .map_err(|e| e.message().to_string())
}

fn parse_and_check<C: ComponentConfig<B>, B: ?Sized>(
    options: toml::Value,
    ctx: &CheckContext<'_>,
) -> Result<Box<B>, CheckErrors> {
    // Config loading already deserialised these options once (`config::Schema`), so this
    // only fails if that step was skipped.
    let config = C::deserialize(options).map_err(|e| CheckError::at("", e.message()))?;
    config.check(ctx)
}

/// Checks a component config parsed from `toml_text` as `topology::prepare` would, with
/// the config file in `dir` (unit tests of a kind's `check`).
#[cfg(test)]
pub fn check_toml<B: ?Sized, C: ComponentConfig<B>>(
    name: &str,
    dir: &Path,
    toml_text: &str,
) -> Result<Box<B>, CheckErrors> {
    let telemetry = Telemetry::new();
    let runtime = PluginRuntime::new(None).expect("a plugin runtime");
    let secrets = Secrets::default();
    let ctx = CheckContext {
        name,
        base_dir: dir,
        data_dir: dir,
        telemetry: &telemetry,
        runtime: &runtime,
        secrets: &secrets,
    };
    let config: C = toml::from_str(toml_text).expect("the config parses");
    config.check(&ctx)
}

/// Finds the kind called `name` in `kinds`.
pub fn find<'k, B: ?Sized>(kinds: &'k [Kind<B>], name: &str) -> Option<&'k Kind<B>> {
    kinds.iter().find(|k| k.name == name)
}

/// Declares the component modules of a layer and its registry in one list, one line per
/// kind: `module::ConfigType`. The module's name is the kind's `type` name.
///
/// ```ignore
/// crate::component::registry! {
///     /// Every sink kind.
///     pub static KINDS: [dyn Sink] = {
///         stdout::StdoutSinkConfig,
///         file::FileSinkConfig,
///     }
/// }
/// ```
macro_rules! registry {
    ($(#[$doc:meta])* pub static $kinds:ident: [$built:ty] = { $($module:ident :: $config:ident),+ $(,)? }) => {
        $(pub mod $module;)+
        $(#[$doc])*
        pub static $kinds: &[$crate::component::Kind<$built>] = &[
            $($crate::component::Kind::new::<$module::$config>(stringify!($module)),)+
        ];
    };
}
pub(crate) use registry;
