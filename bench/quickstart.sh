#!/usr/bin/env bash
# Throughput of the quickstart pipeline itself (parse -> redact-pii -> enrich -> stdout as
# JSON) on N generated lines: pipelines/quickstart.toml with its input swapped for the
# generated file and stop_at_eof set, stdout to /dev/null, timed by /usr/bin/time.
# usage: bench/quickstart.sh [N]   (default 100000; needs `make plugins build`)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/gen.py "$n" "$tmp/input.log"
sed -e "s|^include = .*|include = [\"$tmp/input.log\"]\nstop_at_eof = true|" \
    -e "s|^data_dir = .*|data_dir = \"$PWD/target/quickstart-data\"|" \
    -e "s|\.\./dist/|$PWD/dist/|" \
    -e "s|^address = .*|address = \"127.0.0.1:0\"|" \
    pipelines/quickstart.toml > "$tmp/quickstart.toml"
target/release/sluice validate "$tmp/quickstart.toml" >/dev/null 2>&1  # warm the plugin cache
/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" target/release/sluice run "$tmp/quickstart.toml" \
    > "$tmp/out.jsonl" 2> "$tmp/log"
read -r wall user sys rss < "$tmp/time"
lines=$(wc -l < "$tmp/out.jsonl")
[ "$lines" -eq "$n" ] || { echo "only $lines of $n records arrived"; exit 1; }
python3 - "$n" "$wall" "$user" "$sys" "$rss" <<'PY'
import sys
n, wall, user, sys_, rss = int(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
print(f"quickstart on {n} lines: {n / wall:,.0f} records/s wall, "
      f"{n / (user + sys_):,.0f} records per CPU-second, peak RSS {rss / 1024:.0f} MB "
      f"(wall {wall:.2f} s, CPU {user + sys_:.2f} s)")
PY
