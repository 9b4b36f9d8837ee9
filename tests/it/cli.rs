//! Exit codes and the command-line contract.

use crate::common::{root, Cairn};

#[test]
fn usage_errors_exit_1_not_2() {
    Cairn::new(&root()).arg("frobnicate").status(1).run();
    Cairn::new(&root())
        .args(["validate", "--no-such-flag"])
        .status(1)
        .run();
}

#[test]
fn version_and_help_exit_0() {
    let out = Cairn::new(&root()).arg("--version").status(0).run();
    assert_eq!(
        out.stdout.trim(),
        format!("cairn {}", env!("CARGO_PKG_VERSION"))
    );
    Cairn::new(&root())
        .arg("--help")
        .status(0)
        .stdout_has("validate")
        .run();
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        Cairn::new(&root())
            .args(["completions", shell])
            .status(0)
            .stdout_has("validate")
            .run();
    }
}

#[test]
fn config_comes_from_cairn_config() {
    Cairn::new(&root())
        .env("CAIRN_CONFIG", "examples/quickstart/backup.toml")
        .arg("validate")
        .status(0)
        .stdout_has("examples/quickstart/backup.toml is valid")
        .run();
}

#[test]
fn missing_config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    Cairn::new(dir.path())
        .arg("validate")
        .status(1)
        .stderr_has("cannot read the configuration file backup.toml: no such file")
        .stderr_has("--config")
        .run();
}

#[test]
fn restore_and_verify_of_an_unknown_job_name_the_jobs() {
    for args in [&["restore", "db"][..], &["verify", "db"]] {
        Cairn::new(&root())
            .config("examples/quickstart/backup.toml")
            .args(args)
            .status(1)
            .stderr_has("there is no job `db` in the configuration")
            .stderr_has("app_db, files")
            .run();
    }
}

#[test]
fn broken_pipe_is_not_an_error() {
    use std::process::Stdio;
    let mut child = Cairn::new(&root())
        .arg("schema")
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: cairn's write fails with EPIPE.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
