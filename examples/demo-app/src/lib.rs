//! The demo backend of sluice's `make demo` (docs/tracing.md): an HTTP service whose JSON
//! request logs carry trace ids, span ids and request ids (and PII on purpose, so the
//! redaction shows), with RED metrics on its own `/metrics` under the names `red-metrics`
//! derives from those logs, chaos switches, and a load generator.

pub mod app;
pub mod load;
pub mod trace;

pub use app::{serve, Chaos, LogTo, Options};
