//! The two exposition formats /metrics speaks, chosen by the scraper's `Accept` header:
//! OpenMetrics 1.0 when it asks for `application/openmetrics-text` (exemplars, `_created`,
//! `# EOF`), else the Prometheus text format 0.0.4 (what `promtool check metrics`, older
//! Prometheus servers and most other consumers read). The registry renders OpenMetrics;
//! [`to_text_format`] rewrites that into the text format: counter families named by their
//! `_total` samples, no `# UNIT`, no `_created` samples, no exemplars, no `# EOF`.
//!
//! Also the standard `process_*` metrics of this process, read from /proc at render time.

/// The OpenMetrics content type Prometheus asks for.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's content type.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// The format for a request's `Accept` header: OpenMetrics only when asked for (with a
    /// non-zero quality), the text format otherwise, as Prometheus's own client does.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let asks = accept.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("");
            let refused = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        if asks {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Text => TEXT,
        }
    }
}

/// Splits a sample line into its name, its label set (with braces, if any) and the rest
/// (value, timestamp, exemplar), reading label values with their escapes.
fn split_sample(line: &str) -> Option<(&str, &str, &str)> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    if !line[name_end..].starts_with('{') {
        return Some((name, "", &line[name_end..]));
    }
    let bytes = line.as_bytes();
    let mut i = name_end + 1;
    let mut in_value = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_value => i += 1,
            b'"' => in_value = !in_value,
            b'}' if !in_value => return Some((name, &line[name_end..=i], &line[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    None
}

/// OpenMetrics text (as the registry renders it) in the Prometheus text format 0.0.4.
pub fn to_text_format(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // The type of the family being written.
    let mut kind = "";
    // A family's HELP comes just before its TYPE, whose kind decides the name both carry:
    // held until then.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), "untyped");
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            kind = match t {
                "counter" => "counter",
                "gauge" => "gauge",
                "histogram" => "histogram",
                "summary" => "summary",
                _ => "untyped",
            };
            match help.take() {
                Some(h) if h.0 == name => flush_help(&mut out, Some(h), kind),
                other => flush_help(&mut out, other, "untyped"),
            }
            out.push_str("# TYPE ");
            out.push_str(&text_family_name(name, kind));
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        flush_help(&mut out, help.take(), "untyped");
        if line.starts_with('#') {
            continue; // `# UNIT`, `# EOF`
        }
        let Some((name, labels, rest)) = split_sample(line) else {
            continue;
        };
        if name.ends_with("_created") && (kind == "counter" || kind == "histogram") {
            continue;
        }
        // Value and timestamp only: an exemplar starts at " # ".
        let rest = rest.split(" # ").next().unwrap_or(rest);
        out.push_str(name);
        out.push_str(labels);
        out.push_str(rest);
        out.push('\n');
    }
    flush_help(&mut out, help, "untyped");
    out
}

/// Writes a held `# HELP` line for a family of `kind`.
fn flush_help(out: &mut String, help: Option<(&str, &str)>, kind: &str) {
    let Some((name, text)) = help else {
        return;
    };
    out.push_str("# HELP ");
    out.push_str(&text_family_name(name, kind));
    out.push(' ');
    // The text format escapes only backslash and newline in HELP.
    out.push_str(&text.replace("\\\"", "\""));
    out.push('\n');
}

/// A family's name in the text format: a counter is named by its `_total` samples.
fn text_family_name(name: &str, kind: &str) -> String {
    if kind == "counter" && !name.ends_with("_total") {
        format!("{name}_total")
    } else {
        name.to_string()
    }
}

/// The standard process metrics of this process (OpenMetrics syntax), from /proc: CPU
/// seconds, resident and virtual memory, open and maximum file descriptors, start time.
/// Empty where /proc cannot be read.
pub fn process_metrics() -> String {
    let mut out = String::new();
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return out;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
        return out;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    let mut push = |name: &str, kind: &str, help: &str, sample: &str, value: f64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample} {value}\n"
        ));
    };
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        push(
            "process_cpu_seconds",
            "counter",
            "Total user and system CPU time spent in seconds.",
            "process_cpu_seconds_total",
            (utime + stime) / ticks,
        );
    }
    if let Some(vsize) = field(23) {
        push(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            "process_virtual_memory_bytes",
            vsize,
        );
    }
    if let Some(rss) = field(24) {
        push(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            "process_resident_memory_bytes",
            rss * page,
        );
    }
    let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot_time, field(22)) {
        push(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            "process_start_time_seconds",
            boot + start / ticks,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        push(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            "process_open_fds",
            fds.count() as f64,
        );
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
        });
    if let Some(max) = max_fds {
        push(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            "process_max_fds",
            max,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        // What Prometheus 2.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, text/plain")),
            Format::Text
        );
    }

    #[test]
    fn text_format_names_counters_by_their_samples_and_drops_what_it_lacks() {
        let om = "# HELP requests Requests \\\"served\\\".\n# TYPE requests counter\n\
                  # UNIT requests requests\n\
                  requests_total{route=\"/a # {b}\\\"\"} 3 # {trace_id=\"abc\"} 1.0 1700000000.0\n\
                  requests_created{route=\"/a\"} 1700000000.0\n\
                  # HELP latency_seconds Latency.\n# TYPE latency_seconds histogram\n\
                  latency_seconds_bucket{le=\"0.1\"} 1 # {trace_id=\"x\"} 0.05\n\
                  latency_seconds_bucket{le=\"+Inf\"} 2\nlatency_seconds_sum 0.3\nlatency_seconds_count 2\n\
                  # HELP up Up.\n# TYPE up gauge\nup 1\n# EOF\n";
        let text = to_text_format(om);
        assert_eq!(
            text,
            "# HELP requests_total Requests \"served\".\n# TYPE requests_total counter\n\
             requests_total{route=\"/a # {b}\\\"\"} 3\n\
             # HELP latency_seconds Latency.\n# TYPE latency_seconds histogram\n\
             latency_seconds_bucket{le=\"0.1\"} 1\nlatency_seconds_bucket{le=\"+Inf\"} 2\n\
             latency_seconds_sum 0.3\nlatency_seconds_count 2\n\
             # HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }

    #[test]
    fn process_metrics_describe_this_process() {
        let text = process_metrics();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
