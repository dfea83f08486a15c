//! End-to-end: TLS on the API server (`[api.tls]`). With a certificate and key, the server
//! speaks HTTPS only (a plain-HTTP request gets no answer); with `client_ca_file`, a client
//! without a certificate that CA signed is refused in the handshake, and one with it is
//! served (mutual TLS). A key that does not fit its certificate is refused by `sluice
//! validate`, at its key. Certificates are made by the test (rcgen), on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::tls::{pki, Pki};
use common::*;

struct Sluice(Child);

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, tls: &str) -> (Sluice, u16) {
    let port = free_port();
    let config = dir.join("p.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}/data\"\n[api]\naddress = \"127.0.0.1:{port}\"\n[api.tls]\n{tls}\n\
             [sources.push]\ntype = \"http\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"push\"]\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = sluice()
        .arg("run")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Sluice(child), port)
}

fn client(pki: &Pki, with_cert: bool) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5));
    if with_cert {
        b = b.identity(reqwest::Identity::from_pem(pki.client.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

#[test]
fn the_api_serves_https_and_with_a_client_ca_only_known_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    for (name, pem) in [
        ("ca.pem", &pki.ca),
        ("server.pem", &pki.server_cert),
        ("server.key", &pki.server_key),
        ("other.key", &pki.other_key),
    ] {
        std::fs::write(dir.path().join(name), pem).unwrap();
    }

    // TLS only: https works, plain http does not.
    let (_sluice, port) = start(
        dir.path(),
        "crt_file = \"server.pem\"\nkey_file = \"server.key\"",
    );
    let https = client(&pki, false);
    let ready = wait_for(Duration::from_secs(30), || {
        https
            .get(format!("https://127.0.0.1:{port}/ready"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
    });
    assert!(ready.is_some(), "no HTTPS answer");
    let pushed = https
        .post(format!("https://127.0.0.1:{port}/ingest"))
        .body("over tls")
        .send()
        .unwrap();
    assert_eq!(pushed.status(), 200);
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/ready"))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(plain.is_err(), "plain HTTP must not be answered: {plain:?}");
    drop(_sluice);

    // Mutual TLS: a client without a certificate is refused, one with it is served.
    let (_sluice, port) = start(
        dir.path(),
        "crt_file = \"server.pem\"\nkey_file = \"server.key\"\nclient_ca_file = \"ca.pem\"",
    );
    let known = client(&pki, true);
    let ready = wait_for(Duration::from_secs(30), || {
        known
            .get(format!("https://127.0.0.1:{port}/ready"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
    });
    assert!(ready.is_some(), "a client with a certificate is served");
    let anonymous = https.get(format!("https://127.0.0.1:{port}/ready")).send();
    assert!(
        anonymous.is_err(),
        "no client certificate: refused: {anonymous:?}"
    );

    // A key that does not fit the certificate: refused before anything runs.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "data_dir = \"/tmp/sluice-tls-bad\"\n[api.tls]\ncrt_file = \"server.pem\"\nkey_file = \"other.key\"\n\
         [sources.push]\ntype = \"http\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"push\"]\n",
    )
    .unwrap();
    let out = sluice().arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("`api.tls.key_file`: the key does not fit the certificate"),
        "{err}"
    );
}
