//! The repository stands on its own: nothing a user's clone runs or reads (README,
//! Makefile, CI script, docs, tests, benchmarks, example pipelines) refers to a path outside
//! it, such as the workspace's `../shared` reference material.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "node_modules" || name == "target" || name.starts_with('.') && name != ".ci" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_refers_to_a_path_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = Vec::new();
    for top in [
        "README.md",
        "ARCHITECTURE.md",
        "Makefile",
        ".ci",
        "docs",
        "tests",
        "bench",
        "pipelines",
        "host/tests",
    ] {
        let path = root.join(top);
        if path.is_dir() {
            files(&path, &mut checked);
        } else {
            checked.push(path);
        }
    }
    let mut found = Vec::new();
    for file in checked
        .iter()
        .filter(|f| !f.ends_with("host/tests/self_contained.rs"))
    {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // binary
        };
        for (n, line) in text.lines().enumerate() {
            if ["../shared", "../.library", "/work/shared"]
                .iter()
                .any(|p| line.contains(p))
            {
                found.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(checked.len() > 50, "only {} files checked", checked.len());
    assert!(
        found.is_empty(),
        "paths outside the repository:\n{}",
        found.join("\n")
    );
}
