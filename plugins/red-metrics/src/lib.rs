//! red-metrics: RED metrics (rate, errors, duration) from access logs.
//!
//! For each record that holds a request's method, route, status and duration, the plugin
//! observes the duration in the histogram of the OpenTelemetry HTTP server semantic
//! convention as Prometheus names it: `http_server_request_duration_seconds`, labelled
//! `http_request_method`, `http_route`, `http_response_status_code` and `service_name`
//! (the record's `service_name` label, empty without one), one host call per label set and
//! batch (`histogram-observe-many`). Its `_count` is the request
//! rate, its `_count` with a 5xx status the errors, its buckets the duration; the record's
//! trace id becomes the bucket's exemplar, so a slow bucket links to a request's logs.
//! Records pass through unchanged.
//!
//! Fields are read from the record's metadata first (what `parse` lifted), else from the
//! line itself: a JSON object's or a logfmt line's top-level fields. A record without a
//! status or duration is not a request and is skipped; one whose duration or status does
//! not parse is counted in `red_metrics_skipped_total` (when declared).
//!
//! Config (all optional):
//!
//! - `method`, `route`, `status`, `duration`, `trace_id`: the field names (defaults
//!   `method`, `route`, `status`, `duration_ms`, `trace_id`).
//! - `duration_unit`: `s`, `ms` (default), `us` or `ns`.
//! - `route_patterns`: route templates such as `"/users/{id}"`: a route (or raw path) that
//!   matches one, segment by segment with `{...}` matching any one segment, is reported as
//!   the template, so `/users/42` does not become a series per user. Others are reported as
//!   given (the metric's `max_series` still bounds them).
//! - `metric`: the histogram's name (default `http_server_request_duration_seconds`).
//!
//! The plugin declares the histogram (with the semantic convention's buckets) and
//! `red_metrics_skipped_total` itself (contract 0.1.3 `declare-metric`), so a pipeline
//! needs no `[[transforms.X.metrics]]`; one there of the same name wins (to change the
//! buckets or `max_series`), with the labels above in that order.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use sluice_plugin::scan;
use sluice_plugin::{
    counter_add, declare_metric, eq_bytes, histogram_observe_many, Batch, Config, MetricDecl,
    MetricType, Plugin,
};

/// The histogram's label names, in the order its values are passed.
pub const LABELS: [&str; 4] = [
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "service_name",
];

/// The semantic convention's buckets for `http.server.request.duration`, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "method")]
    method: String,
    #[serde(default = "route")]
    route: String,
    #[serde(default = "status")]
    status: String,
    #[serde(default = "duration")]
    duration: String,
    #[serde(default = "trace_id")]
    trace_id: String,
    #[serde(default = "ms")]
    duration_unit: String,
    #[serde(default)]
    route_patterns: Vec<String>,
    #[serde(default = "metric")]
    metric: String,
}

fn method() -> String {
    "method".into()
}
fn route() -> String {
    "route".into()
}
fn status() -> String {
    "status".into()
}
fn duration() -> String {
    "duration_ms".into()
}
fn trace_id() -> String {
    "trace_id".into()
}
fn ms() -> String {
    "ms".into()
}
fn metric() -> String {
    "http_server_request_duration_seconds".into()
}

/// The request fields of one record, borrowed from it where they can be.
#[derive(Debug, Default, PartialEq)]
pub struct Request<'a> {
    pub method: Cow<'a, str>,
    pub route: Cow<'a, str>,
    pub status: Cow<'a, str>,
    pub duration: Cow<'a, str>,
    pub trace_id: Option<Cow<'a, str>>,
}

/// The plugin.
pub struct RedMetrics {
    names: [String; 5],
    /// `names` as a quick filter: most keys of a line are turned away without comparing.
    filter: scan::KeyFilter,
    seconds_per_unit: f64,
    /// Route templates, split into segments (`None`: matches any one segment).
    patterns: Vec<Pattern>,
    histogram: u32,
    skipped: Option<u32>,
    /// Which name each metadata position held in the records seen last.
    layout: Layout,
    /// Emptied value buffers of the last batch's groups, reused by the next.
    spare_values: Vec<Vec<f64>>,
}

/// How many group value buffers are kept from one batch to the next.
const SPARE_VALUE_BUFFERS: usize = 256;

/// Per metadata pair position (the first [`LAYOUT_PAIRS`]), the index of the name found
/// there in the last record, or [`NOT_OURS`]: parse lifts the same fields in the same
/// order on every record, so each pair is checked against one name, not five.
#[derive(Clone, Copy)]
struct Layout([u8; LAYOUT_PAIRS]);

const LAYOUT_PAIRS: usize = 8;
/// A [`Layout`] entry for a key that is none of the five names (or not seen yet).
const NOT_OURS: usize = 5;

impl Default for Layout {
    fn default() -> Self {
        Layout([NOT_OURS as u8; LAYOUT_PAIRS])
    }
}

impl RedMetrics {
    /// The request fields of a record: metadata first, then the line's own fields.
    pub fn request<'a>(
        &'a self,
        metadata: impl Iterator<Item = (&'a str, &'a str)>,
        line: &'a str,
    ) -> Request<'a> {
        self.request_in(&mut Layout::default(), metadata, || line)
    }

    /// [`RedMetrics::request`], guided by (and updating) the metadata `layout` of the
    /// records before; the line is only read when the metadata lacks a field.
    fn request_in<'a>(
        &'a self,
        layout: &mut Layout,
        metadata: impl Iterator<Item = (&'a str, &'a str)>,
        line: impl FnOnce() -> &'a str,
    ) -> Request<'a> {
        let mut found: [Option<Cow<'a, str>>; 5] = Default::default();
        let filter = self.filter;
        // One pass over the record's metadata pairs (the first of a repeated key wins).
        // A pair is first compared with the name found at its position in the last record
        // (parse lifts the same fields in the same order on every record): one comparison
        // instead of a search of the five names.
        for (j, (key, value)) in metadata.enumerate() {
            let guess = layout.0.get(j).map_or(NOT_OURS, |&g| usize::from(g));
            let slot = if guess < NOT_OURS && eq_bytes(self.names[guess].as_bytes(), key.as_bytes())
            {
                guess
            } else {
                let slot = if filter.may_match(key.as_bytes()) {
                    self.names
                        .iter()
                        .position(|n| eq_bytes(n.as_bytes(), key.as_bytes()))
                        .unwrap_or(NOT_OURS)
                } else {
                    NOT_OURS
                };
                if let Some(g) = layout.0.get_mut(j) {
                    *g = slot as u8;
                }
                slot
            };
            if slot < NOT_OURS && found[slot].is_none() {
                found[slot] = Some(Cow::Borrowed(value));
            }
        }
        if found.iter().take(4).any(Option::is_none) {
            let names = &self.names;
            let mut take = |f: scan::Field<'a>| {
                if let Some(i) = names
                    .iter()
                    .position(|n| eq_bytes(n.as_bytes(), f.key.as_bytes()))
                {
                    if found[i].is_none() {
                        found[i] = Some(f.value);
                    }
                }
            };
            let line = line();
            let trimmed = line.trim_start();
            let _ = if trimmed.starts_with('{') {
                let wanted = |key: &[u8]| filter.may_match(key);
                scan::json_wanted(line, wanted, &mut take)
            } else {
                scan::logfmt(line, &mut take)
            };
        }
        let [method, route, status, duration, trace_id] = found;
        Request {
            method: method.unwrap_or_default(),
            route: route.map(|r| self.template(r)).unwrap_or_default(),
            status: status.unwrap_or_default(),
            duration: duration.unwrap_or_default(),
            trace_id,
        }
    }

    /// `route` as the first route pattern it matches, else as it is (query string cut).
    pub fn template<'a>(&'a self, route: Cow<'a, str>) -> Cow<'a, str> {
        let (end, slashes) = path_shape(route.as_bytes());
        let path = &route[..end];
        if let Some(p) = self.patterns.iter().find(|p| p.matches(path, slashes)) {
            return Cow::Borrowed(p.template.as_str());
        }
        match route {
            Cow::Borrowed(r) => Cow::Borrowed(&r[..end]),
            Cow::Owned(mut r) => {
                r.truncate(end);
                Cow::Owned(r)
            }
        }
    }

    /// The duration in seconds, when it parses as a finite, non-negative number.
    pub fn seconds(&self, duration: &str) -> Option<f64> {
        let v = match plain_decimal(duration.as_bytes()) {
            Some(v) => v,
            None => duration.trim().parse().ok()?,
        };
        (v.is_finite() && v >= 0.0).then_some(v * self.seconds_per_unit)
    }
}

impl Plugin for RedMetrics {
    fn init(config: Config) -> Result<Self, String> {
        let s: Settings = config.parse()?;
        let seconds_per_unit = match s.duration_unit.as_str() {
            "s" => 1.0,
            "ms" => 1e-3,
            "us" => 1e-6,
            "ns" => 1e-9,
            other => return Err(format!("duration_unit `{other}`: use s, ms, us or ns")),
        };
        let mut patterns = Vec::new();
        for template in &s.route_patterns {
            if !template.starts_with('/') {
                return Err(format!("route pattern `{template}` must start with `/`"));
            }
            patterns.push(Pattern::new(template));
        }
        let names = [s.method, s.route, s.status, s.duration, s.trace_id];
        Ok(RedMetrics {
            filter: scan::KeyFilter::new(names.iter().map(String::as_str)),
            names,
            seconds_per_unit,
            patterns,
            layout: Layout::default(),
            spare_values: Vec::new(),
            histogram: declare_metric(MetricDecl {
                name: &s.metric,
                kind: MetricType::Histogram,
                help: "Duration of HTTP server requests",
                unit: Some("seconds"),
                labels: &LABELS,
                buckets: &BUCKETS,
            })?,
            skipped: declare_metric(MetricDecl {
                name: "red_metrics_skipped_total",
                kind: MetricType::Counter,
                help: "Request records red-metrics could not read (a status or duration that does not parse)",
                unit: None,
                labels: &[],
                buckets: &[],
            })
            .ok(),
        })
    }

    fn process(&mut self, batch: &mut Batch) -> Result<(), String> {
        let histogram = self.histogram;
        let mut spare = std::mem::take(&mut self.spare_values);
        let this = &*self;
        let mut layout = self.layout;
        let mut skipped = 0u64;
        let cols = batch.columns();
        // `service_name` once per label set (a batch holds few), as an index into the
        // batch's distinct values.
        let mut services: Vec<&str> = Vec::new();
        let service_of_set: Vec<u32> = cols
            .label_sets
            .iter()
            .map(|set| {
                let value = set
                    .iter()
                    .find(|(n, _)| eq_bytes(n.as_bytes(), b"service_name"))
                    .map_or("", |(_, v)| v.as_str());
                let i = services
                    .iter()
                    .position(|s| *s == value)
                    .unwrap_or_else(|| {
                        services.push(value);
                        services.len() - 1
                    });
                i as u32
            })
            .collect();
        // The batch's requests grouped by their label values: one host call per group.
        let mut groups: HashMap<GroupKey<'_>, Group<'_>, KeyHash> = HashMap::default();
        let metadata = batch.metadata_columns();
        for record in batch.iter() {
            let request = this.request_in(&mut layout, metadata.pairs(record.index()), || {
                record.line()
            });
            if request.status.is_empty() && request.duration.is_empty() {
                continue; // not a request line
            }
            let status = three_digits(request.status.as_bytes());
            let Some((seconds, status)) =
                status.and_then(|s| Some((this.seconds(&request.duration)?, s)))
            else {
                skipped += 1;
                continue;
            };
            let method = if request.method.bytes().any(|b| b.is_ascii_lowercase()) {
                Cow::Owned(request.method.to_ascii_uppercase())
            } else {
                request.method
            };
            let service = service_of_set[cols.label_set_of[record.index()] as usize];
            let group = groups
                .entry(GroupKey::new(method, request.route, status, service))
                .or_insert_with(|| Group {
                    seconds: spare.pop().unwrap_or_default(),
                    trace_id: None,
                });
            group.seconds.push(seconds);
            // The exemplar goes with the last value: the last request's trace id, if any.
            group.trace_id = request.trace_id;
        }
        for (key, group) in &groups {
            let status = [
                b'0' + (key.status / 100) as u8,
                b'0' + (key.status / 10 % 10) as u8,
                b'0' + (key.status % 10) as u8,
            ];
            let status = std::str::from_utf8(&status).expect("ASCII digits");
            let labels: [&str; 4] = [
                &key.method,
                &key.route,
                status,
                services[key.service as usize],
            ];
            histogram_observe_many(
                histogram,
                &labels,
                &group.seconds,
                group.trace_id.as_deref(),
            );
        }
        if let (Some(metric), true) = (this.skipped, skipped > 0) {
            counter_add(metric, &[], skipped as f64, None);
        }
        // Keep the groups' value buffers for the next batch (bounded: a batch with
        // unusually many groups does not make them all stay).
        spare.extend(
            groups
                .into_values()
                .map(|g| g.seconds)
                .take(SPARE_VALUE_BUFFERS),
        );
        spare.truncate(SPARE_VALUE_BUFFERS);
        for values in &mut spare {
            values.clear();
        }
        self.spare_values = spare;
        self.layout = layout;
        Ok(())
    }
}

/// A status code of exactly three ASCII digits, as a number; None otherwise.
fn three_digits(b: &[u8]) -> Option<u16> {
    match *b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Where a route's path ends (its first `?` or `#`, else its length) and how many `/` the
/// path has, read 8 bytes at a time (a byte loop pays a deadline check per byte in Wasm).
fn path_shape(b: &[u8]) -> (usize, usize) {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` equal to `c` (exact: no borrow between bytes).
    let equal = |w: u64, c: u8| {
        let t = w ^ (LOW * u64::from(c));
        !(((t & !HIGH) + !HIGH) | t) & HIGH
    };
    let mut slashes = 0;
    let mut at = 0;
    while at < b.len() {
        let n = (b.len() - at).min(8);
        let mut word = [0u8; 8]; // zero padding matches none of the three bytes
        word[..n].copy_from_slice(&b[at..at + n]);
        let w = u64::from_le_bytes(word);
        let slash = equal(w, b'/');
        let stop = equal(w, b'?') | equal(w, b'#');
        if stop != 0 {
            let below = (1u64 << stop.trailing_zeros()) - 1;
            let end = at + stop.trailing_zeros() as usize / 8;
            return (end, slashes + (slash & below).count_ones() as usize);
        }
        slashes += slash.count_ones() as usize;
        at += 8;
    }
    (b.len(), slashes)
}

/// A route template (`/users/{id}/orders`), ready to match paths.
struct Pattern {
    template: String,
    /// Its segments (`None`: a `{...}` segment, matching any one).
    parts: Vec<Option<String>>,
    /// The template up to its first `{...}` segment: a path that does not start with it
    /// cannot match, told with one comparison (most paths are turned away here).
    literal_prefix: String,
    /// How many `/` a matching path has.
    slashes: usize,
    /// The template has a `{...}` segment (else only the template itself matches).
    placeholders: bool,
    /// A literal segment follows the first `{...}`: the prefix alone does not decide.
    literal_after_placeholder: bool,
}

impl Pattern {
    fn new(template: &str) -> Pattern {
        let parts: Vec<Option<String>> = template
            .split('/')
            .map(|p| (!(p.starts_with('{') && p.ends_with('}'))).then(|| p.to_string()))
            .collect();
        let literal_prefix = match parts.iter().position(Option::is_none) {
            Some(i) => {
                parts[..i]
                    .iter()
                    .map(|p| p.as_deref().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("/")
                    + "/"
            }
            None => template.to_string(),
        };
        let first_placeholder = parts.iter().position(Option::is_none);
        Pattern {
            template: template.to_string(),
            slashes: parts.len() - 1,
            placeholders: first_placeholder.is_some(),
            literal_after_placeholder: first_placeholder
                .is_some_and(|i| parts[i..].iter().any(Option::is_some)),
            parts,
            literal_prefix,
        }
    }

    /// Whether `path` (with `slashes` slashes) matches segment by segment, a `{...}`
    /// segment matching any one.
    fn matches(&self, path: &str, slashes: usize) -> bool {
        let prefix = self.literal_prefix.as_bytes();
        if slashes != self.slashes
            || path.len() < prefix.len()
            || !eq_bytes(&path.as_bytes()[..prefix.len()], prefix)
        {
            return false;
        }
        if !self.placeholders {
            return path.len() == prefix.len();
        }
        !self.literal_after_placeholder
            || path
                .split('/')
                .zip(&self.parts)
                .all(|(segment, part)| part.as_deref().is_none_or(|p| p == segment))
    }
}

/// A duration written as plain digits with at most one `.` (`12`, `40.125`), read exactly
/// as `str::parse` would, without it: the digits make an integer below 2^53 and the
/// fraction's length a power of ten up to 10^22, both exact in an f64, so their quotient is
/// the correctly rounded value (Clinger's fast path). Anything else (signs, exponents,
/// spaces, more digits) is None, for `str::parse`. Durations are parsed once per request;
/// the general parser was a tenth of the plugin's time in Wasm.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut fraction_digits = None;
    let mut digits = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
            }
            b'.' if fraction_digits.is_none() => fraction_digits = Some(b.len() - i - 1),
            _ => return None,
        }
    }
    let scale = fraction_digits.unwrap_or(0);
    if digits == 0 || mantissa >= 1 << 53 || scale >= POW10.len() {
        return None;
    }
    Some(mantissa as f64 / POW10[scale])
}

/// A group's label values, with their hash computed once when the key is made: the map
/// hashes it by that number alone and compares the values only on a hash match.
struct GroupKey<'a> {
    hash: u64,
    method: Cow<'a, str>,
    route: Cow<'a, str>,
    status: u16,
    /// Index into the batch's distinct `service_name` values.
    service: u32,
}

impl<'a> GroupKey<'a> {
    fn new(method: Cow<'a, str>, route: Cow<'a, str>, status: u16, service: u32) -> Self {
        let mut h = fnv_words(0xcbf2_9ce4_8422_2325, method.as_bytes());
        h = fnv_words(h ^ 0xff, route.as_bytes());
        h ^= u64::from(status) << 32 | u64::from(service);
        GroupKey {
            hash: h.wrapping_mul(0x0100_0000_01b3).rotate_left(29),
            method,
            route,
            status,
            service,
        }
    }
}

impl PartialEq for GroupKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.status == other.status
            && self.service == other.service
            && eq_bytes(self.method.as_bytes(), other.method.as_bytes())
            && eq_bytes(self.route.as_bytes(), other.route.as_bytes())
    }
}

impl Eq for GroupKey<'_> {}

impl std::hash::Hash for GroupKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// FNV-1a's multiply over 8 bytes at a time, the last few zero-padded into one word (a
/// byte loop pays a deadline check per byte in Wasm), then the length. A short-key hash for
/// the per-batch groups: the keys are the plugin's own, not an attacker's, and a batch
/// holds few of them.
fn fnv_words(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = h.wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    h ^= u64::from_le_bytes(last);
    h = h.wrapping_mul(0x0100_0000_01b3).rotate_left(29);
    (h ^ bytes.len() as u64).wrapping_mul(0x0100_0000_01b3)
}

/// The hasher of [`GroupKey`]s: their precomputed hash, as it is.
#[derive(Default, Clone, Copy)]
struct Precomputed(u64);

impl std::hash::Hasher for Precomputed {
    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("GroupKey hashes with write_u64 only")
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyHash = std::hash::BuildHasherDefault<Precomputed>;

/// The requests of one label set in a batch: their durations, and the last one's trace id
/// (the exemplar, which the host attaches to the last value).
struct Group<'a> {
    seconds: Vec<f64>,
    trace_id: Option<Cow<'a, str>>,
}

sluice_plugin::export_plugin!(RedMetrics);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(config: &str) -> RedMetrics {
        RedMetrics::init(Config::from_json(config).unwrap()).unwrap()
    }

    /// The fast decimal reading gives exactly what `str::parse` gives, or leaves it to it.
    #[test]
    fn plain_decimals_read_as_str_parse_reads_them() {
        let mut x = 7u64;
        let mut cases: Vec<String> = [
            "0",
            "0.0",
            "12",
            "40.125",
            "12.",
            ".5",
            "9007199254740991",
            "9007199254740992",
            "0.1",
            "0.3",
            "123456789.123456",
            "1e3",
            "-1",
            " 1",
            "1.2.3",
            "",
            ".",
            "00012.500",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..100_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let int = (x >> 20) % 100_000_000;
            let frac_len = ((x >> 8) % 9) as usize;
            let frac = format!("{:09}", (x >> 33) % 1_000_000_000);
            cases.push(if frac_len == 0 {
                int.to_string()
            } else {
                format!("{int}.{}", &frac[..frac_len])
            });
        }
        for c in &cases {
            if let Some(v) = plain_decimal(c.as_bytes()) {
                assert_eq!(v.to_bits(), c.parse::<f64>().unwrap().to_bits(), "{c}");
            }
        }
        assert_eq!(plain_decimal(b"40.125"), Some(40.125));
        assert_eq!(plain_decimal(b"1e3"), None);
        assert_eq!(plain_decimal(b"9007199254740992"), None);
    }

    #[test]
    fn fields_come_from_metadata_first_then_json_or_logfmt() {
        let p = plugin("{}");
        let none = || std::iter::empty::<(&str, &str)>();
        let json = r#"{"method":"get","route":"/users/{id}","status":503,"duration_ms":12.5,"trace_id":"abc"}"#;
        assert_eq!(
            p.request(none(), json),
            Request {
                method: "get".into(),
                route: "/users/{id}".into(),
                status: "503".into(),
                duration: "12.5".into(),
                trace_id: Some("abc".into()),
            }
        );
        let logfmt = "method=POST route=/orders status=201 duration_ms=3";
        assert_eq!(p.request(none(), logfmt).route, "/orders");
        let meta = [("status", "404"), ("status", "500")];
        assert_eq!(
            p.request(meta.into_iter(), json).status,
            "404",
            "metadata wins, first key"
        );
        assert_eq!(p.seconds("12.5"), Some(0.0125));
        assert_eq!(p.seconds("-1"), None);
        assert_eq!(p.seconds("x"), None);
    }

    /// The word-wise path reading gives what a byte loop gives, at every length and
    /// position of `/`, `?` and `#`.
    #[test]
    fn path_shape_is_the_byte_loops() {
        let mut x = 1u64;
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (x >> 58) as usize % 40;
            let path: Vec<u8> = (0..len)
                .map(|k| b"//a?#b\xff"[((x >> (k % 50)) as usize + k * 7) % 7])
                .collect();
            let end = path
                .iter()
                .position(|&b| b == b'?' || b == b'#')
                .unwrap_or(path.len());
            let slashes = path[..end].iter().filter(|&&b| b == b'/').count();
            assert_eq!(path_shape(&path), (end, slashes), "{path:?}");
        }
    }

    /// Fields found through the remembered metadata layout are those a fresh search finds,
    /// whatever order the pairs come in from one record to the next.
    #[test]
    fn metadata_layout_guides_but_never_decides() {
        let p = plugin("{}");
        let records: [&[(&str, &str)]; 5] = [
            &[
                ("trace_id", "t1"),
                ("method", "GET"),
                ("route", "/a"),
                ("status", "200"),
                ("duration_ms", "1"),
            ],
            &[
                ("method", "POST"),
                ("trace_id", "t2"),
                ("status", "500"),
                ("route", "/b"),
                ("duration_ms", "2"),
            ],
            &[
                ("x", "1"),
                ("method", "PUT"),
                ("status", "201"),
                ("status", "404"),
                ("route", "/c"),
                ("duration_ms", "3"),
            ],
            &[
                ("trace_id", "t4"),
                ("method", "GET"),
                ("route", "/a"),
                ("status", "200"),
                ("duration_ms", "1"),
            ],
            &[],
        ];
        let mut layout = Layout::default();
        for _ in 0..2 {
            for meta in records {
                let guided = p.request_in(&mut layout, meta.iter().copied(), || "");
                assert_eq!(guided, p.request(meta.iter().copied(), ""), "{meta:?}");
            }
        }
    }

    #[test]
    fn route_patterns_map_raw_paths_to_templates() {
        let p = plugin(r#"{"route_patterns": ["/users/{id}", "/users/{id}/orders/{order}"]}"#);
        let t = |r: &'static str| p.template(Cow::Borrowed(r)).into_owned();
        assert_eq!(t("/users/42"), "/users/{id}");
        assert_eq!(t("/users/42/orders/7?x=1"), "/users/{id}/orders/{order}");
        assert_eq!(t("/users"), "/users");
        assert_eq!(t("/health?probe=1"), "/health");
        assert_eq!(
            t("/users/42/orders"),
            "/users/42/orders",
            "one segment short"
        );
        assert_eq!(t("/users/"), "/users/{id}", "an empty segment is a segment");
        assert_eq!(t("/usersX/42"), "/usersX/42");
        let p = plugin(r#"{"route_patterns": ["/{tenant}/items", "/health"]}"#);
        let t = |r: &'static str| p.template(Cow::Borrowed(r)).into_owned();
        assert_eq!(t("/acme/items"), "/{tenant}/items");
        assert_eq!(t("/acme/things"), "/acme/things");
        assert_eq!(t("/health#x"), "/health");
        assert_eq!(t("/healthz"), "/healthz");
        let p = plugin(r#"{"route_patterns": ["/a/{x}/b/{y}/c"]}"#);
        let t = |r: &'static str| p.template(Cow::Borrowed(r)).into_owned();
        assert_eq!(t("/a/1/b/2/c?q"), "/a/{x}/b/{y}/c");
        assert_eq!(
            t("/a/1/x/2/c"),
            "/a/1/x/2/c",
            "a literal after a placeholder"
        );
        assert_eq!(t("/a/1/b/2/c/d"), "/a/1/b/2/c/d");
    }

    #[test]
    fn bad_config_is_an_init_error() {
        assert!(RedMetrics::init(Config::from_json(r#"{"duration_unit": "h"}"#).unwrap()).is_err());
        assert!(
            RedMetrics::init(Config::from_json(r#"{"route_patterns": ["users"]}"#).unwrap())
                .is_err()
        );
        assert!(RedMetrics::init(Config::from_json(r#"{"nope": 1}"#).unwrap()).is_err());
    }
}
