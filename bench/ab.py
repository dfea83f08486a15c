#!/usr/bin/env python3
"""Alternating runs of two sluice builds over the same pipelines, to tell whether a change
made any row slower: A, B, A, B, ... for ROUNDS rounds per row, so a slow spell of this
machine lands on both builds alike. Prints, per row, the median CPU-seconds per 1M lines of
each build and B/A (above 1: B is slower).

usage: bench/ab.py SLUICE_A SLUICE_B [LINES] [--rounds N] [--plugins-a DIR] [--plugins-b DIR]
                   (defaults 1,000,000 and 5; run from the repository root after `make
                   plugins` and `cargo build --release -p loki-receiver`; each SLUICE is a
                   release binary, e.g. one built from an older commit in a worktree; each
                   side's plugins come from dist/plugins unless --plugins-a/-b name another
                   directory of the same file names, e.g. an older build's)
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import pipelines  # noqa: E402

ROWS = [
    "file -> blackhole",
    "file -> parse -> redact-pii -> enrich -> blackhole",
    "file -> parse -> redact-pii -> enrich -> loki (receiver)",
    "file -> parse -> redact-pii (every rule) -> enrich -> loki",
]


def main():
    args = sys.argv[1:]
    rounds = 5
    plugin_dirs = [benchlib.PLUGINS, benchlib.PLUGINS]
    for flag, side in (("--plugins-a", 0), ("--plugins-b", 1)):
        if flag in args:
            at = args.index(flag)
            plugin_dirs[side] = os.path.abspath(args[at + 1])
            del args[at:at + 2]
    if "--rounds" in args:
        at = args.index("--rounds")
        rounds = int(args[at + 1])
        del args[at:at + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    builds = [os.path.abspath(args[0]), os.path.abspath(args[1])]
    n = int(args[2]) if len(args) > 2 else 1_000_000
    rows = [p for p in pipelines.PIPELINES if p[0] in ROWS]
    with tempfile.TemporaryDirectory() as tmp:
        input_path = os.path.join(tmp, "input.log")
        subprocess.run([sys.executable, os.path.join(pipelines.ROOT, "bench/gen.py"), str(n),
                        input_path], check=True)
        size = os.path.getsize(input_path)
        cpu = {(name, b): [] for name, *_ in rows for b in range(2)}
        for _ in range(rounds):
            for name, transforms, sink, _native in rows:
                for b, binary in enumerate(builds):
                    pipelines.SLUICE = binary
                    benchlib.PLUGINS = plugin_dirs[b]
                    r = pipelines.run_one(name, transforms, input_path, n, size, tmp, sink)
                    cpu[(name, b)].append(r["cpu_s"] / n * 1e6)
        print(f"{n} lines, {rounds} alternating rounds; CPU-s per 1M lines (median)")
        print(f"{'pipeline':<58} {'A':>8} {'B':>8} {'B/A':>6}")
        for name, *_ in rows:
            a = pipelines.median(cpu[(name, 0)])
            b = pipelines.median(cpu[(name, 1)])
            print(f"{name:<58} {a:>8.3f} {b:>8.3f} {b / a:>6.3f}", flush=True)


if __name__ == "__main__":
    main()
