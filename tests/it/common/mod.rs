//! Test support, so that every other file of the suite holds only tests.
//!
//! - [`Cairn`] (command.rs) is the one way to run the cairn binary: a
//!   builder of its arguments, environment, stdin and expected status and
//!   output, which `.run()`s the real binary; [`tool`] runs anything else.
//! - [`Sandbox`] (sandbox.rs) is one test's private world: a temporary
//!   directory with backup.toml, and, when the test needs them, the suite's
//!   servers, with whatever the test made on them removed at the end.
//! - One fixture per real server that `scripts/servers` runs, each read
//!   from the variables it exports ([`Servers`]): [`Postgres`], [`Redis`]
//!   (and [`PrivateRedis`], a redis-server of the test's own), [`MariaDb`],
//!   and [`S3`] on Garage (and [`PrivateGarage`]).
//! - The rest is the support of one group of tests each: stores.rs for
//!   `run_stores` and `restore` (job `app` to a local directory and S3),
//!   faults.rs for `run_faults`, status.rs, notify.rs, retention.rs,
//!   calendar.rs, invalid.rs.

pub mod calendar;
mod command;
pub mod faults;
mod files;
mod garage;
pub mod invalid;
pub mod kafka;
pub mod layers;
mod mariadb;
pub mod notify;
pub mod pitr;
mod postgres;
mod processes;
pub mod redis;
pub mod retention;
mod sandbox;
mod servers;
pub mod status;
pub mod stores;

use std::path::PathBuf;

pub use command::{tool, tool_bytes, Background, Cairn, Run};
pub use files::{
    content_snapshot, copy_dir, disk_usage, file_names, pseudo_random, relative_files, sha256,
    sha256_file, tree, tree_snapshot,
};
pub use garage::{PrivateGarage, S3};
pub use mariadb::MariaDb;
pub use postgres::{Postgres, PG_ROWS};
pub use processes::{
    alive, descendant_command_lines, processes_with_env, read_in_background, wait_for,
};
pub use redis::{PrivateRedis, Redis};
pub use sandbox::Sandbox;
pub use servers::Servers;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// stderr as one line: miette wraps messages and frames them with `│`.
pub fn flat(stderr: &str) -> String {
    stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `restored` has the lines of `source`, which has some, row by row.
pub fn assert_lines_equal(restored: &str, source: &str, what: &str) {
    let restored: Vec<&str> = restored.lines().collect();
    let source: Vec<&str> = source.lines().collect();
    assert!(!source.is_empty(), "{what}: the source has data");
    assert_eq!(restored.len(), source.len(), "{what}: row count");
    for (i, (restored, source)) in restored.iter().zip(&source).enumerate() {
        assert_eq!(restored, source, "{what}: row {}", i + 1);
    }
}

/// `cairn --config CONFIG [--env ENV] validate` in the repository is valid
/// and says so, without errors.
pub fn assert_valid(config: &str, env: Option<&str>) {
    let mut cairn = Cairn::new(&root()).config(config);
    if let Some(env) = env {
        cairn = cairn.args(["--env", env]);
    }
    let out = cairn.arg("validate").run();
    assert_eq!(
        out.code, 0,
        "{config} --env {env:?} should be valid:\n{}",
        out.stderr
    );
    assert!(out.stdout.contains("is valid"), "{}", out.stdout);
    assert!(!out.stderr.contains("error"), "{}", out.stderr);
}

/// Artifact IDs per job at `DIR/backups`, each of which has a manifest.
pub fn local_artifacts(dir: &std::path::Path) -> std::collections::BTreeSet<(String, String)> {
    let mut found = std::collections::BTreeSet::new();
    let backups = dir.join("backups");
    for job in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
        for id in std::fs::read_dir(job.path()).unwrap().flatten() {
            assert!(
                id.path().join("manifest.json").exists(),
                "{} has no manifest",
                id.path().display()
            );
            found.insert((
                job.file_name().to_string_lossy().into_owned(),
                id.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    found
}
