//! The limits the double enforces, with Loki's defaults (`pkg/validation/limits.go`,
//! `pkg/distributor/distributor.go`, `pkg/ingester/ingester.go`), and the reasons it refuses
//! entries for, named as Loki names them in `loki_discarded_samples_total{reason}`.

use std::fmt;
use std::time::{Duration, Instant};

/// A token bucket's rate and burst, in bytes (Loki measures entries as line bytes plus
/// structured metadata name and value bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Bytes per second the bucket refills by.
    pub bytes_per_sec: f64,
    /// Bytes the bucket holds (and starts with); a larger entry never passes.
    pub burst: usize,
}

/// What the double refuses and how much it takes. `Limits::default()` is Loki's defaults;
/// each builder method changes one limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `max_line_size` (256KB, parsed by Loki as 262144 bytes); 0: no limit.
    pub max_line_size: usize,
    /// `reject_old_samples` (true).
    pub reject_old_samples: bool,
    /// `reject_old_samples_max_age` (7d).
    pub reject_old_samples_max_age: Duration,
    /// `creation_grace_period` (10m): how far into the future an entry may be.
    pub creation_grace_period: Duration,
    /// `max_label_name_length` (1024 bytes).
    pub max_label_name_length: usize,
    /// `max_label_value_length` (2048 bytes).
    pub max_label_value_length: usize,
    /// `max_label_names_per_series` (15), not counting `service_name`.
    pub max_label_names_per_series: usize,
    /// `allow_structured_metadata` (true).
    pub allow_structured_metadata: bool,
    /// `max_structured_metadata_size` (64kb = 65536 bytes of names and values per entry,
    /// `detected_level` not counted); 0: no limit.
    pub max_structured_metadata_size: usize,
    /// `max_structured_metadata_entries_count` (128 pairs per entry); 0: no limit.
    pub max_structured_metadata_entries_count: usize,
    /// How far behind its stream's newest entry an entry may be: `max_chunk_age / 2`
    /// (2h / 2 = 1h).
    pub out_of_order_window: Duration,
    /// `per_stream_rate_limit` / `per_stream_rate_limit_burst` (3MB/s, 15MB); `None`: off.
    pub per_stream_rate_limit: Option<RateLimit>,
    /// The tenant's `ingestion_rate_mb` / `ingestion_burst_size_mb` (Loki: 4MB/s, 6MB,
    /// answered 429 for the whole push). Off (`None`) by default in the double, see
    /// [`Limits::loki_ingestion_rate_limit`].
    pub ingestion_rate_limit: Option<RateLimit>,
    /// `distributor.max_recv_msg_size` (100MB): a larger body (as sent) gets 413.
    pub max_recv_msg_size: usize,
    /// `distributor.max_decompressed_size` (5000MB): a body decompressing to more gets 413.
    pub max_decompressed_size: usize,
}

const MIB: usize = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_size: 256 * 1024,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            creation_grace_period: Duration::from_secs(10 * 60),
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_label_names_per_series: 15,
            allow_structured_metadata: true,
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
            out_of_order_window: Duration::from_secs(3600),
            per_stream_rate_limit: Some(RateLimit {
                bytes_per_sec: (3 * MIB) as f64,
                burst: 15 * MIB,
            }),
            ingestion_rate_limit: None,
            max_recv_msg_size: 100 * MIB,
            max_decompressed_size: 5000 * MIB,
        }
    }
}

impl Limits {
    /// Loki's default tenant ingestion rate limit (4MB/s, burst 6MB), for
    /// [`Limits::ingestion_rate_limit`]. Not on by default: it throttles a whole tenant, and
    /// tests of throttling use [`crate::Fault::Throttle`].
    pub fn loki_ingestion_rate_limit() -> RateLimit {
        RateLimit {
            bytes_per_sec: (4 * MIB) as f64,
            burst: 6 * MIB,
        }
    }

    pub fn max_line_size(mut self, bytes: usize) -> Self {
        self.max_line_size = bytes;
        self
    }

    pub fn reject_old_samples(mut self, on: bool) -> Self {
        self.reject_old_samples = on;
        self
    }

    pub fn reject_old_samples_max_age(mut self, age: Duration) -> Self {
        self.reject_old_samples_max_age = age;
        self
    }

    pub fn creation_grace_period(mut self, grace: Duration) -> Self {
        self.creation_grace_period = grace;
        self
    }

    pub fn max_label_name_length(mut self, bytes: usize) -> Self {
        self.max_label_name_length = bytes;
        self
    }

    pub fn max_label_value_length(mut self, bytes: usize) -> Self {
        self.max_label_value_length = bytes;
        self
    }

    pub fn max_label_names_per_series(mut self, n: usize) -> Self {
        self.max_label_names_per_series = n;
        self
    }

    pub fn allow_structured_metadata(mut self, on: bool) -> Self {
        self.allow_structured_metadata = on;
        self
    }

    pub fn max_structured_metadata_size(mut self, bytes: usize) -> Self {
        self.max_structured_metadata_size = bytes;
        self
    }

    pub fn max_structured_metadata_entries_count(mut self, n: usize) -> Self {
        self.max_structured_metadata_entries_count = n;
        self
    }

    pub fn out_of_order_window(mut self, window: Duration) -> Self {
        self.out_of_order_window = window;
        self
    }

    pub fn per_stream_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.per_stream_rate_limit = limit;
        self
    }

    pub fn ingestion_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.ingestion_rate_limit = limit;
        self
    }

    pub fn max_recv_msg_size(mut self, bytes: usize) -> Self {
        self.max_recv_msg_size = bytes;
        self
    }

    pub fn max_decompressed_size(mut self, bytes: usize) -> Self {
        self.max_decompressed_size = bytes;
        self
    }
}

/// Why an entry was refused: Loki's `reason` label of `loki_discarded_samples_total`
/// ([`Reason::as_str`]), plus [`Reason::Marked`] for the double's own
/// [`crate::Receiver::reject_lines_containing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Older than `reject_old_samples_max_age` (distributor, 400).
    GreaterThanMaxSampleAge,
    /// Newer than now + `creation_grace_period` (distributor, 400).
    TooFarInFuture,
    /// Longer than `max_line_size` (distributor, 400).
    LineTooLong,
    /// Structured metadata while `allow_structured_metadata` is off (distributor, 400).
    DisallowedStructuredMetadata,
    /// Structured metadata over `max_structured_metadata_size` (distributor, 400).
    StructuredMetadataTooLarge,
    /// More pairs than `max_structured_metadata_entries_count` (distributor, 400).
    StructuredMetadataTooMany,
    /// No label left once empty values are dropped (distributor, 400).
    MissingLabels,
    /// More than `max_label_names_per_series` names, `service_name` aside (distributor, 400).
    MaxLabelNamesPerSeries,
    /// A label name over `max_label_name_length` (distributor, 400).
    LabelNameTooLong,
    /// A label value over `max_label_value_length` (distributor, 400).
    LabelValueTooLong,
    /// The same label name twice (distributor, 400).
    DuplicateLabelNames,
    /// Over the tenant's ingestion rate: the whole push is refused (distributor, 429).
    RateLimited,
    /// Older than its stream's newest entry minus the out-of-order window (ingester, 400
    /// when it is the last failing stream of the push, otherwise unreported).
    TooFarBehind,
    /// Over the per-stream rate limit (ingester, 429 when it is the last failing stream
    /// of the push, otherwise unreported).
    StreamRateLimit,
    /// The line contains the marker of [`crate::Receiver::reject_lines_containing`] (400).
    Marked,
}

impl Reason {
    /// Loki's name for it (`pkg/validation/validate.go`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            Reason::TooFarInFuture => "too_far_in_future",
            Reason::LineTooLong => "line_too_long",
            Reason::DisallowedStructuredMetadata => "disallowed_structured_metadata",
            Reason::StructuredMetadataTooLarge => "structured_metadata_too_large",
            Reason::StructuredMetadataTooMany => "structured_metadata_too_many",
            Reason::MissingLabels => "missing_labels",
            Reason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            Reason::LabelNameTooLong => "label_name_too_long",
            Reason::LabelValueTooLong => "label_value_too_long",
            Reason::DuplicateLabelNames => "duplicate_label_names",
            Reason::RateLimited => "rate_limited",
            Reason::TooFarBehind => "too_far_behind",
            Reason::StreamRateLimit => "per_stream_rate_limit",
            Reason::Marked => "marked",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token bucket that starts full and lets `n` bytes through only when it holds them,
/// taking nothing otherwise (as `golang.org/x/time/rate`'s `AllowN`).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    pub(crate) limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            tokens: limit.burst as f64,
            last: Instant::now(),
        }
    }

    pub(crate) fn allow(&mut self, n: usize) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens =
            (self.tokens + elapsed * self.limit.bytes_per_sec).min(self.limit.burst as f64);
        if n as f64 <= self.tokens {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}
