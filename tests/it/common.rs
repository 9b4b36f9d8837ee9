//! Running the cairn binary the way an operator does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `cairn` command with a clean, deterministic environment: no colours,
/// a fixed width, and only the variables a test sets itself.
pub fn cairn(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    command
}

/// Copies a directory tree (an example with its data) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("cairn runs");
    Run {
        code: status
            .code()
            .expect("cairn exits with a code, not a signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The servers `scripts/servers start` runs for the suite, read from the
/// `CAIRN_TEST_*` variables it exports.
pub struct Servers {
    vars: std::collections::BTreeMap<String, String>,
}

impl Servers {
    /// Fails the test, saying how to get servers, when they are not running.
    pub fn get() -> Self {
        let vars: std::collections::BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CAIRN_TEST_") || k.starts_with("AWS_"))
            .collect();
        assert!(
            vars.contains_key("CAIRN_TEST_SERVERS_DIR"),
            "the test servers are not running: run the suite with scripts/test, or \
             `scripts/servers start DIR && source DIR/env` before `cargo test`"
        );
        Servers { vars }
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not set by scripts/servers"))
    }

    /// A `cairn` command that can reach the servers: AWS credentials and
    /// region, and PostgreSQL's tools on PATH.
    pub fn cairn(&self, dir: &Path) -> Command {
        let mut command = cairn(dir);
        let path = format!(
            "{}:{}",
            self.var("CAIRN_TEST_PG_BIN"),
            std::env::var("PATH").unwrap_or_default()
        );
        command.env("PATH", path);
        for (key, value) in &self.vars {
            if key.starts_with("AWS_") {
                command.env(key, value);
            }
        }
        command
    }
}
