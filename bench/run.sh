#!/usr/bin/env bash
# `make bench`: the boundary micro-benchmarks, then whole-process runs. SOAK=1 adds the
# 10-minute memory run (bench/soak.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p sluice -p loki-receiver
echo "== plugin boundary (Criterion): identity plugin, batches of 1/64/1024/8192, with and without strings"
cargo bench -p sluice --bench boundary
echo "== plugin boundary: identity plugin, cost per record by batch size (quick)"
cargo run --release -p sluice --example boundary -- dist/plugins/identity.wasm
echo "== pipelines (one table, native twin in the same run)"
python3 bench/pipelines.py "${BENCH_LINES:-1000000}"
echo "== what call deadlines cost: plugins with and without epoch checks, side by side"
python3 bench/gen.py 100000 target/bench-ab.log
for plugin in "dist/plugins/redact_pii.wasm {\"rules\":[\"email\",\"ipv4\",\"credit_card\"]}" \
    "dist/plugins/parse.wasm {\"format\":\"json\",\"labels\":[\"level\"],\"metadata\":[\"req_id\"]}" \
    "dist/bench-plugins/regex_redact.wasm {}"; do
  SLUICE_AB_EPOCH=both cargo run -q --release -p sluice --example plugin_ab -- \
    target/bench-ab.log "${plugin#* }" "${plugin%% *}"
done
echo "== kubernetes_logs (CRI) vs file on the same lines"
python3 bench/kubernetes_logs.py "${BENCH_LINES:-1000000}"
echo "== the quickstart pipeline itself (stdout JSON sink)"
bench/quickstart.sh 100000
echo "== Loki sink and loki_push source"
python3 bench/loki.py "${BENCH_LINES:-1000000}"
echo "== latency: a line appended to a file -> its push at the receiver (default settings)"
python3 bench/latency.py 20 2000
echo "== redact-pii: native vs Wasm in sluice vs no plugin (PII corpus lines)"
bench/pii.sh
echo "== metrics: scrape -> (relabel -> redact-pii ->) exporter, samples per CPU-second; /apps/metrics render time"
python3 bench/metrics_pipeline.py
echo "== syslog TCP (newline, octet counting) against the file source on the same RFC 5424 lines"
python3 bench/syslog.py "${BENCH_LINES:-1000000}"
if [ "${SOAK:-0}" = 1 ]; then
  echo "== memory over 10 minutes: full pipeline to Loki at 20k lines/s"
  python3 bench/soak.py 600 20000
fi
