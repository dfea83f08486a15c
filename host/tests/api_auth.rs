//! End-to-end: the API server's own routes and a token. `POST /-/reload`, the route that
//! changes state, needs `[api] token` when set (scheme in any case); `/metrics` needs it with
//! `protect_metrics`; `/healthz` and `/ready` stay open for probes. The token, read from the
//! environment, appears nowhere in what sluice printed.

mod common;

use common::*;

#[test]
fn reload_and_metrics_need_the_api_token() {
    let token = "api-t0ken-never-printed-7731";
    // SAFETY: set before the collector starts; this test binary runs this one test.
    unsafe { std::env::set_var("SLUICE_TEST_API_TOKEN", token) };
    let mut running = Running::start(
        r#"
data_dir = "{dir}/data"
[api]
address = "127.0.0.1:{port}"
token = "${SLUICE_TEST_API_TOKEN}"
protect_metrics = true
[sources.push]
type = "http"
[sinks.out]
type = "blackhole"
inputs = ["push"]
"#,
    );
    let client = reqwest::blocking::Client::new();
    let status =
        |request: reqwest::blocking::RequestBuilder| request.send().unwrap().status().as_u16();
    let reload = || client.post(running.url("/-/reload"));
    let metrics = || client.get(running.url("/metrics"));
    assert_eq!(status(reload()), 401);
    assert_eq!(
        status(reload().header("authorization", "Bearer wrong")),
        401
    );
    assert_eq!(status(metrics()), 401);
    assert_eq!(status(metrics().bearer_auth(token)), 200);
    assert_eq!(
        status(reload().header("authorization", format!("bearer {token}"))),
        200,
        "the scheme is case-insensitive"
    );
    running
        .wait_for_log(std::time::Duration::from_secs(30), &["reloaded"])
        .expect("the authorised reload went through");
    for open in ["/healthz", "/ready"] {
        let code = wait_for(std::time::Duration::from_secs(10), || {
            running
                .get(open)
                .ok()
                .filter(|(s, _)| *s == 200)
                .map(|(s, _)| s)
        });
        assert_eq!(code, Some(200), "{open} stays open");
    }
    let log = running.stop_ok();
    assert!(
        !log.contains(token),
        "the token leaked into the log:\n{log}"
    );
}
