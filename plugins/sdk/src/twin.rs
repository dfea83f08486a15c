//! Native twins for benchmarks: a plugin crate compiled natively and run in process over a
//! file's lines the way sluice runs its Wasm build (`Batch::from`, `Plugin::process`,
//! `into_reply` over batches of 1024 lines, the sources' default), so that only the Wasm
//! boundary and the compiler differ. Each plugin's `examples/native_bench.rs` is a few lines
//! around this module; bench/pipelines.py runs them next to sluice in the same run.

use std::time::Instant;

use crate::{Batch, LogBatch, Plugin};

/// Lines per batch: the sources' default batch size.
pub const BATCH: usize = 1024;

/// The command line every twin takes: `FILE [--config JSON] [--iters N]`, plus flags of its
/// own, which are left in `extra` in the order given.
#[derive(Debug, Clone)]
pub struct TwinArgs {
    /// The input file, one record per line.
    pub file: String,
    /// The plugin config as JSON (default `{}`).
    pub config: String,
    /// How many times the whole input is run; the best run is reported (default 3).
    pub iters: usize,
    /// Every other argument.
    pub extra: Vec<String>,
}

impl TwinArgs {
    /// Parses the process's arguments; exits with `usage` when no file is named or a
    /// value is missing.
    pub fn from_env(usage: &str) -> TwinArgs {
        Self::parse(std::env::args().skip(1)).unwrap_or_else(|e| {
            eprintln!("{e}\nusage: {usage}");
            std::process::exit(2)
        })
    }

    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<TwinArgs, String> {
        let mut args = args.into_iter();
        let (mut file, mut config, mut iters, mut extra) = (None, "{}".to_string(), 3, vec![]);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--config" => config = args.next().ok_or("--config needs a JSON value")?,
                "--iters" => {
                    let n = args.next().ok_or("--iters needs a number")?;
                    iters = n
                        .parse()
                        .map_err(|_| format!("--iters: `{n}` is not a number"))?;
                }
                _ if a.starts_with("--") || file.is_some() => extra.push(a),
                _ => file = Some(a),
            }
        }
        let file = file.ok_or("no input file")?;
        Ok(TwinArgs {
            file,
            config,
            iters: iters.max(1),
            extra,
        })
    }
}

/// `lines` as the columns sluice sends a plugin, [`BATCH`] lines each: no labels,
/// timestamps or metadata (what the file source sends with `filename_label = false`).
pub fn batches(lines: &[&str]) -> Vec<LogBatch> {
    lines
        .chunks(BATCH)
        .map(|chunk| {
            let mut batch = Batch::new();
            for line in chunk {
                batch.push(line, 0, &[], &[]);
            }
            batch.into_log_batch()
        })
        .collect()
}

/// Runs `plugin` over `lines` in batches `iters` times and returns the best run's seconds.
/// Building the batches is not timed; `after_batch` is called after each batch's `process`
/// (to read a plugin's counters), inside the timed loop.
pub fn time_batches<P: Plugin>(
    plugin: &mut P,
    lines: &[&str],
    iters: usize,
    mut after_batch: impl FnMut(&P),
) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..iters.max(1) {
        let columns = batches(lines);
        let started = Instant::now();
        for cols in columns {
            let mut batch = Batch::from(std::hint::black_box(cols));
            plugin.process(&mut batch).expect("process");
            after_batch(plugin);
            std::hint::black_box(batch.into_reply());
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    best
}

/// Prints the twin's result as one JSON object: records, bytes (lines plus newlines),
/// seconds, records/s, MB/s and the `counts` given (e.g. redactions).
pub fn report(lines: &[&str], seconds: f64, counts: &[(&str, u64)]) {
    let records = lines.len();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut json = format!(
        "{{\"records\": {records}, \"bytes\": {bytes}, \"seconds\": {seconds:.6}, \
         \"records_per_s\": {:.0}, \"mb_per_s\": {:.2}",
        records as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
    for (name, value) in counts {
        json.push_str(&format!(", \"{name}\": {value}"));
    }
    json.push('}');
    println!("{json}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<TwinArgs, String> {
        TwinArgs::parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_file_config_iters_and_keeps_other_flags_in_order() {
        let a = args(&[
            "in.log",
            "--config",
            "{\"a\":1}",
            "--core",
            "--iters",
            "5",
            "--out",
            "o",
        ])
        .unwrap();
        assert_eq!(a.file, "in.log");
        assert_eq!(a.config, "{\"a\":1}");
        assert_eq!(a.iters, 5);
        assert_eq!(a.extra, ["--core", "--out", "o"]);
        let d = args(&["in.log"]).unwrap();
        assert_eq!((d.config.as_str(), d.iters), ("{}", 3));
    }

    #[test]
    fn missing_file_or_value_is_an_error() {
        assert!(args(&["--iters", "2"]).is_err());
        assert!(args(&["in.log", "--config"]).is_err());
        assert!(args(&["in.log", "--iters", "x"]).is_err());
    }

    #[test]
    fn batches_hold_every_line_in_order() {
        let lines: Vec<String> = (0..2500).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let cols = batches(&refs);
        assert_eq!(
            cols.iter().map(|c| c.line_ends.len()).collect::<Vec<_>>(),
            [1024, 1024, 452]
        );
        let joined: String = cols.iter().map(|c| c.lines.as_str()).collect();
        assert_eq!(joined, refs.concat());
    }
}
