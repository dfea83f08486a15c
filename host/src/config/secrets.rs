//! Secret references in config string values: `${NAME}` takes the environment variable NAME,
//! `${file:PATH}` the contents of a file (trailing newline removed). Substitution happens on
//! parsed values, never on the raw text, and every substituted value is remembered so that
//! nothing the collector prints can contain it.

use std::sync::Arc;

/// The secret values substituted into a config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    values: Arc<Vec<String>>,
}

impl Secrets {
    /// `text` with every known secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in self.values.iter().filter(|v| !v.is_empty()) {
            out = out.replace(value.as_str(), "***");
        }
        out
    }

    fn remember(&mut self, value: String) {
        Arc::make_mut(&mut self.values).push(value);
    }
}

/// Substitutes references in every string of `table`; problems are returned as
/// (dotted key, message) pairs.
pub(super) fn interpolate_table(
    table: &mut toml::Table,
    path: &mut Vec<String>,
    secrets: &mut Secrets,
    errors: &mut Vec<(String, String)>,
) {
    for (key, value) in table.iter_mut() {
        path.push(key.clone());
        interpolate_value(value, path, secrets, errors);
        path.pop();
    }
}

fn interpolate_value(
    value: &mut toml::Value,
    path: &mut Vec<String>,
    secrets: &mut Secrets,
    errors: &mut Vec<(String, String)>,
) {
    match value {
        toml::Value::String(s) if s.contains("${") => match expand(s, secrets) {
            Ok(expanded) => *s = expanded,
            Err(message) => errors.push((path.join("."), message)),
        },
        toml::Value::Table(t) => interpolate_table(t, path, secrets, errors),
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate_value(item, path, secrets, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Expands the references in one string. `$${` stands for a literal `${`.
fn expand(s: &str, secrets: &mut Secrets) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let Some(len) = rest[start + 2..].find('}') else {
            return Err("unterminated `${` reference".into());
        };
        let reference = &rest[start + 2..start + 2 + len];
        let value = if let Some(file) = reference.strip_prefix("file:") {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read secret file `{file}`: {e}"))?;
            text.trim_end_matches(['\n', '\r']).to_string()
        } else {
            if reference.is_empty()
                || !reference
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!("`${{{reference}}}` is not a valid variable name"));
            }
            std::env::var(reference)
                .map_err(|_| format!("environment variable `{reference}` is not set"))?
        };
        out.push_str(&value);
        secrets.remember(value);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_env_and_files_and_scrubs_them() {
        std::env::set_var("SLUICE_TEST_SECRET_A", "hunter2");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cr3t\n").unwrap();
        let mut secrets = Secrets::default();
        let text = format!(
            "a=${{SLUICE_TEST_SECRET_A}} b=${{file:{}}} $${{x}}",
            file.display()
        );
        let out = expand(&text, &mut secrets).unwrap();
        assert_eq!(out, "a=hunter2 b=s3cr3t ${x}");
        assert_eq!(secrets.scrub("pw hunter2 and s3cr3t"), "pw *** and ***");
    }

    #[test]
    fn missing_variable_is_named_without_value() {
        let mut secrets = Secrets::default();
        let err = expand("${SLUICE_TEST_DOES_NOT_EXIST}", &mut secrets).unwrap_err();
        assert!(err.contains("SLUICE_TEST_DOES_NOT_EXIST"), "{err}");
    }
}
