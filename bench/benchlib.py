"""What the bench scripts share: paths to the release binaries and plugins, a free port,
the pipeline TOML they run, starting `sluice run` on it, and starting the Loki receiver
double (tests/loki-receiver) in count-only mode."""
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target/release")
DIST = os.path.join(ROOT, "dist")
PLUGINS = os.path.join(DIST, "plugins")

REDACT_RULES = '{ rules = ["email", "ipv4", "credit_card"] }'

# parse -> redact-pii -> enrich: the quickstart's shape, as (name, plugin, config) transforms.
QUICKSTART_SHAPE = [
    ("parse", "parse", '{ format = "json", labels = ["level"], metadata = ["req_id"] }'),
    ("redact", "redact_pii", REDACT_RULES),
    ("enrich", "enrich", '{ labels = { env = "bench" } }'),
]


def pipeline(data_dir, input_path, transforms, loki_port=None, follow=False):
    """A pipeline's TOML: a file source on `input_path` (read from the beginning to the end
    and stop, or with `follow` kept open like a tailed log), the `transforms` (name,
    plugin file name in dist/plugins or "bench-plugins/NAME", config) in a line, then a
    blackhole or, with `loki_port`, the Loki sink pushing to 127.0.0.1:PORT. No API server,
    no checkpoints."""
    lines = [f'data_dir = "{data_dir}"', "[api]", "enabled = false",
             "[sources.app]", 'type = "file"', f'include = ["{input_path}"]',
             "filename_label = false", "checkpoint = false"]
    if not follow:
        lines.append("stop_at_eof = true")
    previous = "app"
    for name, plugin, config in transforms:
        # A bare name is a shipped plugin; "bench-plugins/NAME" a benchmark yardstick.
        path = f"{DIST}/{plugin}.wasm" if "/" in plugin else f"{PLUGINS}/{plugin}.wasm"
        lines += [f"[transforms.{name}]", 'type = "wasm"', f'inputs = ["{previous}"]',
                  f'plugin = "{path}"', f"config = {config}"]
        previous = name
    if loki_port is None:
        lines += ["[sinks.out]", 'type = "blackhole"', f'inputs = ["{previous}"]']
    else:
        lines += ["[sinks.out]", 'type = "loki"', f'inputs = ["{previous}"]',
                  f'endpoint = "http://127.0.0.1:{loki_port}"', 'labels = { job = "bench" }']
    return "\n".join(lines) + "\n"


def start_sluice(cfg_path, toml):
    """Writes `toml` to `cfg_path` and starts `sluice run` on it (output discarded); returns
    the process after a second, once it is reading."""
    with open(cfg_path, "w") as f:
        f.write(toml)
    proc = subprocess.Popen([os.path.join(REL, "sluice"), "run", cfg_path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc


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
