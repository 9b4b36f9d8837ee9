//! Restoring a base backup for point-in-time recovery (SPEC §12): `base.tar`
//! unpacked into an empty data directory owned by the user that will run
//! the server, then recovery configured from the WAL archive
//! (`recovery.signal`, and `restore_command` and the recovery target in
//! `postgresql.auto.conf`). With `--start`, cairn starts the server on a
//! private socket, waits until recovery reached its target, and leaves it
//! running.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::stores::target::{extract_tar, give_to};
use crate::stores::{StoreError, Target, ToolCommand};

/// What recovery does once it reaches its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetAction {
    /// End recovery and open for writes, on a new timeline.
    #[default]
    Promote,
    /// Stay in recovery, read-only, for inspection.
    Pause,
    /// Stop the server.
    Shutdown,
}

impl TargetAction {
    fn setting(self) -> &'static str {
        match self {
            TargetAction::Promote => "promote",
            TargetAction::Pause => "pause",
            TargetAction::Shutdown => "shutdown",
        }
    }
}

/// How the restored cluster recovers.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// `--at`: `recovery_target_time`; without it, the end of the archive.
    pub target_time: Option<DateTime<Utc>>,
    /// `--timeline`: `latest` or a number.
    pub timeline: String,
    pub action: TargetAction,
    /// `--start`: start the server and wait for recovery.
    pub start: bool,
    /// The `restore_command`, with `%f` and `%p`.
    pub restore_command: String,
    /// `server_version_num` of the backup, to find the matching server.
    pub server_version: u32,
}

pub struct PitrTarget {
    name: String,
    datadir: PathBuf,
    recovery: Recovery,
    /// A verify's private directory, holding the data directory; removed
    /// by `discard`.
    scratch: Option<tempfile::TempDir>,
    /// The server's user, once the data directory was given to it.
    owner: Option<(u32, u32)>,
    /// What recovery reached, for verify's built-in check.
    reached: Option<String>,
}

impl PitrTarget {
    pub fn new(name: &str, to: Option<&str>, recovery: &Recovery) -> Result<Self, StoreError> {
        let Some(to) = to else {
            return Err(StoreError::new(
                name,
                "a base backup is restored into a data directory: give --to DATADIR",
            )
            .with_help(
                "restore next to the running cluster (e.g. --to /var/lib/postgresql/15/restored), \
                 then stop the old server and move the directories, or start the copy with --start",
            ));
        };
        Ok(Self {
            name: name.to_owned(),
            datadir: crate::config::absolute(Path::new(to)),
            recovery: recovery.clone(),
            scratch: None,
            owner: None,
            reached: None,
        })
    }

    /// A scratch cluster for verify: the newest base backup, replayed to
    /// the end of the archive with archive_mode off (a scratch server must
    /// never push a timeline of its own into the real archive), started,
    /// checked, then stopped and removed.
    pub fn scratch(name: &str, recovery: &Recovery) -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-verify-")
            .tempdir()
            .map_err(|e| {
                StoreError::new(name, format!("cannot create a scratch directory: {e}"))
            })?;
        // The server's user must reach the data directory inside.
        fs_err::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| StoreError::new(name, format!("cannot open up the scratch directory: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            datadir: dir.path().join("data"),
            recovery: Recovery {
                target_time: None,
                timeline: "latest".to_owned(),
                action: TargetAction::Promote,
                start: true,
                ..recovery.clone()
            },
            scratch: Some(dir),
            owner: None,
            reached: None,
        })
    }

    /// `psql -At` on the running copy, as the server's user over its
    /// private socket.
    fn psql(&self, database: &str, sql: &str) -> Result<String, StoreError> {
        let user = self
            .owner
            .and_then(|(uid, _)| user_name(uid))
            .unwrap_or_else(|| "postgres".to_owned());
        let psql = self.server_tool("psql");
        let command = match self.owner {
            Some(_) => ToolCommand::new("runuser", &None).args(["-u", &user, "--", &psql]),
            None => ToolCommand::new(&psql, &None),
        };
        command
            .args([
                "--no-psqlrc",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-p",
                "5432",
                "-U",
                &user,
            ])
            .arg("-h")
            .arg(self.datadir.display().to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .output()
            .map_err(|e| StoreError::new(&self.name, e))
    }

    /// Stops the copy at once (it is thrown away).
    fn stop(&self) {
        let pg_ctl = self.server_tool("pg_ctl");
        let command = match self.owner.and_then(|(uid, _)| user_name(uid)) {
            Some(user) => ToolCommand::new("runuser", &None).args(["-u", &user, "--", &pg_ctl]),
            None => ToolCommand::new(&pg_ctl, &None),
        };
        let _ = command
            .arg("-D")
            .arg(self.datadir.display().to_string())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    fn io(&self, what: &str, path: &Path, error: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.name, format!("{what} {}: {error}", path.display()))
    }

    /// The user the server runs as: the owner of the data directory, else
    /// of its parent; `postgres` rather than root (PostgreSQL refuses
    /// root). `None` when cairn is not root and cannot give files away.
    fn server_owner(&self) -> Option<(u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let parent = self.datadir.parent().unwrap_or(Path::new("/"));
        let owner = fs_err::metadata(&self.datadir)
            .or_else(|_| fs_err::metadata(parent))
            .ok()
            .map(|meta| (meta.uid(), meta.gid()));
        match owner {
            Some((uid, gid)) if uid != 0 => Some((uid, gid)),
            _ => user_ids("postgres"),
        }
    }

    /// Writes the recovery settings, and a minimal configuration when the
    /// backup carries none (Debian keeps postgresql.conf under /etc).
    fn configure(&self) -> Result<Vec<String>, StoreError> {
        let mut notes = Vec::new();
        let conf = self.datadir.join("postgresql.conf");
        if !conf.exists() {
            self.write(
                &conf,
                "# Written by cairn restore: the base backup held no postgresql.conf\n\
                 # (it lived outside the data directory). Only a private socket.\n\
                 listen_addresses = ''\n",
            )?;
            notes.push(format!(
                "the base backup held no postgresql.conf: {} is a minimal one (no TCP, a private socket); copy your settings in before using it in production",
                conf.display()
            ));
        }
        let hba = self.datadir.join("pg_hba.conf");
        if !hba.exists() {
            self.write(
                &hba,
                "# Written by cairn restore: the base backup held no pg_hba.conf.\nlocal all all peer\n",
            )?;
        }
        self.write(&self.datadir.join("recovery.signal"), "")?;
        let auto = self.datadir.join("postgresql.auto.conf");
        let mut settings = fs_err::read_to_string(&auto).unwrap_or_default();
        settings.push_str(&self.recovery_settings());
        self.write(&auto, &settings)?;
        Ok(notes)
    }

    fn recovery_settings(&self) -> String {
        let quote = |value: &str| format!("'{}'", value.replace('\'', "''"));
        let mut text = String::from("\n# Added by cairn restore: recovery from the WAL archive.\n");
        text.push_str(&format!(
            "restore_command = {}\n",
            quote(&self.recovery.restore_command)
        ));
        if let Some(time) = self.recovery.target_time {
            text.push_str(&format!(
                "recovery_target_time = {}\n",
                quote(&time.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string())
            ));
        }
        text.push_str(&format!(
            "recovery_target_timeline = {}\nrecovery_target_action = {}\n",
            quote(&self.recovery.timeline),
            quote(self.recovery.action.setting())
        ));
        // A restored copy must not push into the archive it recovers from
        // until it is promoted and on its own timeline: PostgreSQL only
        // archives after promotion, which is what SPEC §12 wants.
        text
    }

    fn write(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        crate::atomic::write_file(path, text.as_bytes(), 0o600)
            .map_err(|e| self.io("cannot write", path, e))
    }

    /// A server program of the backup's major version: Debian's
    /// /usr/lib/postgresql/MAJOR/bin first, else the one on PATH.
    fn server_tool(&self, program: &str) -> String {
        let major = self.recovery.server_version / 10_000;
        let debian = format!("/usr/lib/postgresql/{major}/bin/{program}");
        if Path::new(&debian).exists() {
            debian
        } else {
            program.to_owned()
        }
    }

    fn pg_ctl(&self) -> String {
        self.server_tool("pg_ctl")
    }

    /// Starts the server as the data directory's owner on a private socket
    /// (the data directory itself) and waits until recovery is done.
    fn start(&self, owner: Option<(u32, u32)>) -> Result<Vec<String>, StoreError> {
        let log = self.datadir.join("cairn-recovery.log");
        let socket = self.datadir.display().to_string();
        let mut options =
            format!("-c port=5432 -c listen_addresses='' -c unix_socket_directories='{socket}'");
        if self.scratch.is_some() {
            options.push_str(" -c archive_mode=off");
        }
        let mut command = match owner.and_then(|(uid, _)| user_name(uid)) {
            Some(user) => {
                ToolCommand::new("runuser", &None).args(["-u", &user, "--", &self.pg_ctl()])
            }
            None => ToolCommand::new(&self.pg_ctl(), &None),
        };
        command = command
            .arg("-D")
            .arg(self.datadir.display().to_string())
            .arg("-l")
            .arg(log.display().to_string())
            .arg("-o")
            .arg(options)
            // No waiting in pg_ctl: recovery may take longer than its 60 s,
            // and the log says more than its exit code.
            .arg("-W")
            .arg("start");
        command.output().map_err(|e| {
            StoreError::new(
                &self.name,
                format!(
                    "the server did not start: {e}; its log is {}",
                    log.display()
                ),
            )
        })?;
        let reached = self.wait_for_recovery(&log)?;
        if self.scratch.is_some() {
            return Ok(vec![reached]);
        }
        let user = owner
            .and_then(|(uid, _)| user_name(uid))
            .unwrap_or_else(|| "postgres".to_owned());
        let mut notes = vec![reached];
        notes.push(format!(
            "the server is running on {}: connect with `psql -h {socket} -U {user}`; stop it with `runuser -u {user} -- {} -D {socket} stop`",
            self.datadir.display(),
            self.pg_ctl()
        ));
        Ok(notes)
    }

    /// Follows the server log until recovery ends (or pauses, or the server
    /// stops); fails with the log's last lines when the server died.
    fn wait_for_recovery(&self, log: &Path) -> Result<String, StoreError> {
        let pid_file = self.datadir.join("postmaster.pid");
        loop {
            let text = fs_err::read_to_string(log).unwrap_or_default();
            let reached = text
                .lines()
                .filter_map(|line| line.split_once("last completed transaction was at log time "))
                .map(|(_, time)| time.trim().to_owned())
                .next_back();
            let done = match self.recovery.action {
                TargetAction::Promote => {
                    text.contains("database system is ready to accept connections")
                }
                TargetAction::Pause => {
                    text.contains("pausing at the end of recovery")
                        || text.contains("recovery has paused")
                }
                TargetAction::Shutdown => !pid_file.exists() && text.contains("shut"),
            };
            if text.contains("FATAL") || text.contains("PANIC") {
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                let error = StoreError::new(
                    &self.name,
                    format!(
                        "recovery failed; the server log {} ends with:\n{}",
                        log.display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                );
                return Err(
                    if text.contains("recovery ended before configured recovery target was reached")
                    {
                        error.with_help("the archive ends before --at: nothing was committed after that time on this timeline (yet). Restore without --at to recover all that is archived, pick an earlier time, or another --timeline")
                    } else {
                        error.with_help("a WAL file recovery needed could not be fetched, or does not fit this backup: see the log, and `cairn status` for holes in the archive")
                    },
                );
            }
            if done {
                return Ok(match reached {
                    Some(time) => format!("recovery reached the transaction committed at {time}"),
                    None => "recovery ended (no transaction was replayed after the base backup)"
                        .to_owned(),
                });
            }
            if !pid_file.exists() && text.contains("database system is shut down") {
                return Err(StoreError::new(
                    &self.name,
                    format!("the server stopped during recovery; see {}", log.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The uid and gid of user `name`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam reads the passwd database; the result is copied
    // before any other call could overwrite it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: checked non-null above.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

/// The name of user `uid`.
fn user_name(uid: u32) -> Option<String> {
    // SAFETY: getpwuid reads the passwd database; the name is copied out
    // at once.
    let entry = unsafe { libc::getpwuid(uid) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: checked non-null; pw_name is a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*entry).pw_name) };
    Some(name.to_string_lossy().into_owned())
}

impl Target for PitrTarget {
    fn describe(&self) -> String {
        format!("data directory {}", self.datadir.display())
    }

    /// A data directory is never replaced: it must be new or empty, and a
    /// running server's is refused.
    fn existing(&mut self, _streams: &[String]) -> Result<Option<String>, StoreError> {
        let pid = self.datadir.join("postmaster.pid");
        if let Ok(text) = fs_err::read_to_string(&pid) {
            let running = text
                .lines()
                .next()
                .and_then(|line| line.trim().parse::<i32>().ok())
                // SAFETY: kill with signal 0 only checks that the process exists.
                .is_some_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
            if running {
                return Err(StoreError::new(
                    &self.name,
                    format!(
                        "{} belongs to a running server (see {})",
                        self.describe(),
                        pid.display()
                    ),
                )
                .with_help(
                    "restore into a new directory with --to; never into a running cluster",
                ));
            }
        }
        let empty = fs_err::read_dir(&self.datadir)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(true);
        if empty {
            return Ok(None);
        }
        Err(StoreError::new(
            &self.name,
            format!("{} is not empty; nothing was changed", self.describe()),
        )
        .with_help("restore into a new or empty directory; move the old one aside first"))
    }

    fn as_store(&self) -> Store {
        // Never asked: `existing` refuses a non-empty directory.
        crate::stores::target::directory_store(&self.datadir)
    }

    fn clear(&mut self, _streams: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        crate::atomic::create_private_dir(&self.datadir)
            .map_err(|e| self.io("cannot create", &self.datadir, e))?;
        extract_tar(input, cancel, &self.datadir)
            .map_err(|e| StoreError::new(&self.name, format!("{stream}: {e}")))
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let mut notes = self.configure()?;
        // PostgreSQL wants its data directory 0700 (or 0750) and its own.
        fs_err::set_permissions(
            &self.datadir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(|e| self.io("cannot set the mode of", &self.datadir, e))?;
        let owner = self.server_owner();
        if let Some(owner) = owner {
            give_to(&self.datadir, owner)
                .map_err(|e| self.io("cannot give to the server's user", &self.datadir, e))?;
        }
        self.owner = owner;
        if self.scratch.is_some() {
            let reached = self.start(owner)?;
            self.reached = reached.into_iter().next();
        } else if self.recovery.start {
            notes.extend(self.start(owner)?);
        } else {
            notes.push(format!(
                "{} is ready to recover: start PostgreSQL on it (as its owner); it fetches WAL with `{}`",
                self.describe(),
                self.recovery.restore_command
            ));
        }
        Ok(notes)
    }

    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        Ok(vec![(
            "the archive replays onto the base backup to its end".to_owned(),
            self.reached.is_some(),
            self.reached
                .clone()
                .unwrap_or_else(|| "not started".to_owned()),
        )])
    }

    fn measure(&mut self, check: &Check) -> Result<i64, StoreError> {
        let (query, database) =
            crate::stores::target::check_query(&self.name, "PostgreSQL", check, &[])?;
        let database = if database.is_empty() {
            "postgres".to_owned()
        } else {
            database
        };
        let output = self.psql(&database, query)?;
        crate::stores::target::query_number(&self.name, query, &database, &output)
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        let Some(dir) = self.scratch.take() else {
            return Ok(());
        };
        self.stop();
        dir.close().map_err(|e| {
            StoreError::new(
                &self.name,
                format!("cannot remove the scratch cluster: {e}"),
            )
        })
    }
}

impl Drop for PitrTarget {
    fn drop(&mut self) {
        if self.scratch.is_some() {
            let _ = self.discard();
        }
    }
}
