//! enrich: adds static labels and lifts metadata values into labels, with a cardinality guard.
//!
//! Config (the transform's `config` table; unknown keys are init errors):
//!
//! - `labels`: table `{name = "value", ...}` of static labels set on every record (default
//!   none). They replace a label of the same name the record already has. Applied once per
//!   distinct label set, not per record.
//! - `from_metadata`: table `{label_name = "metadata_key", ...}`: each record whose metadata
//!   has `metadata_key` gets label `label_name` with its value (default none). Applied after
//!   `labels`, so a lifted value wins over a static one.
//! - `max_values_per_label`: default 100. The cardinality guard for `from_metadata`: once a
//!   lifted label has seen this many distinct values (over the plugin instance's life),
//!   further new values become `__overflow__`, counted in the counter
//!   `enrich_overflow_total` (one label: the label name) when the pipeline declares it, and
//!   logged once per label at warn level.
//!
//! Label names must be valid Loki label names (`[a-zA-Z_][a-zA-Z0-9_]*`).

use sluice_plugin::{counter_add, log, metric_id, Batch, Config, Level, Plugin};
use std::collections::HashSet;

/// The value a lifted label gets once its guard is full.
pub const OVERFLOW: &str = "__overflow__";

/// One `from_metadata` entry and its guard state.
#[derive(Debug)]
struct Lift {
    label: String,
    key: String,
    seen: HashSet<String>,
    warned: bool,
}

/// The enrich plugin.
#[derive(Debug)]
pub struct Enrich {
    statics: Vec<(String, String)>,
    lifts: Vec<Lift>,
    max_values: usize,
    overflow_metric: Option<u32>,
    scratch: String,
}

fn check_label_name(name: &str) -> Result<(), String> {
    let ok = name
        .bytes()
        .enumerate()
        .all(|(i, c)| c == b'_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if ok && !name.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ))
    }
}

impl Plugin for Enrich {
    fn init(config: Config) -> Result<Self, String> {
        config.check_keys(&["labels", "from_metadata", "max_values_per_label"])?;
        let statics = config.get_str_map("labels")?.unwrap_or_default();
        let lifts: Vec<Lift> = config
            .get_str_map("from_metadata")?
            .unwrap_or_default()
            .into_iter()
            .map(|(label, key)| Lift {
                label,
                key,
                seen: HashSet::new(),
                warned: false,
            })
            .collect();
        for name in statics
            .iter()
            .map(|(n, _)| n)
            .chain(lifts.iter().map(|l| &l.label))
        {
            check_label_name(name)?;
        }
        let max_values = config.get_u64("max_values_per_label")?.unwrap_or(100) as usize;
        Ok(Enrich {
            statics,
            lifts,
            max_values,
            overflow_metric: metric_id("enrich_overflow_total"),
            scratch: String::new(),
        })
    }

    fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
        if !self.statics.is_empty() {
            let statics = &self.statics;
            batch.map_label_sets(|set| {
                let mut changed = false;
                for (name, value) in statics {
                    if !set.iter().any(|(n, v)| n == name && v == value) {
                        set.push((name.clone(), value.clone()));
                        changed = true;
                    }
                }
                changed
            });
        }
        for lift in &mut self.lifts {
            let mut overflowed = 0u64;
            for i in 0..batch.len() {
                let Some(value) = batch.record(i).metadata_value(&lift.key) else {
                    continue;
                };
                self.scratch.clear();
                if lift.seen.contains(value) {
                    self.scratch.push_str(value);
                } else if lift.seen.len() < self.max_values {
                    lift.seen.insert(value.to_owned());
                    self.scratch.push_str(value);
                } else {
                    self.scratch.push_str(OVERFLOW);
                    overflowed += 1;
                }
                batch.set_label(i, &lift.label, &self.scratch);
            }
            if overflowed > 0 {
                if let Some(metric) = self.overflow_metric {
                    counter_add(metric, &[&lift.label], overflowed as f64, None);
                }
                if !lift.warned {
                    lift.warned = true;
                    log(
                        Level::Warn,
                        &format!(
                            "label `{}` (from metadata `{}`) reached max_values_per_label = {}: \
                             further new values become `{OVERFLOW}`",
                            lift.label, lift.key, self.max_values
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

sluice_plugin::export_plugin!(Enrich);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin::validate;

    fn plugin(config: &str) -> Enrich {
        Enrich::init(Config::from_json(config).unwrap()).unwrap()
    }

    #[test]
    fn static_labels_per_set() {
        let mut p = plugin(r#"{"labels":{"env":"prod","region":"eu"}}"#);
        let mut b = Batch::new();
        b.push("a", 1, &[("app", "web"), ("env", "dev")], &[]);
        b.push("b", 2, &[("app", "api")], &[]);
        b.push("c", 3, &[("app", "web"), ("env", "dev")], &[]);
        p.process(&mut b).unwrap();
        let out = b.into_log_batch();
        validate(&out).unwrap();
        let b = Batch::from(out);
        assert_eq!(b.record(0).label("env"), Some("prod"));
        assert_eq!(b.record(1).label("region"), Some("eu"));
        assert_eq!(b.record(2).labels(), b.record(0).labels());
        assert_eq!(b.columns().label_sets.len(), 2);
    }

    #[test]
    fn lifts_metadata_with_cardinality_guard() {
        let mut p = plugin(r#"{"from_metadata":{"tenant":"tenant_id"},"max_values_per_label":2}"#);
        let mut b = Batch::new();
        for t in ["t1", "t2", "t1", "t3", "t2", "t4"] {
            b.push("x", 0, &[("app", "web")], &[("tenant_id", t)]);
        }
        b.push("no tenant", 0, &[("app", "web")], &[]);
        p.process(&mut b).unwrap();
        let got: Vec<_> = b.iter().map(|r| r.label("tenant")).collect();
        assert_eq!(
            got,
            [
                Some("t1"),
                Some("t2"),
                Some("t1"),
                Some(OVERFLOW),
                Some("t2"),
                Some(OVERFLOW),
                None
            ]
        );
        assert!(p.lifts[0].warned);
        validate(&b.into_log_batch()).unwrap();
        // The guard persists across batches.
        let mut b = Batch::new();
        b.push("y", 0, &[], &[("tenant_id", "t5")]);
        b.push("y", 0, &[], &[("tenant_id", "t2")]);
        p.process(&mut b).unwrap();
        assert_eq!(b.record(0).label("tenant"), Some(OVERFLOW));
        assert_eq!(b.record(1).label("tenant"), Some("t2"));
    }

    #[test]
    fn config_errors() {
        for (bad, needle) in [
            (r#"{"lables":{}}"#, "lables"),
            (r#"{"labels":{"bad-name":"x"}}"#, "bad-name"),
            (r#"{"from_metadata":{"9x":"k"}}"#, "9x"),
            (r#"{"labels":{"env":1}}"#, "labels"),
            (r#"{"max_values_per_label":-1}"#, "max_values_per_label"),
        ] {
            let e = Enrich::init(Config::from_json(bad).unwrap()).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        assert_eq!(plugin("{}").max_values, 100);
    }
}
