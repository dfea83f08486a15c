//! The one dead-letter writer: records a component had to give up on (a plugin call that
//! failed with `on_error = "dead_letter"`, entries Loki refused for good) are appended to a
//! JSON-lines file, one row per record, so nothing is lost without a trace and an operator
//! can replay them. Every row has the same shape:
//!
//! ```json
//! {"component":"loki","reason":"rejected","error_kind":null,"status":400,
//!  "message":"...","tenant":null,
//!  "record":{"timestamp":NS,"line":"...","labels":{...},"metadata":{...}}}
//! ```
//!
//! `record` is the record as `encoding = "json"` writes it. Each write is synced before it
//! returns (dead letters are rare, and the caller counts the records as safely set aside).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::event::LogBatch;

/// Why records were set aside; the fields of a row besides its record.
#[derive(Debug, Clone, Copy)]
pub struct Reason<'a> {
    /// Short reason, also the `reason` label of the discard counter.
    pub reason: &'a str,
    /// For plugin failures: trap, timeout, memory, error, invalid_output.
    pub error_kind: Option<&'a str>,
    /// For refusals by a server: its HTTP status.
    pub status: Option<u16>,
    /// What the plugin or server said (never a record's contents).
    pub message: &'a str,
    /// The tenant the records were for, where there is one.
    pub tenant: Option<&'a str>,
}

/// A record given to [`DeadLetter::write_records`] in parts, for components that no longer
/// hold it as a [`LogBatch`] (the Loki sink's encoded entries).
#[derive(Debug, Clone, Default)]
pub struct DeadRecord {
    pub timestamp: i64,
    pub line: String,
    pub labels: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
}

/// The dead-letter file of one component (no path: count only, write nothing).
pub struct DeadLetter {
    path: Option<PathBuf>,
    component_id: String,
    file: Mutex<Option<std::fs::File>>,
}

impl DeadLetter {
    pub fn new(path: Option<PathBuf>, component_id: &str) -> DeadLetter {
        DeadLetter {
            path,
            component_id: component_id.to_string(),
            file: Mutex::new(None),
        }
    }

    /// Appends every record of `batch`.
    pub fn write_batch(&self, batch: &LogBatch, why: &Reason<'_>) -> std::io::Result<()> {
        let mut out = Vec::new();
        for record in batch.records() {
            self.row_start(why, &mut out);
            crate::encode::json_record(&record, &mut out);
            out.extend_from_slice(b"}\n");
        }
        self.append(&out)
    }

    /// Appends `records`.
    pub fn write_records(&self, records: &[DeadRecord], why: &Reason<'_>) -> std::io::Result<()> {
        let mut out = Vec::new();
        for r in records {
            self.row_start(why, &mut out);
            let record = serde_json::json!({
                "timestamp": r.timestamp,
                "line": r.line,
                "labels": pairs(&r.labels),
                "metadata": pairs(&r.metadata),
            });
            serde_json::to_writer(&mut out, &record).expect("writing JSON to a Vec cannot fail");
            out.extend_from_slice(b"}\n");
        }
        self.append(&out)
    }

    /// The row's fields up to `"record":`.
    fn row_start(&self, why: &Reason<'_>, out: &mut Vec<u8>) {
        let head = serde_json::json!({
            "component": self.component_id,
            "reason": why.reason,
            "error_kind": why.error_kind,
            "status": why.status,
            "message": why.message,
            "tenant": why.tenant,
        });
        let head = serde_json::to_vec(&head).expect("writing JSON to a Vec cannot fail");
        out.extend_from_slice(&head[..head.len() - 1]); // without the closing brace
        out.extend_from_slice(b",\"record\":");
    }

    fn append(&self, rows: &[u8]) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| {
            if file.is_none() {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                *file = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                );
            }
            let f = file.as_mut().expect("opened above");
            f.write_all(rows)?;
            f.sync_data()
        })();
        if result.is_err() {
            *file = None; // reopen next time (the file may have been moved or the disk freed)
        }
        result.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

fn pairs(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordRef;
    use std::path::Path;

    /// A record of a batch as a [`DeadRecord`].
    fn dead_record(record: &RecordRef<'_>) -> DeadRecord {
        DeadRecord {
            timestamp: record.timestamp(),
            line: record.line().to_string(),
            labels: record.labels().to_vec(),
            metadata: record
                .metadata()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn rows(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn batch_rows_and_part_rows_have_one_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dead.jsonl");
        let dead = DeadLetter::new(Some(path.clone()), "t");
        let mut batch = LogBatch::default();
        let set = batch.intern_labels(&[("app".into(), "api".into())]);
        batch.push("a \"quoted\" line", 7, set, &[("trace_id", "abc")]);
        let why = Reason {
            reason: "dead_lettered",
            error_kind: Some("trap"),
            status: None,
            message: "boom",
            tenant: None,
        };
        dead.write_batch(&batch, &why).unwrap();
        let record = dead_record(&batch.records().next().unwrap());
        let why = Reason {
            reason: "rejected",
            error_kind: None,
            status: Some(400),
            message: "bad",
            tenant: Some("team-a"),
        };
        dead.write_records(&[record], &why).unwrap();
        let rows = rows(&path);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["record"], rows[1]["record"]);
        assert_eq!(rows[0]["record"]["line"], "a \"quoted\" line");
        assert_eq!(rows[0]["record"]["labels"]["app"], "api");
        assert_eq!(rows[0]["record"]["metadata"]["trace_id"], "abc");
        assert_eq!(rows[0]["error_kind"], "trap");
        assert_eq!(rows[0]["component"], "t");
        assert_eq!(rows[1]["status"], 400);
        assert_eq!(rows[1]["tenant"], "team-a");
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&rows[0]), keys(&rows[1]));
    }

    #[test]
    fn a_write_that_fails_says_where() {
        let dead = DeadLetter::new(Some(PathBuf::from("/dev/full")), "t");
        let mut batch = LogBatch::default();
        let set = batch.intern_labels(&[]);
        batch.push("x", 1, set, &[]);
        let why = Reason {
            reason: "dead_lettered",
            error_kind: None,
            status: None,
            message: "",
            tenant: None,
        };
        let error = dead.write_batch(&batch, &why).unwrap_err();
        assert!(error.to_string().contains("/dev/full"), "{error}");
    }
}
