#!/usr/bin/env bash
# `make bench`: the boundary micro-benchmark, then whole-process pipeline runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p sluice
echo "== plugin boundary: identity plugin, cost per record by batch size"
cargo run --release -p sluice --example boundary -- dist/plugins/identity.wasm
echo "== pipelines"
python3 bench/pipelines.py "${BENCH_LINES:-1000000}"
echo "== the quickstart pipeline itself (stdout JSON sink)"
bench/quickstart.sh 100000
