//! The collector's own telemetry: its metrics ([`metrics`]), served on /metrics, and its
//! JSON logs ([`logging`]). Internal events ([`events`]) are small functions that both log
//! and count, so what the collector says and what it counts cannot drift apart.

pub mod cpu;
pub mod events;
pub mod exposition;
pub mod histogram;
pub mod logging;
pub mod metrics;
pub mod tap;

pub use metrics::{ComponentMetrics, Telemetry};
