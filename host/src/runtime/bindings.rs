//! Host-side bindings generated from wit/sluice.wit.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "log-transform",
});

pub use self::sluice::plugin::host::Host;
pub use self::sluice::plugin::types::{Level, LogBatch as WitBatch};
