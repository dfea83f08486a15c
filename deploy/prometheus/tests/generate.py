"""Writes the promtool unit tests deploy/prometheus/tests/*.test.yml from the cases below.

    python3 deploy/prometheus/tests/generate.py              # cases only
    python3 deploy/prometheus/tests/generate.py --annotate   # and the expected annotations

promtool compares a firing alert's annotations exactly, so --annotate runs promtool once
and writes the rendered summary, description, runbook_url and logs_url it reports into
the expectations: they are a snapshot. Read the diff before committing it; the checks
that matter (labels, when an alert fires, stays quiet and resolves) are written here by
hand. Needs promtool and PyYAML."""
import json
import os
import re
import subprocess
import sys

import yaml

T = os.path.dirname(os.path.abspath(__file__))

H = 'http_server_request_duration_seconds'
def req(svc="checkout", status="200", route="/api/orders", suffix="_count", extra=""):
    return (f'{H}{suffix}{{job="sluice", instance="sluice:9598", component_id="red", service_name="{svc}", '
            f'http_request_method="GET", http_route="{route}", http_response_status_code="{status}"{extra}}}')

def quiet(t, name): return {"eval_time": t, "alertname": name, "exp_alerts": []}
def fires(t, name, labels): return {"eval_time": t, "alertname": name, "exp_alerts": [{"exp_labels": labels}]}

files = {}
# ---------------------------------------------------------------- SLO
slo = []
def avail(ok, err): return [{"series": req(status="200"), "values": ok}, {"series": req(status="503"), "values": err}]
def lat(count, fast): return [{"series": req(), "values": count}, {"series": req(suffix="_bucket", extra=', le="0.5"'), "values": fast}]
sl = lambda s, sev: {"severity": sev, "slo": s, "service": "checkout", "service_name": "checkout"}
# availability: 1.5% errors for 70 min, then none -> all three fire, then resolve
burn = avail("0+985x70 69950+1000x500", "0+15x70 1050+0x500")
slo.append({"name": "availability: 1.5% errors for 70 min fire all three tiers, then resolve", "interval": "1m",
  "input_series": burn, "alert_rule_test": [
    quiet("1m", "AvailabilitySLOFastBurn"),
    fires("10m", "AvailabilitySLOFastBurn", sl("availability", "page")),
    quiet("80m", "AvailabilitySLOFastBurn"),
    quiet("10m", "AvailabilitySLOSlowBurn"),
    fires("40m", "AvailabilitySLOSlowBurn", sl("availability", "page")),
    quiet("115m", "AvailabilitySLOSlowBurn"),
    quiet("55m", "AvailabilitySLOBudgetTicket"),
    fires("66m", "AvailabilitySLOBudgetTicket", sl("availability", "ticket")),
    quiet("450m", "AvailabilitySLOBudgetTicket")]})
slo.append({"name": "availability: 1.4% errors (just under 14.4x) does not page fast", "interval": "1m",
  "input_series": avail("0+986x100", "0+14x100"), "alert_rule_test": [quiet("70m", "AvailabilitySLOFastBurn")]})
slo.append({"name": "availability: a one-minute blip of 50% errors in an hour of traffic does not page (1h window)", "interval": "1m",
  "input_series": avail("0+1000x120", "0x60 500x60"), "alert_rule_test": [quiet("64m", "AvailabilitySLOFastBurn"), quiet("66m", "AvailabilitySLOFastBurn")]})
slo.append({"name": "availability: 0.59% errors (just under 6x) and a 10-minute 3% blip do not page slow", "interval": "1m",
  "input_series": avail("0+9941x400", "0+59x400"), "alert_rule_test": [quiet("390m", "AvailabilitySLOSlowBurn")]})
slo.append({"name": "availability: a 10-minute blip of 3% errors after 6h of clean traffic does not page slow (6h window)", "interval": "1m",
  "input_series": avail("0+10000x370 3700000+9700x10 3797000+10000x20", "0x370 0+300x10 3000x20"),
  "alert_rule_test": [quiet("385m", "AvailabilitySLOSlowBurn")]})
slo.append({"name": "availability: 0.095% errors (just under 1x) opens no ticket", "interval": "1m",
  "input_series": avail("0+19981x500", "0+19x500"), "alert_rule_test": [quiet("480m", "AvailabilitySLOBudgetTicket")]})

# latency: 20% slower than 0.5 s for 70 min, then none
slo.append({"name": "latency: 20% slow for 70 min fire all three tiers, then resolve", "interval": "1m",
  "input_series": lat("0+1000x70 71000+1000x500", "0+800x70 56800+1000x500"), "alert_rule_test": [
    fires("10m", "LatencySLOFastBurn", sl("latency", "page")),
    quiet("80m", "LatencySLOFastBurn"),
    fires("40m", "LatencySLOSlowBurn", sl("latency", "page")),
    quiet("115m", "LatencySLOSlowBurn"),
    fires("66m", "LatencySLOBudgetTicket", sl("latency", "ticket")),
    quiet("450m", "LatencySLOBudgetTicket")]})
slo.append({"name": "latency: 14% slow (just under 14.4x) does not page fast", "interval": "1m",
  "input_series": lat("0+1000x100", "0+860x100"), "alert_rule_test": [quiet("70m", "LatencySLOFastBurn")]})
slo.append({"name": "latency: 5.9% slow does not page slow", "interval": "1m",
  "input_series": lat("0+1000x400", "0+941x400"), "alert_rule_test": [quiet("390m", "LatencySLOSlowBurn")]})
slo.append({"name": "latency: 0.95% slow opens no ticket", "interval": "1m",
  "input_series": lat("0+2000x500", "0+1981x500"), "alert_rule_test": [quiet("480m", "LatencySLOBudgetTicket")]})
slo.append({"name": "latency: a one-minute blip of 50% slow requests does not page (1h window)", "interval": "1m",
  "input_series": lat("0+1000x120", "0+1000x60 60500+1000x60"), "alert_rule_test": [quiet("64m", "LatencySLOFastBurn")]})
files["slo-alerts.test.yml"] = (["../rules/recording.yml", "../rules/slo-alerts.yml"], slo)
# Three days at a 10-minute step (a 1-minute step takes promtool half a minute).
files["slo-ticket-3d.test.yml"] = (["../rules/recording.yml", "../rules/slo-alerts.yml"], [
  {"name": "availability: one hour of 1% errors after three clean days opens no ticket (3d window)", "interval": "10m",
   "input_series": avail("0+10000x432 4320000+9900x12", "0x432 0+100x12"),
   "alert_rule_test": [quiet("4380m", "AvailabilitySLOBudgetTicket")]},
  {"name": "latency: one hour of 1% slow requests after three clean days opens no ticket (3d window)", "interval": "10m",
   "input_series": lat("0+10000x444", "0+10000x432 4320000+9900x12"),
   "alert_rule_test": [quiet("4380m", "LatencySLOBudgetTicket")]}], "10m")

# ---------------------------------------------------------------- service
svc = []
sv = lambda sev, **kw: dict({"severity": sev, "service": "checkout", "service_name": "checkout"}, **kw)
svc.append({"name": "traffic stops for 40 min: fires after 10 min at zero, resolves when it returns", "interval": "1m",
  "input_series": [{"series": req(), "values": "0+100x30 3000x40 3000+100x30"}], "alert_rule_test": [
    quiet("30m", "ServiceTrafficDropped"), fires("50m", "ServiceTrafficDropped", sv("page")), quiet("80m", "ServiceTrafficDropped")]})
svc.append({"name": "a 5-minute gap and a trickle of one request a minute do not fire", "interval": "1m",
  "input_series": [{"series": req(), "values": "0+100x30 3000x5 3000+100x30"}, {"series": req(svc="cart"), "values": "0+1x100"}],
  "alert_rule_test": [quiet("40m", "ServiceTrafficDropped"), quiet("50m", "ServiceTrafficDropped"), quiet("90m", "ServiceTrafficDropped")]})
def hist(name, per_min_by_le):
    # per_min_by_le: dict le -> values string (cumulative buckets)
    out = [{"series": req(route="/api/orders/{id}", suffix="_bucket", extra=f', le="{le}"'), "values": v} for le, v in per_min_by_le.items()]
    out.append({"series": req(route="/api/orders/{id}"), "values": per_min_by_le["+Inf"]})
    return out
svc.append({"name": "p99 of a route at 2.5 s for 30 min fires, resolves when requests are fast again", "interval": "1m",
  "input_series": hist("slow", {"0.5": "0x30 0+100x30", "1": "0x30 0+100x30", "2.5": "0+100x30 3000+100x30", "+Inf": "0+100x30 3000+100x30"}),
  "alert_rule_test": [quiet("5m", "RouteLatencyP99High"),
    fires("20m", "RouteLatencyP99High", sv("ticket", http_route="/api/orders/{id}", quantile="0.99")), quiet("50m", "RouteLatencyP99High")]})
svc.append({"name": "p99 just under 1 s (every request in (0.5, 1]) and a 3-minute slow blip do not fire", "interval": "1m",
  "input_series": hist("fast", {"0.5": "0x60", "1": "0+100x30 3000x3 3000+100x30", "2.5": "0+100x30 3000+100x3 3300+100x30", "+Inf": "0+100x30 3000+100x3 3300+100x30"}),
  "alert_rule_test": [quiet("25m", "RouteLatencyP99High"), quiet("40m", "RouteLatencyP99High"), quiet("45m", "RouteLatencyP99High")]})
def route_errors(ok, err):
    return [{"series": req(route="/api/checkout", status="200"), "values": ok},
            {"series": req(route="/api/checkout", status="502"), "values": err}]
svc.append({"name": "a route at 10% errors for 30 min fires after 10 min, resolves when errors stop", "interval": "1m",
  "input_series": route_errors("0+90x30 2700+100x30", "0+10x30 300x30"),
  "alert_rule_test": [quiet("8m", "RouteErrorRateHigh"),
    fires("20m", "RouteErrorRateHigh", sv("ticket", http_route="/api/checkout")), quiet("45m", "RouteErrorRateHigh")]})
svc.append({"name": "4% errors, a 3-minute burst of 50%, and 50% errors at 0.05 requests/s do not fire", "interval": "1m",
  "input_series": route_errors("0+96x30 2880+50x3 3030+96x30", "0+4x30 120+50x3 270+4x30")
    + [{"series": req(svc="cart", route="/api/checkout", status="200"), "values": "0+1.5x60"},
       {"series": req(svc="cart", route="/api/checkout", status="502"), "values": "0+1.5x60"}],
  "alert_rule_test": [quiet("20m", "RouteErrorRateHigh"), quiet("35m", "RouteErrorRateHigh"), quiet("50m", "RouteErrorRateHigh")]})
files["service-alerts.test.yml"] = (["../rules/recording.yml", "../rules/service-alerts.yml"], svc)

# ---------------------------------------------------------------- sluice
sk = []
base = {"job": "sluice", "instance": "sluice:9598"}
def s(name, **labels):
    l = dict(base, **labels)
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in l.items()) + "}"
def sll(sev="ticket", **kw): return dict({"severity": sev, "team": "observability", "service": "sluice", "instance": "sluice:9598"}, **kw)
def counter_case(alert, series_fire, series_quiet, labels, fire_at, for_min, quiet_desc):
    # fires: increments from 10m to 40m; resolves by 40 + 5 (rate window) + 2
    sk.append({"name": f"{alert}: increasing for 30 min fires after {for_min}, resolves once it stops", "interval": "1m",
      "input_series": [{"series": series_fire, "values": "0x10 0+10x30 300x30"}],
      "alert_rule_test": [quiet("10m", alert), fires(fire_at, alert, labels), quiet("50m", alert)]})
    sk.append({"name": f"{alert}: {quiet_desc}", "interval": "1m",
      "input_series": [{"series": series_fire, "values": "0x10 5x30"}] + [{"series": q, "values": "0x10 0+10x30"} for q in series_quiet],
      "alert_rule_test": [quiet(f"{m}m", alert) for m in (12, 14, 16, 20, 30, 40)]})
sk.append({"name": "SluiceDown: down 10 min fires, resolves when up; a one-scrape blip does not", "interval": "1m",
  "input_series": [{"series": s("up"), "values": "1x5 0x10 1x10"}, {"series": s("up", instance="other:9598"), "values": "1x10 0 1x15"}],
  "alert_rule_test": [quiet("5m", "SluiceDown"), fires("10m", "SluiceDown", sll("page", job="sluice")),
    fires("12m", "SluiceDown", sll("page", job="sluice")), quiet("20m", "SluiceDown")]})
D = "sluice_component_discarded_events_total"
counter_case("SluiceRecordsDropped", s(D, component_id="loki", reason="buffer_full"),
  [s(D, component_id="parse", reason="dead_lettered"), s(D, component_id="loki", reason="rejected")],
  sll("page", component_id="loki", reason="buffer_full"), "20m", "5m", "a single drop, and dead-lettered records, do not fire")
counter_case("SluiceRecordsDeadLettered", s(D, component_id="parse", reason="dead_lettered"),
  [s(D, component_id="loki", reason="buffer_full")],
  sll(component_id="parse", reason="dead_lettered"), "25m", "10m", "a single dead letter, and dropped records, do not fire")
R = "sluice_sink_requests_total"
sk.append({"name": "SluiceSinkPushFailing: 20% of requests failing for 30 min fires, resolves", "interval": "1m",
  "input_series": [{"series": s(R, component_id="loki", status="204"), "values": "0+80x60"},
                   {"series": s(R, component_id="loki", status="error"), "values": "0x10 0+20x30 600x20"}],
  "alert_rule_test": [quiet("10m", "SluiceSinkPushFailing"), fires("25m", "SluiceSinkPushFailing", sll("page", component_id="loki")), quiet("55m", "SluiceSinkPushFailing")]})
sk.append({"name": "SluiceSinkPushFailing: 9% failing (just under 10%) and a 3-minute outage do not fire", "interval": "1m",
  "input_series": [{"series": s(R, component_id="loki", status="204"), "values": "0+91x60"},
                   {"series": s(R, component_id="loki", status="500"), "values": "0+9x60"},
                   {"series": s(R, component_id="vm", status="204"), "values": "0+10x60"},
                   {"series": s(R, component_id="vm", status="503"), "values": "0x20 0+50x3 150x37"}],
  "alert_rule_test": [quiet(f"{m}m", "SluiceSinkPushFailing") for m in (20, 25, 30, 40, 55)]})
counter_case("SluiceSinkRetrying", s("sluice_sink_retries_total", component_id="loki", reason="5xx"), [],
  sll(component_id="loki", reason="5xx"), "30m", "15m", "one retry does not fire")
P = "sluice_plugin_errors_total"
counter_case("SluicePluginErrors", s(P, component_id="parse", reason="trap"), [s(P, component_id="parse", reason="timeout")],
  sll(component_id="parse", reason="trap"), "20m", "5m", "one trap, and timeouts, do not fire")
counter_case("SluicePluginTimeouts", s(P, component_id="parse", reason="timeout"), [s(P, component_id="parse", reason="trap")],
  sll(component_id="parse"), "20m", "5m", "one timeout, and traps, do not fire")
counter_case("SluiceMetricSeriesOverflow", s("sluice_plugin_metric_overflow_total", component_id="red", metric="http_server_request_duration_seconds"), [],
  sll(component_id="red", metric="http_server_request_duration_seconds"), "30m", "15m", "one overflowing sample does not fire")
counter_case("SluiceExporterSeriesRefused", s("sluice_series_refused_total", component_id="apps", metric="node_cpu_seconds_total"), [],
  sll(component_id="apps", metric="node_cpu_seconds_total"), "30m", "15m", "one refused sample does not fire")
sk.append({"name": "SluiceSourceLostBytes: any loss fires at once and resolves 5 min after", "interval": "1m",
  "input_series": [{"series": s("sluice_source_lost_bytes_total", component_id="app"), "values": "0x10 4096x30"},
                   {"series": s("sluice_source_lost_bytes_total", component_id="other"), "values": "0x40"}],
  "alert_rule_test": [quiet("10m", "SluiceSourceLostBytes"), fires("12m", "SluiceSourceLostBytes", sll(component_id="app")), quiet("20m", "SluiceSourceLostBytes")]})
B = "sluice_buffer_size_bytes"
sk.append({"name": "SluiceDiskBufferFilling: over 80% of 256 MiB for 20 min fires, resolves when it drains", "interval": "1m",
  "input_series": [{"series": s(B, component_id="loki"), "values": "0+25000000x10 250000000x20 0x10"}],
  "alert_rule_test": [quiet("12m", "SluiceDiskBufferFilling"), fires("25m", "SluiceDiskBufferFilling", sll(component_id="loki", job="sluice")), quiet("35m", "SluiceDiskBufferFilling")]})
sk.append({"name": "SluiceDiskBufferFilling: just under 80%, and over it for 5 min, do not fire", "interval": "1m",
  "input_series": [{"series": s(B, component_id="loki"), "values": "214748364x40"}, {"series": s(B, component_id="vm"), "values": "0x10 250000000x5 0x20"}],
  "alert_rule_test": [quiet(f"{m}m", "SluiceDiskBufferFilling") for m in (15, 20, 30)]})
sk.append({"name": "SluiceScrapeTargetDown: an app target down 10 min fires, resolves; sluice's own jobs and a blip do not", "interval": "1m",
  "input_series": [{"series": 'up{job="node", instance="10.0.0.7:9100"}', "values": "1x5 0x10 1x10"},
                   {"series": 'up{job="node", instance="10.0.0.8:9100"}', "values": "1x5 0x2 1x15"},
                   {"series": 'up{job="sluice-apps", instance="sluice:9598"}', "values": "0x25"},
                   {"series": 'up{job="sluice", instance="sluice:9598"}', "values": "0x25"}],
  "alert_rule_test": [quiet("5m", "SluiceScrapeTargetDown"),
    fires("12m", "SluiceScrapeTargetDown", {"severity": "ticket", "team": "observability", "service": "node", "job": "node", "instance": "10.0.0.7:9100"}),
    quiet("20m", "SluiceScrapeTargetDown")]})
files["sluice-alerts.test.yml"] = (["../rules/sluice-alerts.yml"], sk)

ann_re = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
for fname, spec in files.items():
    rules, tests = spec[0], spec[1]
    doc = {"rule_files": rules, "evaluation_interval": spec[2] if len(spec) > 2 else "1m", "tests": tests}
    path = f"{T}/{fname}"
    def dump():
        with open(path, "w") as f:
            f.write("# Written by generate.py --annotate: change the cases there, not here.\n")
            f.write(f"# promtool test rules {fname} (host/tests/deploy.rs runs it): every alert in\n"
                    f"# {', '.join(rules)} fires when it should (labels and rendered annotations checked),\n"
                    "# stays quiet just under its threshold and on a short blip, and resolves.\n")
            yaml.safe_dump(doc, f, sort_keys=False, width=200)
    dump()
    if "--annotate" in sys.argv:
        out = subprocess.run(["promtool", "test", "rules", path], cwd=T, capture_output=True, text=True); out = out.stdout + out.stderr
        # fill annotations from "got" blocks, in order of failures
        blocks = re.findall(r"alertname: (\w+), time: (\S+), \n.*?got:\[\n\s*0:\n\s*Labels:\{.*?\}\n\s*Annotations:\{(.*?)\}\n", out, re.S)
        got = {a: {k: json.loads('"' + v + '"') for k, v in ann_re.findall(ann)} for a, t, ann in blocks}
        for tc in tests:
            for art in tc["alert_rule_test"]:
                for ea in art["exp_alerts"]:
                    key = art["alertname"]
                    if key in got: ea["exp_annotations"] = got[key]
                    else: print("no annotations for", key)
        dump()
