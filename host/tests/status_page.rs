//! End-to-end: the status page at `/` and `/api/status`. With data flowing through a
//! running sluice, the page without JavaScript is a table of every component with its
//! numbers; in headless Chromium (Debian's package; CI installs it) the script draws every
//! component and a live rate on each edge, the numbers move between two loads, and a
//! screenshot is taken; with `protect_metrics` both routes want the API token (as a bearer
//! token, or as the Basic password a browser asks for).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
[sources.push]
type = "http"
[transforms.parse]
type = "wasm"
inputs = ["push"]
plugin = "PARSE"
config = { format = "json", labels = ["level"] }
[sinks.out]
type = "blackhole"
inputs = ["parse"]
"#;

/// Pushes a few lines every 50 ms until dropped.
struct Traffic(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Traffic {
    fn start(url: String) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            while !flag.load(Ordering::Relaxed) {
                let _ = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body("{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"warn\",\"msg\":\"b\"}")
                    .send();
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Traffic(stop, Some(thread))
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

fn chromium(args: &[&str], url: &str) -> Option<String> {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2500",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text of the element carrying `attr` in `dom` (`data-rate="push->parse"`).
fn text_of(dom: &str, attr: &str) -> Option<String> {
    let at = dom.find(attr)?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].to_string())
}

#[test]
fn the_status_page_shows_every_component_and_live_rates() {
    let mut sluice = Running::start(&CONFIG.replace("PARSE", plugin("parse").to_str().unwrap()));
    let traffic = Traffic::start(sluice.url("/ingest"));
    sluice
        .wait_for_metric(
            Duration::from_secs(20),
            "sluice_component_sent_events_total{component_id=\"out\",component_kind=\"sink\"}",
            10.0,
        )
        .expect("records flow");

    // Without JavaScript: the table, filled in on the server.
    let (status, html) = sluice.get("/").unwrap();
    assert_eq!(status, 200);
    for name in ["push", "parse", "out"] {
        assert!(
            html.contains(&format!("<tr data-component=\"{name}\">")),
            "{name}:\n{html}"
        );
    }
    assert!(html.contains("wasm (parse.wasm)"), "{html}");
    assert!(!html.contains("src=\"http"), "no external assets");

    // The JSON behind it.
    let (_, json) = sluice.get("/api/status").unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["push", "parse", "out"]);
    assert_eq!(json["components"][1]["inputs"][0], "push");

    let has_chromium = Command::new("chromium").arg("--version").output().is_ok();
    if !has_chromium && std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_none() {
        eprintln!("chromium is not installed: the scripted page is not checked");
        drop(traffic);
        sluice.stop_ok();
        return;
    }
    let url = sluice.url("/");
    let first = chromium(&["--dump-dom"], &url).expect("chromium runs");
    std::thread::sleep(Duration::from_millis(1500));
    let second = chromium(&["--dump-dom"], &url).expect("chromium runs");
    for dom in [&first, &second] {
        for name in ["push", "parse", "out"] {
            assert!(
                dom.contains(&format!("data-node=\"{name}\"")),
                "{name} not drawn:\n{dom}"
            );
        }
        assert!(
            dom.contains("live: rates over the last"),
            "the script ran:\n{dom}"
        );
    }
    let rate = |dom: &str| {
        let text = text_of(dom, "data-rate=\"push-&gt;parse\"").expect("a rate on the edge");
        text.trim_end_matches("/s")
            .replace(',', "")
            .parse::<f64>()
            .unwrap()
    };
    assert!(rate(&second) > 0.0, "a live rate on push -> parse");
    let sent = |dom: &str| {
        let row = &dom[dom.find("<tr data-component=\"push\">").unwrap()..];
        text_of(row, "data-field=\"sent_events\"").unwrap()
    };
    assert_ne!(
        sent(&first),
        sent(&second),
        "the numbers move between loads"
    );

    let shot = tempfile::tempdir().unwrap();
    let png = shot.path().join("status.png");
    chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,500",
        ],
        &url,
    )
    .unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
        "a screenshot"
    );
    drop(traffic);
    sluice.stop_ok();
}

#[test]
fn with_protect_metrics_the_page_and_its_api_want_the_token() {
    let config = CONFIG
        .replace("PARSE", plugin("parse").to_str().unwrap())
        .replace(
            "[api]\n",
            "[api]\ntoken = \"t0ken-value\"\nprotect_metrics = true\n",
        );
    let mut sluice = Running::start(&config);
    let client = reqwest::blocking::Client::new();
    for path in ["/", "/api/status"] {
        assert_eq!(sluice.get(path).unwrap().0, 401, "{path}");
        let r = client
            .get(sluice.url(path))
            .bearer_auth("t0ken-value")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        // A browser: the token as the Basic password, whatever the user name.
        let r = client
            .get(sluice.url(path))
            .basic_auth("operator", Some("t0ken-value"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with Basic");
        let r = client
            .get(sluice.url(path))
            .basic_auth("operator", Some("wrong"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong password");
    }
    // The page's 401 asks a browser for credentials (Basic) and still names Bearer.
    let r = client.get(sluice.url("/")).send().unwrap();
    let challenges: Vec<&str> = r
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("Basic realm=\"sluice\""))
            && challenges.contains(&"Bearer"),
        "{challenges:?}"
    );
    sluice.stop_ok();
}
