#!/usr/bin/env python3
"""The otlp source against the http source on the same lines: N generated lines (gen.py,
~215 bytes) pushed in requests of B records to a release sluice whose only sink is a
blackhole; each request is answered only once its records are acknowledged.

- http: the lines as text/plain bodies (one record per line, no labels, no metadata).
- otlp: the same lines as log record bodies in protobuf ExportLogsServiceRequests (built
  with the opentelemetry-proto package the OTLP exporter brings), as an OpenTelemetry SDK
  sends them: one resource (service.name, k8s.namespace.name, k8s.pod.name, host.name,
  telemetry.sdk.*), one scope, per record a time, a severity, a trace and span id and two
  attributes (8 metadata pairs per record after the mapping); `--gzip` also gzip-encodes
  them (the SDK exporter's `compression=gzip`).
- otlp-bare: the same lines as bodies of records with nothing else (the protocol's own cost).

Bodies are built before the clock starts; S sender threads keep one connection each.
Prints records/s (wall) and records per CPU-second of the sluice process alone (the sender
runs on the same 2 cores, so wall rates are a lower bound).

usage: bench/otlp.py [N] [--batch B] [--senders S] [--gzip]
(after `cargo build --release -p sluice`)
"""
import argparse
import gzip
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def otlp_body(lines, first, compress, bare=False):
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    if bare:
        # The body alone: what the protocol costs without metadata.
        sl = rl.scope_logs.add()
        for line in lines:
            sl.log_records.append(LogRecord(body=AnyValue(string_value=line)))
        body = req.SerializeToString()
        return gzip.compress(body, 1) if compress else body
    for k, v in [("service.name", "checkout"), ("k8s.namespace.name", "shop"),
                 ("k8s.pod.name", "checkout-7d9f"), ("host.name", "node-1"),
                 ("telemetry.sdk.language", "python"), ("telemetry.sdk.name", "opentelemetry")]:
        rl.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    sl = rl.scope_logs.add()
    sl.scope.name = "checkout.http"
    now = time.time_ns()
    for i, line in enumerate(lines):
        n = first + i
        rec = LogRecord(
            time_unix_nano=now + n, observed_time_unix_nano=now + n,
            severity_number=9, severity_text="INFO",
            body=AnyValue(string_value=line),
            trace_id=n.to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"),
        )
        rec.attributes.append(KeyValue(key="http.route", value=AnyValue(string_value="/api/orders")))
        rec.attributes.append(KeyValue(key="seq", value=AnyValue(int_value=n)))
        sl.log_records.append(rec)
    body = req.SerializeToString()
    return gzip.compress(body, 1) if compress else body


def run(kind, lines, batch, senders, compress):
    tmp = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    port = benchlib.free_port()
    otlp = kind.startswith("otlp")
    path = "/v1/logs" if otlp else "/ingest"
    source = "otlp" if otlp else "http"
    toml = (f'data_dir = "{tmp}/data"\n[api]\naddress = "127.0.0.1:{port}"\n'
            f'[sources.push]\ntype = "{source}"\nmax_body_bytes = 104857600\n'
            f'[sinks.out]\ntype = "blackhole"\ninputs = ["push"]\n')
    bodies = []
    for first in range(0, len(lines), batch):
        chunk = lines[first:first + batch]
        if otlp:
            bodies.append(otlp_body(chunk, first, compress, bare=kind == "otlp-bare"))
        else:
            text = ("\n".join(chunk) + "\n").encode()
            bodies.append(gzip.compress(text, 1) if compress else text)
    headers = {"Content-Type": "application/x-protobuf" if otlp else "text/plain"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    proc = benchlib.start_sluice(os.path.join(tmp, "p.toml"), toml)
    try:
        statuses = []
        lock = threading.Lock()
        next_body = iter(range(len(bodies)))

        def sender():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while True:
                with lock:
                    i = next(next_body, None)
                if i is None:
                    break
                conn.request("POST", path, body=bodies[i], headers=headers)
                r = conn.getresponse()
                r.read()
                with lock:
                    statuses.append(r.status)
            conn.close()

        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        bad = [s for s in statuses if s != 200]
        if bad or len(statuses) != len(bodies):
            sys.exit(f"{kind}: {len(bad)} requests not answered 200: {sorted(set(bad))}")
        wire = sum(len(b) for b in bodies)
        return len(lines) / wall, len(lines) / cpu, wire
    finally:
        proc.terminate()
        proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".log") as f:
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "gen.py"),
                        str(args.n), f.name], check=True)
        lines = open(f.name).read().splitlines()
    print(f"{args.n} lines, {args.batch} per request, {args.senders} senders"
          f"{', gzip' if args.gzip else ''}")
    print("| source | records/s | records per CPU-s | bytes on the wire |")
    print("|---|---:|---:|---:|")
    # Interleaved, three runs each; the median row of each.
    kinds = ("http", "otlp", "otlp-bare")
    results = {kind: [] for kind in kinds}
    for _ in range(3):
        for kind in kinds:
            results[kind].append(run(kind, lines, args.batch, args.senders, args.gzip))
    for kind in kinds:
        rate, per_cpu, wire = sorted(results[kind])[1]
        print(f"| {kind} | {rate:,.0f} | {per_cpu:,.0f} | {wire / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
