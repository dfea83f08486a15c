#!/usr/bin/env python3
"""The benchmark harness: runs whole sluice processes over a generated file and prints one
table (pipeline, lines/s, lines per CPU-second, MB/s, peak RSS, ratio to native). CPU time and
peak RSS come from the operating system (getrusage of the child); the sink's final record
count (the collector's "sink total" log line, and for the Loki row the receiver's count)
proves nothing was skipped. The parse and redact-pii rows are paired with the same plugin
built natively and called in process (plugins/{parse,redact-pii}/examples/native_bench.rs
and bench/regex-redact's: the plugin type and the SDK's batch code over 1024-line batches,
as sluice calls the Wasm build; sluice_plugin::twin) in the same run: "vs native" is the plugin's records per CPU-second inside sluice, from the transform's
`plugin_cpu_seconds` (CPU of its calls: guest code plus the host copying columns in and out),
over the native records per second. "vs native (row)" charges the plugin the whole CPU of
the row minus the CPU of file -> blackhole instead (adding the extra stage's thread
hand-offs), the stricter reading kept for comparison with earlier tables.

Each row is run RUNS times, interleaved with the other rows (row 1, row 2, ..., row 1,
...), and reports the run with the median CPU time: on a shared machine a single run can be
off by 20%, and interleaving spreads slow spells over every row alike. Peak RSS is the
highest of the runs. A native twin runs right after its row in every round, and the ratios
are the medians of the per-round ratios.

usage: pipelines.py [LINES] [--runs RUNS] [--only WORD,...]
  (defaults 1,000,000 and 3; `--only` keeps the rows whose name has one of the words, plus
  file -> blackhole; run from the repository root after `make plugins`,
  `cargo build --release -p sluice -p loki-receiver`)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (QUICKSTART_SHAPE, REDACT_RULES, free_port, pipeline,  # noqa: E402
                      start_receiver)

# The quickstart's shape with redact-pii's default config (every rule).
DEFAULT_SHAPE = [QUICKSTART_SHAPE[0], ("redact", "redact_pii", "{}"), QUICKSTART_SHAPE[2]]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target/release/sluice")

REDACT_RULES_JSON = '{"rules": ["email", "ipv4", "credit_card"]}'
PARSE_JSON = '{"format": "json", "labels": ["level"], "metadata": ["req_id"]}'

# (name, transforms, sink: "blackhole" or "loki", native twin (crate, config JSON) or None)
PIPELINES = [
    ("file -> blackhole", [], "blackhole", None),
    ("file -> identity -> blackhole", [("id", "identity", "{}")], "blackhole", None),
    ("file -> parse -> blackhole", [QUICKSTART_SHAPE[0]], "blackhole", ("parse", PARSE_JSON)),
    ("file -> redact-pii (email, ipv4, card) -> blackhole",
     [("redact", "redact_pii", REDACT_RULES)], "blackhole", ("redact-pii", REDACT_RULES_JSON)),
    ("file -> redact-pii (every rule) -> blackhole",
     [("redact", "redact_pii", "{}")], "blackhole", ("redact-pii", "{}")),
    # The orientation workload (email + IPv4, one `regex` crate pattern): a
    # yardstick for the Wasm/native ratio on code without hand-written SIMD.
    ("file -> regex-redact (yardstick: email, ipv4) -> blackhole",
     [("redact", "bench-plugins/regex_redact", "{}")], "blackhole", ("regex-redact", "{}")),
    ("file -> parse -> redact-pii -> enrich -> blackhole", QUICKSTART_SHAPE, "blackhole", None),
    ("file -> parse -> redact-pii -> enrich -> loki (receiver)", QUICKSTART_SHAPE, "loki", None),
    # redact-pii with no config (every rule), what most users run: issue 22's 600k target.
    ("file -> parse -> redact-pii (every rule) -> enrich -> loki", DEFAULT_SHAPE, "loki", None),
]

def build_twin(twin):
    """Builds the native twin of plugin crate `twin[0]` (its examples/native_bench.rs) and
    returns the binary. Each crate has its own target directory: every twin example is
    called native_bench."""
    crate, _config_json = twin
    target_dir = os.path.join(ROOT, "target/pii" if crate == "redact-pii" else f"target/twin-{crate}")
    features = ["--features", "native-twin"] if crate == "redact-pii" else []
    subprocess.run(["cargo", "build", "--release", "-q", "-p", crate, *features,
                    "--example", "native_bench", "--target-dir", target_dir],
                   check=True, cwd=ROOT)
    return os.path.join(target_dir, "release/examples/native_bench")

def native_twin(binary, input_path, twin):
    """Records/s of the plugin built natively and called in process, with config
    `twin[1]`."""
    out = subprocess.run([binary, input_path, "--iters", "3", "--config", twin[1]],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["records_per_s"]

def run_one(name, transforms, input_path, n, size, tmp, sink="blackhole"):
    data_dir = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "bench.toml")
    receiver = None
    loki_port = None
    if sink == "loki":
        loki_port = free_port()
        receiver = start_receiver(loki_port, n)
    with open(cfg, "w") as f:
        f.write(pipeline(data_dir, input_path, transforms, loki_port))
    # Warm the plugin cache so compile time is not measured.
    subprocess.run([SLUICE, "validate", cfg], check=True, capture_output=True)
    log_path = os.path.join(tmp, "sluice.log")
    with open(log_path, "w") as log:
        start = time.monotonic()
        proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time and peak RSS
        wall = time.monotonic() - start
    with open(log_path) as log:
        stderr = log.read()
    if status != 0:
        sys.exit(f"{name}: sluice failed:\n{stderr[-2000:]}")
    arrived = None
    plugin_cpu = 0.0
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        fields = event.get("fields", {})
        if fields.get("message") == "sink total":
            arrived = fields["records"]
        elif fields.get("message") == "transform total":
            plugin_cpu += fields["plugin_cpu_seconds"]
    if arrived != n:
        sys.exit(f"{name}: {arrived} records arrived, expected {n}")
    if receiver is not None:
        try:
            receiver.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            receiver.kill()
            sys.exit(f"{name}: the Loki receiver did not count {n} records")
    cpu = usage.ru_utime + usage.ru_stime
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    return {"pipeline": name, "lines_per_s": n / wall, "lines_per_cpu_s": n / cpu,
            "mb_per_s": size / wall / 1e6, "peak_rss_mb": rss_mb, "wall_s": wall, "cpu_s": cpu,
            "plugin_cpu_s": plugin_cpu}

def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]

def median_run(runs):
    """The run with the median CPU time, with the highest peak RSS of all runs."""
    ordered = sorted(runs, key=lambda r: r["cpu_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return chosen

def main():
    args = sys.argv[1:]
    runs = 3
    if "--runs" in args:
        at = args.index("--runs")
        runs = int(args[at + 1])
        del args[at:at + 2]
    only = None
    if "--only" in args:
        # Rows whose name contains any of these comma-separated words (file -> blackhole,
        # the baseline of the "(row)" column, always runs).
        at = args.index("--only")
        only = args[at + 1].split(",")
        del args[at:at + 2]
    rows = [p for p in PIPELINES
            if only is None or not p[1] or any(word in p[0] for word in only)]
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "input.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(n), input_path], check=True)
        size = os.path.getsize(input_path)
        print(f"input: {n} lines, {size / n:.0f} bytes/line, {size / 1e6:.1f} MB; "
              f"{os.cpu_count()} cores; median of {runs} interleaved runs per row")
        print(f"{'pipeline':<58} {'lines/s':>10} {'lines/CPU-s':>12} {'MB/s':>7} "
              f"{'peak RSS MB':>12} {'vs native':>10} {'(row)':>6}")
        twins = {name: build_twin(native) for name, _, _, native in rows if native}
        results = {name: [] for name, *_ in rows}
        # Per row with a twin: (vs native, (row)) of each round. The twin runs right after
        # its row, and the row reading takes the same round's file -> blackhole CPU, so a
        # ratio's two sides come from the same stretch of time.
        ratios = {name: [] for name in twins}
        for _ in range(runs):
            baseline_cpu = None
            for name, transforms, sink, native in rows:
                r = run_one(name, transforms, input_path, n, size, tmp, sink)
                results[name].append(r)
                if not transforms:
                    baseline_cpu = r["cpu_s"]
                if native is not None and baseline_cpu is not None:
                    rate = native_twin(twins[name], input_path, native)
                    ratios[name].append((n / r["plugin_cpu_s"] / rate,
                                         n / max(r["cpu_s"] - baseline_cpu, 1e-9) / rate))
        for name, transforms, sink, native in rows:
            r = median_run(results[name])
            ratio = row_ratio = ""
            if ratios.get(name):
                ratio = f"{median(x for x, _ in ratios[name]):.2f}"
                row_ratio = f"{median(y for _, y in ratios[name]):.2f}"
            print(f"{r['pipeline']:<58} {r['lines_per_s']:>10,.0f} {r['lines_per_cpu_s']:>12,.0f} "
                  f"{r['mb_per_s']:>7.1f} {r['peak_rss_mb']:>12.0f} {ratio:>10} {row_ratio:>6}",
                  flush=True)

if __name__ == "__main__":
    main()
