//! Criterion micro-benchmark of the plugin boundary: the identity plugin called on batches
//! of 1, 64, 1024 and 8192 records, once with ~215-byte lines, a label set and a metadata
//! pair per record ("with strings") and once with empty lines and no metadata ("without
//! strings"), so the fixed cost of a call and the cost of moving text are told apart. The
//! time covers copying the columns into the guest, the call, lifting the result and
//! validating it.
//!
//! usage: `make plugins && cargo bench -p sluice --bench boundary`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use sluice::runtime::{PluginInstance, PluginRuntime};

#[path = "support/sample.rs"]
mod sample;

fn boundary(c: &mut Criterion) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/plugins/identity.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `make plugins`",
        path.display()
    );
    let runtime = PluginRuntime::new(None).expect("engine");
    let plugin = runtime.load(&path).expect("load the identity plugin");
    let mut instance = PluginInstance::standalone(&plugin, "{}", 256, None).expect("instance");
    for (name, strings) in [("with_strings", true), ("without_strings", false)] {
        let mut group = c.benchmark_group(format!("boundary/{name}"));
        for size in [1usize, 64, 1024, 8192] {
            let template = sample::batch(size, strings);
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &template, |b, t| {
                b.iter_batched(
                    || t.clone(),
                    |mut batch| {
                        instance.process(&mut batch).expect("identity never fails");
                        batch
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = boundary
}
criterion_main!(benches);
