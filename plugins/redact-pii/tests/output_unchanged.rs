//! redact-pii's output is pinned: every line of the PII corpora (tests/pii/dev.jsonl and
//! variants.jsonl) and 20,000 of the benchmark's reference lines (bench/gen.py, seed 42),
//! redacted under several configs, hash to the digests in `output_digests.txt`. Speed work on
//! the scanner and the JSON path must leave every output byte as it was (issue 22); a change
//! that means to alter the output re-blesses the file (`SLUICE_BLESS=1`) and says why in its
//! commit.
//!
//! On a mismatch the test also redacts each line through the JSON walker alone (the fast
//! paths turned off) and prints the first line where the two differ, which is where a fast
//! path went wrong.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use redact_pii::Redactor;
use sha2::{Digest, Sha256};

/// The configs the outputs are pinned for: the default catalogue (what most users run), the
/// benchmark's three rules, each other mode, and key-dependent rules with a custom one.
const CONFIGS: &[(&str, &str)] = &[
    ("default", "{}"),
    (
        "bench-rules",
        r#"{"rules": ["email", "ipv4", "credit_card"]}"#,
    ),
    ("drop", r#"{"mode": "drop"}"#),
    ("partial", r#"{"mode": "partial"}"#),
    (
        "pseudonym",
        r#"{"mode": "pseudonym", "pseudonym_key": "pinned-test-key"}"#,
    ),
    (
        "keys-custom",
        r#"{"json_keys": ["path", "user"], "extra_secret_keys": ["session"],
            "custom": [{"name": "order", "pattern": "ORD-[0-9]{4,}"}]}"#,
    ),
    ("no-json", r#"{"json": false}"#),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `line` field of every row of a labelled corpus.
fn corpus(name: &str) -> Vec<String> {
    let path = root().join("tests/pii").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|row| {
            let v: serde_json::Value = serde_json::from_str(row).expect("corpus row is JSON");
            v["line"].as_str().expect("row has a line").to_owned()
        })
        .collect()
}

/// bench/gen.py's first 20,000 lines (seed 42), the benchmark rows' input.
fn bench_lines() -> Vec<String> {
    let out = std::env::temp_dir().join(format!("redact-pii-bench-{}.log", std::process::id()));
    let status = std::process::Command::new("python3")
        .arg(root().join("bench/gen.py"))
        .arg("20000")
        .arg(&out)
        .arg("42")
        .status()
        .expect("python3 runs bench/gen.py (the benchmark's line generator)");
    assert!(status.success(), "bench/gen.py failed");
    let text = std::fs::read_to_string(&out).expect("gen.py output");
    let _ = std::fs::remove_file(&out);
    text.lines().map(str::to_owned).collect()
}

/// Each line's redaction count and output, one per line.
fn outputs(r: &Redactor, lines: &[String]) -> String {
    let mut all = String::new();
    let mut out = String::new();
    let mut counts = r.new_counts();
    for line in lines {
        out.clear();
        let n = r.redact_counted(line, &mut out, &mut counts);
        let _ = writeln!(all, "{n}\t{}", if n == 0 { line.as_str() } else { &out });
    }
    let _ = writeln!(all, "counts {counts:?}");
    all
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn output_is_byte_identical_to_the_pinned_digests() {
    let sets = [
        ("dev", corpus("dev.jsonl")),
        ("variants", corpus("variants.jsonl")),
        ("bench", bench_lines()),
    ];
    let digests_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/output_digests.txt");
    let mut got = String::new();
    for (config_name, config) in CONFIGS {
        let r = Redactor::from_config_json(config).expect("config");
        for (set_name, lines) in &sets {
            let digest = Sha256::digest(outputs(&r, lines).as_bytes());
            let _ = writeln!(got, "{set_name} {config_name} {}", hex(&digest));
        }
    }
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&digests_path, &got).expect("write digests");
        return;
    }
    let want = std::fs::read_to_string(&digests_path).expect("output_digests.txt");
    if got == want {
        return;
    }
    // Say where: the first line whose output differs from the walker-only redactor's.
    let mut report = String::new();
    for (config_name, config) in CONFIGS {
        let r = Redactor::from_config_json(config).expect("config");
        let reference = r.clone().without_fast_paths();
        for (set_name, lines) in &sets {
            let line = lines.iter().find(|l| {
                let (mut a, mut b) = (String::new(), String::new());
                let (na, nb) = (r.redact(l, &mut a), reference.redact(l, &mut b));
                na != nb || a != b
            });
            if let Some(line) = line {
                let _ = writeln!(
                    report,
                    "{set_name}/{config_name}: {line}\n  now:    {}\n  walker: {}",
                    r.redact_cow(line),
                    reference.redact_cow(line)
                );
            }
        }
    }
    panic!(
        "redact-pii's output changed.\nwant:\n{want}\ngot:\n{got}\nfirst lines that differ from \
         the walker alone:\n{report}\n(SLUICE_BLESS=1 re-pins the digests when the change is meant)"
    );
}
