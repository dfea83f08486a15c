#!/usr/bin/env bash
# redact-pii speed, as ratios in one run:
#   (a) the plugin compiled natively, called directly through the SDK batch code
#       (plugins/redact-pii/examples/native_bench.rs)
#   (b) the Wasm plugin inside sluice: file (stop_at_eof) -> redact-pii -> blackhole
#   (c) the same pipeline with no plugin
# (b) and (c) run through bench/pipelines.py's run_one (CPU time and peak RSS of the child
# from wait4, and a check that every record reached the sink). The plugin's own cost is
# CPU(b) - CPU(c); "wasm/native" divides its records per CPU-second by (a)'s.
#
# usage: bench/pii.sh [LINES] [CONFIG]
#   LINES   default 500000; input = the PII dev corpus lines repeated (or bench/gen.py
#           output when the corpus is not there)
#   CONFIG  the plugin config (TOML inline table), default "{}" (every rule, masked)
# env: SLUICE (default target/release/sluice), PLUGIN_DIR (default dist/plugins)
# Needs `make plugins build`; builds the native example itself (target/pii).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-500000}
config=${2:-"{}"}
export SLUICE=${SLUICE:-target/release/sluice}
export PLUGIN_DIR=${PLUGIN_DIR:-dist/plugins}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nice -n 10 cargo build --release -j 1 -q -p redact-pii --features native-twin --example native_bench --target-dir target/pii

corpus=tests/pii/dev.jsonl
python3 - "$lines" "$tmp/input.log" "$corpus" <<'PY'
import json, os, subprocess, sys
n, out, corpus = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if os.path.exists(corpus):
    rows = [json.loads(l)["line"] for l in open(corpus, encoding="utf-8")]
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(rows[i % len(rows)] + "\n")
else:
    subprocess.run([sys.executable, "bench/gen.py", str(n), out], check=True)
PY

native=$(target/pii/release/examples/native_bench "$tmp/input.log" --iters 3 --config "$(python3 -c '
import sys, tomllib, json; print(json.dumps(tomllib.loads("c = " + sys.argv[1])["c"]))' "$config")")

python3 - "$tmp" "$lines" "$config" "$native" <<'PY'
import json, os, sys
sys.path.insert(0, "bench")
import pipelines
tmp, n, config, native = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
pipelines.SLUICE = os.path.abspath(os.environ["SLUICE"])
pipelines.PLUGINS = os.path.abspath(os.environ["PLUGIN_DIR"])
inp = os.path.join(tmp, "input.log")
size = os.path.getsize(inp)
print(f"input: {n} lines, {size / n:.0f} bytes/line, {size / 1e6:.1f} MB; {os.cpu_count()} cores; config {config}")
bare = pipelines.run_one("file -> blackhole (no plugin)", [], inp, n, size, tmp)
wasm = pipelines.run_one("file -> redact-pii (wasm) -> blackhole",
                         [("redact", "redact_pii", config)], inp, n, size, tmp)
plugin_cpu = max(wasm["cpu_s"] - bare["cpu_s"], 1e-9)
rows = [
    ("(a) native crate, direct call (1 thread)", native["records_per_s"], native["mb_per_s"], native["records_per_s"]),
    ("(b) sluice: file -> redact-pii wasm -> blackhole", wasm["lines_per_s"], wasm["mb_per_s"], wasm["lines_per_cpu_s"]),
    ("(c) sluice: file -> blackhole, no plugin", bare["lines_per_s"], bare["mb_per_s"], bare["lines_per_cpu_s"]),
    ("    plugin alone in (b): CPU(b) - CPU(c)", n / plugin_cpu, size / plugin_cpu / 1e6, n / plugin_cpu),
]
print(f"{'':52} {'records/s':>12} {'MB/s':>8} {'records/CPU-s':>14}")
for name, rps, mbs, rpc in rows:
    print(f"{name:52} {rps:>12,.0f} {mbs:>8.1f} {rpc:>14,.0f}")
print(f"wasm/native (plugin alone per CPU-s vs native): {n / plugin_cpu / native['records_per_s']:.2f}")
print(f"pipeline with plugin vs without (records/s wall): {wasm['lines_per_s'] / bare['lines_per_s']:.2f}")
print(f"peak RSS MB: with plugin {wasm['peak_rss_mb']:.0f}, without {bare['peak_rss_mb']:.0f}; "
      f"native redactions per pass {native['redactions']}")
PY
