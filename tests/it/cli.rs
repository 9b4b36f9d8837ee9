//! Exit codes and the command-line contract.

use crate::common::{cairn, root, run};

#[test]
fn usage_errors_exit_1_not_2() {
    let out = run(cairn(&root()).arg("frobnicate"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let out = run(cairn(&root()).args(["validate", "--no-such-flag"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn version_and_help_exit_0() {
    let out = run(cairn(&root()).arg("--version"));
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!("cairn {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(cairn(&root()).arg("--help"));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("validate"));
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(cairn(&root()).args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(
            out.stdout.contains("validate"),
            "{shell} completions do not know `validate`"
        );
    }
}

#[test]
fn config_comes_from_cairn_config() {
    let out = run(cairn(&root())
        .env("CAIRN_CONFIG", "examples/quickstart/backup.toml")
        .arg("validate"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("examples/quickstart/backup.toml is valid"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(cairn(dir.path()).arg("validate"));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("cannot read the configuration file backup.toml: no such file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--config"), "{}", out.stderr);
}

#[test]
fn restore_and_verify_of_an_unknown_job_name_the_jobs() {
    for args in [&["restore", "db"][..], &["verify", "db"]] {
        let out = run(cairn(&root())
            .args(["--config", "examples/quickstart/backup.toml"])
            .args(args));
        assert_eq!(out.code, 1, "{args:?}");
        assert!(
            out.stderr
                .contains("there is no job `db` in the configuration"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("app_db, files"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn broken_pipe_is_not_an_error() {
    use std::process::Stdio;
    let mut child = cairn(&root())
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: cairn's write fails with EPIPE.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
