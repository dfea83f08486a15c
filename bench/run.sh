#!/usr/bin/env bash
# `make bench`: the boundary micro-benchmark, then whole-process pipeline runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p sluice -p loki-receiver
echo "== plugin boundary: identity plugin, cost per record by batch size"
cargo run --release -p sluice --example boundary -- dist/plugins/identity.wasm
echo "== pipelines"
python3 bench/pipelines.py "${BENCH_LINES:-1000000}"
echo "== the quickstart pipeline itself (stdout JSON sink)"
bench/quickstart.sh 100000
echo "== Loki sink and loki_push source"
python3 bench/loki.py "${BENCH_LINES:-1000000}"
echo "== redact-pii: native vs Wasm in sluice vs no plugin"
bench/pii.sh
