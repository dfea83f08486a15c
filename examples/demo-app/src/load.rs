//! The demo's load generator: a steady rate of requests to the demo backend, each starting
//! its own trace (a `traceparent` it makes), with a summary by status every few seconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::trace::TraceContext;

/// Sends `rate` requests a second to `target` (e.g. `http://127.0.0.1:8088`) for
/// `duration` (forever when None); returns the count of answers by status (0: no answer).
pub async fn run(target: &str, rate: u32, duration: Option<Duration>) -> BTreeMap<u16, u64> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let counts: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut last_report = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    while duration.is_none_or(|d| started.elapsed() < d) {
        tick.tick().await;
        let (method, path) = match fastrand::u32(0..10) {
            0..=4 => ("GET", format!("/api/users/{}", fastrand::u32(1..1100))),
            5..=6 => ("POST", "/api/checkout".to_owned()),
            _ => ("GET", "/api/products".to_owned()),
        };
        let request = client
            .request(method.parse().expect("a method"), format!("{target}{path}"))
            .header("traceparent", TraceContext::for_request(None).traceparent());
        let tally = counts.clone();
        in_flight.spawn(async move {
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            *tally.lock().unwrap().entry(status).or_default() += 1;
        });
        while in_flight.try_join_next().is_some() {}
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "load: answers by status so far: {:?}",
                counts.lock().unwrap()
            );
        }
    }
    while in_flight.join_next().await.is_some() {}
    let counts = counts.lock().unwrap().clone();
    counts
}
