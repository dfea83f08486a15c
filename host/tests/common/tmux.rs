//! A real terminal for tests: tmux from Debian, on a socket of the test's own, running one
//! command in a pane that can be read (`capture-pane`) and typed into (`send-keys`).

use std::process::Command;
use std::time::Duration;

use super::{free_port, wait_for};

/// A tmux server of the test's own (its own socket), with one session running `command`.
pub struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    pub fn start(command: &str) -> Option<Tmux> {
        let socket = format!("sluice-test-{}-{}", std::process::id(), free_port());
        let tmux = Tmux {
            socket,
            session: "top",
        };
        let ok = tmux
            .cmd(&[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "top",
                "-x",
                "200",
                "-y",
                "30",
                command,
            ])
            .ok()?;
        assert!(
            ok.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        Some(tmux)
    }

    pub fn cmd(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
    }

    pub fn pane(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", self.session])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", self.session, keys]).unwrap();
    }

    pub fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", self.session])
            .is_ok_and(|o| o.status.success())
    }

    pub fn wait_for(&self, what: impl Fn(&str) -> bool) -> Option<String> {
        wait_for(Duration::from_secs(15), || {
            let pane = self.pane();
            what(&pane).then_some(pane)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

pub fn tmux_or_skip() -> bool {
    let has = Command::new("tmux").arg("-V").output().is_ok();
    if !has && std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_none() {
        eprintln!("tmux is not installed: the terminal test is skipped");
    }
    has || std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_some()
}
