//! Sinks: where records leave a pipeline. One module (or folder) per `type`, holding its
//! config struct, its check and its run loop; each reads its [`Input`] until it closes,
//! writes, and settles every batch's acknowledgement (delivered only once the write
//! succeeded).
//!
//! Adding a sink: a module here whose config implements
//! `ComponentConfig<dyn Sink>`, and its line in [`KINDS`].

use futures::future::BoxFuture;

use crate::channel::Input;
use crate::event::Signal;
use crate::telemetry::ComponentMetrics;

pub mod http_client;

/// A checked sink, ready to run.
pub trait Sink: Send {
    /// The signals this sink takes; `topology::prepare` refuses inputs of any other.
    fn accepts(&self) -> &'static [Signal] {
        &[Signal::Logs]
    }

    /// The route a sink serves on the API server (an exporter Prometheus scrapes),
    /// checked against the server's own routes and every other component's.
    fn serve_path(&self) -> Option<&str> {
        None
    }

    /// The router for [`Sink::serve_path`], taken once before [`Sink::run`].
    fn route(&mut self) -> Option<axum::Router> {
        None
    }

    /// The task that writes every batch of `input` until it closes.
    fn run(self: Box<Self>, input: Input, metrics: ComponentMetrics) -> BoxFuture<'static, ()>;
}

crate::component::registry! {
    /// Every sink kind, by its `type` name.
    pub static KINDS: [dyn Sink] = {
        stdout::StdoutSinkConfig,
        file::FileSinkConfig,
        blackhole::BlackholeSinkConfig,
        loki::LokiSinkConfig,
        null::NullSinkConfig,
        prometheus_exporter::PrometheusExporterConfig,
        prometheus_remote_write::RemoteWriteSinkConfig,
    }
}
