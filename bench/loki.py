#!/usr/bin/env python3
"""Loki benchmarks, each a whole process measured by the operating system:

1. file -> loki sink -> loki-receiver (the Loki wire-protocol double, counting only), no
   plugins, for the protobuf + snappy and the JSON encodings: records/s and MB/s of line
   bytes, and records per CPU-second of the sluice process (wait4). The run fails unless the
   receiver counted every record.
2. push_load -> loki_push source -> blackhole: requests/s the push receiver answers (204)
   for 1 KiB and 1 MiB protobuf pushes, and the sluice process's CPU-seconds for them
   (from /proc/PID/stat).

usage: loki.py [LINES]     (default 1,000,000; run from the repository root after
                            `cargo build --release -p sluice -p loki-receiver`)
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, start_receiver  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target/release")
SLUICE = os.path.join(REL, "sluice")



def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sink_run(encoding, input_path, n, size, tmp):
    port = free_port()
    receiver = start_receiver(port, n)
    cfg = os.path.join(tmp, f"loki-{encoding}.toml")
    with open(cfg, "w") as f:
        f.write(f"""data_dir = "{tmp}/data"
[api]
enabled = false
[sources.app]
type = "file"
include = ["{input_path}"]
stop_at_eof = true
checkpoint = false
filename_label = false
labels = {{ job = "bench" }}
[sinks.loki]
type = "loki"
inputs = ["app"]
endpoint = "http://127.0.0.1:{port}"
encoding = "{encoding}"
""")
    start = time.monotonic()
    proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    try:
        summary = receiver.communicate(timeout=30)[0].strip()
    except subprocess.TimeoutExpired:
        receiver.kill()
        sys.exit(f"{encoding}: the receiver did not count {n} records")
    if status != 0:
        sys.exit(f"{encoding}: sluice failed")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, summary


def push_runs(tmp):
    port = free_port()
    cfg = os.path.join(tmp, "push.toml")
    with open(cfg, "w") as f:
        f.write(f"""data_dir = "{tmp}/data"
[api]
address = "127.0.0.1:{port}"
[sources.push]
type = "loki_push"
max_body_bytes = 4194304
[sinks.out]
type = "blackhole"
inputs = ["push"]
""")
    proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    rows = []
    for body, requests, concurrency in [(1024, 20000, 8), (1 << 20, 300, 4)]:
        before = cpu_seconds(proc.pid)
        out = subprocess.run(
            [os.path.join(REL, "push_load"), f"http://127.0.0.1:{port}/loki/api/v1/push",
             str(body), str(requests), str(concurrency)],
            check=True, capture_output=True, text=True).stdout.strip()
        rows.append((body, concurrency, cpu_seconds(proc.pid) - before, requests, out))
    proc.terminate()
    proc.wait()
    return rows


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "input.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(n), input_path], check=True)
        size = os.path.getsize(input_path)
        print(f"input: {n} lines, {size / n:.0f} bytes/line, {size / 1e6:.1f} MB; {os.cpu_count()} cores")
        print(f"{'file -> loki sink -> receiver':<34} {'records/s':>10} {'MB/s':>7} {'rec/CPU-s':>10} {'RSS MB':>7}")
        for encoding in ["protobuf", "json"]:
            wall, cpu, rss, summary = sink_run(encoding, input_path, n, size, tmp)
            print(f"{encoding:<34} {n / wall:>10,.0f} {size / wall / 1e6:>7.1f} {n / cpu:>10,.0f} {rss:>7.0f}")
            print(f"    receiver: {summary}")
        print("push_load -> loki_push -> blackhole")
        for body, concurrency, cpu, requests, out in push_runs(tmp):
            print(f"  {body} B bodies, {concurrency} in flight: {out}")
            print(f"    sluice CPU: {cpu:.2f} s for {requests} requests ({requests / max(cpu, 0.01):,.0f} requests per CPU-s)")


if __name__ == "__main__":
    main()
