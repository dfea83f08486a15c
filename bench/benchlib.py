"""What the bench scripts share: paths to the release binaries, a free port, and starting
the Loki receiver double (tests/loki-receiver) in count-only mode."""
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target/release")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(port, expect, *extra):
    """loki-receiver on `port`, counting only, exiting once `expect` entries arrived
    (its summary on stdout); `extra` flags such as "--latency"."""
    receiver = subprocess.Popen(
        [os.path.join(REL, "loki-receiver"), f"127.0.0.1:{port}", "--count-only",
         "--expect", str(expect), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.3)
    return receiver
