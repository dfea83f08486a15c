//! The Loki push protocol, both directions: the protobuf + snappy and JSON bodies of
//! `POST /loki/api/v1/push` ([`proto`], [`json`]; the sink writes protobuf entries once, in
//! [`encoded`]) and stream labels in selector form
//! ([`labels`]). The `loki` sink encodes with it, the `loki_push` source decodes with it.

pub mod encoded;
pub mod json;
pub mod labels;
pub mod proto;

/// The push path Loki serves.
pub const PUSH_PATH: &str = "/loki/api/v1/push";
