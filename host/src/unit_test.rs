//! `sluice test`: pipeline unit tests declared in TOML beside the pipeline, like
//! `vector test`. Each `[[tests]]` case inserts lines at a transform, runs them through it
//! and every transform downstream with the real plugins, and checks what comes out of
//! `extract_from`:
//!
//! ```toml
//! [[tests]]
//! name = "emails are masked"
//! [[tests.inputs]]
//! insert_at = "redact"
//! lines = ["mail bob@example.com"]
//! [[tests.outputs]]
//! extract_from = "redact"
//! lines = ["mail <email>"]                 # optional: exact lines, in order
//! [[tests.outputs.conditions]]             # optional: each must hold for every record
//! line_not_contains = "@"                  # (or only for `record = N`)
//! ```

use std::collections::BTreeMap;

use crate::config::{Graph, LoadedConfig, TestCase, TestOutput};
use crate::event::LogBatch;
use crate::runtime::PluginRuntime;
use crate::telemetry::Telemetry;
use crate::transforms::Transform;

/// The result of one test case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    pub failures: Vec<String>,
}

/// Runs every test case of `loaded` with its real plugins.
pub fn run(loaded: &LoadedConfig) -> anyhow::Result<Vec<CaseResult>> {
    let config = &loaded.config;
    let telemetry = Telemetry::new();
    let runtime = PluginRuntime::for_data_dir(&config.data_dir)?;
    let mut transforms = crate::topology::build_transforms(loaded, &runtime, &telemetry)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let graph = Graph::of(config);
    let mut results = Vec::new();
    for case in &config.tests {
        results.push(run_case(case, &graph, &mut transforms));
    }
    Ok(results)
}

fn run_case(
    case: &TestCase,
    graph: &Graph,
    transforms: &mut BTreeMap<String, Box<dyn Transform>>,
) -> CaseResult {
    let mut failures = Vec::new();
    let mut produced: BTreeMap<String, LogBatch> = BTreeMap::new();
    for input in &case.inputs {
        if !transforms.contains_key(&input.insert_at) {
            failures.push(format!(
                "insert_at `{}` is not a transform",
                input.insert_at
            ));
            continue;
        }
        let mut batch = LogBatch::default();
        let labels: Vec<_> = input.labels.clone().into_iter().collect();
        let set = batch.intern_labels(&labels);
        let metadata: Vec<(&str, &str)> = input
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for line in &input.lines {
            batch.push(line, crate::event::now_ns(), set, &metadata);
        }
        // Run the batch through insert_at and everything downstream of it.
        let mut pending = vec![(input.insert_at.clone(), batch)];
        while let Some((name, batch)) = pending.pop() {
            let Some(t) = transforms.get_mut(&name) else {
                continue;
            };
            let out = t.process_blocking(batch);
            for consumer in graph.consumers(&name) {
                if transforms.contains_key(consumer) {
                    pending.push((consumer.clone(), out.clone()));
                }
            }
            produced.entry(name).or_default().append(out);
        }
    }
    for output in &case.outputs {
        let empty = LogBatch::default();
        let batch = produced.get(&output.extract_from).unwrap_or(&empty);
        check_output(output, batch, &mut failures);
    }
    CaseResult {
        name: case.name.clone(),
        failures,
    }
}

fn check_output(output: &TestOutput, batch: &LogBatch, failures: &mut Vec<String>) {
    let from = &output.extract_from;
    if let Some(count) = output.count {
        if batch.len() != count {
            failures.push(format!(
                "`{from}`: expected {count} records, got {}",
                batch.len()
            ));
        }
    }
    if let Some(lines) = &output.lines {
        let got: Vec<&str> = batch.records().map(|r| r.line()).collect();
        if got != *lines {
            failures.push(format!("`{from}`: expected lines {lines:?}, got {got:?}"));
        }
    }
    for condition in &output.conditions {
        let indexes: Vec<usize> = match condition.record {
            Some(i) if i >= batch.len() => {
                failures.push(format!("`{from}`: no record {i} (got {})", batch.len()));
                continue;
            }
            Some(i) => vec![i],
            None => (0..batch.len()).collect(),
        };
        for i in indexes {
            let r = batch.record(i);
            let line = r.line();
            let mut fail = |what: String| failures.push(format!("`{from}` record {i}: {what}"));
            if let Some(want) = &condition.line_equals {
                if line != want {
                    fail(format!("line is {line:?}, expected {want:?}"));
                }
            }
            if let Some(want) = &condition.line_contains {
                if !line.contains(want.as_str()) {
                    fail(format!("line {line:?} does not contain {want:?}"));
                }
            }
            if let Some(bad) = &condition.line_not_contains {
                if line.contains(bad.as_str()) {
                    fail(format!("line {line:?} contains {bad:?}"));
                }
            }
            for (k, v) in &condition.labels {
                if r.label(k) != Some(v.as_str()) {
                    fail(format!("label `{k}` is {:?}, expected {v:?}", r.label(k)));
                }
            }
            for k in &condition.labels_absent {
                if r.label(k).is_some() {
                    fail(format!("label `{k}` should be absent"));
                }
            }
            for (k, v) in &condition.metadata {
                if r.metadata_value(k) != Some(v.as_str()) {
                    fail(format!(
                        "metadata `{k}` is {:?}, expected {v:?}",
                        r.metadata_value(k)
                    ));
                }
            }
        }
    }
}
