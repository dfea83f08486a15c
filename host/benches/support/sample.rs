//! The sample batches the boundary benchmarks send through a plugin (shared by
//! host/benches/boundary.rs and host/examples/boundary.rs).

use sluice::event::LogBatch;

/// `records` records of one label set: with `strings`, ~215-byte JSON lines and one
/// metadata pair each; without, empty lines and no metadata.
pub fn batch(records: usize, strings: bool) -> LogBatch {
    let mut b = LogBatch::default();
    let set = b.intern_labels(&[("app".into(), "shop".into()), ("env".into(), "prod".into())]);
    for i in 0..records {
        if strings {
            let line = format!(
                "{{\"ts\":\"2025-11-24T12:00:00.{i:03}Z\",\"level\":\"info\",\"msg\":\"request by alice.{i}@example.com from 10.1.2.3 done\",\"path\":\"/api/orders\",\"status\":200,\"req_id\":\"{i:016x}\",\"seq\":{i}}}"
            );
            b.push(
                &line,
                i as i64,
                set,
                &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
            );
        } else {
            b.push("", i as i64, set, &[]);
        }
    }
    b
}
