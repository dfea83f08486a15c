#!/usr/bin/env python3
"""What the metrics pipeline costs: an app endpoint exposing SERIES series (a generated
text-format file served by python's http.server) scraped every second by sluice and served
by the `prometheus_exporter` sink, in three shapes:

  scrape -> exporter
  scrape -> relabel -> exporter
  scrape -> relabel -> redact-pii -> exporter

Each row: sluice's CPU time (process_cpu_seconds_total) over SCRAPES scrapes, read in the
same /metrics answer as the sample counters, after two warm-up scrapes; samples are the
exporter's received events (every scraped sample reaches it: relabel drops the 5% `go_`
series, so its rows count fewer; the table's samples/CPU-s divide by the samples scraped,
the same work in every row). The rows alternate for ROUNDS rounds; the table shows medians
and each row's ratio to scrape -> exporter (medians of the per-round ratios).

Then the exporter's route: /apps/metrics rendered at 10k and 100k series (scrape ->
exporter scraping every 10 s, curl's time_total, median of 7 requests, each checked to hold
every series).

usage: bench/metrics_pipeline.py [SERIES] [--scrapes N] [--rounds R] [--render-series A,B]
       (defaults 10,000, 20, 3 and 10000,100000; from the repository root after `make plugins` and
       `cargo build --release -p sluice`; SLUICE=path/to/sluice for another build)
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.environ.get("SLUICE", os.path.join(ROOT, "target/release/sluice"))
PLUGINS = os.path.join(ROOT, "dist/plugins")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port  # noqa: E402

RELABEL = f'''
[transforms.relabel]
type = "wasm"
inputs = ["app"]
plugin = "{PLUGINS}/relabel.wasm"
config = {{ rules = [
  {{ source_labels = ["__name__"], regex = "go_.*", action = "drop" }},
  {{ source_labels = ["instance"], regex = "([^:]+):[0-9]+", target_label = "host" }},
  {{ source_labels = ["path"], regex = "/api/items/([0-9]+)", target_label = "item" }},
] }}
'''
REDACT = f'''
[transforms.redact]
type = "wasm"
inputs = ["relabel"]
plugin = "{PLUGINS}/redact_pii.wasm"
'''
ROWS = [
    ("scrape -> exporter", [], "app"),
    ("scrape -> relabel -> exporter", [RELABEL], "relabel"),
    ("scrape -> relabel -> redact-pii -> exporter", [RELABEL, REDACT], "redact"),
]
# What the scrape adds per target and scrape: up, scrape_duration_seconds,
# scrape_samples_scraped.
REPORT_SERIES = 3
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]


def exposition(n):
    """`n` series in the text format: 60% request counters with an id in the path, 30%
    histogram series (10 buckets, sum, count per route), 5% info series with an email and
    an IPv4 in label values (what redact-pii redacts), 5% `go_` gauges (what relabel
    drops)."""
    out = []
    counters, hist, info = n * 60 // 100, n * 30 // 100, n * 5 // 100
    gauges = n - counters - hist - info
    out += ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
    for i in range(counters):
        code = "500" if i % 50 == 0 else "200"
        method = "POST" if i % 3 == 0 else "GET"
        out.append(f'http_requests_total{{method="{method}",path="/api/items/{i}",code="{code}"}} {i * 7}')
    out += ["# HELP request_duration_seconds Latency.", "# TYPE request_duration_seconds histogram"]
    per_route = len(BUCKETS) + 2
    routes = hist // per_route
    for r in range(routes):
        for j, le in enumerate(BUCKETS):
            out.append(f'request_duration_seconds_bucket{{route="/r{r}",le="{le}"}} {j * 10 + r}')
        out.append(f'request_duration_seconds_sum{{route="/r{r}"}} {r * 1.5}')
        out.append(f'request_duration_seconds_count{{route="/r{r}"}} {90 + r}')
    gauges += hist - routes * per_route
    out += ["# HELP session_info Sessions.", "# TYPE session_info gauge"]
    for i in range(info):
        out.append(f'session_info{{user="user{i}@example.com",client="10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}} 1')
    out += ["# HELP go_memstats_thing Runtime gauges.", "# TYPE go_memstats_thing gauge"]
    for i in range(gauges):
        out.append(f'go_memstats_thing{{slot="{i}"}} {i}')
    return "\n".join(out) + "\n"


def start_app(tmp, n):
    """python's http.server on the generated file; (process, URL, samples per scrape)."""
    site = os.path.join(tmp, f"site{n}")
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "metrics.txt"), "w") as f:
        f.write(exposition(n))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             str(port), "--directory", site],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics.txt"
    for _ in range(100):
        try:
            urllib.request.urlopen(url).read()
            break
        except OSError:
            time.sleep(0.05)
    return proc, url


def pipeline(tmp, api_port, url, transforms, last, interval):
    return (f'data_dir = "{tmp}/data"\n[api]\naddress = "127.0.0.1:{api_port}"\n'
            f'[sources.app]\ntype = "prometheus_scrape"\nendpoints = ["{url}"]\njob = "bench"\n'
            f'scrape_interval_secs = {interval}\nscrape_timeout_secs = {interval}\n'
            f'max_samples_per_scrape = 1000000\n'
            + "".join(transforms)
            + f'[sinks.apps]\ntype = "prometheus_exporter"\ninputs = ["{last}"]\n'
              f'max_series = 1000000\nmax_total_series = 1000000\n')


def scrape_self(api_port):
    """sluice's /metrics: (CPU seconds, {(family, component_id): value})."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics").read().decode()
    cpu, counts = None, {}
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            cpu = float(line.split()[1])
        m = re.match(r'(sluice_component_(?:received|sent)_events_total)\{.*component_id="([^"]+)".*\} (\S+)$', line)
        if m:
            counts[(m.group(1), m.group(2))] = float(m.group(3))
    return cpu, counts


def wait_scrapes(api_port, proc, n, per_export, at_least, timeout):
    """Polls /metrics until the source scraped `at_least` samples in all (`n` a scrape) and
    the exporter took in every sample of those scrapes (`per_export` a scrape: nothing in
    flight); that reading."""
    src = ("sluice_component_received_events_total", "app")
    out = ("sluice_component_received_events_total", "apps")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("sluice exited")
        try:
            cpu, counts = scrape_self(api_port)
            scraped = counts.get(src, 0)
            if scraped >= at_least and counts.get(out, 0) >= scraped // n * per_export:
                return cpu, counts
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"sluice did not scrape {at_least} samples in {timeout} s")


def start_sluice(tmp, url, transforms, last, interval=1):
    api_port = free_port()
    cfg = os.path.join(tmp, "metrics.toml")
    with open(cfg, "w") as f:
        f.write(pipeline(tmp, api_port, url, transforms, last, interval))
    subprocess.run([SLUICE, "validate", cfg], check=True, capture_output=True)
    proc = subprocess.Popen([SLUICE, "run", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, api_port


def stop(proc):
    proc.terminate()
    proc.wait()


def run_row(tmp, url, n, per_export, scrapes, transforms, last):
    """(samples scraped, samples the exporter received, CPU seconds) over `scrapes` scrapes
    after two warm-up scrapes."""
    key_in = ("sluice_component_received_events_total", "app")
    key_out = ("sluice_component_received_events_total", "apps")
    proc, api_port = start_sluice(tmp, url, transforms, last)
    try:
        cpu0, c0 = wait_scrapes(api_port, proc, n, per_export, 2 * n, 60)
        time.sleep(max(0.0, scrapes - 1.5))  # no polling (which costs CPU) until near the end
        cpu1, c1 = wait_scrapes(api_port, proc, n, per_export, c0[key_in] + scrapes * n,
                                scrapes * 3 + 30)
    finally:
        stop(proc)
    return c1[key_in] - c0[key_in], c1[key_out] - c0[key_out], cpu1 - cpu0


def render_times(tmp, n, requests=7):
    """/apps/metrics at `n` series (scrape -> exporter, every 10 s: python's http.server
    needs more than a second for 100k series on a busy machine, and a failed scrape would
    mark every series stale): (median seconds, bytes)."""
    app, url = start_app(tmp, n)
    proc, api_port = start_sluice(tmp, url, [], "app", interval=10)
    path = os.path.join(tmp, "apps.prom")
    try:
        wait_scrapes(api_port, proc, n, n + REPORT_SERIES, n, 120)
        times, size = [], 0
        for _ in range(requests):
            out = subprocess.run(["curl", "-s", "-o", path, "-w",
                                  "%{time_total} %{size_download}",
                                  f"http://127.0.0.1:{api_port}/apps/metrics"],
                                 check=True, capture_output=True, text=True).stdout.split()
            with open(path) as f:
                held = sum(1 for line in f if not line.startswith("#"))
            if held != n + REPORT_SERIES:
                sys.exit(f"/apps/metrics held {held} series, not {n + REPORT_SERIES}")
            times.append(float(out[0]))
            size = int(out[1])
            time.sleep(0.3)
    finally:
        stop(proc)
        stop(app)
    return statistics.median(times), size


def main():
    args = sys.argv[1:]
    opts = {"--scrapes": "20", "--rounds": "3", "--render-series": "10000,100000"}
    for flag in opts:
        if flag in args:
            at = args.index(flag)
            opts[flag] = args[at + 1]
            del args[at:at + 2]
    n = int(args[0]) if args else 10_000
    scrapes, rounds = int(opts["--scrapes"]), int(opts["--rounds"])
    render_series = [int(x) for x in opts["--render-series"].split(",") if x]
    with tempfile.TemporaryDirectory() as tmp:
        app, url = start_app(tmp, n)
        # A scrape: `n` samples in (one per series), and out to the exporter the same plus
        # `up` and the report series, less the `go_` series where relabel runs.
        dropped = sum(1 for line in exposition(n).splitlines() if line.startswith("go_"))
        results = {name: [] for name, _, _ in ROWS}
        try:
            for _ in range(rounds):
                for name, transforms, last in ROWS:
                    per_export = n + REPORT_SERIES - (dropped if transforms else 0)
                    results[name].append(run_row(tmp, url, n, per_export, scrapes, transforms, last))
        finally:
            stop(app)
        print(f"{n} series scraped every second, {scrapes} scrapes per run, {rounds} alternating "
              f"rounds; medians")
        print(f"{'pipeline':45} {'scraped':>9} {'exported':>9} {'CPU-s':>7} {'samples/CPU-s':>14} {'CPU-s/1M':>9} {'vs first':>8}")
        base = [r[2] / r[0] for r in results[ROWS[0][0]]]
        for name, _, _ in ROWS:
            rs = results[name]
            per = [r[2] / r[0] for r in rs]
            scraped = statistics.median(r[0] for r in rs)
            exported = statistics.median(r[1] for r in rs)
            cpu = statistics.median(r[2] for r in rs)
            ratio = statistics.median(p / b for p, b in zip(per, base))
            print(f"{name:45} {scraped:9,.0f} {exported:9,.0f} {cpu:7.2f} "
                  f"{1 / statistics.median(per):14,.0f} {statistics.median(per) * 1e6:9.2f} {ratio:8.2f}x")
        print("/apps/metrics render (scrape -> exporter), curl time_total, median of 7:", flush=True)
        for series in render_series:
            t, size = render_times(tmp, series)
            print(f"  {series:>7,} series: {t * 1000:8.1f} ms  ({size / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
