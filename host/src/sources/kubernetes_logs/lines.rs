//! One container log file's lines -> records: each line decoded as CRI or Docker json-file
//! (by `format`, or by its first byte with `auto`), parts of a split line joined per stream
//! until its last part, a line in neither format kept whole and counted.

use super::cri::{self, Stream, TimeParser};
use super::docker;
use crate::sources::file::{Decoded, LineDecoder};
use crate::telemetry::{events, ComponentMetrics};

/// The line format of the files a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Per line: a line starting with `{` is Docker json-file, any other CRI.
    Auto,
    Cri,
    Docker,
}

/// A split line being joined.
#[derive(Default)]
struct Held {
    text: Vec<u8>,
    /// Where its first part starts in the file.
    from: Option<u64>,
    /// Its first part's time.
    timestamp: i64,
}

/// The [`LineDecoder`] of one container log file.
pub struct ContainerLines {
    format: Format,
    max_line_bytes: usize,
    metrics: ComponentMetrics,
    times: TimeParser,
    /// Per [`Stream`], the line being joined.
    held: [Held; 2],
    /// The record handed out last (when it is not a slice of the line).
    out: Vec<u8>,
}

impl ContainerLines {
    pub fn new(format: Format, max_line_bytes: usize, metrics: ComponentMetrics) -> Self {
        ContainerLines {
            format,
            max_line_bytes: max_line_bytes.max(1),
            metrics,
            times: TimeParser::default(),
            held: Default::default(),
            out: Vec::new(),
        }
    }

    /// Adds a part to what `stream` holds, keeping at most one byte past `max_line_bytes`
    /// (the batcher cuts the record there and counts the cut).
    fn hold(&mut self, stream: Stream, text: &[u8], timestamp: i64, start: u64) {
        let held = &mut self.held[stream as usize];
        if held.from.is_none() {
            held.from = Some(start);
            held.timestamp = timestamp;
        }
        let room = (self.max_line_bytes + 1).saturating_sub(held.text.len());
        held.text.extend_from_slice(&text[..text.len().min(room)]);
    }

    /// A line's last part: the record it finishes.
    fn finish_line<'a>(
        &'a mut self,
        stream: Stream,
        text: &'a [u8],
        timestamp: i64,
        start: u64,
    ) -> Decoded<'a> {
        let label_set = Some(stream as usize);
        if self.held[stream as usize].from.is_none() {
            return Decoded {
                text,
                timestamp: Some(timestamp),
                label_set,
            };
        }
        self.hold(stream, text, timestamp, start);
        let held = std::mem::take(&mut self.held[stream as usize]);
        self.out = held.text;
        Decoded {
            text: &self.out,
            timestamp: Some(held.timestamp),
            label_set,
        }
    }
}

impl LineDecoder for ContainerLines {
    fn decode<'a>(&'a mut self, line: &'a [u8], start: u64) -> Option<Decoded<'a>> {
        let docker = match self.format {
            Format::Auto => line.first() == Some(&b'{'),
            Format::Cri => false,
            Format::Docker => true,
        };
        if docker {
            if let Some(part) = docker::parse(line, &mut self.times) {
                if part.partial {
                    self.hold(part.stream, part.text.as_bytes(), part.timestamp, start);
                    return None;
                }
                // The text may be unescaped (owned): the record is handed out from `out`.
                let held = std::mem::take(&mut self.held[part.stream as usize]);
                let timestamp = if held.from.is_some() {
                    held.timestamp
                } else {
                    part.timestamp
                };
                self.out = held.text;
                let room = (self.max_line_bytes + 1).saturating_sub(self.out.len());
                let text = part.text.as_bytes();
                self.out.extend_from_slice(&text[..text.len().min(room)]);
                return Some(Decoded {
                    text: &self.out,
                    timestamp: Some(timestamp),
                    label_set: Some(part.stream as usize),
                });
            }
        } else if let Some(part) = cri::parse(line, &mut self.times) {
            if part.partial {
                self.hold(part.stream, part.text, part.timestamp, start);
                return None;
            }
            return Some(self.finish_line(part.stream, part.text, part.timestamp, start));
        }
        events::lines_repaired(
            &self.metrics,
            "malformed",
            1,
            "a container log line in neither the CRI nor the Docker json-file format was kept as it is",
        );
        Some(Decoded {
            text: line,
            timestamp: None,
            label_set: None,
        })
    }

    fn held_from(&self) -> Option<u64> {
        self.held.iter().filter_map(|h| h.from).min()
    }

    fn finish(&mut self) -> Option<Decoded<'_>> {
        let i = self.held.iter().position(|h| h.from.is_some())?;
        let held = std::mem::take(&mut self.held[i]);
        self.out = held.text;
        Some(Decoded {
            text: &self.out,
            timestamp: Some(held.timestamp),
            label_set: Some(i),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(format: Format, max: usize) -> ContainerLines {
        let telemetry = crate::telemetry::Telemetry::new();
        ContainerLines::new(format, max, telemetry.component("k8s", "kubernetes_logs"))
    }

    /// A record: its text, timestamp and label set.
    type Record = (String, Option<i64>, Option<usize>);

    /// Decodes `lines` (each starting where the one before ended, plus its newline) and
    /// returns (text, timestamp, stream) per record, and where the decoder holds from.
    fn run(
        d: &mut ContainerLines,
        lines: &[&str],
    ) -> (Vec<Record>, Option<u64>) {
        let mut at = 0u64;
        let mut out = Vec::new();
        for line in lines {
            if let Some(r) = d.decode(line.as_bytes(), at) {
                out.push((
                    String::from_utf8(r.text.to_vec()).unwrap(),
                    r.timestamp,
                    r.label_set,
                ));
            }
            at += line.len() as u64 + 1;
        }
        (out, d.held_from())
    }

    const NS: i64 = 1_796_637_600_000_000_000;

    #[test]
    fn cri_parts_are_joined_per_stream_with_the_first_parts_time() {
        let mut d = decoder(Format::Auto, 1024);
        let (records, held) = run(
            &mut d,
            &[
                "2026-12-07T10:00:00Z stdout P one ",
                "2026-12-07T10:00:01Z stderr F an error meanwhile",
                "2026-12-07T10:00:02Z stdout P two ",
                "2026-12-07T10:00:03Z stdout F three",
                "2026-12-07T10:00:04Z stderr P left over",
            ],
        );
        assert_eq!(
            records,
            vec![
                ("an error meanwhile".into(), Some(NS + 1_000_000_000), Some(1)),
                ("one two three".into(), Some(NS), Some(0)),
            ]
        );
        // The last line is held: positions are committed only up to its start.
        let start_of_last = [
            "2026-12-07T10:00:00Z stdout P one ",
            "2026-12-07T10:00:01Z stderr F an error meanwhile",
            "2026-12-07T10:00:02Z stdout P two ",
            "2026-12-07T10:00:03Z stdout F three",
        ]
        .iter()
        .map(|l| l.len() as u64 + 1)
        .sum::<u64>();
        assert_eq!(held, Some(start_of_last));
        let rest = d.finish().unwrap();
        assert_eq!(rest.text, b"left over");
        assert_eq!(rest.label_set, Some(1));
        assert!(d.finish().is_none());
        assert_eq!(d.held_from(), None);
    }

    #[test]
    fn while_a_stream_holds_a_part_positions_stop_at_its_start() {
        let mut d = decoder(Format::Cri, 1024);
        let (_, held) = run(
            &mut d,
            &[
                "2026-12-07T10:00:00Z stdout F a",
                "2026-12-07T10:00:00Z stdout P b",
                "2026-12-07T10:00:00Z stderr F c",
            ],
        );
        assert_eq!(held, Some(32), "the start of the second line");
    }

    #[test]
    fn docker_json_file_entries_and_split_lines() {
        let mut d = decoder(Format::Auto, 1024);
        let (records, held) = run(
            &mut d,
            &[
                r#"{"log":"first \"quoted\"\n","stream":"stdout","time":"2026-12-07T10:00:00.25Z"}"#,
                r#"{"log":"split ","stream":"stderr","time":"2026-12-07T10:00:01Z"}"#,
                r#"{"log":"line\n","stream":"stderr","time":"2026-12-07T10:00:02Z"}"#,
                r#"{"log":"\n","stream":"stdout","time":"2026-12-07T10:00:03Z"}"#,
            ],
        );
        assert_eq!(
            records,
            vec![
                ("first \"quoted\"".into(), Some(NS + 250_000_000), Some(0)),
                ("split line".into(), Some(NS + 1_000_000_000), Some(1)),
                ("".into(), Some(NS + 3_000_000_000), Some(0)),
            ]
        );
        assert_eq!(held, None);
    }

    #[test]
    fn malformed_lines_are_kept_whole_and_counted() {
        let telemetry = crate::telemetry::Telemetry::new();
        let mut d = ContainerLines::new(
            Format::Cri,
            1024,
            telemetry.component("k8s", "kubernetes_logs"),
        );
        let (records, _) = run(
            &mut d,
            &[
                "not a CRI line",
                r#"{"log":"json in a CRI file\n","stream":"stdout","time":"2026-12-07T10:00:00Z"}"#,
                "2026-12-07T10:00:00Z stdout F fine",
            ],
        );
        assert_eq!(records[0], ("not a CRI line".into(), None, None));
        assert_eq!(records[1].2, None, "format = cri reads no JSON");
        assert_eq!(records[2], ("fine".into(), Some(NS), Some(0)));
        let text = telemetry.render_openmetrics();
        assert!(
            text.lines().any(|l| l.contains("repaired")
                && l.contains("reason=\"malformed\"")
                && l.ends_with(" 2")),
            "{text}"
        );
    }

    #[test]
    fn joined_lines_are_held_only_just_past_the_line_limit() {
        let mut d = decoder(Format::Cri, 8);
        let (records, _) = run(
            &mut d,
            &[
                "2026-12-07T10:00:00Z stdout P 123456",
                "2026-12-07T10:00:00Z stdout P 789abc",
                "2026-12-07T10:00:00Z stdout P defghi",
                "2026-12-07T10:00:00Z stdout F jkl",
            ],
        );
        assert_eq!(records[0].0, "123456789", "cut by the batcher, which counts it");
    }
}
