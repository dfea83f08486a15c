//! Finds the line of a dotted key in the original TOML text, so that errors found after
//! deserialisation (unknown inputs, cycles, plugin failures) still point at a line.

use toml_edit::{Document, Item, Table, Value};

/// A parsed copy of the config text that keeps the source spans of every key.
pub(super) struct Locator {
    doc: Document<String>,
}

impl Locator {
    /// None when the text does not parse (the caller reports the syntax error itself).
    pub fn new(text: &str) -> Option<Locator> {
        Document::parse(text.to_string())
            .ok()
            .map(|doc| Locator { doc })
    }

    /// 1-based line of the deepest part of `path` that exists in the file.
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        let span = span_in_table(self.doc.as_table(), path)?;
        Some(self.doc.raw()[..span].matches('\n').count() + 1)
    }
}

fn span_in_table(table: &Table, path: &[&str]) -> Option<usize> {
    let Some((first, rest)) = path.split_first() else {
        return table.span().map(|s| s.start);
    };
    let (key, item) = table.get_key_value(first)?;
    let here = key
        .span()
        .map(|s| s.start)
        .or_else(|| item.span().map(|s| s.start));
    span_in_item(item, rest).or(here)
}

fn span_in_item(item: &Item, path: &[&str]) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    match item {
        Item::Table(t) => span_in_table(t, path),
        Item::ArrayOfTables(a) => {
            let index: usize = path[0].parse().ok()?;
            let t = a.get(index)?;
            span_in_table(t, &path[1..]).or_else(|| t.span().map(|s| s.start))
        }
        Item::Value(v) => span_in_value(v, path),
        Item::None => None,
    }
}

fn span_in_value(value: &Value, path: &[&str]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    match value {
        Value::InlineTable(t) => {
            let (key, v) = t.get_key_value(first)?;
            let here = key.span().map(|s| s.start);
            match v {
                Item::Value(v) if !rest.is_empty() => span_in_value(v, rest).or(here),
                _ => here,
            }
        }
        Value::Array(a) => {
            let index: usize = first.parse().ok()?;
            let v = a.get(index)?;
            let here = v.span().map(|s| s.start);
            if rest.is_empty() {
                here
            } else {
                span_in_value(v, rest).or(here)
            }
        }
        _ => None,
    }
}
