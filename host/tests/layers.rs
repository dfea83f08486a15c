//! Layers point one way: every `crate::` path in a module of host/src names a module of a
//! lower layer (or the module itself), with the layers as ARCHITECTURE.md lists them. A new
//! module must be placed in that list, so the map stays true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer list between the markers in ARCHITECTURE.md: top first, one layer a line.
fn layers(root: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("<!-- layers -->")
        .expect("ARCHITECTURE.md has <!-- layers -->");
    let end = text
        .find("<!-- /layers -->")
        .expect("ARCHITECTURE.md has <!-- /layers -->");
    let mut layer_of = BTreeMap::new();
    let lines = text[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("```"));
    for (depth, line) in lines.enumerate() {
        for module in line.split_whitespace() {
            assert!(
                layer_of.insert(module.to_string(), depth).is_none(),
                "`{module}` is listed twice in the layer list"
            );
        }
    }
    assert!(
        layer_of.len() > 5,
        "the layer list was not found: {layer_of:?}"
    );
    layer_of
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules named by `crate::NAME` (or `sluice::NAME` in the binary) in code lines.
fn referenced(text: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::` in a macro, or part of a longer name
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((n + 1, name));
            }
        }
    }
    found
}

#[test]
fn modules_import_only_from_layers_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let layer_of = layers(&root);
    let src = root.join("host/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let Some(&own) = layer_of.get(&module) else {
            problems.push(format!(
                "{}: module `{module}` is not in ARCHITECTURE.md's layer list",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let prefix = if module == "main" {
            "sluice::"
        } else {
            "crate::"
        };
        for (line, name) in referenced(&text, prefix) {
            checked += 1;
            if name == module {
                continue;
            }
            match layer_of.get(&name) {
                Some(&other) if other > own => {}
                Some(_) => problems.push(format!(
                    "{}:{line}: `{module}` uses `{name}`, which is not in a layer below it",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{}:{line}: `{name}` is not in ARCHITECTURE.md's layer list",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} references found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scan_sees_a_reference_and_skips_comments_and_macros() {
    let text = "use crate::config::X;\n// crate::reload in a comment\n$crate::component::Kind\nlet a = crate::event::now_ns();";
    let names: Vec<String> = referenced(text, "crate::")
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["config", "event"]);
}
