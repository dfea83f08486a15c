#!/usr/bin/env python3
"""Memory over time: the full pipeline (file -> parse -> redact-pii -> enrich -> loki sink ->
loki-receiver) runs for SECONDS while a writer appends RATE generated lines per second to the
followed file; the collector's resident memory (VmRSS from /proc) is sampled every 10 s.
Prints the samples, the peak (VmHWM) and the receiver's final count, which must equal what
was written.

usage: soak.py [SECONDS] [RATE]     (default 600 s at 20,000 lines/s; after `make plugins`
                                     and `cargo build --release -p sluice -p loki-receiver`)
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (QUICKSTART_SHAPE, free_port, pipeline, start_receiver,  # noqa: E402
                      start_sluice)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MB
    return 0.0


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    n = seconds * rate
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source.log")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench/gen.py"), str(min(n, 1_000_000)), source],
                       check=True)
        with open(source, "rb") as f:
            pool = f.read().splitlines(keepends=True)
        log = os.path.join(tmp, "app.log")
        open(log, "w").close()
        port = free_port()
        receiver = start_receiver(port, n)
        sluice = start_sluice(os.path.join(tmp, "soak.toml"),
                              pipeline(f"{tmp}/data", log, QUICKSTART_SHAPE, port, follow=True))
        start = time.monotonic()
        written = 0
        samples = []
        next_sample = 0.0
        with open(log, "ab") as f:
            while written < n:
                elapsed = time.monotonic() - start
                if elapsed >= next_sample:
                    samples.append((elapsed, status(sluice.pid, "VmRSS")))
                    print(f"t={elapsed:6.0f}s rss={samples[-1][1]:6.1f} MB written={written}", flush=True)
                    next_sample += 10
                due = min(int(elapsed * rate), n)
                if due > written:
                    f.write(b"".join(pool[i % len(pool)] for i in range(written, due)))
                    f.flush()
                    written = due
                time.sleep(0.01)
        try:
            summary = receiver.communicate(timeout=60)[0].strip()
        except subprocess.TimeoutExpired:
            receiver.kill()
            summary = f"receiver did not count all {n}"
        samples.append((time.monotonic() - start, status(sluice.pid, "VmRSS")))
        peak = status(sluice.pid, "VmHWM")
        sluice.terminate()
        sluice.wait()
        rss = [r for _, r in samples]
        first_min = [r for t, r in samples if t >= 60][:1] or rss[:1]
        print(f"{n} lines at {rate}/s over {seconds} s: RSS after 1 min {first_min[0]:.1f} MB, "
              f"at the end {rss[-1]:.1f} MB, max sampled {max(rss):.1f} MB, peak (VmHWM) {peak:.1f} MB")
        print(f"receiver: {summary}")


if __name__ == "__main__":
    main()
