//! `sluice graph`: a pipeline as a Graphviz DOT graph. Each component is a node labelled
//! with its name, its section and `type`, and the file name of its plugin when it has one;
//! each input is an edge. Sources, transforms and sinks are told apart by shape and colour,
//! and the output is deterministic (components in name order), so it can be compared with a
//! golden file.

use std::fmt::Write;

use super::{ComponentTable, Config};

/// A DOT string literal: `"` and `\` escaped, newlines as DOT's `\n`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The label of a component's node: name, section and type, plugin file name.
fn label(name: &str, section: &str, table: &ComponentTable) -> String {
    let mut label = format!("{name}\n{section}: {}", table.kind);
    if let Some(plugin) = table.options.get("plugin").and_then(|p| p.as_str()) {
        let file = std::path::Path::new(plugin)
            .file_name()
            .map_or(plugin.into(), |f| f.to_string_lossy());
        let _ = write!(label, "\nplugin: {file}");
    }
    if table.buffer.is_some() {
        label.push_str("\nbuffer: disk");
    }
    label
}

/// `config`'s graph in DOT.
pub fn to_dot(config: &Config) -> String {
    let mut out = String::from(
        "digraph pipeline {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11, style=\"rounded,filled\"];\n",
    );
    let sections = [
        ("source", &config.sources, "box", "#dbeafe"),
        ("transform", &config.transforms, "box", "#fef3c7"),
        ("sink", &config.sinks, "box", "#dcfce7"),
    ];
    for (section, components, shape, fill) in sections {
        for (name, table) in components {
            let _ = writeln!(
                out,
                "  {} [label={}, shape={shape}, fillcolor={}];",
                quoted(name),
                quoted(&label(name, section, table)),
                quoted(fill)
            );
        }
    }
    for components in [&config.transforms, &config.sinks] {
        for (name, table) in components {
            for input in &table.inputs {
                let _ = writeln!(out, "  {} -> {};", quoted(input), quoted(name));
            }
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_escaped() {
        assert_eq!(quoted("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
