//! sluice: a telemetry collector that runs logs through WebAssembly plugins.
//!
//! Map of the crate, top to bottom (layers only point down):
//!
//! - [`reload`]: runs pipeline generations, reloading on SIGHUP, `POST /-/reload` or file changes.
//! - [`topology`]: builds the running pipeline from a [`config::Config`]: channels, tasks,
//!   shutdown. [`unit_test`] runs `sluice test` cases through the same transforms.
//! - [`sources`], [`transforms`], [`sinks`]: the components, one module each.
//! - [`server`]: the one HTTP server (/metrics, /healthz, /ready, push routes).
//! - [`runtime`]: wasmtime engine, compiled-component cache, sandboxed plugin instances.
//! - [`channel`]: bounded channels and fan-out between components.
//! - [`encode`]: records as raw lines or JSON.
//! - [`loki`]: the Loki push protocol (protobuf + snappy, JSON, stream labels).
//! - [`event`]: the columnar [`event::LogBatch`] and its acknowledgement.
//! - [`config`]: TOML to typed config, with located errors.
//! - [`plugin_cli`]: `sluice plugin inspect|test|new`, tools for plugin authors.
//! - [`top`]: `sluice top`, a terminal view of a running collector read from its API.
//! - [`tap_cli`]: `sluice tap`, a live sample of the records leaving a component.
//! - [`telemetry`]: the collector's own metrics and logs.

pub mod buffer;
pub mod channel;
pub mod component;
pub mod config;
pub mod dead_letter;
pub mod encode;
pub mod event;
pub mod loki;
pub mod plugin_c;
pub mod plugin_cli;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod tap_cli;
pub mod telemetry;
pub mod top;
pub mod topology;
pub mod transforms;
pub mod unit_test;
