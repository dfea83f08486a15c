//! `sluice validate` on every broken config in tests/configs/broken/: each must fail with
//! exit code 1 and the located errors its first lines (`# expect: ...`) name. Every
//! pipeline in pipelines/ must validate.

mod common;

use common::*;

#[test]
fn broken_configs_give_their_exact_errors() {
    let dir = repo().join("host/tests/configs/broken");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expects: Vec<&str> = text
            .lines()
            .map_while(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expects.is_empty(),
            "{} lacks an `# expect:` line",
            path.display()
        );
        let output = sluice().arg("validate").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            path.display()
        );
        for expect in expects {
            assert!(
                stderr.contains(expect),
                "{}:\n expected: {expect}\n got: {stderr}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} broken configs");
}

#[test]
fn all_errors_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "data_dir = \"/tmp/x\"\n[sources.a]\ntype = \"stdin\"\nbogus = 1\n[sources.b]\ntype = \"file\"\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"a\", \"c\"]\n",
    )
    .unwrap();
    let output = sluice().arg("validate").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(":4: `sources.a.bogus`: unknown field `bogus`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(":5: `sources.b`: missing field `include`"),
        "{stderr}"
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    std::env::set_var("SLUICE_TEST_SECRET_PORT", "not-a-number-s3cr3t");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "data_dir = \"/tmp/x\"\n[sources.a]\ntype = \"file\"\ninclude = [\"/x\"]\npoll_interval_ms = \"${SLUICE_TEST_SECRET_PORT}\"\n[sinks.out]\ntype = \"stdout\"\ninputs = [\"a\"]\n",
    )
    .unwrap();
    let output = sluice().arg("validate").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(":5: `sources.a.poll_interval_ms`"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn example_pipelines_validate() {
    for entry in std::fs::read_dir(repo().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let output = sluice().arg("validate").arg(&path).output().unwrap();
            assert!(
                output.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn sluice_test_runs_pipeline_unit_tests() {
    let output = sluice()
        .arg("test")
        .arg(repo().join("pipelines/quickstart.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    // A failing expectation is reported with the record and reason, exit code 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}/d\"\n[sources.a]\ntype = \"stdin\"\n[transforms.r]\ntype = \"wasm\"\ninputs = [\"a\"]\nplugin = \"{}\"\n[sinks.o]\ntype = \"stdout\"\ninputs = [\"r\"]\n[[tests]]\nname = \"wrong\"\n[[tests.inputs]]\ninsert_at = \"r\"\nlines = [\"mail x@example.com\"]\n[[tests.outputs]]\nextract_from = \"r\"\nlines = [\"mail x@example.com\"]\n",
            dir.path().display(),
            plugin("redact_pii").display()
        ),
    )
    .unwrap();
    let output = sluice().arg("test").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("test wrong ... FAILED"), "{stdout}");
    assert!(stdout.contains("mail <email>"), "{stdout}");
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}
