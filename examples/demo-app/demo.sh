#!/usr/bin/env bash
# `make demo`: the demo backend (examples/demo-app) under load, sluice following its request
# log (pipelines/demo.toml: parse -> redact-pii -> red-metrics -> Loki + stdout), and the Loki
# test double (tests/loki-receiver) taking what sluice sends. With Prometheus and
# Alertmanager installed, they run too, with deploy/'s alert rules, and the demo raises the
# error rate to show an alert firing. Everything runs on 127.0.0.1 and writes under
# target/demo/; Ctrl-C stops it all. DEMO_SECONDS=N stops it after N seconds.
#
# Ports: demo app 8088, sluice 9598, Loki receiver 3100, Prometheus 9090, Alertmanager 9093.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release}
OUT=target/demo
for b in sluice demo-app loki-receiver; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b is missing (make demo builds it)" >&2; exit 1; }
done
for port in 8088 9598 3100; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is taken; stop what runs there first" >&2
    exit 1
  fi
done
rm -rf "$OUT" && mkdir -p "$OUT"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo
  echo "demo: stopped. Everything it wrote is in $OUT/."
}
trap cleanup EXIT INT TERM

wait_http() { # URL WHAT
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "demo: $2 did not come up ($1); see $OUT/" >&2
  exit 1
}

"$BIN/loki-receiver" 127.0.0.1:3100 --entries "$OUT/loki.jsonl" >"$OUT/loki-receiver.log" 2>&1 &
pids+=($!)
"$BIN/demo-app" serve --listen 127.0.0.1:8088 --log-file "$OUT/app.log" 2>"$OUT/demo-app.log" &
pids+=($!)
wait_http http://127.0.0.1:8088/healthz "the demo app"
"$BIN/sluice" run pipelines/demo.toml >"$OUT/records.jsonl" 2>"$OUT/sluice.log" &
pids+=($!)
echo "demo: starting sluice (the first start compiles the plugins: a few seconds)"
wait_http http://127.0.0.1:9598/ready "sluice"

prometheus=""
if command -v prometheus >/dev/null; then
  prometheus=$(command -v prometheus)
elif [ -x /usr/bin/prometheus ]; then
  prometheus=/usr/bin/prometheus
fi
alertmanager=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -n "$prometheus" ]; then
  mkdir -p "$OUT/prometheus"
  cat >"$OUT/prometheus.yml" <<YML
# Written by examples/demo-app/demo.sh: sluice's /metrics every 5 s, deploy/'s rules.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $PWD/deploy/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:9093"]
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["127.0.0.1:9598"]
YML
  "$prometheus" --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus" \
    --web.listen-address=127.0.0.1:9090 --enable-feature=exemplar-storage \
    >"$OUT/prometheus.log" 2>&1 &
  pids+=($!)
  if [ -n "$alertmanager" ]; then
    cat >"$OUT/alertmanager.yml" <<YML
# Written by examples/demo-app/demo.sh: alerts are kept and shown, not sent anywhere
# (deploy/alertmanager/ routes them to Slack, email and PagerDuty).
route:
  receiver: demo
  group_wait: 5s
  group_interval: 10s
receivers:
  - name: demo
YML
    "$alertmanager" --config.file="$OUT/alertmanager.yml" --storage.path="$OUT/alertmanager" \
      --web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$OUT/alertmanager.log" 2>&1 &
    pids+=($!)
  fi
fi

"$BIN/demo-app" load --target http://127.0.0.1:8088 --rate "${DEMO_RATE:-20}" 2>"$OUT/load.log" &
pids+=($!)

trace=4bf92f3577b34da6a3ce929d0e0e4736
sleep 2
curl -fsS -o /dev/null -X POST -H "traceparent: 00-$trace-00f067aa0ba902b7-01" \
  -H "X-Request-Id: demo-checkout-1" http://127.0.0.1:8088/api/checkout
sleep 3
cat <<TXT

== The demo runs (Ctrl-C stops it) ==
demo app     http://127.0.0.1:8088   (its request log: $OUT/app.log)
sluice       http://127.0.0.1:9598/metrics   (its log: $OUT/sluice.log)
Loki (test double) 127.0.0.1:3100    every entry it took: $OUT/loki.jsonl

A checkout was sent with traceparent 00-$trace-00f067aa0ba902b7-01.
Its lines as Loki got them (the trace id as structured metadata, the PII redacted):
TXT
grep "$trace" "$OUT/loki.jsonl" | head -3 | sed 's/^/  /' || echo "  (not there yet: grep $trace $OUT/loki.jsonl)"
cat <<TXT

Exemplars (each request's trace id on its duration bucket), as Prometheus asks for them:
TXT
curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' http://127.0.0.1:9598/metrics \
  | grep '^http_server_request_duration_seconds_bucket.* # {' | head -3 | sed 's/^/  /'
cat <<TXT

Look further:
  grep $trace $OUT/loki.jsonl                 # that request, across both services
  tail -f $OUT/records.jsonl                  # what sluice writes to stdout
  curl -s -H 'Accept: application/openmetrics-text' http://127.0.0.1:9598/metrics | grep -F '# {'
  curl -s -X POST 'http://127.0.0.1:8088/chaos?errors=0.3&latency_ms=400'   # make it worse
TXT

if [ -n "$prometheus" ] && [ -n "$alertmanager" ]; then
  wait_http http://127.0.0.1:9090/-/ready "Prometheus"
  wait_http http://127.0.0.1:9093/-/ready "Alertmanager"
  cat <<TXT

Prometheus   http://127.0.0.1:9090 (deploy/'s rules)   Alertmanager http://127.0.0.1:9093
In 20 s the demo raises the error rate (POST /chaos?errors=0.5); AvailabilitySLOFastBurn
fires after its 2 minutes of 'for'. Waiting for it (about 3 minutes):
TXT
  sleep 20
  curl -fsS -o /dev/null -X POST 'http://127.0.0.1:8088/chaos?errors=0.5'
  start=$SECONDS
  while :; do
    firing=$(curl -fsS 'http://127.0.0.1:9093/api/v2/alerts?active=true' 2>/dev/null \
      | python3 -c 'import json,sys; print(" ".join(sorted({a["labels"]["alertname"] for a in json.load(sys.stdin)})))' \
      2>/dev/null || true)
    if [ -n "$firing" ]; then
      echo "  firing in Alertmanager after $((SECONDS - start)) s: $firing"
      curl -fsS 'http://127.0.0.1:9093/api/v2/alerts?active=true' | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    ann = a["annotations"]
    print("   ", a["labels"]["alertname"] + ":", ann.get("summary", ""))
    print("      logs:", ann.get("logs_url", "(none)"))'
      break
    fi
    pending=$(curl -fsS 'http://127.0.0.1:9090/api/v1/alerts' 2>/dev/null \
      | python3 -c 'import json,sys; print(" ".join(sorted(a["labels"]["alertname"]+"("+a["state"]+")" for a in json.load(sys.stdin)["data"]["alerts"])))' \
      2>/dev/null || true)
    echo "  $((SECONDS - start)) s: Prometheus alerts: ${pending:-none yet}"
    if [ $((SECONDS - start)) -gt 400 ]; then
      echo "  no alert after 400 s: see $OUT/prometheus.log and http://127.0.0.1:9090/alerts"
      break
    fi
    sleep 15
  done
  curl -fsS -o /dev/null -X POST 'http://127.0.0.1:8088/chaos?errors=0'
  echo "  chaos off again."
else
  echo
  echo "(Prometheus and Alertmanager are not installed: the alerting part is skipped."
  echo " Debian: apt-get install prometheus prometheus-alertmanager)"
fi

if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
else
  echo
  echo "Ctrl-C to stop."
  wait
fi
