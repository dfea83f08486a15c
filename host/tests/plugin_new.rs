//! End-to-end: `sluice plugin new` outside any sluice checkout (a temp dir), for Rust,
//! Python, JavaScript and C: the printed next steps are run as printed (their paths right
//! after the `cd` they start with), the plugin builds with what sluice wrote (the Rust SDK
//! and the WIT come from the binary; C's bindings and component from `sluice plugin
//! c-bindings` / `componentize`), and `sluice plugin test` runs it on a sample line. Under CI
//! (`SLUICE_REQUIRE_LANG_PLUGINS`) a missing toolchain fails the test instead of skipping.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn required() -> bool {
    std::env::var_os("SLUICE_REQUIRE_LANG_PLUGINS").is_some()
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `PATH` with the directory of the `sluice` under test first.
fn path_with_sluice() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_sluice")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `sluice plugin new --lang LANG NAME` in `dir`, then the next steps it printed
/// (with `sluice` on PATH and `SAMPLE.log` made in the plugin's directory); the output of
/// the last step, `sluice plugin test`.
fn new_and_follow(dir: &Path, lang: &str, name: &str, prepare: impl Fn(&Path)) -> String {
    let out = sluice()
        .current_dir(dir)
        .args(["plugin", "new", "--lang", lang, name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let steps: Vec<&str> = printed
        .lines()
        .skip_while(|l| *l != "next:")
        .skip(1)
        .collect();
    assert!(steps[0].starts_with(&format!("cd {name} && ")), "{printed}");
    let project = dir.join(name);
    std::fs::write(
        project.join("SAMPLE.log"),
        "{\"msg\":\"hello\"}\nplain line\n",
    )
    .unwrap();
    prepare(&project);
    let path = path_with_sluice();
    let script = format!("set -e\n{}\n", steps.join("\n"));
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .env("npm_config_offline", "true")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

/// The template plugins set `labels` from config; with none they pass records through.
fn check_records(output: &str) {
    let lines: Vec<serde_json::Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("line").is_some())
        .collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert_eq!(lines[0]["line"], "{\"msg\":\"hello\"}");
    assert_eq!(lines[1]["line"], "plain line");
}

#[test]
fn a_rust_plugin_starts_builds_and_runs_outside_a_checkout() {
    if !have("cargo", "--version") {
        assert!(!required(), "cargo is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir
        .path()
        .ancestors()
        .any(|d| d.join("plugins/sdk").is_dir()));
    let cache = repo().join("target/plugin-new-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let out = new_and_follow(dir.path(), "rust", "my-plug", |project| {
        // Share compiled dependencies between runs: the project's target dir is a link.
        std::os::unix::fs::symlink(&cache, project.join("target")).unwrap();
        assert!(project.join("sluice-plugin/src/lib.rs").is_file());
        assert!(project.join("sluice-plugin/wit/sluice.wit").is_file());
    });
    check_records(&out);
}

#[test]
fn a_python_plugin_starts_builds_and_runs_outside_a_checkout() {
    if !have("componentize-py", "--version") {
        assert!(!required(), "componentize-py is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = new_and_follow(dir.path(), "python", "py-plug", |_| {});
    check_records(&out);
}

#[test]
fn a_javascript_plugin_starts_builds_and_runs_outside_a_checkout() {
    let modules = repo().join("plugins/js/node_modules");
    if !have("node", "--version") || !modules.is_dir() {
        assert!(!required(), "node or plugins/js/node_modules is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = new_and_follow(dir.path(), "js", "js-plug", |project| {
        // `npm install` would fetch componentize-js again: a copy of the checkout's (the same
        // pinned versions, installed by `make test`) is there first, so npm finds it up to
        // date (npm runs offline below).
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&modules)
            .arg(project.join("node_modules"))
            .status()
            .unwrap();
        assert!(copied.success());
    });
    check_records(&out);
}

/// Whether clang builds a wasm32-wasi reactor that uses wasi-libc's stdio (clang, lld,
/// wasi-libc, compiler-rt for wasm32) and a native program with ASan and UBSan (the
/// template's `make test`).
fn c_toolchain(dir: &Path) -> bool {
    let source = dir.join("probe.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint probe(void) { return printf(\"x\"); }\nint main(void) { return 0; }\n",
    )
    .unwrap();
    let builds = |args: &[&str]| {
        Command::new("clang")
            .args(args)
            .arg(&source)
            .arg("-o")
            .arg(dir.join("probe.out"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    builds(&["--target=wasm32-wasi", "-mexec-model=reactor"])
        && builds(&["-fsanitize=address,undefined"])
}

#[test]
fn a_c_plugin_starts_builds_and_runs_outside_a_checkout() {
    let dir = tempfile::tempdir().unwrap();
    if !c_toolchain(dir.path()) {
        assert!(
            !required(),
            "clang cannot build for wasm32-wasi (clang, lld, wasi-libc, \
             libclang-rt-dev-wasm32) or with sanitizers (libclang-rt-14-dev)"
        );
        return;
    }
    let out = new_and_follow(dir.path(), "c", "c-plug", |project| {
        assert!(project.join("c-plug.c").is_file());
        assert!(project.join("sluice_records.h").is_file());
    });
    check_records(&out);
    // The template's own unit tests, natively.
    let project = dir.path().join("c-plug");
    let test = Command::new("make")
        .arg("test")
        .current_dir(&project)
        .env("PATH", path_with_sluice())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && stdout.contains("c-plug: 3 passed, 0 failed"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    // A second `make` has nothing to do.
    let again = Command::new("make")
        .arg("-q")
        .current_dir(&project)
        .env("PATH", path_with_sluice())
        .status()
        .unwrap();
    assert!(again.success(), "`make -q` says c-plug.wasm is out of date");
}
