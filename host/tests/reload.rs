//! End-to-end: hot reload. A broken config is refused and the old pipeline keeps running; a
//! good one (by POST /-/reload, SIGHUP or editing the file) swaps the pipeline without
//! losing a record or resetting a counter.

mod common;

use std::time::Duration;

use common::*;

fn config(dir: &std::path::Path, env: &str) -> String {
    format!(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
labels = {{ env = "{env}" }}
[transforms.id]
type = "wasm"
inputs = ["push"]
plugin = "{identity}"
[sinks.out]
type = "file"
inputs = ["id"]
path = "{dir}/out.jsonl"
encoding = "json"
"#,
        dir = dir.display(),
        identity = plugin("identity").display(),
    )
}

fn rows(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reloads(sluice: &Running, result: &str) -> f64 {
    sluice
        .metric(&format!(
            "sluice_config_reloads_total{{result=\"{result}\"}}"
        ))
        .unwrap_or(0.0)
}

fn wait_reloads(sluice: &Running, result: &str, at_least: f64) {
    wait_for(Duration::from_secs(30), || {
        (reloads(sluice, result) >= at_least).then_some(())
    })
    .unwrap_or_else(|| panic!("no {result} reload #{at_least}"));
    wait_for(Duration::from_secs(30), || {
        sluice.get("/ready").ok().filter(|(s, _)| *s == 200)
    })
    .expect("the new pipeline became ready");
}

#[test]
fn reloads_swap_the_pipeline_refuse_bad_configs_and_keep_counters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut sluice = Running::start(&config(d, "one"));
    let path = sluice.dir.path().join("pipeline.toml");
    let port = sluice.port.to_string();
    let write = |text: String| std::fs::write(&path, text.replace("{port}", &port)).unwrap();
    let post = |sluice: &Running, line: &str| {
        let (status, body) = sluice.post("/ingest", "text/plain", line);
        assert_eq!(status, 200, "{body}");
    };
    let reload_request = |sluice: &Running| {
        let r = reqwest::blocking::Client::new()
            .post(sluice.url("/-/reload"))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    post(&sluice, "before");

    // A broken config: the file watcher and POST /-/reload both refuse it with the located
    // reason, and the old pipeline keeps running.
    write(config(d, "two").replace("type = \"http\"", "type = \"nope\""));
    wait_reloads(&sluice, "failure", 1.0);
    let (status, reason) = reload_request(&sluice);
    assert_eq!(status, 400);
    assert!(
        reason.contains("pipeline.toml:") && reason.contains("nope"),
        "{reason}"
    );
    assert!(reloads(&sluice, "failure") >= 2.0);
    assert_eq!(reloads(&sluice, "success"), 0.0);
    post(&sluice, "still one");

    // A good config, picked up by the file watcher alone.
    write(config(d, "two"));
    wait_reloads(&sluice, "success", 1.0);
    post(&sluice, "after edit");

    // SIGHUP reloads (the same file).
    unsafe {
        libc::kill(sluice.child.id() as i32, libc::SIGHUP);
    }
    wait_reloads(&sluice, "success", 2.0);
    post(&sluice, "after hup");

    // POST /-/reload reloads.
    let (status, body) = reload_request(&sluice);
    assert_eq!(status, 200, "{body}");
    wait_reloads(&sluice, "success", 3.0);
    post(&sluice, "after post");

    let got: Vec<(String, String)> = rows(d)
        .iter()
        .map(|r| {
            (
                r["line"].as_str().unwrap().to_string(),
                r["labels"]["env"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("before", "one"),
        ("still one", "one"),
        ("after edit", "two"),
        ("after hup", "two"),
        ("after post", "two"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        got, want,
        "every record once, with the label of the config it met"
    );
    // Counters carried on across generations.
    assert_eq!(
        sluice.metric(
            "sluice_component_received_events_total{component_id=\"out\",component_kind=\"sink\"}"
        ),
        Some(5.0)
    );
    // Each generation's plugin is initialised once: the instance a reload checks is the
    // one that then runs.
    let started = sluice.metric(
        "sluice_plugin_instances_started_total{component_id=\"id\",component_kind=\"transform\"}",
    );
    assert_eq!(started, Some(1.0 + reloads(&sluice, "success")));
    let (ok, stderr) = sluice.stop();
    assert!(ok, "{stderr}");
}

/// A reload to a config whose sink cannot be built (a CA file that does not exist, an
/// endpoint that does not parse) is refused by the same check `sluice validate` makes, by
/// SIGHUP and by POST /-/reload alike: the refusal is logged and counted, and the running
/// pipeline keeps delivering to Loki.
#[test]
fn a_sink_that_fails_its_check_is_refused_and_the_old_pipeline_keeps_delivering() {
    let receiver = loki_receiver::Receiver::start("127.0.0.1:0");
    let pipeline = |sink_extra: &str| {
        format!(
            r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[sinks.loki]
type = "loki"
inputs = ["push"]
endpoint = "{endpoint}"
labels = {{ job = "reload" }}
{sink_extra}
"#,
            endpoint = receiver.endpoint(),
        )
    };
    let mut collector = Running::start(&pipeline(""));
    let path = collector.dir.path().join("pipeline.toml");
    let original = std::fs::read_to_string(&path).unwrap();
    let post = |sluice: &Running, line: &str| {
        let (status, body) = sluice.post("/ingest", "text/plain", line);
        assert_eq!(status, 200, "{body}");
    };
    let reload_request = |sluice: &Running| {
        let r = reqwest::blocking::Client::new()
            .post(sluice.url("/-/reload"))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    post(&collector, "line 1");

    let bad_endpoint = original.replace(&receiver.endpoint(), "http://exa mple:3100");
    let missing_ca = original.replace(
        "labels = { job = \"reload\" }",
        "labels = { job = \"reload\" }\ntls = { ca_file = \"no-such-ca.pem\" }",
    );
    let cases = [
        (bad_endpoint, "`sinks.loki.endpoint`"),
        (missing_ca, "`sinks.loki.tls.ca_file`"),
    ];
    let mut failures = 0.0;
    for (i, (text, key)) in cases.iter().enumerate() {
        assert_ne!(text, &original, "the case rewrote the sink");
        // `sluice validate` refuses the file, naming the key.
        let bad = collector.dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&bad, text).unwrap();
        let out = sluice().arg("validate").arg(&bad).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(key), "validate names {key}: {stderr}");

        // Saved over the running pipeline's file: the watcher's reload is refused...
        std::fs::write(&path, text).unwrap();
        failures += 1.0;
        wait_reloads(&collector, "failure", failures);
        // ...and so are SIGHUP's...
        unsafe {
            libc::kill(collector.child.id() as i32, libc::SIGHUP);
        }
        failures += 1.0;
        wait_reloads(&collector, "failure", failures);
        // ...and POST /-/reload's, with the located reason.
        let (status, reason) = reload_request(&collector);
        failures += 1.0;
        assert_eq!(status, 400, "{reason}");
        assert!(reason.contains(key), "{reason}");
        assert_eq!(reloads(&collector, "success"), 0.0);
        // The old pipeline still delivers.
        post(&collector, &format!("line {}", i + 2));
    }
    assert!(receiver.wait_for_entries(3, Duration::from_secs(10)));
    let mut lines: Vec<String> = receiver
        .streams()
        .values()
        .flatten()
        .map(|e| e.line.clone())
        .collect();
    lines.sort();
    assert_eq!(lines, ["line 1", "line 2", "line 3"]);
    let (ok, stderr) = collector.stop();
    assert!(ok, "{stderr}");
    let refused_logs = stderr
        .lines()
        .filter(|l| l.contains("reload refused") && l.contains("sinks.loki."))
        .count();
    assert!(
        refused_logs >= 6,
        "every refusal is logged with its key:\n{stderr}"
    );
}
