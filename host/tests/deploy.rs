//! deploy/ is part of the product, so it is tested like code:
//!
//! - the Prometheus rules pass `promtool check rules`, and `promtool test rules` runs the
//!   unit tests in deploy/prometheus/tests/ (every alert fires when it should, stays quiet
//!   just under its threshold and on a short blip, resolves); every alert has its labels,
//!   annotations, a runbook page in docs/runbooks/ and a firing and a quiet unit test;
//! - the Alertmanager config passes `amtool check-config`, and `amtool config routes test`
//!   shows where each kind of alert goes;
//! - end to end with the real tools on 127.0.0.1 (Debian's `prometheus` 2.42 and
//!   `prometheus-alertmanager` 0.25; `.ci/run` installs both): sluice runs parse ->
//!   red-metrics on an access log this test writes, Prometheus (deploy's prometheus.yml and
//!   rules) scrapes it and evaluates the rules, Alertmanager (deploy's alertmanager.yml)
//!   routes the page to Slack, PagerDuty, email and the webhook, all pointed at receivers
//!   this test runs, which see the real payloads; the budget ticket the same burn opens is
//!   held back by the page (inhibition); then the errors stop and the resolve arrives
//!   everywhere (about 15 s);
//! - every metric the rules and dashboards name is in a running sluice's /metrics or its
//!   exporter path (sluice with a file source, parse -> red-metrics, a Loki sink to a dead
//!   port behind a disk buffer, a scrape source and an exporter, pushed until the families
//!   that appear only with their first event exist), every recording rule a dashboard
//!   names is defined, every dashboard PromQL query runs in a real Prometheus, and every
//!   datasource uid is provisioned;
//! - the manifests' YAML parses (PyYAML), the k8s workloads mount the pipelines on the port
//!   and paths the binary uses, those pipelines (and the systemd and Docker ones) pass
//!   `sluice validate`, and the unit file passes `systemd-analyze verify` and `security`.
//!
//! What the end-to-end test changes in deploy's files, and why (everything else, rule
//! expressions included, is used as written, and every replacement is asserted to have
//! matched so that an edit to deploy/ cannot silently bypass it):
//! - prometheus.yml: targets point at this test's sluice and Alertmanager; scrape and
//!   evaluation every second; rule_files point at a copy of deploy/prometheus/rules/ in
//!   which only the `for:` durations are cut to 1s (the fast-burn page waits 2 minutes in
//!   production, the ticket an hour). The burn-rate windows are unchanged: the counters
//!   exist before the burst, so `rate()` over 5m and 1h sees the burst at once.
//! - alertmanager.yml: secret files live in a temp dir (their contents are the test's; the
//!   Slack URL file names the local receiver), PagerDuty, the webhook and the SMTP
//!   smarthost point at local receivers, STARTTLS is off (the local SMTP server speaks
//!   plain SMTP), group_wait and group_interval are 1s.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::prometheus::Prometheus;
use common::*;

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// Runs a tool, failing the test with its output unless it exits 0; its stdout + stderr.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run ({e}); .ci/run installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The files in `dir` whose names end with `suffix`, sorted.
fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn rule_files() -> Vec<PathBuf> {
    files_in(&deploy().join("prometheus/rules"), ".yml")
}

/// Every alert in the rules: (name, the text of its rule up to the next one).
fn alerts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut parts = text.split("\n      - ").skip(1);
        for part in parts.by_ref() {
            if let Some(rest) = part.strip_prefix("alert: ") {
                let name = rest.lines().next().unwrap().trim().to_string();
                out.push((name, part.to_string()));
            }
        }
    }
    out
}

#[test]
fn prometheus_rules_pass_promtool_check_and_their_unit_tests() {
    let mut check = Command::new("promtool");
    check.arg("check").arg("rules").args(rule_files());
    let out = run_ok(&mut check);
    assert!(!out.contains("FAILED"), "{out}");

    let tests = files_in(&deploy().join("prometheus/tests"), ".test.yml");
    assert!(tests.len() >= 3, "unit test files: {tests:?}");
    for test in tests {
        let out = run_ok(
            Command::new("promtool")
                .arg("test")
                .arg("rules")
                .arg(test.file_name().unwrap())
                .current_dir(test.parent().unwrap()),
        );
        assert!(out.contains("SUCCESS"), "{}: {out}", test.display());
    }
    // prometheus.yml itself (it names the rule files, which promtool checks again).
    run_ok(
        Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(deploy().join("prometheus/prometheus.yml")),
    );
}

#[test]
fn every_alert_is_labelled_annotated_has_a_runbook_and_a_firing_and_a_quiet_unit_test() {
    let alerts = alerts();
    assert!(alerts.len() >= 20, "{} alerts", alerts.len());
    let tests: String = files_in(&deploy().join("prometheus/tests"), ".test.yml")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut names = BTreeSet::new();
    for (name, rule) in &alerts {
        assert!(names.insert(name.clone()), "{name} defined twice");
        for key in ["severity: ", "summary: ", "description: ", "logs_url: "] {
            assert!(rule.contains(key), "{name} has no {key}\n{rule}");
        }
        assert!(
            rule.contains("severity: page") || rule.contains("severity: ticket"),
            "{name}: severity is page or ticket"
        );
        assert!(
            rule.contains("team: ") || rule.contains("service: "),
            "{name} names no team or service"
        );
        let description = rule
            .lines()
            .find(|l| l.trim_start().starts_with("description: "))
            .unwrap();
        assert!(
            description.contains("$value"),
            "{name}: no value in {description}"
        );
        let runbook = format!("/docs/runbooks/{name}.md");
        assert!(
            rule.contains("runbook_url: ") && rule.contains(&runbook),
            "{name}: runbook_url does not point at {runbook}"
        );
        let page = repo().join(&runbook[1..]);
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|_| panic!("{name}: {} is missing", page.display()));
        assert!(
            text.starts_with(&format!("# {name}\n")) && text.contains("## What to look at first"),
            "{}: not a runbook page for {name}",
            page.display()
        );
        // A unit test that expects it to fire, and one that expects it quiet.
        let fires = format!("alertname: {name}\n    exp_alerts:\n    - exp_labels:");
        let quiet = format!("alertname: {name}\n    exp_alerts: []");
        assert!(tests.contains(&fires), "no unit test where {name} fires");
        assert!(
            tests.contains(&quiet),
            "no unit test where {name} stays quiet"
        );
    }
    // No runbook for an alert that no longer exists.
    for page in files_in(&repo().join("docs/runbooks"), ".md") {
        let stem = page.file_stem().unwrap().to_str().unwrap().to_string();
        assert!(names.contains(&stem), "{} has no alert", page.display());
    }
}

#[test]
fn alertmanager_config_passes_amtool_and_routes_each_alert_to_its_owner() {
    let config = deploy().join("alertmanager/alertmanager.yml");
    let out = run_ok(Command::new("amtool").arg("check-config").arg(&config));
    assert!(out.contains("SUCCESS"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    // Secrets come from files, never inline.
    for inline in [
        "api_url:",
        "routing_key:",
        "service_key:",
        "auth_password:",
        "credentials:",
    ] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(inline)),
            "an inline secret ({inline}) in {}",
            config.display()
        );
    }
    // (labels, the receivers it reaches): every alert also reaches the audit webhook.
    let cases: &[(&str, &str)] = &[
        (
            "alertname=AvailabilitySLOFastBurn severity=page slo=availability service=checkout",
            "audit-webhook,payments-page",
        ),
        (
            "alertname=LatencySLOBudgetTicket severity=ticket slo=latency service=cart",
            "audit-webhook,payments-ticket",
        ),
        (
            "alertname=RouteLatencyP99High severity=ticket service=search",
            "audit-webhook,search-ticket",
        ),
        (
            "alertname=ServiceTrafficDropped severity=page service=catalog",
            "audit-webhook,search-page",
        ),
        (
            "alertname=SluiceDown severity=page team=observability service=sluice",
            "audit-webhook,observability-page",
        ),
        (
            "alertname=SluiceSinkRetrying severity=ticket team=observability service=sluice",
            "audit-webhook,observability-ticket",
        ),
        (
            "alertname=AvailabilitySLOFastBurn severity=page slo=availability service=unknown",
            "audit-webhook,unowned-page",
        ),
        (
            "alertname=LatencySLOBudgetTicket severity=ticket slo=latency service=unknown",
            "audit-webhook,default",
        ),
    ];
    for (labels, receivers) in cases {
        let out = run_ok(
            Command::new("amtool")
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--verify.receivers={receivers}"))
                .args(labels.split(' ')),
        );
        assert!(out.contains(receivers), "{labels} -> {out}");
    }
    // Inhibition: a page silences its SLO's ticket; SluiceDown silences sluice's others.
    // (The end-to-end test sees the first one work in a real Alertmanager.)
    assert!(text.contains(
        "  - source_matchers: [severity=\"page\", 'slo=~\".+\"']\n    target_matchers: [severity=\"ticket\", 'slo=~\".+\"']\n    equal: [slo, service]"
    ));
    assert!(text.contains(
        "  - source_matchers: [alertname=\"SluiceDown\"]\n    target_matchers: [service=\"sluice\"]\n    equal: [instance]"
    ));
}

// ------------------------------------------------------------------------------------
// End to end

/// One HTTP request a local receiver took.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Listens on a free port of 127.0.0.1 and serves each connection on its own thread with
/// `serve`, which keeps what it takes in the returned list.
fn listen<T: Send + 'static>(
    serve: fn(TcpStream, Arc<Mutex<Vec<T>>>),
) -> (u16, Arc<Mutex<Vec<T>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = kept.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let keep = keep.clone();
            std::thread::spawn(move || serve(stream, keep));
        }
    });
    (port, kept)
}

/// An HTTP server on 127.0.0.1 that answers every POST 200 with a JSON body and keeps
/// what it was sent (Slack, PagerDuty and the webhook all point here, by path).
struct Capture {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Capture {
    fn start() -> Capture {
        let (port, requests) = listen(serve_http);
        Capture { port, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn to(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// Reads requests from one connection (keep-alive) until it closes.
fn serve_http(stream: TcpStream, keep: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
        });
        keep.lock().unwrap().push(Request {
            path,
            headers,
            body,
        });
        let answer = r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#;
        let _ = write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
    }
}

/// Just enough of an SMTP server on 127.0.0.1 to take messages (no STARTTLS, no AUTH
/// advertised); keeps each message's DATA.
struct Smtp {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl Smtp {
    fn start() -> Smtp {
        let (port, messages) = listen(serve_smtp);
        Smtp { port, messages }
    }

    /// The Subject header of every message taken so far.
    fn subjects(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
            })
            .collect()
    }
}

fn serve_smtp(stream: TcpStream, keep: Arc<Mutex<Vec<String>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let _ = w.write_all(b"220 127.0.0.1 ESMTP test\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 127.0.0.1\r\n",
            "DATA" => {
                let _ = w.write_all(b"354 end with <CRLF>.<CRLF>\r\n");
                let mut message = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    message.push_str(&l);
                }
                keep.lock().unwrap().push(message);
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n");
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = w.write_all(reply);
    }
}

/// Debian's Alertmanager on 127.0.0.1 with a temp storage dir and no clustering.
struct Alertmanager {
    child: Child,
    port: u16,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn start(config: &Path, storage: &Path) -> Alertmanager {
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager runs (Debian's package; .ci/run installs it)");
        let am = Alertmanager { child, port };
        wait_for(Duration::from_secs(30), || {
            reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
                .ok()
                .filter(|r| r.status().is_success())
        })
        .expect("Alertmanager ready");
        am
    }
}

/// `text` with `from` replaced by `to`, failing the test when `from` is not in it (deploy's
/// file changed under the test).
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "`{from}` is no longer in the deploy file"
    );
    text.replace(from, to)
}

/// An access log line as the shop writes it.
fn access_line(status: u16, n: usize) -> String {
    format!(
        "{{\"method\":\"GET\",\"path\":\"/api/orders/{n}\",\"status\":{status},\"duration_ms\":12,\"trace_id\":\"{n:032x}\"}}\n"
    )
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// deploy's prometheus.yml for a test: its targets this test's sluice and Alertmanager,
/// scrape and evaluation every second, the rules from `rules` (a directory).
fn deploy_prometheus_config(sluice_port: u16, alertmanager_port: u16, rules: &Path) -> String {
    let mut config = std::fs::read_to_string(deploy().join("prometheus/prometheus.yml")).unwrap();
    for (from, to) in [
        ("'sluice:9598'", format!("'127.0.0.1:{sluice_port}'")),
        (
            "'alertmanager:9093'",
            format!("'127.0.0.1:{alertmanager_port}'"),
        ),
        ("scrape_interval: 15s", "scrape_interval: 1s".into()),
        ("evaluation_interval: 30s", "evaluation_interval: 1s".into()),
        ("  - rules/", format!("  - {}/", rules.display())),
    ] {
        config = replace(&config, from, &to);
    }
    config
}

#[test]
fn an_error_burst_pages_the_owning_team_through_prometheus_and_alertmanager_then_resolves() {
    const ALERT: &str = "AvailabilitySLOFastBurn";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    // One good and one failed request before anything scrapes: both series exist from the
    // first scrape on, so rate() sees every later request.
    append(&log, &(access_line(200, 0) + &access_line(503, 1)));

    // The receivers Alertmanager will call.
    let http = Capture::start();
    let smtp = Smtp::start();

    // Alertmanager: deploy's config, secrets and endpoints pointed here.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let routing_key = "R0UTING-KEY-payments-from-file";
    for (file, content) in [
        ("slack-webhook-url", http.url("/slack")),
        ("smtp-password", "smtp-pass-from-file".to_string()),
        ("pagerduty-payments", routing_key.to_string()),
        (
            "pagerduty-observability",
            "R0UTING-KEY-observability".to_string(),
        ),
        ("pagerduty-search", "R0UTING-KEY-search".to_string()),
        ("webhook-token", "webhook-t0ken-from-file".to_string()),
    ] {
        std::fs::write(secrets.join(file), content).unwrap();
    }
    let am_dir = dir.path().join("alertmanager");
    std::fs::create_dir_all(am_dir.join("templates")).unwrap();
    for t in files_in(&deploy().join("alertmanager/templates"), ".tmpl") {
        std::fs::copy(&t, am_dir.join("templates").join(t.file_name().unwrap())).unwrap();
    }
    let mut am_config =
        std::fs::read_to_string(deploy().join("alertmanager/alertmanager.yml")).unwrap();
    for (from, to) in [
        (
            "/etc/alertmanager/secrets/",
            format!("{}/", secrets.display()),
        ),
        (
            "https://events.pagerduty.com/v2/enqueue",
            http.url("/pagerduty"),
        ),
        (
            "https://hooks.example.com/alertmanager",
            http.url("/webhook"),
        ),
        ("smtp.example.com:587", format!("127.0.0.1:{}", smtp.port)),
        ("smtp_require_tls: true", "smtp_require_tls: false".into()),
        ("group_wait: 30s", "group_wait: 1s".into()),
        ("group_interval: 5m", "group_interval: 1s".into()),
    ] {
        am_config = replace(&am_config, from, &to);
    }
    std::fs::write(am_dir.join("alertmanager.yml"), &am_config).unwrap();
    let am = Alertmanager::start(&am_dir.join("alertmanager.yml"), &am_dir.join("data"));

    // sluice: the access log -> parse -> red-metrics, as pipelines/red-metrics.toml.
    let sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.access]
type = "file"
include = ["{log}"]
labels = {{ service_name = "checkout" }}
checkpoint = false
[transforms.parse]
type = "wasm"
inputs = ["access"]
plugin = "{parse}"
config = {{ format = "json", metadata = ["trace_id"] }}
[transforms.red]
type = "wasm"
inputs = ["parse"]
plugin = "{red}"
config = {{ method = "method", route = "path", status = "status", duration = "duration_ms", duration_unit = "ms", route_patterns = ["/api/orders/{{id}}"] }}
[sinks.out]
type = "blackhole"
inputs = ["red"]
"#,
        log = log.display(),
        parse = plugin("parse").display(),
        red = plugin("red_metrics").display(),
    ));

    // Prometheus: deploy's prometheus.yml and a copy of its rules with `for:` cut to 1s.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut out = String::new();
        let mut cut = 0;
        for line in text.lines() {
            match line.trim_start().strip_prefix("for: ") {
                Some(_) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    out.push_str(&format!("{indent}for: 1s\n"));
                    cut += 1;
                }
                None => out.push_str(&format!("{line}\n")),
            }
        }
        assert_eq!(
            cut,
            text.matches("\n      - alert: ").count(),
            "every alert in {} has a for:",
            file.display()
        );
        std::fs::write(rules.join(file.file_name().unwrap()), out).unwrap();
    }
    let prometheus =
        Prometheus::start_with(&deploy_prometheus_config(sluice.port, am.port, &rules));

    // Steady good traffic for the whole test (ServiceTrafficDropped stays quiet).
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let (stop, log) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut n = 10;
            while !stop.load(Ordering::Relaxed) {
                let lines: String = (n..n + 10).map(|i| access_line(200, i)).collect();
                append(&log, &lines);
                n += 10;
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let recorded = "service:http_requests:rate5m{service_name=\"checkout\"} > 0";
    wait_for(Duration::from_secs(60), || {
        prometheus
            .api("/api/v1/query", &[("query", recorded)])
            .filter(|d| d["result"].as_array().is_some_and(|r| !r.is_empty()))
    })
    .expect("Prometheus scraped sluice and evaluated deploy's recording rules");
    let before = prometheus.query(&format!("ALERTS{{alertname=\"{ALERT}\"}}"));
    assert!(before.is_empty(), "{ALERT} before the burst: {before:?}");

    // The burst: 200 failed requests.
    append(
        &log,
        &(2..202).map(|i| access_line(503, i)).collect::<String>(),
    );

    let slack_about = |status: &str| {
        http.to("/slack").into_iter().find(|r| {
            let title = r.body["attachments"][0]["title"].as_str().unwrap_or("");
            title.contains(ALERT) && title.starts_with(&format!("[{status}"))
        })
    };
    let pd_about = |action: &str| {
        http.to("/pagerduty").into_iter().find(|r| {
            r.body["event_action"] == action
                && r.body["payload"]["summary"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(ALERT))
        })
    };
    let webhook_about = |status: &str| {
        http.to("/webhook")
            .into_iter()
            .find(|r| r.body["status"] == status && r.body["commonLabels"]["alertname"] == ALERT)
    };
    let mail_about = |status: &str| {
        smtp.subjects()
            .into_iter()
            .find(|s| s.starts_with(&format!("[{status}] [page] {ALERT}: ")))
    };

    let firing = wait_for(Duration::from_secs(60), || {
        Some((
            slack_about("FIRING")?,
            pd_about("trigger")?,
            webhook_about("firing")?,
            mail_about("FIRING")?,
        ))
    });
    let Some((slack, pd, webhook, subject)) = firing else {
        panic!(
            "not every receiver was paged; slack {:?}\npagerduty {:?}\nwebhook {:?}\nmail {:?}\nPrometheus alerts {:?}",
            http.to("/slack"),
            http.to("/pagerduty"),
            http.to("/webhook"),
            smtp.subjects(),
            prometheus.query("ALERTS"),
        )
    };
    let summary = "checkout: availability error budget burning 14.4x too fast";
    let runbook = format!("https://github.com/example/sluice/blob/main/docs/runbooks/{ALERT}.md");
    // Slack: the payments channel, the summary, the value, the runbook and logs links.
    assert_eq!(
        slack.body["channel"], "#payments-alerts",
        "{:?}",
        slack.body
    );
    let text = slack.body["attachments"][0]["text"].as_str().unwrap();
    assert!(text.contains(summary), "{text}");
    assert!(text.contains(&format!("<{runbook}|{ALERT}>")), "{text}");
    assert!(
        text.contains("% of requests to checkout failed (5xx) over the last 1h"),
        "{text}"
    );
    assert!(
        text.contains("https://grafana.example.com/explore?"),
        "{text}"
    );
    // PagerDuty Events v2: the payments routing key from its file, critical.
    assert_eq!(pd.body["routing_key"], routing_key, "{:?}", pd.body);
    assert_eq!(pd.body["payload"]["severity"], "critical");
    assert_eq!(
        pd.body["payload"]["summary"],
        format!("{ALERT} (checkout): {summary}")
    );
    assert_eq!(
        pd.body["payload"]["custom_details"]["runbook_url"],
        runbook.as_str()
    );
    // The webhook: Alertmanager's JSON, with the bearer token from its file.
    assert_eq!(
        webhook.header("authorization"),
        Some("Bearer webhook-t0ken-from-file")
    );
    assert_eq!(webhook.body["commonLabels"]["severity"], "page");
    assert_eq!(webhook.body["commonLabels"]["service"], "checkout");
    assert_eq!(webhook.body["receiver"], "audit-webhook");
    // Email over SMTP.
    assert_eq!(subject, format!("[FIRING] [page] {ALERT}: {summary}"));

    // The same burn also opens the availability ticket in Prometheus; Alertmanager holds it
    // back, inhibited by the page for the same SLO and service, and sends it nowhere.
    let ticket = "AvailabilitySLOBudgetTicket";
    let suppressed = wait_for(Duration::from_secs(30), || {
        let alerts: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v2/alerts", am.port))
            .query(&[("filter", format!("alertname=\"{ticket}\""))])
            .send()
            .ok()?
            .json()
            .ok()?;
        let alert = alerts.as_array()?.first()?.clone();
        Some(alert)
    })
    .unwrap_or_else(|| panic!("{ticket} never reached Alertmanager"));
    assert_eq!(suppressed["status"]["state"], "suppressed", "{suppressed}");
    assert!(
        !suppressed["status"]["inhibitedBy"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{suppressed}"
    );
    assert_eq!(suppressed["labels"]["service"], "checkout");
    let leaked: Vec<String> = http
        .to("/slack")
        .iter()
        .filter_map(|r| {
            r.body["attachments"][0]["title"]
                .as_str()
                .map(str::to_string)
        })
        .chain(smtp.subjects())
        .filter(|t| t.contains(ticket))
        .collect();
    assert!(
        leaked.is_empty(),
        "an inhibited ticket was sent: {leaked:?}"
    );

    // The errors stop: many good requests bring the 5-minute error ratio under 14.4x the
    // budget, the page resolves, and every receiver hears it.
    append(
        &log,
        &(1000..31000)
            .map(|i| access_line(200, i))
            .collect::<String>(),
    );
    let resolved = wait_for(Duration::from_secs(60), || {
        Some((
            slack_about("RESOLVED")?,
            pd_about("resolve")?,
            webhook_about("resolved")?,
            mail_about("RESOLVED")?,
        ))
    });
    let Some((_, pd_resolve, _, _)) = resolved else {
        panic!(
            "the resolve did not reach every receiver; slack {:?}\npagerduty {:?}\nwebhook {:?}\nmail {:?}\nPrometheus alerts {:?}",
            http.to("/slack"),
            http.to("/pagerduty"),
            http.to("/webhook"),
            smtp.subjects(),
            prometheus.query("ALERTS"),
        )
    };
    assert_eq!(pd_resolve.body["dedup_key"], pd.body["dedup_key"]);
    assert_eq!(pd_resolve.body["routing_key"], routing_key);

    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    drop(prometheus);
    drop(am);
    let mut sluice = sluice;
    sluice.stop_ok();
}

// ------------------------------------------------------------------------------------
// Dashboards, metric names, manifests

/// The names of the metric families a running sluice exposes at `path` (`# TYPE` lines and
/// sample names).
fn exposed_names(sluice: &Running, path: &str) -> BTreeSet<String> {
    let (status, text) = sluice.get(path).unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let name = match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split(' ').next().unwrap(),
            None if line.starts_with('#') || line.is_empty() => continue,
            None => line.split(['{', ' ']).next().unwrap(),
        };
        names.insert(name.to_string());
    }
    names
}

/// The identifiers in a PromQL expression that name metrics of sluice or red-metrics
/// (recording rules, with a `:`, are returned too), skipping quoted strings.
fn metric_names_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_quote: Option<char> = None;
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if let Some(q) = in_quote {
            if c == q {
                in_quote = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            in_quote = Some(c);
        }
        let w = std::mem::take(&mut word);
        let ours = w.starts_with("sluice_")
            || w.starts_with("http_server_")
            || w.starts_with("process_")
            || w == "up"
            || (w.contains(':')
                && !w.starts_with(':')
                && w.chars().next().unwrap().is_alphabetic());
        // A label name (`metric=`, `by (...)`) is not a metric; sluice's label names never
        // start with these prefixes, so what is left is a metric name.
        if ours && !names.contains(&w) {
            names.push(w);
        }
    }
    names
}

/// Every PromQL expression of the rules: (rule, expr).
fn rule_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines().peekable();
        let mut name = String::new();
        while let Some(line) = lines.next() {
            let t = line.trim_start();
            if let Some(n) = t
                .strip_prefix("- alert: ")
                .or_else(|| t.strip_prefix("- record: "))
            {
                name = n.to_string();
            }
            if let Some(rest) = t.strip_prefix("expr: ") {
                let mut expr = rest.trim_start_matches('|').to_string();
                let indent = line.len() - t.len();
                while let Some(next) = lines.peek() {
                    let nt = next.trim_start();
                    if nt.is_empty() || next.len() - nt.len() <= indent {
                        break;
                    }
                    expr.push('\n');
                    expr.push_str(nt);
                    lines.next();
                }
                out.push((name.clone(), expr));
            }
        }
    }
    out
}

/// The dashboards: (file, JSON).
fn dashboards() -> Vec<(String, serde_json::Value)> {
    files_in(&deploy().join("grafana/dashboards"), ".json")
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_str().unwrap().to_string(), json)
        })
        .collect()
}

/// Every query of a dashboard (panels and template variables): (datasource uid, query).
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let uid = target["datasource"]["uid"]
                .as_str()
                .or(panel["datasource"]["uid"].as_str())
                .unwrap_or_else(|| panic!("no datasource uid on {target}"));
            out.push((
                uid.to_string(),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let uid = var["datasource"]["uid"].as_str().unwrap();
            out.push((
                uid.to_string(),
                var["query"]["query"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// A dashboard's PromQL with Grafana's variables given values, as Grafana would send it.
fn substitute_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$service", "checkout")
        .replace("$route", ".*")
        .replace("$instance", ".*")
}

#[test]
fn rules_and_dashboards_name_only_metrics_sluice_exposes_and_their_promql_parses() {
    // A sluice with every kind of component the rules watch: a file source, parse ->
    // red-metrics, a Loki sink to a dead port behind a disk buffer, a scrape source and an
    // exporter sink.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(
        &log,
        &(0..50)
            .map(|i| access_line(if i % 10 == 0 { 503 } else { 200 }, i))
            .collect::<String>(),
    );
    let dead = free_port();
    let sluice = Running::start(&format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.access]
type = "file"
include = ["{log}"]
labels = {{ service_name = "checkout" }}
checkpoint = false
[transforms.parse]
type = "wasm"
inputs = ["access"]
plugin = "{parse}"
config = {{ format = "json", metadata = ["trace_id"] }}
[transforms.red]
type = "wasm"
inputs = ["parse"]
plugin = "{red}"
config = {{ route = "path", route_patterns = ["/api/orders/{{id}}"] }}
# One series allowed, so the 503s overflow (sluice_plugin_metric_overflow_total appears
# with the first overflow).
[[transforms.red.metrics]]
name = "http_server_request_duration_seconds"
type = "histogram"
unit = "seconds"
labels = ["http_request_method", "http_route", "http_response_status_code", "service_name"]
max_series = 1
[sinks.loki]
type = "loki"
inputs = ["red"]
endpoint = "http://127.0.0.1:{dead}"
buffer = {{ type = "disk", max_size = "16MiB" }}
[sources.scrape]
type = "prometheus_scrape"
endpoints = ["http://127.0.0.1:{{port}}/metrics", "http://127.0.0.1:{dead}/metrics"]
scrape_interval_secs = 1
scrape_timeout_secs = 1
[sinks.apps]
type = "prometheus_exporter"
inputs = ["scrape"]
path = "/apps/metrics"
# Many of sluice's own families have more than two series: refusals
# (sluice_series_refused_total appears with the first). Two, so that both targets' `up`
# are kept.
max_series = 2
"#,
        log = log.display(),
        parse = plugin("parse").display(),
        red = plugin("red_metrics").display(),
    ));
    // sluice exposes sluice_plugin_metric_overflow_total, sluice_series_refused_total and
    // sluice_component_errors_total only from their first event on: wait for each.
    for (what, prefix) in [
        (
            "the Loki sink retried the dead port",
            "sluice_sink_retries_total{component_id=\"loki\"",
        ),
        (
            "red-metrics overflowed",
            "sluice_plugin_metric_overflow_total{",
        ),
        (
            "the exporter refused series",
            "sluice_series_refused_total{",
        ),
        (
            "the scrape of the dead port failed",
            "sluice_component_errors_total{component_id=\"scrape\"",
        ),
        (
            "the scrape source scraped",
            "sluice_component_sent_events_total{component_id=\"scrape\"",
        ),
    ] {
        // Any series of the family (`prefix`) at 1 or more.
        wait_for(Duration::from_secs(30), || {
            let (_, text) = sluice.get("/metrics").ok()?;
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .find(|v| *v >= 1.0)
        })
        .expect(what);
    }
    let mut exposed = exposed_names(&sluice, "/metrics");
    exposed.extend(exposed_names(&sluice, "/apps/metrics"));
    for must in [
        "http_server_request_duration_seconds",
        "sluice_component_discarded_events_total",
        "sluice_buffer_size_bytes",
        "up",
    ] {
        assert!(exposed.contains(must), "{must} not exposed: {exposed:?}");
    }
    // A metric name is exposed as is, or is a histogram's / counter's sample.
    let is_exposed = |name: &str| {
        exposed.contains(name)
            || ["_bucket", "_count", "_sum"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|f| exposed.contains(f)))
    };
    let recorded: BTreeSet<String> = rule_exprs()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.contains(':'))
        .collect();
    let mut checked = BTreeSet::new();
    let mut check = |what: &str, expr: &str| {
        for name in metric_names_in(expr) {
            if name.contains(':') {
                assert!(
                    recorded.contains(&name),
                    "{what}: {name} is no recording rule"
                );
            } else {
                assert!(
                    is_exposed(&name),
                    "{what}: {name} is not in what sluice exposes:\n{exposed:?}"
                );
            }
            checked.insert(name);
        }
    };
    for (rule, expr) in rule_exprs() {
        check(&rule, &expr);
    }
    let provisioned =
        std::fs::read_to_string(deploy().join("grafana/provisioning/datasources/datasources.yml"))
            .unwrap();
    let uids: BTreeSet<&str> = provisioned
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("uid: "))
        .collect();
    assert_eq!(uids, BTreeSet::from(["loki", "prometheus"]));
    let mut promql = Vec::new();
    let dashboards = dashboards();
    assert_eq!(dashboards.len(), 3);
    for (file, dashboard) in &dashboards {
        for (uid, query) in dashboard_queries(dashboard) {
            assert!(
                uids.contains(uid.as_str()),
                "{file}: datasource uid {uid} is not provisioned"
            );
            if uid == "prometheus" {
                check(file, &query);
                if !query.starts_with("label_values(") {
                    promql.push((file.clone(), substitute_variables(&query)));
                }
            }
        }
    }
    // Every family the sluice alerts are about was among the names checked.
    for family in [
        "sluice_component_discarded_events_total",
        "sluice_sink_requests_total",
        "sluice_sink_retries_total",
        "sluice_plugin_errors_total",
        "sluice_plugin_metric_overflow_total",
        "sluice_series_refused_total",
        "sluice_buffer_size_bytes",
        "sluice_source_lost_bytes_total",
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_bucket",
        "up",
    ] {
        assert!(
            checked.contains(family),
            "{family} is in no rule or dashboard"
        );
    }
    // The alerts' Grafana links open the provisioned Loki datasource.
    for file in rule_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.matches("logs_url:").count() == text.matches("\"datasource\":\"loki\"").count(),
            "{}: a logs_url names another datasource",
            file.display()
        );
    }

    // Every dashboard query parses and runs in a real Prometheus (one scraping this sluice,
    // with deploy's recording rules loaded).
    // deploy's prometheus.yml (both jobs, honor_labels on the exporter path) and rules.
    let prometheus = Prometheus::start_with(&deploy_prometheus_config(
        sluice.port,
        free_port(),
        &deploy().join("prometheus/rules"),
    ));
    wait_for(Duration::from_secs(30), || {
        prometheus
            .api("/api/v1/query", &[("query", "up")])
            .filter(|d| d["result"].as_array().is_some_and(|r| !r.is_empty()))
    })
    .expect("Prometheus scraped sluice");
    // The scrape source's `up` reaches Prometheus through the exporter path with its own job
    // and instance (honor_labels), where SluiceScrapeTargetDown's expression finds the dead
    // target and nothing else.
    let expr = rule_exprs()
        .into_iter()
        .find(|(name, _)| name == "SluiceScrapeTargetDown")
        .unwrap()
        .1;
    let down = wait_for(Duration::from_secs(30), || {
        let data = prometheus.api("/api/v1/query", &[("query", expr.as_str())])?;
        let result = data["result"].as_array()?.clone();
        (!result.is_empty()).then_some(result)
    })
    .expect("the dead scrape target is down in Prometheus");
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0]["metric"]["job"], "scrape");
    assert_eq!(down[0]["metric"]["instance"], format!("127.0.0.1:{dead}"));
    assert!(promql.len() >= 20, "{} dashboard queries", promql.len());
    for (file, expr) in &promql {
        let answer: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/query", prometheus.port))
            .query(&[("query", expr.as_str())])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(answer["status"], "success", "{file}: {expr}\n{answer}");
    }
    // And a panel shows data: the RED rate of the service, through the recording rule.
    let red = promql
        .iter()
        .find(|(f, e)| {
            f == "service-red.json" && e.starts_with("service_route:http_requests:rate5m")
        })
        .expect("the RED rate panel");
    append(
        &log,
        &(100..200).map(|i| access_line(200, i)).collect::<String>(),
    );
    wait_for(Duration::from_secs(60), || {
        prometheus
            .api("/api/v1/query", &[("query", red.1.as_str())])
            .filter(|d| d["result"].as_array().is_some_and(|r| !r.is_empty()))
    })
    .unwrap_or_else(|| panic!("no data for {}", red.1));
    drop(prometheus);
    // Its Loki sink cannot deliver to the dead port, so it would not drain: killed on drop.
    drop(sluice);
}

/// Runs python3 with PyYAML on `script` (argv: the files); its stdout.
fn python_yaml(script: &str, files: &[PathBuf]) -> String {
    run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(format!("import sys, yaml\n{script}"))
            .args(files),
    )
}

#[test]
fn manifests_parse_and_the_pipelines_they_mount_validate() {
    let mut yaml = Vec::new();
    for sub in [
        "prometheus",
        "prometheus/rules",
        "prometheus/tests",
        "alertmanager",
        "grafana/provisioning/datasources",
        "grafana/provisioning/dashboards",
        "loki",
        "k8s",
        "docker",
    ] {
        yaml.extend(files_in(&deploy().join(sub), ".yml"));
        yaml.extend(files_in(&deploy().join(sub), ".yaml"));
    }
    assert!(yaml.len() >= 18, "{yaml:?}");
    let out = python_yaml(
        "for f in sys.argv[1:]:\n    docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]\n    assert docs, f\n    print(f, len(docs))",
        &yaml,
    );
    assert_eq!(out.lines().count(), yaml.len(), "{out}");

    // Kubernetes: the kinds, and the ports and paths the binary uses.
    let k8s = deploy().join("k8s");
    let kinds = python_yaml(
        "for f in sys.argv[1:]:\n    for d in yaml.safe_load_all(open(f)):\n        print(d['kind'], d['metadata']['name'])",
        &[k8s.join("namespace.yaml"), k8s.join("central.yaml"), k8s.join("agent.yaml")],
    );
    for kind in [
        "Namespace observability",
        "Deployment sluice-central",
        "Service sluice-central",
        "HorizontalPodAutoscaler sluice-central",
        "DaemonSet sluice-agent",
    ] {
        assert!(kinds.lines().any(|l| l == kind), "{kind} missing: {kinds}");
    }
    let ports = python_yaml(
        "for f in sys.argv[1:]:\n    for d in yaml.safe_load_all(open(f)):\n        if d['kind'] in ('Deployment', 'DaemonSet'):\n            s = d['spec']['template']['spec']\n            c = s['containers'][0]\n            cm = [v['configMap']['name'] for v in s['volumes'] if 'configMap' in v][0]\n            mounts = {m['name']: m['mountPath'] for m in c['volumeMounts']}\n            print(cm, c['ports'][0]['containerPort'], c['readinessProbe']['httpGet']['path'], ' '.join(c['args']), mounts['config'], mounts['data'])",
        &[k8s.join("central.yaml"), k8s.join("agent.yaml")],
    );
    let kustomization = std::fs::read_to_string(k8s.join("kustomization.yaml")).unwrap();
    for (configmap, toml) in [
        ("sluice-central", "central.toml"),
        ("sluice-agent", "agent.toml"),
    ] {
        let line = ports
            .lines()
            .find(|l| l.starts_with(&format!("{configmap} ")))
            .unwrap_or_else(|| panic!("no workload mounts {configmap}: {ports}"));
        let config = std::fs::read_to_string(k8s.join(toml)).unwrap();
        let data_dir = config
            .lines()
            .find_map(|l| l.strip_prefix("data_dir = "))
            .unwrap()
            .trim_matches('"');
        assert!(config.contains("address = \"0.0.0.0:9598\""), "{toml}");
        assert_eq!(
            line,
            format!("{configmap} 9598 /ready run /etc/sluice/pipeline.toml /etc/sluice {data_dir}"),
            "{toml}"
        );
        assert!(
            kustomization.contains(&format!(
                "  - name: {configmap}\n    files:\n      - pipeline.toml={toml}"
            )),
            "kustomization does not make {configmap} from {toml}"
        );
    }

    // The sluice pipelines the manifests mount pass `sluice validate`, with the image's and
    // the host's paths mapped to this checkout and a temp dir.
    let dir = tempfile::tempdir().unwrap();
    let plugins = repo().join("dist/plugins");
    plugin("parse");
    for config in [
        k8s.join("central.toml"),
        k8s.join("agent.toml"),
        deploy().join("systemd/pipeline.toml"),
        deploy().join("docker/sluice.toml"),
    ] {
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace(
                "/usr/share/sluice/plugins/",
                &format!("{}/", plugins.display()),
            )
            .replace(
                "/usr/local/share/sluice/plugins/",
                &format!("{}/", plugins.display()),
            )
            .replace(
                "/var/lib/sluice",
                &dir.path().join("data").display().to_string(),
            );
        let copy = dir.path().join(config.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        let out = sluice().arg("validate").arg(&copy).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not validate:\n{}{}",
            config.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The node agent pushes to the central collector's Service, in the namespace
    // kustomize puts it in.
    let agent = std::fs::read_to_string(k8s.join("agent.toml")).unwrap();
    assert!(agent.contains("endpoint = \"http://sluice-central.observability.svc:9598\""));
    assert!(kustomization.contains("namespace: observability\n"));
    assert!(kinds.lines().any(|l| l == "Service sluice-central"));

    // compose.yaml: every file it mounts exists, and the names and ports the configs use
    // (Prometheus's targets, Grafana's datasources, sluice's Loki endpoint) are its services'.
    let docker = deploy().join("docker");
    let mounts = python_yaml(
        "c = yaml.safe_load(open(sys.argv[1]))\nfor name, s in c['services'].items():\n    print('service', name, ' '.join(p.split(':')[1] for p in s.get('ports', [])))\n    for v in s.get('volumes', []):\n        if v.startswith('.'):\n            print('mount', v.split(':')[0])",
        &[docker.join("compose.yaml")],
    );
    let mut services = BTreeSet::new();
    for line in mounts.lines() {
        let mut words = line.split(' ');
        match words.next() {
            Some("mount") => {
                let src = words.next().unwrap();
                // secrets/ is the user's copy of secrets.example/ (gitignored).
                let src = src.replace("./secrets", "./secrets.example");
                assert!(
                    docker.join(&src).exists(),
                    "compose.yaml mounts {src}, which is missing"
                );
            }
            Some("service") => {
                let name = words.next().unwrap();
                for port in words {
                    services.insert(format!("{name}:{port}"));
                }
            }
            _ => panic!("{line}"),
        }
    }
    for (file, address) in [
        ("prometheus/prometheus.yml", "sluice:9598"),
        ("prometheus/prometheus.yml", "alertmanager:9093"),
        (
            "grafana/provisioning/datasources/datasources.yml",
            "prometheus:9090",
        ),
        (
            "grafana/provisioning/datasources/datasources.yml",
            "loki:3100",
        ),
        ("docker/sluice.toml", "loki:3100"),
    ] {
        let text = std::fs::read_to_string(deploy().join(file)).unwrap();
        assert!(text.contains(address), "{file} does not name {address}");
        assert!(
            services.contains(address),
            "compose.yaml has no {address}: {services:?}"
        );
    }
    let example_secrets: BTreeSet<String> = std::fs::read_dir(docker.join("secrets.example"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
        .collect();
    let am = std::fs::read_to_string(deploy().join("alertmanager/alertmanager.yml")).unwrap();
    let mut secrets_read = BTreeSet::new();
    for secret in am.split("/etc/alertmanager/secrets/").skip(1) {
        let name = secret.split(|c: char| c.is_whitespace()).next().unwrap();
        if name.is_empty() {
            continue; // the comment naming the directory
        }
        assert!(
            example_secrets.contains(name),
            "alertmanager.yml reads {name}, which deploy/docker/secrets.example lacks"
        );
        secrets_read.insert(name);
    }
    assert_eq!(
        secrets_read.len(),
        example_secrets.len(),
        "{secrets_read:?}"
    );

    // The Dockerfile puts the plugins where those configs look for them, on the port they
    // listen on.
    let dockerfile = std::fs::read_to_string(deploy().join("docker/Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY --from=build /src/dist/plugins/ /usr/share/sluice/plugins/"));
    assert!(dockerfile.contains("EXPOSE 9598"));
    assert!(dockerfile.contains("CMD [\"run\", \"/etc/sluice/pipeline.toml\"]"));
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(deploy().join("systemd/sluice.service")).unwrap();
    for key in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/sluice\n",
        "StateDirectory=sluice\n",
        "ExecStart=/usr/local/bin/sluice run /etc/sluice/pipeline.toml\n",
    ] {
        assert!(unit.contains(key), "sluice.service lacks {key}");
    }
    // wasmtime maps the code it compiles executable.
    assert!(!unit.contains("MemoryDenyWriteExecute=yes"));
    let pipeline = std::fs::read_to_string(deploy().join("systemd/pipeline.toml")).unwrap();
    assert!(pipeline.contains("data_dir = \"/var/lib/sluice\""));
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: unit file syntax not verified");
        return;
    }
    // `verify` warns (exit 0) about unknown keys and bad values: no output is the pass.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sluice.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/sluice", env!("CARGO_BIN_EXE_sluice")),
    )
    .unwrap();
    let out = run_ok(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(out.trim().is_empty(), "systemd-analyze verify:\n{out}");
    let out = run_ok(
        Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&copy),
    );
    let level: f64 = out
        .split("Overall exposure level for sluice.service: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    assert!(level <= 2.0, "exposure {level}:\n{out}");
}
