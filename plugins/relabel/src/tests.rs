//! The rules against what Prometheus's relabelling gives for the same input.

use super::*;
use sluice_plugin::bindings::sluice::plugin::types::MetricBatch;

fn relabel(rules: &str) -> Relabel {
    Relabel::from_config(Config::from_json(&format!("{{\"rules\":{rules}}}")).unwrap()).unwrap()
}

fn set(labels: &[(&str, &str)]) -> Vec<Label> {
    let mut s: Vec<Label> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.sort();
    s
}

/// Runs `rules` on the given series (one sample each) and returns the surviving series.
fn run(rules: &str, series: &[&[(&str, &str)]]) -> Vec<Vec<Label>> {
    let batch = MetricBatch {
        label_sets: series.iter().map(|s| set(s)).collect(),
        series_of: (0..series.len() as u32).collect(),
        values: vec![1.0; series.len()],
        timestamps: vec![0; series.len()],
        families: Vec::new(),
    };
    let mut m = Metrics::from(batch);
    relabel(rules).process_metrics(&mut m).unwrap();
    m.into_reply().label_sets
}

#[test]
fn keep_and_drop_match_the_joined_source_values_anchored() {
    let series: &[&[(&str, &str)]] = &[
        &[("__name__", "go_goroutines")],
        &[("__name__", "http_requests_total"), ("code", "200")],
        &[("__name__", "xgo_thing")],
    ];
    let kept = run(
        r#"[{"source_labels":["__name__"],"regex":"go_.*","action":"drop"}]"#,
        series,
    );
    assert_eq!(kept.len(), 2);
    let kept = run(
        r#"[{"source_labels":["__name__","code"],"regex":"http_.*;200","action":"keep"}]"#,
        series,
    );
    assert_eq!(kept, vec![set(series[1])]);
}

#[test]
fn replace_sets_the_target_from_captures_and_an_empty_result_deletes_it() {
    let out = run(
        r#"[{"source_labels":["instance"],"regex":"([^:]+):\\d+","target_label":"host","replacement":"${1}"}]"#,
        &[&[("__name__", "up"), ("instance", "10.0.0.1:9100")]],
    );
    assert_eq!(
        out[0],
        set(&[
            ("__name__", "up"),
            ("instance", "10.0.0.1:9100"),
            ("host", "10.0.0.1")
        ])
    );
    let out = run(
        r#"[{"source_labels":["nothing"],"target_label":"instance"}]"#,
        &[&[("__name__", "up"), ("instance", "a")]],
    );
    assert_eq!(out[0], set(&[("__name__", "up")]));
}

#[test]
fn a_rule_that_does_not_match_changes_nothing() {
    let out = run(
        r#"[{"source_labels":["env"],"regex":"prod","target_label":"tier","replacement":"gold"}]"#,
        &[&[("__name__", "up"), ("env", "dev")]],
    );
    assert_eq!(out[0], set(&[("__name__", "up"), ("env", "dev")]));
}

#[test]
fn labelmap_labeldrop_and_labelkeep_work_on_names() {
    let s: &[&[(&str, &str)]] = &[&[("__name__", "up"), ("__meta_pod", "p1"), ("user", "u")]];
    let out = run(
        r#"[{"regex":"__meta_(.+)","action":"labelmap"},{"regex":"__meta_.+","action":"labeldrop"}]"#,
        s,
    );
    assert_eq!(
        out[0],
        set(&[("__name__", "up"), ("pod", "p1"), ("user", "u")])
    );
    let out = run(r#"[{"regex":"__name__|user","action":"labelkeep"}]"#, s);
    assert_eq!(out[0], set(&[("__name__", "up"), ("user", "u")]));
}

#[test]
fn series_made_equal_merge_and_renamed_ones_keep_their_samples() {
    let out = run(
        r#"[{"regex":"user","action":"labeldrop"},{"source_labels":["__name__"],"regex":"old_(.*)","target_label":"__name__","replacement":"new_$1"}]"#,
        &[
            &[("__name__", "old_x"), ("user", "a")],
            &[("__name__", "old_x"), ("user", "b")],
        ],
    );
    assert_eq!(out, vec![set(&[("__name__", "new_x")])]);
}

#[test]
fn lowercase_keepequal_and_dropequal() {
    let s: &[&[(&str, &str)]] = &[
        &[("__name__", "a"), ("x", "Same"), ("y", "Same")],
        &[("__name__", "b"), ("x", "one"), ("y", "two")],
    ];
    let out = run(
        r#"[{"source_labels":["x"],"target_label":"y","action":"keepequal"}]"#,
        s,
    );
    assert_eq!(out, vec![set(s[0])]);
    let out = run(
        r#"[{"source_labels":["x"],"target_label":"y","action":"dropequal"}]"#,
        s,
    );
    assert_eq!(out, vec![set(s[1])]);
    let out = run(
        r#"[{"source_labels":["x"],"target_label":"x","action":"lowercase"}]"#,
        &s[..1],
    );
    assert_eq!(
        out[0],
        set(&[("__name__", "a"), ("x", "same"), ("y", "Same")])
    );
}

#[test]
fn bad_rules_are_refused_naming_the_rule() {
    let bad = |rules: &str| {
        Relabel::from_config(Config::from_json(&format!("{{\"rules\":{rules}}}")).unwrap())
            .err()
            .unwrap()
    };
    assert!(
        bad(r#"[{"action":"keep","source_labels":["a"],"regex":"("}]"#)
            .starts_with("rules[0]: regex")
    );
    assert!(bad(r#"[{"action":"hashmod"}]"#).contains("not supported"));
    assert!(bad(r#"[{},{"action":"shout"}]"#)
        .contains("rules[0]: action `replace` needs `target_label`"));
    assert!(bad(r#"[{"action":"keep"}]"#).contains("needs `source_labels`"));
}
