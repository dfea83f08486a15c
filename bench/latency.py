#!/usr/bin/env python3
"""Latency from a line appended to a file to its push arriving at the Loki receiver, with
the default batch settings: a writer appends RATE lines per second (each starting with its
write time in Unix nanoseconds) to a file that `sluice run` follows (file -> loki sink, no
plugins, default batch settings); the receiver (tests/loki-receiver, `--latency`) computes arrival
minus write time for every line and prints p50/p90/p99/max.

usage: latency.py [SECONDS] [RATE]     (default 20 s at 2,000 lines/s; after `cargo build
                                        --release -p sluice -p loki-receiver`)
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, pipeline, start_receiver, start_sluice  # noqa: E402


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    n = int(seconds * rate)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "app.log")
        open(log, "w").close()
        port = free_port()
        receiver = start_receiver(port, n, "--latency")
        sluice = start_sluice(os.path.join(tmp, "latency.toml"),
                              pipeline(f"{tmp}/data", log, [], port, follow=True))
        # Write in small bursts every millisecond or so, the way an app logs.
        start = time.monotonic()
        written = 0
        with open(log, "a", buffering=1) as f:
            while written < n:
                due = int((time.monotonic() - start) * rate)
                while written < min(due, n):
                    f.write(f"{time.time_ns()} level=info msg=\"request done\" seq={written}\n")
                    written += 1
                time.sleep(0.001)
        try:
            out = receiver.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            receiver.kill()
            sys.exit("the receiver did not get every line")
        sluice.terminate()
        sluice.wait()
        print(f"{n} lines at {rate}/s over {seconds:.0f} s, default batch settings")
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
