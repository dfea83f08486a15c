//! OTLP log records -> sluice records: the body becomes the line (a string as it is, any
//! other value as JSON text), `time_unix_nano` (else `observed_time_unix_nano`, else the
//! time of arrival) the timestamp, the severity a `level` label, the resource and scope
//! attributes named in the allow-list labels (dots and other characters Loki refuses in a
//! name become `_`), every other attribute structured metadata, and the trace and span ids
//! metadata `trace_id` / `span_id` in lowercase hex (the names the parse plugin and the Loki
//! sink use).
//!
//! A record that cannot be taken as it is (a trace id that is not 16 bytes, a span id that
//! is not 8, a timestamp past what a signed nanosecond count holds) is rejected alone: it is
//! counted for the response's `partial_success` and the rest of the request is kept.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use std::borrow::Cow;
use std::collections::HashMap;

use crate::event::{prefix_within, Label, LogBatch};
use crate::loki::labels::{is_valid_name, sanitize_name};

/// The label the severity is mapped to.
pub const LEVEL_LABEL: &str = "level";

/// What the source's config says about turning requests into records.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Resource or scope attribute name -> label name, for the allow-listed attributes.
    pub resource_labels: Vec<(String, String)>,
    /// Labels every record gets (an attribute label of the same name wins).
    pub labels: Vec<Label>,
    /// Longer lines are cut to this many bytes (at a character boundary).
    pub max_line_bytes: usize,
}

impl Mapping {
    /// The mapping for an allow-list of attribute names (each label name is the attribute
    /// name made a valid Loki label name: `service.name` -> `service_name`).
    pub fn new(resource_labels: &[String], labels: Vec<Label>, max_line_bytes: usize) -> Mapping {
        Mapping {
            resource_labels: resource_labels
                .iter()
                .map(|a| (a.clone(), label_name(a)))
                .collect(),
            labels,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    fn label_for(&self, attribute: &str) -> Option<&str> {
        self.resource_labels
            .iter()
            .find(|(a, _)| a == attribute)
            .map(|(_, l)| l.as_str())
    }
}

/// An attribute name as a label or metadata name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn label_name(attribute: &str) -> String {
    sanitize_name(attribute).into_owned()
}

/// One request's records, and what was rejected or repaired on the way.
#[derive(Debug, Default)]
pub struct Converted {
    pub batch: LogBatch,
    /// Records left out (each with its reason counted in `first_error`'s message).
    pub rejected: usize,
    /// Why the first rejected record was rejected (the response's `error_message`).
    pub first_error: Option<String>,
    /// Lines cut to `max_line_bytes`.
    pub truncated: usize,
}

/// Converts a decoded request; `now` (ns) stamps records that carry no time at all.
pub fn convert(request: &ExportLogsServiceRequest, mapping: &Mapping, now: i64) -> Converted {
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    let mut out = Converted {
        batch: LogBatch::with_capacity(records, 0),
        ..Converted::default()
    };
    // Record attribute names that are not valid metadata names, made valid once per
    // request rather than once per record (`http.route` recurs on every record).
    let mut renamed: HashMap<&str, String> = HashMap::new();
    for kv in request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .flat_map(|l| &l.attributes)
    {
        if !is_valid_name(kv.key.as_bytes()) && !renamed.contains_key(kv.key.as_str()) {
            renamed.insert(&kv.key, label_name(&kv.key));
        }
    }
    for (r, resource_logs) in request.resource_logs.iter().enumerate() {
        let mut resource_set = mapping.labels.clone();
        let mut resource_metadata = Vec::new();
        if let Some(resource) = &resource_logs.resource {
            split_attributes(
                &resource.attributes,
                mapping,
                &mut resource_set,
                &mut resource_metadata,
            );
        }
        for (s, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
            let mut set = resource_set.clone();
            let mut scope_metadata = resource_metadata.clone();
            if let Some(scope) = &scope_logs.scope {
                if !scope.name.is_empty() {
                    put(&mut scope_metadata, "scope_name".into(), scope.name.clone());
                }
                if !scope.version.is_empty() {
                    put(
                        &mut scope_metadata,
                        "scope_version".into(),
                        scope.version.clone(),
                    );
                }
                split_attributes(&scope.attributes, mapping, &mut set, &mut scope_metadata);
            }
            // One interned label set per level seen in this scope (index 0: no level).
            let mut interned: [Option<u32>; LEVELS.len() + 1] = [None; LEVELS.len() + 1];
            for (i, record) in scope_logs.log_records.iter().enumerate() {
                let timestamp = match timestamp(record, now) {
                    Ok(t) => t,
                    Err(why) => {
                        reject(&mut out, r, s, i, &why);
                        continue;
                    }
                };
                // The record's own pairs, borrowed from the request where they can be; they
                // win over the scope's and resource's of the same name.
                let (mut trace_hex, mut span_hex) = ([0u8; 32], [0u8; 16]);
                let (trace_id, span_id) = match ids(record, &mut trace_hex, &mut span_hex) {
                    Ok(ids) => ids,
                    Err(why) => {
                        reject(&mut out, r, s, i, &why);
                        continue;
                    }
                };
                let mut own: Vec<(Cow<'_, str>, Cow<'_, str>)> =
                    Vec::with_capacity(record.attributes.len() + 4);
                for (name, id) in [("trace_id", trace_id), ("span_id", span_id)] {
                    if let Some(id) = id {
                        own.push((Cow::Borrowed(name), Cow::Borrowed(id)));
                    }
                }
                for kv in &record.attributes {
                    let name = match renamed.get(kv.key.as_str()) {
                        Some(name) => name.as_str(),
                        None => kv.key.as_str(),
                    };
                    put(&mut own, Cow::Borrowed(name), value_text(&kv.value));
                }
                if !record.severity_text.is_empty() {
                    put(
                        &mut own,
                        Cow::Borrowed("severity_text"),
                        Cow::Borrowed(record.severity_text.as_str()),
                    );
                }
                if !record.event_name.is_empty() {
                    put(
                        &mut own,
                        Cow::Borrowed("event_name"),
                        Cow::Borrowed(record.event_name.as_str()),
                    );
                }
                let level = level(record.severity_number, &record.severity_text);
                let slot = level.map_or(0, |l| LEVELS.iter().position(|x| *x == l).unwrap() + 1);
                let set_index = *interned[slot].get_or_insert_with(|| {
                    let mut labels = set.clone();
                    if let Some(level) = level {
                        labels.retain(|(n, _)| n != LEVEL_LABEL);
                        labels.push((LEVEL_LABEL.into(), level.into()));
                    }
                    labels.sort();
                    out.batch.intern_labels(&labels)
                });
                let line = value_text(&record.body);
                let cut = prefix_within(&line, mapping.max_line_bytes);
                if cut.len() < line.len() {
                    out.truncated += 1;
                }
                let mut pairs: Vec<(&str, &str)> =
                    Vec::with_capacity(scope_metadata.len() + own.len());
                pairs.extend(
                    scope_metadata
                        .iter()
                        .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                );
                pairs.extend(own.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
                out.batch.push(cut, timestamp, set_index, &pairs);
            }
        }
    }
    out
}

fn reject(out: &mut Converted, r: usize, s: usize, i: usize, why: &str) {
    out.rejected += 1;
    if out.first_error.is_none() {
        out.first_error = Some(format!(
            "resource_logs[{r}].scope_logs[{s}].log_records[{i}]: {why}"
        ));
    }
}

/// Allow-listed attributes to `labels` (replacing one of the same name), the rest to
/// `metadata`.
fn split_attributes(
    attributes: &[KeyValue],
    mapping: &Mapping,
    labels: &mut Vec<Label>,
    metadata: &mut Vec<(String, String)>,
) {
    for kv in attributes {
        let value = value_text(&kv.value).into_owned();
        match mapping.label_for(&kv.key) {
            Some(label) => {
                labels.retain(|(n, _)| n != label);
                if !value.is_empty() {
                    labels.push((label.to_string(), value));
                }
            }
            None => put(metadata, label_name(&kv.key), value),
        }
    }
}

/// Sets `key` in `pairs`, replacing an earlier value (a record's attribute wins over its
/// scope's, a scope's over its resource's).
fn put<T: AsRef<str>>(pairs: &mut Vec<(T, T)>, key: T, value: T) {
    match pairs.iter_mut().find(|(k, _)| k.as_ref() == key.as_ref()) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key, value)),
    }
}

fn timestamp(record: &LogRecord, now: i64) -> Result<i64, String> {
    let ns = if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else if record.observed_time_unix_nano != 0 {
        record.observed_time_unix_nano
    } else {
        return Ok(now);
    };
    i64::try_from(ns).map_err(|_| format!("timestamp {ns} ns is past the year 2262"))
}

/// The record's trace and span ids in lowercase hex, written into the buffers; an empty or
/// all-zero id is no id, one of another length an error.
fn ids<'b>(
    record: &LogRecord,
    trace_hex: &'b mut [u8; 32],
    span_hex: &'b mut [u8; 16],
) -> Result<(Option<&'b str>, Option<&'b str>), String> {
    fn one<'b>(name: &str, id: &[u8], hex_buf: &'b mut [u8]) -> Result<Option<&'b str>, String> {
        let len = hex_buf.len() / 2;
        if id.is_empty() || (id.len() == len && id.iter().all(|b| *b == 0)) {
            return Ok(None);
        }
        if id.len() != len {
            return Err(format!(
                "{name} has {} bytes; it must have {len} (or none)",
                id.len()
            ));
        }
        hex::encode_to_slice(id, hex_buf).map_err(|e| format!("{name}: {e}"))?;
        Ok(std::str::from_utf8(hex_buf).ok())
    }
    Ok((
        one("trace_id", &record.trace_id, trace_hex)?,
        one("span_id", &record.span_id, span_hex)?,
    ))
}

/// The `level` values, lowest first.
pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// The level for an OTLP severity: by number (1-4 trace, 5-8 debug, 9-12 info, 13-16 warn,
/// 17-20 error, 21-24 fatal), else by the text when it names a level the usual ways.
pub fn level(number: i32, text: &str) -> Option<&'static str> {
    if (1..=24).contains(&number) {
        return Some(LEVELS[(number as usize - 1) / 4]);
    }
    let text = text.trim().to_ascii_lowercase();
    Some(match text.as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" | "information" | "informational" | "notice" => "info",
        "warn" | "warning" => "warn",
        "error" | "err" => "error",
        "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => "fatal",
        _ => return None,
    })
}

/// An attribute value or body as text: a string as it is, a number or bool as in JSON,
/// bytes as base64, an array or map as JSON text (keys in their order); no value (or a
/// profiles string-table reference) as "".
pub fn value_text(value: &Option<AnyValue>) -> Cow<'_, str> {
    use base64::Engine;
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => Cow::Borrowed(""),
        Some(Value::StringValue(s)) => Cow::Borrowed(s),
        Some(Value::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::BytesValue(b)) => {
            Cow::Owned(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(other) => {
            let mut out = String::new();
            write_json(other, &mut out);
            Cow::Owned(out)
        }
    }
}

/// Writes an AnyValue as JSON text: a key-value list as an object with its keys in their
/// order, bytes as a base64 string, a double JSON cannot hold (`NaN`, `inf`) as a string, a
/// missing value (or a profiles string-table reference, meaningless in logs) as `null`.
fn write_json(value: &Value, out: &mut String) {
    use base64::Engine;
    use std::fmt::Write;
    let string = |s: &str, out: &mut String| {
        out.push_str(&serde_json::Value::from(s).to_string());
    };
    let any = |v: &AnyValue, out: &mut String| match &v.value {
        Some(v) => write_json(v, out),
        None => out.push_str("null"),
    };
    match value {
        Value::StringValue(s) => string(s, out),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        Value::DoubleValue(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => out.push_str(&n.to_string()),
            None => string(&d.to_string(), out),
        },
        Value::BytesValue(b) => string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::StringValueStrindex(_) => out.push_str("null"),
        Value::ArrayValue(a) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                any(v, out);
            }
            out.push(']');
        }
        Value::KvlistValue(kv) => {
            out.push('{');
            for (i, kv) in kv.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(&kv.key, out);
                out.push(':');
                match &kv.value {
                    Some(v) => any(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        ArrayValue, InstrumentationScope, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        })
    }

    fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v,
            ..Default::default()
        }
    }

    fn mapping() -> Mapping {
        Mapping::new(
            &["service.name".into(), "k8s.namespace.name".into()],
            vec![("job".into(), "otlp".into())],
            64,
        )
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s("checkout")),
                        kv("k8s.namespace.name", s("shop")),
                        kv("host.arch", s("amd64")),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.payments".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_record_becomes_line_labels_and_metadata() {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_001,
            observed_time_unix_nano: 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: s("payment failed"),
            attributes: vec![
                kv("user.email", s("a@example.com")),
                kv(
                    "attempt",
                    Some(AnyValue {
                        value: Some(Value::IntValue(3)),
                    }),
                ),
            ],
            trace_id: (1..=16).collect(),
            span_id: (1..=8).collect(),
            ..Default::default()
        };
        let out = convert(&request(vec![record]), &mapping(), 42);
        assert_eq!(out.rejected, 0);
        let r = out.batch.record(0);
        assert_eq!(r.line(), "payment failed");
        assert_eq!(r.timestamp(), 1_700_000_000_000_000_001);
        let labels: Vec<(&str, &str)> = r
            .labels()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("job", "otlp"),
                ("k8s_namespace_name", "shop"),
                ("level", "error"),
                ("service_name", "checkout"),
            ]
        );
        let metadata: Vec<(&str, &str)> = r.metadata().collect();
        assert_eq!(
            metadata,
            [
                ("host_arch", "amd64"),
                ("scope_name", "app.payments"),
                ("scope_version", "1.2"),
                ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
                ("span_id", "0102030405060708"),
                ("user_email", "a@example.com"),
                ("attempt", "3"),
                ("severity_text", "ERROR"),
            ]
        );
    }

    #[test]
    fn bad_ids_reject_only_their_record() {
        let good = LogRecord {
            body: s("kept"),
            ..Default::default()
        };
        let bad_trace = LogRecord {
            body: s("x"),
            trace_id: vec![1, 2, 3],
            ..Default::default()
        };
        let bad_span = LogRecord {
            body: s("y"),
            span_id: vec![1; 9],
            ..Default::default()
        };
        let too_late = LogRecord {
            body: s("z"),
            time_unix_nano: u64::MAX,
            ..Default::default()
        };
        let out = convert(
            &request(vec![bad_trace, good.clone(), bad_span, too_late, good]),
            &mapping(),
            42,
        );
        assert_eq!(out.rejected, 3);
        assert_eq!(out.batch.len(), 2);
        assert_eq!(
            out.first_error.as_deref(),
            Some("resource_logs[0].scope_logs[0].log_records[0]: trace_id has 3 bytes; it must have 16 (or none)")
        );
        // No time at all: the time of arrival.
        assert_eq!(out.batch.record(0).timestamp(), 42);
        assert!(out.batch.validate().is_ok());
    }

    #[test]
    fn all_zero_ids_are_no_ids_and_observed_time_stands_in() {
        let record = LogRecord {
            body: s("a"),
            observed_time_unix_nano: 7,
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            ..Default::default()
        };
        let out = convert(&request(vec![record]), &mapping(), 42);
        let r = out.batch.record(0);
        assert_eq!(r.timestamp(), 7);
        assert_eq!(r.metadata_value("trace_id"), None);
        assert_eq!(r.label("level"), None);
    }

    #[test]
    fn bodies_that_are_not_strings_become_json_text_and_long_lines_are_cut() {
        let map = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", s("hi")),
                    kv(
                        "n",
                        Some(AnyValue {
                            value: Some(Value::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue {
                                        value: Some(Value::DoubleValue(1.5)),
                                    },
                                    AnyValue {
                                        value: Some(Value::BoolValue(true)),
                                    },
                                ],
                            })),
                        }),
                    ),
                    kv("raw", Some(AnyValue {
                        value: Some(Value::BytesValue(b"\x00\x01".to_vec())),
                    })),
                ],
            })),
        };
        let records = vec![
            LogRecord {
                body: Some(map),
                ..Default::default()
            },
            LogRecord {
                body: s(&"é".repeat(40)),
                ..Default::default()
            },
            LogRecord::default(),
        ];
        let out = convert(&request(records), &mapping(), 1);
        assert_eq!(
            out.batch.line(0),
            r#"{"msg":"hi","n":[1.5,true],"raw":"AAE="}"#
        );
        assert_eq!(out.batch.line(1), "é".repeat(32));
        assert_eq!(out.truncated, 1);
        assert_eq!(out.batch.line(2), "");
    }

    #[test]
    fn a_record_attribute_wins_over_its_resource_attribute_of_the_same_name() {
        let record = LogRecord {
            body: s("a"),
            attributes: vec![kv("host.arch", s("arm64")), kv("k", s("1")), kv("k", s("2"))],
            ..Default::default()
        };
        let out = convert(&request(vec![record]), &mapping(), 1);
        let metadata: Vec<(&str, &str)> = out.batch.record(0).metadata().collect();
        assert_eq!(
            metadata,
            [
                ("scope_name", "app.payments"),
                ("scope_version", "1.2"),
                ("host_arch", "arm64"),
                ("k", "2"),
            ]
        );
    }

    #[test]
    fn json_text_keeps_key_order_and_escapes() {
        let v = |value| Some(AnyValue { value: Some(value) });
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("z", s("quote \" and \n")),
                kv("a", v(Value::DoubleValue(f64::NAN))),
                kv("none", None),
                kv("big", v(Value::IntValue(i64::MIN))),
            ],
        }));
        assert_eq!(
            value_text(&map),
            r#"{"z":"quote \" and \n","a":"NaN","none":null,"big":-9223372036854775808}"#
        );
        assert_eq!(value_text(&v(Value::DoubleValue(2.0))), "2.0");
        assert_eq!(value_text(&v(Value::IntValue(7))), "7");
        assert_eq!(value_text(&v(Value::BoolValue(false))), "false");
        assert_eq!(value_text(&v(Value::StringValueStrindex(3))), "");
    }

    #[test]
    fn severities_map_to_levels() {
        assert_eq!(level(1, ""), Some("trace"));
        assert_eq!(level(8, ""), Some("debug"));
        assert_eq!(level(9, "whatever"), Some("info"));
        assert_eq!(level(13, ""), Some("warn"));
        assert_eq!(level(20, ""), Some("error"));
        assert_eq!(level(24, ""), Some("fatal"));
        assert_eq!(level(0, "Warning"), Some("warn"));
        assert_eq!(level(0, "CRITICAL"), Some("fatal"));
        assert_eq!(level(0, "verbose"), None);
        assert_eq!(level(99, ""), None);
        assert_eq!(level(-3, "info"), Some("info"));
    }

    #[test]
    fn attribute_names_become_valid_label_names() {
        assert_eq!(label_name("service.name"), "service_name");
        assert_eq!(label_name("k8s.pod.name"), "k8s_pod_name");
        assert_eq!(label_name("http.response.status_code"), "http_response_status_code");
        assert_eq!(label_name("1st"), "_1st");
    }
}
