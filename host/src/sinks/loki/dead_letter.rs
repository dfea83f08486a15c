//! Where the `loki` sink puts entries Loki refused for good: one JSON object per entry in
//! `dead_letter_path`, with the stream, the status and Loki's message, so nothing is lost
//! without a trace and an operator can replay them. Without a path they are only counted.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::loki::proto::Stream;

/// The dead-letter file of one sink (absent: count only).
pub struct DeadLetter {
    path: Option<PathBuf>,
    file: Mutex<Option<std::fs::File>>,
    component_id: String,
}

impl DeadLetter {
    pub fn new(path: Option<PathBuf>, component_id: &str) -> DeadLetter {
        DeadLetter {
            path,
            file: Mutex::new(None),
            component_id: component_id.to_string(),
        }
    }

    /// Appends every entry of `streams`; a failure to write is logged, never fatal.
    pub fn write(
        &self,
        tenant: Option<&str>,
        streams: &[Stream],
        reason: &str,
        status: Option<u16>,
        message: &str,
    ) {
        let Some(path) = &self.path else { return };
        let mut out = Vec::new();
        for stream in streams {
            let labels = String::from_utf8_lossy(&stream.labels);
            for e in &stream.entries {
                let metadata: serde_json::Map<String, serde_json::Value> = e
                    .structured_metadata
                    .iter()
                    .map(|p| {
                        (
                            String::from_utf8_lossy(&p.name).into_owned(),
                            String::from_utf8_lossy(&p.value).into_owned().into(),
                        )
                    })
                    .collect();
                let row = serde_json::json!({
                    "timestamp": e.nanos(),
                    "tenant": tenant,
                    "labels": labels,
                    "line": String::from_utf8_lossy(&e.line),
                    "metadata": metadata,
                    "reason": reason,
                    "status": status,
                    "message": message,
                });
                serde_json::to_writer(&mut out, &row).expect("writing JSON to a Vec cannot fail");
                out.push(b'\n');
            }
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
            file.as_mut().expect("opened above").write_all(&out)
        })();
        if let Err(e) = result {
            *file = None;
            tracing::error!(
                component_id = %self.component_id,
                path = %path.display(),
                error = %e,
                "cannot write the dead-letter file"
            );
        }
    }
}
