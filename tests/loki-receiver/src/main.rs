//! `loki-receiver [ADDR]`: runs the Loki push test double (default 127.0.0.1:3100) and
//! prints what it stored every second; for benchmarks and trying sluice by hand.

use std::time::{Duration, Instant};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3100".into());
    let receiver = loki_receiver::Receiver::start(&addr);
    eprintln!("loki-receiver listening on {}", receiver.addr);
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        println!(
            "t={:.0}s entries={} requests={:?} bytes={} duplicates={} rejected={}",
            start.elapsed().as_secs_f64(),
            receiver.entry_count(),
            receiver.requests(),
            receiver.request_bytes(),
            receiver.duplicates(),
            receiver.rejected()
        );
    }
}
