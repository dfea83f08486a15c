//! `sluice plugin ...`: tools for plugin authors, outside any pipeline.
//!
//! - [`inspect`]: what a component is (contract version, world, imports, size) and what it
//!   costs (compile or cache-load time, instantiate + init time, memory per instance).
//! - [`test`]: runs one plugin on sample lines and writes the output records (as the file
//!   sink's JSON encoding) and every metric sample it emitted. Metrics need no declaration
//!   here: each name the plugin asks for through `metric-id` is recorded.
//! - [`new`]: copies the template of a language (`templates/{rust,python,js,c}`, compiled
//!   into the binary) into a new plugin directory.
//!
//! Each returns an error with context for the `sluice` binary to print.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::event::LogBatch;
use crate::event::Signal;
use crate::runtime::cache::CacheOutcome;
use crate::runtime::contract;
use crate::runtime::{LoadedPlugin, MetricRecorder, PluginInstance, PluginRuntime};

/// Memory cap of the instances these tools start, in MiB (generous: they measure).
const MEMORY_LIMIT_MB: usize = 4096;

/// Turns `--config` text into the JSON `init` receives: JSON as is, else TOML, either a
/// document (`labels = { env = "x" }`) or an inline table (`{ labels = { env = "x" } }`).
pub fn config_json(text: Option<&str>) -> anyhow::Result<String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok("{}".into());
    };
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        if !value.is_object() {
            bail!("--config must be a JSON object or a TOML table, not `{text}`");
        }
        return Ok(value.to_string());
    }
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(first) => {
            let wrapped: toml::Table = toml::from_str(&format!("config = {text}"))
                .map_err(|_| anyhow::anyhow!("--config is neither JSON nor TOML: {first}"))?;
            match wrapped.get("config") {
                Some(toml::Value::Table(t)) => t.clone(),
                _ => bail!("--config must be a JSON object or a TOML table, not `{text}`"),
            }
        }
    };
    Ok(serde_json::to_string(&table)?)
}

fn runtime(data_dir: Option<&Path>) -> anyhow::Result<PluginRuntime> {
    match data_dir {
        Some(dir) => PluginRuntime::for_data_dir(dir),
        None => PluginRuntime::new(None),
    }
}

fn load(runtime: &PluginRuntime, path: &Path) -> anyhow::Result<LoadedPlugin> {
    runtime.load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn start(
    plugin: &LoadedPlugin,
    config_json: &str,
    recorder: Option<Arc<MetricRecorder>>,
) -> Result<PluginInstance, crate::runtime::PluginError> {
    PluginInstance::standalone(plugin, config_json, MEMORY_LIMIT_MB, recorder)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `sluice plugin inspect`: a report on the component at `path`. With `data_dir`, the
/// component goes through that data dir's plugin cache (as `sluice run` would); without,
/// it is compiled afresh. `config` (as for [`config_json`]) is what `init` gets when the
/// report measures an instance.
pub fn inspect(
    path: &Path,
    data_dir: Option<&Path>,
    config: Option<&str>,
) -> anyhow::Result<String> {
    let config = config_json(config)?;
    let runtime = runtime(data_dir)?;
    let plugin = load(&runtime, path)?;
    let host = contract::host_version();
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12} {v}\n"));
    line("plugin:", path.display().to_string());
    line(
        "size:",
        format!("{} bytes ({})", plugin.size, mib(plugin.size)),
    );
    line(
        "contract:",
        match plugin.contract.version {
            Some(v) => format!(
                "{}@{v} (this collector: {}@{host}; compatible)",
                contract::PACKAGE,
                contract::PACKAGE
            ),
            None => "names no sluice:plugin interface".into(),
        },
    );
    line(
        "world:",
        format!(
            "{}/{} (exports: {})",
            contract::PACKAGE,
            match plugin.signals().as_slice() {
                [Signal::Logs] => "log-transform",
                [Signal::Metrics] => "metric-transform",
                _ => "transform (logs and metrics)",
            },
            plugin.contract.exports.join(", ")
        ),
    );
    line("imports:", plugin.contract.imports.join(", "));
    let cache = match (data_dir, plugin.cache) {
        (None, _) => "none (compiled afresh; --data-dir DIR uses DIR/plugin-cache)".to_string(),
        (Some(d), CacheOutcome::Hit) => {
            format!("hit (loaded from {})", d.join("plugin-cache").display())
        }
        (Some(d), CacheOutcome::Compiled) => {
            format!(
                "miss (compiled, now stored in {})",
                d.join("plugin-cache").display()
            )
        }
    };
    line(
        "compile:",
        match plugin.cache {
            CacheOutcome::Hit => format!("{} (from the cache)", ms(plugin.load_time)),
            CacheOutcome::Compiled => ms(plugin.load_time),
        },
    );
    line("cache:", cache);
    let started = Instant::now();
    match start(&plugin, &config, None) {
        Ok(instance) => {
            line(
                "instance:",
                format!(
                    "{} to instantiate and init with {config}; {} of linear memory",
                    ms(started.elapsed()),
                    mib(instance.peak_memory_bytes())
                ),
            );
        }
        Err(e) => line("instance:", format!("init with {config} failed: {e}")),
    }
    Ok(out)
}

/// Options of [`test`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// `--config` text (see [`config_json`]).
    pub config: Option<String>,
    /// Lines to feed, one record each; `-` is stdin.
    pub input: PathBuf,
    /// Input lines are records as this command prints them (`{"line":..,"labels":{..},
    /// "metadata":{..},"timestamp":..}`), not raw lines.
    pub records: bool,
    /// Labels of every raw input line.
    pub labels: Vec<(String, String)>,
    /// Records per `process` call.
    pub batch: usize,
    /// Use this data dir's plugin cache.
    pub data_dir: Option<PathBuf>,
}

/// What [`test`] saw, for the caller's summary.
#[derive(Debug, Default)]
pub struct TestSummary {
    pub records_in: usize,
    pub records_out: usize,
    pub batches: usize,
    pub metric_samples: usize,
}

fn read_input(options: &TestOptions) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if options.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&options.input)
            .with_context(|| format!("cannot open --input `{}`", options.input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut lines = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| {
            format!(
                "cannot read line {} of `{}`",
                i + 1,
                options.input.display()
            )
        })?;
        lines.push(line);
    }
    Ok(lines)
}

/// Appends one input line to `batch`: a raw line with the `--label`s, or a JSON record.
fn push_input(
    batch: &mut LogBatch,
    line: &str,
    number: usize,
    options: &TestOptions,
) -> anyhow::Result<()> {
    let now = crate::event::now_ns();
    if !options.records {
        let set = batch.intern_labels(&options.labels);
        batch.push(line, now, set, &[]);
        return Ok(());
    }
    let bad = |what: &str| anyhow::anyhow!("input line {number}: {what}");
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(&format!("not a JSON record: {e}")))?;
    let text = value["line"]
        .as_str()
        .ok_or_else(|| bad("`line` must be a string"))?;
    let strings = |key: &str| -> anyhow::Result<Vec<(String, String)>> {
        match &value[key] {
            serde_json::Value::Null => Ok(Vec::new()),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_owned()))
                        .ok_or_else(|| bad(&format!("`{key}.{k}` must be a string")))
                })
                .collect(),
            _ => Err(bad(&format!("`{key}` must be an object of strings"))),
        }
    };
    let mut labels = strings("labels")?;
    labels.sort();
    let metadata = strings("metadata")?;
    let pairs: Vec<(&str, &str)> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let set = batch.intern_labels(&labels);
    let timestamp = value["timestamp"].as_i64().unwrap_or(now);
    batch.push(text, timestamp, set, &pairs);
    Ok(())
}

/// `sluice plugin test`: runs the plugin at `path` on the input, writing each output record
/// as a JSON line to `out`, then one JSON line per metric series it emitted
/// (`{"metric":NAME,"type":"counter","labels":[..],"value":N}`; histograms give `count`
/// and `sum`). A batch the plugin fails is an error naming the batch.
pub fn test(
    path: &Path,
    options: &TestOptions,
    out: &mut dyn Write,
) -> anyhow::Result<TestSummary> {
    let config = config_json(options.config.as_deref())?;
    let lines = read_input(options)?;
    let runtime = runtime(options.data_dir.as_deref())?;
    let plugin = load(&runtime, path)?;
    let recorder = Arc::new(MetricRecorder::default());
    let mut instance = start(&plugin, &config, Some(recorder.clone()))
        .map_err(|e| anyhow::anyhow!("cannot start `{}`: {e}", path.display()))?;
    let mut summary = TestSummary {
        records_in: lines.len(),
        ..TestSummary::default()
    };
    let mut text = Vec::new();
    for (b, chunk) in lines.chunks(options.batch.max(1)).enumerate() {
        let mut batch = LogBatch::default();
        for (i, line) in chunk.iter().enumerate() {
            push_input(&mut batch, line, b * options.batch.max(1) + i + 1, options)?;
        }
        instance.process(&mut batch).map_err(|e| {
            anyhow::anyhow!(
                "batch {} (input lines {}..): {e}",
                b + 1,
                b * options.batch.max(1) + 1
            )
        })?;
        summary.batches += 1;
        summary.records_out += batch.len();
        text.clear();
        for record in batch.records() {
            crate::encode::json_record(&record, &mut text);
            text.push(b'\n');
        }
        out.write_all(&text).context("cannot write the output")?;
    }
    // One line per series, counters summed, histograms as count and sum.
    let samples = recorder.samples();
    summary.metric_samples = samples.len();
    let mut series: BTreeMap<(String, &str, Vec<String>), (u64, f64)> = BTreeMap::new();
    for s in samples {
        let entry = series.entry((s.name, s.kind, s.labels)).or_default();
        entry.0 += 1;
        entry.1 += s.value;
    }
    for ((name, kind, labels), (count, sum)) in series {
        let mut v = serde_json::json!({"metric": name, "type": kind, "labels": labels});
        if kind == "counter" {
            v["value"] = sum.into();
        } else {
            v["count"] = count.into();
            v["sum"] = sum.into();
        }
        writeln!(out, "{v}").context("cannot write the output")?;
    }
    Ok(summary)
}

/// A language `sluice plugin new` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
}

/// The files of each language's template, compiled in: (path in the new plugin, text).
/// `{{name}}`, `{{crate}}` and `{{sdk}}` are filled in by [`new`], in paths as in texts.
fn template(lang: Lang) -> &'static [(&'static str, &'static str)] {
    const WIT: &str = include_str!("../../wit/sluice.wit");
    match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust/Cargo.toml"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust/src/lib.rs"),
            ),
            (".gitignore", "/target\n"),
        ],
        Lang::Python => &[
            ("app.py", include_str!("../../templates/python/app.py")),
            (
                "requirements.txt",
                include_str!("../../templates/python/requirements.txt"),
            ),
            (
                "sluice_records.py",
                include_str!("../../plugins/python/sluice_records.py"),
            ),
            ("wit/sluice.wit", WIT),
            (".gitignore", "__pycache__/\n*.wasm\n"),
        ],
        Lang::Js => &[
            ("index.js", include_str!("../../templates/js/index.js")),
            ("test.mjs", include_str!("../../templates/js/test.mjs")),
            (
                "package.json",
                include_str!("../../templates/js/package.json"),
            ),
            (
                "sluice_records.js",
                include_str!("../../plugins/js/sluice_records.js"),
            ),
            ("build.mjs", include_str!("../../plugins/js/build.mjs")),
            ("wit/sluice.wit", WIT),
            (".gitignore", "node_modules/\n.entry-*.js\n*.wasm\n"),
        ],
        // No WIT: `sluice plugin c-bindings` (the Makefile) writes the bindings of the
        // contract compiled into the binary that runs it.
        Lang::C => &[
            ("{{name}}.c", include_str!("../../templates/c/plugin.c")),
            ("Makefile", include_str!("../../templates/c/Makefile")),
            ("test/test.c", include_str!("../../templates/c/test/test.c")),
            (
                "sluice_records.h",
                include_str!("../../plugins/c/sluice_records.h"),
            ),
            (
                "sluice_records.c",
                include_str!("../../plugins/c/sluice_records.c"),
            ),
            (
                "test/harness.h",
                include_str!("../../plugins/c/test/harness.h"),
            ),
            (
                "test/harness.c",
                include_str!("../../plugins/c/test/harness.c"),
            ),
            (".gitignore", "/gen/\n*.wasm\n"),
        ],
    }
}

/// The Rust SDK's sources, compiled in, so a Rust plugin can be started outside a sluice
/// checkout: written into the new plugin as `sluice-plugin/` (path in the crate, text).
const SDK_SOURCES: &[(&str, &str)] = &[
    ("src/lib.rs", include_str!("../../plugins/sdk/src/lib.rs")),
    (
        "src/batch.rs",
        include_str!("../../plugins/sdk/src/batch.rs"),
    ),
    (
        "src/config.rs",
        include_str!("../../plugins/sdk/src/config.rs"),
    ),
    (
        "src/metrics.rs",
        include_str!("../../plugins/sdk/src/metrics.rs"),
    ),
    ("src/scan.rs", include_str!("../../plugins/sdk/src/scan.rs")),
    ("src/text.rs", include_str!("../../plugins/sdk/src/text.rs")),
    ("src/twin.rs", include_str!("../../plugins/sdk/src/twin.rs")),
];

/// The SDK's manifest made standalone: every `x.workspace = true` replaced by the
/// workspace's own value (from the root `Cargo.toml`, compiled in too), and no workspace of
/// its own (it becomes a member of the plugin's).
pub fn standalone_sdk_manifest() -> anyhow::Result<String> {
    let root: toml::Table = toml::from_str(include_str!("../../Cargo.toml"))
        .context("the workspace manifest compiled in")?;
    let workspace = root
        .get("workspace")
        .and_then(|w| w.as_table())
        .context("no [workspace] in the root manifest")?;
    let package_defaults = workspace.get("package").and_then(|p| p.as_table());
    let dependency_defaults = workspace.get("dependencies").and_then(|d| d.as_table());
    let mut sdk: toml::Table = toml::from_str(include_str!("../../plugins/sdk/Cargo.toml"))
        .context("the SDK manifest compiled in")?;
    let inherited = |v: &toml::Value| {
        v.as_table()
            .and_then(|t| t.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true)
    };
    if let Some(package) = sdk.get_mut("package").and_then(|p| p.as_table_mut()) {
        for (key, value) in package.iter_mut() {
            if inherited(value) {
                *value = package_defaults
                    .and_then(|d| d.get(key))
                    .cloned()
                    .with_context(|| format!("package.{key} is not in [workspace.package]"))?;
            }
        }
    }
    if let Some(deps) = sdk.get_mut("dependencies").and_then(|d| d.as_table_mut()) {
        for (key, value) in deps.iter_mut() {
            if inherited(value) {
                *value = dependency_defaults
                    .and_then(|d| d.get(key))
                    .cloned()
                    .with_context(|| {
                        format!("dependency {key} is not in [workspace.dependencies]")
                    })?;
            }
        }
    }
    Ok(toml::to_string(&sdk)?)
}

/// The Rust SDK crate (`plugins/sdk`) of the sluice checkout holding `start` or one of its
/// parents.
fn find_sdk(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join("plugins/sdk"))
        .find(|sdk| sdk.join("Cargo.toml").is_file())
}

/// `sluice plugin new --lang LANG NAME [DIR]`: writes the language's template into `dir`
/// (default `./NAME`), which must not exist or be empty. A Rust plugin depends on the SDK
/// by path: `sdk`, else the `plugins/sdk` of the sluice checkout around `dir` or the
/// current directory, else a copy of the SDK this binary carries, written into the plugin
/// as `sluice-plugin/` (so it builds anywhere). Returns the files written.
pub fn new(
    lang: Lang,
    name: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<Vec<PathBuf>> {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || c == '-' || c == '_'))
    });
    if name.is_empty() || !valid {
        bail!("plugin name `{name}` must match [a-z][a-z0-9_-]*");
    }
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("`{}` exists and is not empty", dir.display());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let absolute = cwd.join(&dir);
    let mut written = Vec::new();
    let write = |path: &Path, text: &str, written: &mut Vec<PathBuf>| -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        written.push(path.to_path_buf());
        Ok(())
    };
    let sdk = match (lang, sdk) {
        (Lang::Rust, Some(sdk)) => cwd.join(sdk),
        (Lang::Rust, None) => match find_sdk(&absolute).or_else(|| find_sdk(&cwd)) {
            Some(sdk) => sdk,
            None => {
                // Outside a checkout: the SDK this binary carries, with the WIT beside it.
                let root = dir.join("sluice-plugin");
                write(
                    &root.join("Cargo.toml"),
                    &standalone_sdk_manifest()?,
                    &mut written,
                )?;
                for (path, text) in SDK_SOURCES {
                    let text = text.replace("\"../../wit/sluice.wit\"", "\"wit/sluice.wit\"");
                    write(&root.join(path), &text, &mut written)?;
                }
                write(
                    &root.join("wit/sluice.wit"),
                    include_str!("../../wit/sluice.wit"),
                    &mut written,
                )?;
                PathBuf::from("sluice-plugin")
            }
        },
        _ => PathBuf::new(),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk.display().to_string())
    };
    for (path, text) in template(lang) {
        write(&dir.join(fill(path)), &fill(text), &mut written)?;
    }
    Ok(written)
}

/// The commands that build and try a plugin made by [`new`] in `dir`.
pub fn next_steps(lang: Lang, name: &str, dir: &Path) -> String {
    let d = dir.display();
    match lang {
        Lang::Rust => format!(
            "cd {d} && cargo build --release --target wasm32-wasip2\n\
             sluice plugin test target/wasm32-wasip2/release/{}.wasm --input SAMPLE.log\n",
            name.replace('-', "_")
        ),
        Lang::Python => format!(
            "cd {d} && pip install -r requirements.txt\n\
             componentize-py -d wit -w log-transform componentize -p . app -o {name}.wasm\n\
             sluice plugin test {name}.wasm --input SAMPLE.log\n"
        ),
        Lang::Js => format!(
            "cd {d} && npm install && npm run build\n\
             sluice plugin test {name}.wasm --input SAMPLE.log\n"
        ),
        Lang::C => format!(
            "cd {d} && make\n\
             sluice plugin test {name}.wasm --input SAMPLE.log\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_sdk_manifest_stands_alone() {
        let manifest: toml::Table = toml::from_str(&standalone_sdk_manifest().unwrap()).unwrap();
        let text = toml::to_string(&manifest).unwrap();
        assert!(!text.contains("workspace"), "{text}");
        assert_eq!(manifest["package"]["name"].as_str(), Some("sluice-plugin"));
        assert!(manifest["package"]["edition"].as_str().is_some());
        assert!(
            manifest["dependencies"]["wit-bindgen"].as_str().is_some(),
            "{text}"
        );
        assert!(
            manifest["dependencies"]["serde"]["features"].is_array(),
            "{text}"
        );
    }

    #[test]
    fn config_json_takes_json_and_toml() {
        assert_eq!(config_json(None).unwrap(), "{}");
        assert_eq!(config_json(Some(r#"{"a":1}"#)).unwrap(), r#"{"a":1}"#);
        let doc: serde_json::Value =
            serde_json::from_str(&config_json(Some("labels = { env = \"x\" }")).unwrap()).unwrap();
        assert_eq!(doc["labels"]["env"], "x");
        let inline: serde_json::Value =
            serde_json::from_str(&config_json(Some("{ rules = [\"ipv4\"] }")).unwrap()).unwrap();
        assert_eq!(inline["rules"][0], "ipv4");
        assert!(config_json(Some("[1]")).is_err());
        assert!(config_json(Some("= nope")).is_err());
    }

    #[test]
    fn new_writes_each_template() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        let langs = <Lang as clap::ValueEnum>::value_variants();
        assert_eq!(langs, [Lang::Rust, Lang::Python, Lang::Js, Lang::C]);
        for &lang in langs {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("p");
            let files = new(lang, "my-plugin", Some(&target), Some(&sdk)).unwrap();
            assert!(files.iter().all(|f| f.is_file()));
            for f in &files {
                let text = std::fs::read_to_string(f).unwrap();
                for placeholder in ["{{name}}", "{{crate}}", "{{sdk}}"] {
                    assert!(!text.contains(placeholder), "{f:?}");
                    assert!(!f.to_string_lossy().contains(placeholder), "{f:?}");
                }
            }
            if lang == Lang::C {
                assert!(target.join("my-plugin.c").is_file());
                let makefile = std::fs::read_to_string(target.join("Makefile")).unwrap();
                assert!(makefile.contains("\nmy-plugin.wasm: "), "{makefile}");
                assert!(next_steps(lang, "my-plugin", Path::new("p")).starts_with("cd p && make\n"));
            }
            // Not over a non-empty directory.
            assert!(new(lang, "my-plugin", Some(&target), Some(&sdk)).is_err());
        }
        assert!(new(Lang::Js, "Bad Name", None, None).is_err());
    }
}
