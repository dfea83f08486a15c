//! End-to-end: plugins that trap, loop forever or eat memory fail only their own batch; the
//! on_error policy decides (pass, dead_letter, drop), the failure is counted, the instance
//! is replaced, and good records keep flowing.

mod common;

use common::*;

#[test]
fn bad_plugins_are_contained_and_counted() {
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
path = "/ingest"
[transforms.trap]
type = "wasm"
inputs = ["push"]
plugin = "{trap}"
on_error = "pass"
[transforms.loop]
type = "wasm"
inputs = ["trap"]
plugin = "{looping}"
on_error = "dead_letter"
timeout_ms = 200
dead_letter_path = "{{dir}}/dead.jsonl"
[transforms.oom]
type = "wasm"
inputs = ["loop"]
plugin = "{oom}"
on_error = "drop"
memory_limit_mb = 32
[sinks.out]
type = "file"
inputs = ["oom"]
path = "{{dir}}/out.log"
"#,
        trap = plugin("bad_trap").display(),
        looping = plugin("bad_loop").display(),
        oom = plugin("bad_oom").display(),
    );
    let mut running = Running::start(&config);
    let sends = [
        "good 1",
        "this one makes the first plugin TRAP",
        "good 2",
        "this one makes the second plugin LOOP",
        "good 3",
        "this one makes the third plugin OOM",
        "good 4",
    ];
    for body in sends {
        let (status, text) = running.post("/ingest", "text/plain", body);
        assert_eq!(status, 200, "{body}: {text}");
    }
    let out = std::fs::read_to_string(running.dir.path().join("out.log")).unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "good 1",
            "this one makes the first plugin TRAP", // on_error = pass
            "good 2",
            "good 3",
            "good 4"
        ]
    );
    let dead = std::fs::read_to_string(running.dir.path().join("dead.jsonl")).unwrap();
    let dead: serde_json::Value = serde_json::from_str(dead.trim()).unwrap();
    assert_eq!(dead["error_kind"], "timeout");
    assert_eq!(
        dead["record"]["line"],
        "this one makes the second plugin LOOP"
    );

    let m = |name: &str, labels: &str| running.metric(&format!("{name}{{{labels}}}"));
    assert_eq!(
        m(
            "sluice_plugin_errors_total",
            "component_id=\"trap\",reason=\"trap\""
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "sluice_plugin_errors_total",
            "component_id=\"loop\",reason=\"timeout\""
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "sluice_plugin_errors_total",
            "component_id=\"oom\",reason=\"memory\""
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "sluice_component_discarded_events_total",
            "component_id=\"loop\",reason=\"dead_lettered\""
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            "sluice_component_discarded_events_total",
            "component_id=\"oom\",reason=\"plugin_failed\""
        ),
        Some(1.0)
    );
    // The first instance of each, plus one replacement after its failure.
    for t in ["trap", "loop", "oom"] {
        let started = m(
            "sluice_plugin_instances_started_total",
            &format!("component_id=\"{t}\",component_kind=\"transform\""),
        );
        assert_eq!(started, Some(2.0), "{t}");
    }
    // The three run fused on one thread; each still counts what it took in and passed on.
    for (t, received, sent) in [("trap", 7.0, 7.0), ("loop", 7.0, 6.0), ("oom", 6.0, 5.0)] {
        let labels = format!("component_id=\"{t}\",component_kind=\"transform\"");
        assert_eq!(
            m("sluice_component_received_events_total", &labels),
            Some(received),
            "{t} received"
        );
        assert_eq!(
            m("sluice_component_sent_events_total", &labels),
            Some(sent),
            "{t} sent"
        );
        let cpu = m("sluice_plugin_cpu_seconds_total", &labels);
        assert!(cpu.is_some_and(|s| s > 0.0), "{t} plugin cpu {cpu:?}");
    }
    // The collector never logs record contents when a plugin fails.
    let (ok, stderr) = running.stop();
    assert!(ok);
    assert!(stderr.contains("transforms fused"), "{stderr}");
    assert!(stderr.contains("plugin call failed"));
    assert!(
        !stderr.contains("makes the"),
        "record contents leaked into the log"
    );
}

/// A secret substituted into a plugin's config and logged by the plugin through the host's
/// `log` import is scrubbed, as in every other message; a single 2 GiB - 1 allocation (too
/// large for the engine to even try) is counted as running out of memory, not as a trap,
/// and a trap's detail keeps its cause.
#[test]
fn plugin_logs_are_scrubbed_and_a_huge_allocation_is_out_of_memory() {
    let secret = "s3cr3t-token-value-0042";
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), format!("{secret}\n")).unwrap();
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[api]
address = "127.0.0.1:{{port}}"
[sources.push]
type = "http"
[transforms.echo]
type = "wasm"
inputs = ["push"]
plugin = "{trap}"
config = {{ echo = "token=${{file:{secret_path}}}" }}
[transforms.oom]
type = "wasm"
inputs = ["echo"]
plugin = "{oom}"
[sinks.out]
type = "file"
inputs = ["oom"]
path = "{{dir}}/out.log"
"#,
        trap = plugin("bad_trap").display(),
        oom = plugin("bad_oom").display(),
        secret_path = secret_file.path().display(),
    );
    let mut running = Running::start(&config);
    for body in ["one line", "a HUGE line", "one TRAP line"] {
        let (status, text) = running.post("/ingest", "text/plain", body);
        assert_eq!(status, 200, "{body}: {text}");
    }
    let m = |labels: &str| running.metric(&format!("sluice_plugin_errors_total{{{labels}}}"));
    assert_eq!(m("component_id=\"oom\",reason=\"memory\""), Some(1.0));
    assert_eq!(m("component_id=\"oom\",reason=\"trap\""), Some(0.0));
    assert_eq!(m("component_id=\"echo\",reason=\"trap\""), Some(1.0));
    let stderr = running.stop_ok();
    assert!(stderr.contains("init with echo=token=***"), "{stderr}");
    assert!(stderr.contains("batch with echo=token=***"), "{stderr}");
    assert!(!stderr.contains(secret), "the secret leaked:\n{stderr}");
    assert!(
        stderr.contains("wasm `unreachable` instruction executed"),
        "a trap's detail keeps its cause:\n{stderr}"
    );
}
