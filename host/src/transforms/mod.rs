//! Transforms: components between sources and sinks. Only `wasm` (a plugin) for now;
//! built-ins are added here only for what a plugin cannot do.
//!
//! Adding a transform: a module here, a variant in `config::TransformConfig`, a line in the
//! topology's builder.

pub mod wasm;
