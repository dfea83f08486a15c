#!/usr/bin/env python3
"""syslog TCP against the plain file source on the same lines: N RFC 5424 messages (bench/
gen.py's JSON lines as the message text, behind a `<PRI>1 TIMESTAMP HOST APP PROCID MSGID -`
header) go through

  file -> blackhole                    (the messages as lines of a file, stop_at_eof)
  syslog TCP, newline -> blackhole     (the same bytes, streamed over one connection)
  syslog TCP, octet counting -> blackhole   (each message as `LEN SP MSG`, RFC 6587)

and the table gives lines/s (wall, from the start of the process (file) or the first byte
sent (syslog) to the last record counted) and lines per CPU-second of the sluice process
(getrusage of the child: everything it did, start-up and shutdown included), and each row's
lines/CPU-s over the file row's. The syslog rows parse every header (labels, metadata,
timestamp) where the file row only cuts lines, so the ratio is the price of the syslog
source's framing and parsing plus the socket, against reading the page cache.

The sender is Python (sendall in 1 MiB pieces); its CPU is not counted. A syslog run ends
when the blackhole's `sluice_component_received_events_total` reaches N on /metrics (polled
every 100 ms), then sluice gets SIGTERM. Each row runs RUNS times, interleaved, and reports the
run with the median CPU time, as bench/pipelines.py does.

usage: syslog.py [LINES] [--runs RUNS] [--sluice PATH]   (defaults 1,000,000, 3 and
                                                         target/release/sluice)
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REL, ROOT, free_port  # noqa: E402

ROWS = ["file -> blackhole", "syslog TCP, newline -> blackhole",
        "syslog TCP, octet counting -> blackhole"]


def messages(input_path, out_path):
    """Writes gen.py's lines as RFC 5424 messages, one per line; returns (count, bytes)."""
    severities = {"info": 6, "warn": 4, "error": 3}
    n = 0
    with open(input_path) as src, open(out_path, "w") as out:
        for i, line in enumerate(src):
            line = line.rstrip("\n")
            level = line.split('"level":"', 1)[1].split('"', 1)[0]
            pri = 16 * 8 + severities.get(level, 6)  # local0
            ts = f"2025-11-24T12:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
            out.write(f"<{pri}>1 {ts} web{i % 4} shop {1000 + i % 8} REQ - {line}\n")
            n += 1
    return n, os.path.getsize(out_path)


def received(api_port):
    """The blackhole's received events, from /metrics (None while not answering)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith('sluice_component_received_events_total{component_id="out"'):
            return int(float(line.split()[-1]))
    return 0


def run_file(sluice, lines_path, n, tmp):
    cfg = os.path.join(tmp, "file.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\n[api]\nenabled = false\n'
                f'[sources.app]\ntype = "file"\ninclude = ["{lines_path}"]\n'
                'filename_label = false\ncheckpoint = false\nstop_at_eof = true\n'
                '[sinks.out]\ntype = "blackhole"\ninputs = ["app"]\n')
    start = time.monotonic()
    proc = subprocess.Popen([sluice, "run", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status != 0 or f'"records":{n}' not in stderr.replace(" ", ""):
        sys.exit(f"file row: sluice failed or lost records:\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def run_syslog(sluice, payload, n, tmp):
    api_port, port = free_port(), free_port()
    cfg = os.path.join(tmp, "syslog.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\n[api]\naddress = "127.0.0.1:{api_port}"\n'
                f'[sources.s]\ntype = "syslog"\naddress = "127.0.0.1:{port}"\n'
                '[sinks.out]\ntype = "blackhole"\ninputs = ["s"]\n')
    log_path = os.path.join(tmp, "syslog.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sluice, "run", cfg], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while received(api_port) is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit(f"syslog row: sluice did not start:\n{open(log_path).read()[-2000:]}")
        time.sleep(0.05)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        view = memoryview(payload)
        for at in range(0, len(view), 1 << 20):
            s.sendall(view[at:at + (1 << 20)])
    deadline = time.monotonic() + 600
    while (got := received(api_port)) != n:
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit(f"syslog row: {got} of {n} records arrived:\n{open(log_path).read()[-2000:]}")
        time.sleep(0.1)
    wall = time.monotonic() - start
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"syslog row: sluice exited with {status}:\n{open(log_path).read()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    args = sys.argv[1:]
    runs, sluice = 3, os.path.join(REL, "sluice")
    for flag in ["--runs", "--sluice"]:
        if flag in args:
            at = args.index(flag)
            value = args[at + 1]
            del args[at:at + 2]
            if flag == "--runs":
                runs = int(value)
            else:
                sluice = os.path.abspath(value)
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(n), raw],
                       check=True)
        lines_path = os.path.join(tmp, "input.log")
        n, size = messages(raw, lines_path)
        with open(lines_path, "rb") as f:
            newline = f.read()
        octet = b"".join(b"%d %s" % (len(m), m) for m in newline.split(b"\n") if m)
        print(f"input: {n} RFC 5424 messages, {size / n:.0f} bytes each with the newline; "
              f"{os.cpu_count()} cores; median of {runs} interleaved runs per row")
        results = {row: [] for row in ROWS}
        for _ in range(runs):
            results[ROWS[0]].append(run_file(sluice, lines_path, n, tmp))
            results[ROWS[1]].append(run_syslog(sluice, newline, n, tmp))
            results[ROWS[2]].append(run_syslog(sluice, octet, n, tmp))
        print(f"{'pipeline':<42} {'lines/s':>10} {'lines/CPU-s':>12} {'CPU s':>7} "
              f"{'vs file (CPU)':>14}")
        base = None
        for row in ROWS:
            wall, cpu = sorted(results[row], key=lambda r: r[1])[len(results[row]) // 2]
            per_cpu = n / cpu
            base = base or per_cpu
            print(f"{row:<42} {n / wall:>10,.0f} {per_cpu:>12,.0f} {cpu:>7.2f} "
                  f"{per_cpu / base:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
