#!/usr/bin/env python3
"""What the red-metrics step costs: file -> parse -> blackhole against file -> parse ->
red-metrics -> blackhole on the same generated access log (method, path with ids, status,
duration, trace id), alternating the two for ROUNDS rounds; median CPU-s per 1M lines of
each and the ratio (target: the metric step adds under 25%), once with the request fields read from
the line and once with parse lifting them into metadata (in both pipelines). The
red-metrics run declares the histogram, so every line is observed (with its trace id as
exemplar).

usage: bench/red_metrics.py [LINES] [--rounds N]   (defaults 1,000,000 and 5; run from the
                                                    repository root after `make plugins`
                                                    and `cargo build --release -p sluice`)
"""
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.environ.get("SLUICE", os.path.join(ROOT, "target/release/sluice"))
PLUGINS = os.path.join(ROOT, "dist/plugins")

def parse(lifted):
    """parse: `level` as a label and `trace_id` as metadata; with `lifted`, the request
    fields too (so red-metrics reads them from metadata instead of the line)."""
    fields = '"trace_id", "method", "path", "status", "duration_ms"' if lifted else '"trace_id"'
    return f'''
[transforms.parse]
type = "wasm"
inputs = ["app"]
plugin = "{PLUGINS}/parse.wasm"
config = {{ format = "json", labels = ["level"], metadata = [{fields}] }}
'''
RED = f'''
[transforms.red]
type = "wasm"
inputs = ["parse"]
plugin = "{PLUGINS}/red_metrics.wasm"
config = {{ route = "path", route_patterns = ["/api/users/{{id}}"] }}
[[transforms.red.metrics]]
name = "http_server_request_duration_seconds"
type = "histogram"
unit = "seconds"
labels = ["http_request_method", "http_route", "http_response_status_code", "service_name"]
buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
'''


def generate(path, n):
    rnd = random.Random(1)
    routes = ["/api/orders", "/api/search", "/login"]
    with open(path, "w") as f:
        for i in range(n):
            route = f"/api/users/{rnd.randint(1, 10000)}" if i % 3 == 0 else rnd.choice(routes)
            f.write(json.dumps({
                "ts": "2025-12-01T12:00:00.000Z", "level": "info",
                "method": rnd.choice(["GET", "POST"]), "path": route,
                "status": rnd.choice([200, 200, 200, 201, 404, 500]),
                "duration_ms": round(rnd.expovariate(1 / 40), 3),
                "trace_id": "%032x" % rnd.getrandbits(128), "seq": i}, separators=(",", ":")) + "\n")


def run(tmp, input_path, n, with_red, lifted):
    cfg = os.path.join(tmp, "red.toml" if with_red else "parse.toml")
    last = "red" if with_red else "parse"
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\n[api]\nenabled = false\n[sources.app]\ntype = "file"\n'
                f'include = ["{input_path}"]\nfilename_label = false\ncheckpoint = false\n'
                f'stop_at_eof = true\n{parse(lifted)}{RED if with_red else ""}\n'
                f'[sinks.out]\ntype = "blackhole"\ninputs = ["{last}"]\n')
    subprocess.run([SLUICE, "validate", cfg], check=True, capture_output=True)
    proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit("sluice failed")
    return (usage.ru_utime + usage.ru_stime) / n * 1e6


def main():
    args = sys.argv[1:]
    rounds = 5
    if "--rounds" in args:
        at = args.index("--rounds")
        rounds = int(args[at + 1])
        del args[at:at + 2]
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "access.log")
        generate(input_path, n)
        med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
        print(f"{n} access lines, {rounds} alternating rounds; CPU-s per 1M lines (median)")
        for lifted, how in [(False, "fields read from the line"),
                            (True, "fields lifted into metadata by parse")]:
            base, red = [], []
            for _ in range(rounds):
                base.append(run(tmp, input_path, n, False, lifted))
                red.append(run(tmp, input_path, n, True, lifted))
            print(f"{how}:")
            print(f"  file -> parse -> blackhole                {med(base):8.3f}  ({1e6 / med(base):,.0f} lines/CPU-s)")
            print(f"  file -> parse -> red-metrics -> blackhole {med(red):8.3f}  ({1e6 / med(red):,.0f} lines/CPU-s)")
            print(f"  the red-metrics step adds {med(red) / med(base) - 1:+.1%} (target under +25%)", flush=True)


if __name__ == "__main__":
    main()
