#!/usr/bin/env bash
# Scores the redact-pii plugin through a real sluice pipeline:
#   corpus lines -> file source (read_from = beginning, stop_at_eof) -> wasm transform
#   (dist/plugins/redact_pii.wasm) -> file sink (raw) -> score.py CORPUS OUT
# and exits with score.py's status.
#
# usage: tests/pii/score.sh [CORPUS.jsonl] [PLUGIN_CONFIG_TOML_INLINE_TABLE]
#   CORPUS  default tests/pii/dev.jsonl (relative to the repo root)
#   CONFIG  the transform's config table, default "{}" (all rules, masked)
# env: SLUICE  the binary (default target/release/sluice)
#      PLUGIN  the plugin (default dist/plugins/redact_pii.wasm)
#      KEEP_TMP=1 keeps the temp dir (pipeline, input, output) and prints its path
# Needs `make plugins build` (or the two artifacts above) first.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
corpus=${1:-tests/pii/dev.jsonl}
config=${2:-"{}"}
sluice=${SLUICE:-target/release/sluice}
plugin=${PLUGIN:-dist/plugins/redact_pii.wasm}
case $sluice in /*) ;; *) sluice=$root/$sluice ;; esac
case $plugin in /*) ;; *) plugin=$root/$plugin ;; esac
case $corpus in /*) ;; *) corpus=$root/$corpus ;; esac
scorer=$root/tests/pii/score.py
for f in "$sluice" "$plugin" "$corpus" "$scorer"; do
  [ -e "$f" ] || { echo "score.sh: missing $f (run make plugins build?)" >&2; exit 2; }
done

tmp=$(mktemp -d)
if [ "${KEEP_TMP:-0}" = 1 ]; then echo "score.sh: temp dir $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

# One corpus row -> one input line.
python3 - "$corpus" "$tmp/input.log" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for row in f:
        line = json.loads(row)["line"]
        assert "\n" not in line, "a corpus line contains a newline"
        out.write(line + "\n")
PY

cat > "$tmp/pipeline.toml" <<EOF
data_dir = "$tmp/data"

[api]
enabled = false

[sources.corpus]
type = "file"
include = ["$tmp/input.log"]
read_from = "beginning"
stop_at_eof = true
filename_label = false

[transforms.redact]
type = "wasm"
inputs = ["corpus"]
plugin = "$plugin"
config = $config

[sinks.out]
type = "file"
inputs = ["redact"]
path = "$tmp/output.log"
encoding = "raw"
EOF

if ! "$sluice" run "$tmp/pipeline.toml" 2> "$tmp/sluice.log"; then
  echo "score.sh: sluice failed:" >&2
  tail -20 "$tmp/sluice.log" >&2
  exit 2
fi
echo "== $(basename "$corpus") through sluice (file -> redact-pii -> file)"
python3 "$scorer" "$corpus" "$tmp/output.log"
