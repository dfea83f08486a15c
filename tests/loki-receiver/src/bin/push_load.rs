//! `push_load URL BODY_BYTES REQUESTS CONCURRENCY [TOKEN]`: sends REQUESTS protobuf +
//! snappy Loki push requests of about BODY_BYTES of log lines each (one stream, 200-byte
//! lines) to URL with CONCURRENCY requests in flight, and prints requests/s, entries/s and
//! the statuses it got. Measures a `loki_push` source.

use std::time::Instant;

use loki_receiver::wire;
use prost::Message;

fn body(bytes: usize, seq: usize) -> Vec<u8> {
    let line_len = 200.min(bytes.max(1));
    let lines = (bytes / line_len).max(1);
    let entries = (0..lines)
        .map(|i| wire::EntryAdapter {
            timestamp: Some(wire::GoogleTimestamp {
                seconds: 1_700_000_000 + seq as i64,
                nanos: i as i32,
            }),
            line: format!(
                "{seq:08} {i:06} {}",
                "x".repeat(line_len.saturating_sub(16))
            ),
            structured_metadata: vec![],
        })
        .collect();
    let request = wire::PushRequest {
        streams: vec![wire::StreamAdapter {
            labels: "{job=\"load\"}".into(),
            entries,
            hash: 0,
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args[0].clone();
    let bytes: usize = args[1].parse().unwrap();
    let requests: usize = args[2].parse().unwrap();
    let concurrency: usize = args[3].parse().unwrap();
    let token = args.get(4).cloned();
    let per_request = (bytes / 200.min(bytes.max(1))).max(1);
    let bodies: Vec<bytes::Bytes> = (0..16).map(|s| body(bytes, s).into()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let start = Instant::now();
    let statuses = runtime.block_on(async {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, url, bodies, next, token) = (
                client.clone(),
                url.clone(),
                bodies.clone(),
                next.clone(),
                token.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        return statuses;
                    }
                    let mut r = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(bodies[i % bodies.len()].clone());
                    if let Some(t) = &token {
                        r = r.bearer_auth(t);
                    }
                    let status = r.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    *statuses.entry(status).or_default() += 1;
                }
            }));
        }
        let mut all = std::collections::BTreeMap::<u16, usize>::new();
        for t in tasks {
            for (k, v) in t.await.unwrap() {
                *all.entry(k).or_default() += v;
            }
        }
        all
    });
    let wall = start.elapsed().as_secs_f64();
    println!(
        "body={}B compressed={}B requests={} wall={:.2}s req_per_s={:.0} entries_per_s={:.0} MB_per_s={:.1} statuses={:?}",
        bytes,
        bodies[0].len(),
        requests,
        wall,
        requests as f64 / wall,
        (requests * per_request) as f64 / wall,
        (requests * bytes) as f64 / wall / 1e6,
        statuses
    );
}
