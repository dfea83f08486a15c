//! The `[[tests]]` array of a pipeline file: cases that `sluice test` runs through the
//! pipeline's real plugins (see `crate::unit_test` for what each key means).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One `[[tests]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub inputs: Vec<TestInput>,
    pub outputs: Vec<TestOutput>,
}

/// Records inserted into the input of a transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    pub insert_at: String,
    pub lines: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What must come out of a transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOutput {
    pub extract_from: String,
    /// The exact output lines, in order.
    #[serde(default)]
    pub lines: Option<Vec<String>>,
    /// The number of output records.
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A check on output records. Every field given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Only this record (0-based); every record when absent.
    pub record: Option<usize>,
    pub line_equals: Option<String>,
    pub line_contains: Option<String>,
    pub line_not_contains: Option<String>,
    /// Labels that must be present with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Metadata keys that must be present with these values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Label names that must be absent.
    #[serde(default)]
    pub labels_absent: Vec<String>,
}
