#!/usr/bin/env python3
"""The benchmark harness: runs whole sluice processes over a generated file and prints one
table (pipeline, lines/s, lines per CPU-second, MB/s, peak RSS). CPU time and peak RSS come
from the operating system (getrusage of the child); the sink's final record count (the
collector's "sink total" log line) proves nothing was skipped.

usage: pipelines.py [LINES]        (default 1,000,000; run from the repository root)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target/release/sluice")
PLUGINS = os.path.join(ROOT, "dist/plugins")

def pipeline(data_dir, input_path, transforms):
    lines = [f'data_dir = "{data_dir}"', "[api]", "enabled = false",
             "[sources.app]", 'type = "file"', f'include = ["{input_path}"]',
             "stop_at_eof = true", "filename_label = false"]
    previous = "app"
    for name, plugin, config in transforms:
        lines += [f"[transforms.{name}]", 'type = "wasm"', f'inputs = ["{previous}"]',
                  f'plugin = "{PLUGINS}/{plugin}.wasm"', f"config = {config}"]
        previous = name
    lines += ["[sinks.out]", 'type = "blackhole"', f'inputs = ["{previous}"]']
    return "\n".join(lines) + "\n"

PIPELINES = [
    ("file -> blackhole", []),
    ("file -> identity -> blackhole", [("id", "identity", "{}")]),
    ("file -> redact-pii -> blackhole",
     [("redact", "redact_pii", '{ rules = ["email", "ipv4", "credit_card"] }')]),
    ("file -> parse -> redact-pii -> enrich -> blackhole (quickstart shape)",
     [("parse", "parse", '{ format = "json", labels = ["level"], metadata = ["req_id"] }'),
      ("redact", "redact_pii", "{}"),
      ("enrich", "enrich", '{ labels = { env = "bench" } }')]),
]

def run_one(name, transforms, input_path, n, size, tmp):
    data_dir = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "bench.toml")
    with open(cfg, "w") as f:
        f.write(pipeline(data_dir, input_path, transforms))
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
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("fields", {}).get("message") == "sink total":
            arrived = event["fields"]["records"]
    if arrived != n:
        sys.exit(f"{name}: {arrived} records arrived, expected {n}")
    cpu = usage.ru_utime + usage.ru_stime
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    return {"pipeline": name, "lines_per_s": n / wall, "lines_per_cpu_s": n / cpu,
            "mb_per_s": size / wall / 1e6, "peak_rss_mb": rss_mb, "wall_s": wall, "cpu_s": cpu}

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "input.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(n), input_path], check=True)
        size = os.path.getsize(input_path)
        print(f"input: {n} lines, {size / n:.0f} bytes/line, {size / 1e6:.1f} MB; "
              f"{os.cpu_count()} cores")
        print(f"{'pipeline':<72} {'lines/s':>10} {'lines/CPU-s':>12} {'MB/s':>7} {'peak RSS MB':>12}")
        for name, transforms in PIPELINES:
            r = run_one(name, transforms, input_path, n, size, tmp)
            print(f"{r['pipeline']:<72} {r['lines_per_s']:>10,.0f} {r['lines_per_cpu_s']:>12,.0f} "
                  f"{r['mb_per_s']:>7.1f} {r['peak_rss_mb']:>12.0f}")

if __name__ == "__main__":
    main()
