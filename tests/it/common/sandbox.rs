//! [`Sandbox`]: one test's private world.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{copy_dir, root, tool, Cairn, MariaDb, Postgres, Redis, Servers, S3};

/// A temporary directory that cairn runs in, with backup.toml in it; if
/// the test needs them, the suite's servers, and names on them that no
/// other test or suite run uses. What the test makes on the servers is
/// removed when the sandbox is dropped, whether the test passed or not.
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// `TEST_PID`: the test's name and the process ID.
    pub unique: String,
    servers: Option<Servers>,
    /// Arguments every cairn command of the test starts with.
    args: Vec<String>,
    /// What every cairn command of the test gets on top of the servers'
    /// variables: the ones backup.toml interpolates, PGPASSWORD, MYSQL_PWD.
    env: Vec<(String, String)>,
    /// Commands that remove what the test made on the servers.
    cleanup: RefCell<Vec<Command>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for mut command in self.cleanup.take().into_iter().rev() {
            let _ = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Sandbox {
    /// An empty directory, for the test named `test`.
    pub fn new(test: &str) -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            unique: format!("{test}_{}", std::process::id()),
            servers: None,
            args: Vec::new(),
            env: Vec::new(),
            cleanup: RefCell::new(Vec::new()),
        }
    }

    /// A copy of an example's directory (its configuration, e.g.
    /// `examples/quickstart/backup.toml`, and data), without backups, and
    /// [`Sandbox::under_root`], so that paths in the output are predictable.
    pub fn example(config: &str) -> Self {
        let sandbox = Sandbox::new("example").under_root();
        let example = root().join(config);
        copy_dir(example.parent().unwrap(), sandbox.path());
        let _ = std::fs::remove_dir_all(sandbox.path().join("backups"));
        sandbox
    }

    /// The production example, with an overlay for `--env test` that points
    /// its units at the cairn under test (so that systemd-analyze finds the
    /// executable) and its S3 destination, which has no endpoint and would
    /// reach for AWS, at a closed port on loopback.
    pub fn production() -> Self {
        let sandbox = Self::example("examples/production/backup.toml");
        std::fs::write(
            sandbox.path().join("backup.test.toml"),
            format!(
                "[settings]\nbinary = \"{}\"\n\n[destinations.offsite]\nendpoint = \"http://127.0.0.1:{}\"\npath_style = true\n",
                env!("CARGO_BIN_EXE_cairn"),
                super::notify::closed_port()
            ),
        )
        .unwrap();
        sandbox
    }

    /// The suite's servers: their tools and credentials for cairn, and
    /// their fixtures for the test. Fails the test when they are not running.
    pub fn with_servers(mut self) -> Self {
        self.servers = Some(Servers::get());
        self
    }

    /// cairn writes what it keeps for itself (units, the cron file, the
    /// state dir) under `root/` (`--root root`).
    pub fn under_root(mut self) -> Self {
        self.args = vec!["--root".to_owned(), "root".to_owned()];
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// backup.toml.
    pub fn config(&self) -> PathBuf {
        self.path().join("backup.toml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// Replaces the first `from` in backup.toml, which must be there, with `to`.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        assert!(text.contains(from), "the config contains {from:?}");
        std::fs::write(self.config(), text.replacen(from, to, 1)).unwrap();
    }

    /// Where systemd units go under `--root root`.
    pub fn units(&self) -> PathBuf {
        self.path().join("root/etc/systemd/system")
    }

    /// Replaces the temporary directory in output with `[TMP]`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "[TMP]")
    }

    pub fn servers(&self) -> &Servers {
        self.servers
            .as_ref()
            .expect("the sandbox was made with_servers()")
    }

    pub fn var(&self, name: &str) -> &str {
        self.servers().var(name)
    }

    pub fn postgres(&self) -> Postgres {
        Postgres::new(self.servers())
    }

    pub fn redis(&self) -> Redis {
        Redis::new(self.servers())
    }

    pub fn mariadb(&self) -> MariaDb {
        MariaDb::new(self.servers())
    }

    /// The suite's Garage.
    pub fn s3(&self) -> S3 {
        S3::new(self.servers())
    }

    /// Runs `command` when the test ends, to remove something it made.
    pub fn clean_up_with(&self, command: Command) {
        self.cleanup.borrow_mut().push(command);
    }

    /// Passes `name` with the server's value of `from` to every cairn command.
    pub fn pass_env(&mut self, name: &str, from: &str) {
        let value = self.var(from).to_owned();
        self.env.push((name.to_owned(), value));
    }

    /// `cairn ARGS` in the sandbox: the sandbox's arguments and variables
    /// (and the servers' PATH and AWS credentials) and nothing else of the
    /// test's environment.
    pub fn cairn(&self, args: &[&str]) -> Cairn {
        let cairn = match &self.servers {
            Some(servers) => servers.cairn(self.path()),
            None => Cairn::new(self.path()),
        };
        cairn
            .args(&self.args)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
    }

    /// A fresh age key pair: the identity file and its recipient.
    pub fn age_key(&self) -> (PathBuf, String) {
        let identity = self.path().join("age-identity.txt");
        tool(Command::new("age-keygen").arg("-o").arg(&identity));
        let recipient = tool(Command::new("age-keygen").arg("-y").arg(&identity));
        (identity, recipient.trim().to_owned())
    }
}
