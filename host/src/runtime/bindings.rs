//! Host-side bindings generated from wit/sluice.wit.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "log-transform",
});

pub use sluice::plugin::host::Host;
pub use sluice::plugin::types::{Level, LogBatch as WitBatch};
