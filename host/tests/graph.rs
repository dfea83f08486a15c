//! End-to-end: `sluice graph` prints a pipeline as DOT (the quickstart's matches the golden
//! file `host/tests/fixtures/quickstart.dot`), as SVG through Graphviz's `dot` (installed by
//! CI), and refuses a broken config with the located error like `validate`.

mod common;

use common::*;

#[test]
fn the_quickstart_graph_matches_its_golden_file() {
    let out = sluice()
        .args(["graph"])
        .arg(repo().join("pipelines/quickstart.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8(out.stdout).unwrap();
    let golden = repo().join("host/tests/fixtures/quickstart.dot");
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&golden, &dot).unwrap();
    }
    assert_eq!(
        dot,
        std::fs::read_to_string(&golden).unwrap(),
        "SLUICE_BLESS=1 rewrites the golden file; read its diff first"
    );
}

#[test]
fn svg_through_graphviz() {
    let has_dot = std::process::Command::new("dot").arg("-V").output().is_ok();
    if !has_dot && std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_none() {
        eprintln!("Graphviz's dot is not installed: SVG not checked");
        return;
    }
    let out = sluice()
        .args(["graph", "--format", "svg"])
        .arg(repo().join("pipelines/quickstart.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8(out.stdout).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    for component in ["app", "parse", "redact", "enrich", "console"] {
        assert!(
            svg.contains(&format!(">{component}</text>")),
            "{component} missing:\n{svg}"
        );
    }
}

#[test]
fn a_broken_config_is_refused_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "[sources.a]\ntype = \"stdin\"\n[sinks.b]\ntype = \"stdout\"\ninputs = [\"nope\"]\n",
    )
    .unwrap();
    let out = sluice().arg("graph").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sinks.b.inputs") && err.contains("nope"),
        "{err}"
    );
}
