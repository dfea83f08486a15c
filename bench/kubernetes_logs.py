#!/usr/bin/env python3
"""kubernetes_logs (CRI) against the plain file source on the same lines: gen.py's lines
as they are in one file, and wrapped as the CRI runtime writes them
(`2026-12-07T10:00:00.123456789Z stdout F <line>`) in one container's 0.log under a
/var/log/pods-shaped dir; each read to its end (`stop_at_eof`) into a blackhole by
`sluice run`, rows interleaved RUNS times, the median-CPU run shown. CPU time and peak RSS
come from the OS (getrusage of the child); the blackhole's "sink total" proves every line
arrived. The ratio is kubernetes_logs' lines per CPU-second over file's: what decoding
the CRI line (timestamp, stream, flag) and labelling costs over reading it raw. With
--partial, every 10th line is written as two parts (`P` then `F`) that the source joins.

usage: kubernetes_logs.py [LINES] [--runs RUNS] [--partial]   (defaults 1,000,000 and 3;
    from the repository root after `cargo build --release -p sluice`)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.abspath(__file__)) + "/.."
SLUICE = os.path.join(ROOT, "target/release/sluice")
POD_DIR = "shop_checkout-7d9f8b6c5-x2x4z_0c2b0f7e-3f1a-4c55-9f0e-1b2c3d4e5f60"


def file_toml(data_dir, input_path):
    return f"""data_dir = "{data_dir}"
[api]
enabled = false
[sources.app]
type = "file"
include = ["{input_path}"]
filename_label = false
checkpoint = false
stop_at_eof = true
[sinks.out]
type = "blackhole"
inputs = ["app"]
"""


def k8s_toml(data_dir, pods_dir):
    return f"""data_dir = "{data_dir}"
[api]
enabled = false
[sources.pods]
type = "kubernetes_logs"
pods_dir = "{pods_dir}"
node_name = "bench-node"
checkpoint = false
stop_at_eof = true
[sinks.out]
type = "blackhole"
inputs = ["pods"]
"""


def cri_wrap(input_path, out_path, partial):
    """Writes each line of `input_path` as a CRI line (the time advancing 1 ms a line); with
    `partial`, every 10th line split in two parts."""
    with open(input_path) as src, open(out_path, "w") as out:
        for i, line in enumerate(src):
            line = line.rstrip("\n")
            secs, ms = divmod(i, 1000)
            ts = f"2026-12-07T10:{(secs // 60) % 60:02d}:{secs % 60:02d}.{ms:03d}456789Z"
            if partial and i % 10 == 0 and len(line) > 20:
                out.write(f"{ts} stdout P {line[:20]}\n{ts} stdout F {line[20:]}\n")
            else:
                out.write(f"{ts} stdout F {line}\n")


def run_one(name, toml, n, tmp):
    cfg = os.path.join(tmp, "bench.toml")
    with open(cfg, "w") as f:
        f.write(toml)
    subprocess.run([SLUICE, "validate", cfg], check=True, capture_output=True)
    log_path = os.path.join(tmp, "sluice.log")
    with open(log_path, "w") as log:
        start = time.monotonic()
        proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    with open(log_path) as log:
        stderr = log.read()
    if status != 0:
        sys.exit(f"{name}: sluice failed:\n{stderr[-2000:]}")
    arrived = None
    for line in stderr.splitlines():
        try:
            fields = json.loads(line).get("fields", {})
        except ValueError:
            continue
        if fields.get("message") == "sink total":
            arrived = fields["records"]
    if arrived != n:
        sys.exit(f"{name}: {arrived} records arrived, expected {n}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"name": name, "wall": wall, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024}


def main():
    args = sys.argv[1:]
    runs, partial = 3, "--partial" in args
    if partial:
        args.remove("--partial")
    if "--runs" in args:
        at = args.index("--runs")
        runs = int(args[at + 1])
        del args[at:at + 2]
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "input.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(n), plain], check=True)
        pods = os.path.join(tmp, "pods")
        container = os.path.join(pods, POD_DIR, "app")
        os.makedirs(container)
        cri = os.path.join(container, "0.log")
        cri_wrap(plain, cri, partial)
        data = os.path.join(tmp, "data")
        rows = [("file -> blackhole", file_toml(data, plain), os.path.getsize(plain)),
                ("kubernetes_logs (CRI) -> blackhole", k8s_toml(data, pods), os.path.getsize(cri))]
        print(f"input: {n} lines, {os.path.getsize(plain) / n:.0f} bytes/line raw, "
              f"{os.path.getsize(cri) / n:.0f} as CRI{' (every 10th split P+F)' if partial else ''}; "
              f"{os.cpu_count()} cores; median of {runs} interleaved runs per row")
        results = {name: [] for name, _, _ in rows}
        for _ in range(runs):
            for name, toml, _ in rows:
                results[name].append(run_one(name, toml, n, tmp))
        print(f"{'pipeline':<40} {'lines/s':>10} {'lines/CPU-s':>12} {'MB/s read':>10} {'peak RSS MB':>12}")
        per_cpu = {}
        for name, _, size in rows:
            ordered = sorted(results[name], key=lambda r: r["cpu"])
            r = ordered[len(ordered) // 2]
            per_cpu[name] = n / r["cpu"]
            print(f"{name:<40} {n / r['wall']:>10,.0f} {n / r['cpu']:>12,.0f} "
                  f"{size / r['wall'] / 1e6:>10.1f} {max(x['rss_mb'] for x in results[name]):>12.0f}")
        ratio = per_cpu[rows[1][0]] / per_cpu[rows[0][0]]
        print(f"kubernetes_logs / file, lines per CPU-second: {ratio:.2f}")


if __name__ == "__main__":
    main()
