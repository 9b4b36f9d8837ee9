//! The CI examples in examples/ci/ (issue: GitOps review): linted against
//! the GitHub Actions and GitLab CI schemas and pre-commit's own check, the
//! GitLab job run end to end by scripts/ci-example, and the pre-commit
//! hook's command run on the production example.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// PATH with the cairn under test first.
fn path_with_cairn() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_cairn")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} (scripts/test installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_ci_examples_pass_their_schemas() {
    let ci = root().join("examples/ci");
    for (file, schema) in [
        ("github-actions.yml", "vendor.github-workflows"),
        ("gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        let (ok, text) = run(Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .arg(ci.join(file)));
        assert!(ok, "{file} against {schema}:\n{text}");
        // The check can fail: a misspelt key is caught.
        let broken = tempfile::NamedTempFile::new().unwrap();
        let text = std::fs::read_to_string(ci.join(file)).unwrap();
        std::fs::write(
            broken.path(),
            text.replacen("script:", "scirpt:", 1)
                .replacen("runs-on:", "runs_on:", 1),
        )
        .unwrap();
        let (ok, _) = run(Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .arg(broken.path()));
        assert!(!ok, "{schema} accepted a misspelt key");
    }
    let (ok, text) = run(Command::new("pre-commit")
        .args(["validate-config"])
        .arg(ci.join("pre-commit-config.yaml")));
    assert!(ok, "pre-commit-config.yaml:\n{text}");
}

#[test]
fn the_gitlab_job_runs_end_to_end() {
    let (ok, text) =
        run(Command::new(root().join("scripts/ci-example")).env("PATH", path_with_cairn()));
    assert!(ok, "scripts/ci-example:\n{text}");
    assert!(text.contains("staging: note posted"), "{text}");
    assert!(text.contains("prod: note posted"), "{text}");
}

#[test]
fn the_pre_commit_hook_validates_each_environment() {
    let config =
        std::fs::read_to_string(root().join("examples/ci/pre-commit-config.yaml")).unwrap();
    // The hook's `entry` (a folded scalar: its lines joined by spaces).
    let entry: String = config
        .split_once("entry: >-\n")
        .unwrap()
        .1
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("examples/production/backup.toml"),
        dir.path().join("backup.toml"),
    )
    .unwrap();
    let (ok, text) = run(Command::new("sh")
        .args(["-c", &entry])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path_with_cairn()));
    assert!(ok, "{entry}\n{text}");
    assert_eq!(text.matches("is valid").count(), 3, "{text}");
    // And it fails on an invalid file.
    std::fs::write(
        dir.path().join("backup.toml"),
        "[jobs.x]\nstore = \"nowhere\"\n",
    )
    .unwrap();
    let (ok, _) = run(Command::new("sh")
        .args(["-c", &entry])
        .current_dir(dir.path())
        .env("PATH", path_with_cairn()));
    assert!(!ok);
}
