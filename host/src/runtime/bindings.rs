//! Host-side bindings generated from wit/sluice.wit: one module per world a plugin may
//! export (`log-transform`, `metric-transform`; a `transform` plugin exports both), sharing
//! the `types` and `host` interfaces.

mod log_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "log-transform",
    });
}

mod metric_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "metric-transform",
        with: {
            "sluice:plugin/types": super::log_world::sluice::plugin::types,
            "sluice:plugin/host": super::log_world::sluice::plugin::host,
        },
    });
}

pub use log_world::sluice::plugin::host::Host;
pub use log_world::sluice::plugin::types::Host as TypesHost;
pub use log_world::sluice::plugin::types::{
    Level, LogBatch as WitBatch, MetricBatch as WitMetricBatch, MetricDecl as WitMetricDecl,
    MetricFamily as WitMetricFamily, MetricType as WitMetricType,
};
pub use log_world::{LogTransform, LogTransformIndices};
pub use metric_world::{MetricTransform, MetricTransformIndices};
