//! Lock files: one `apply` at a time, one run of a job at a time. The lock
//! is the OS file lock (released when the process dies), and the file holds
//! the holder's PID for messages and, once a backup run has picked it, the
//! run's artifact ID. The file outlives its holder: a run ID in a free lock
//! whose run left no history record names a run that was killed, whose
//! leftovers can go at once.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("{what} is already running (pid {pid}; lock {path})")]
    #[diagnostic(help("wait for it to finish; if no such process exists, the lock is released already and a retry succeeds"))]
    Held {
        what: String,
        pid: String,
        path: String,
    },
    #[error("cannot open the lock file {path}: {source}")]
    #[diagnostic(help("check that the state directory exists and is writable by this user"))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A held lock; released when dropped.
pub struct Lock {
    file: File,
    pub path: PathBuf,
    /// What the file said before this process took it: the last holder.
    pub previous: Holder,
}

/// What a lock file says about its (last) holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: String,
    /// The artifact ID of the backup run that held the lock.
    pub run: Option<String>,
    /// Why that run was started (`scheduled`, `manual`, `safety`).
    pub reason: Option<String>,
}

impl Holder {
    /// "PID\n", or "PID\nRUN-ID\nREASON\n".
    fn parse(text: &str) -> Self {
        let mut lines = text.lines().map(str::trim);
        let mut next = || {
            lines
                .next()
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
        };
        Holder {
            pid: next().unwrap_or_default(),
            run: next(),
            reason: next(),
        }
    }
}

impl Lock {
    /// A way to note the run's artifact ID in the lock file, for a task
    /// that does not hold the lock itself (the backup engine).
    pub fn run_note(&self) -> std::io::Result<RunNote> {
        Ok(RunNote {
            file: self.file.try_clone()?,
        })
    }
}

/// Writes the artifact ID of the run that holds a lock into its file.
pub struct RunNote {
    file: File,
}

impl RunNote {
    /// Records `id` after the holder's PID and makes it durable: a killed
    /// run is then known by the next one to take the lock.
    pub fn record(&mut self, id: &str, reason: &str) -> std::io::Result<()> {
        write_holder(
            &self.file,
            &format!("{}\n{id}\n{reason}\n", std::process::id()),
        )?;
        self.file.sync_data()
    }
}

/// Replaces the lock file's text in place, so that a reader sees the old
/// text or the new one over it, never an empty file without a PID.
fn write_holder(file: &File, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(text.as_bytes(), 0)?;
    file.set_len(text.len() as u64)
}

/// Takes the lock at `path` for `what` (e.g. "job `app_db`").
pub fn acquire(path: &Path, what: &str) -> Result<Lock, LockError> {
    let io = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::atomic::create_private_dir(dir).map_err(io)?;
    }
    // LockError::Io names the path already, and the lock needs std's File.
    #[allow(clippy::disallowed_methods)]
    let mut file = File::options()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut text = String::new();
    match file.try_lock() {
        Ok(()) => {
            let _ = file.read_to_string(&mut text);
            write_holder(&file, &format!("{}\n", std::process::id())).map_err(io)?;
            Ok(Lock {
                file,
                path: path.to_owned(),
                previous: Holder::parse(&text),
            })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let _ = file.read_to_string(&mut text);
            Err(LockError::Held {
                what: what.to_owned(),
                pid: Holder::parse(&text).pid,
                path: path.display().to_string(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The PID in a lock file when its lock is held by someone, without taking it.
pub fn holder(path: &Path) -> Option<String> {
    match peek(path)? {
        (true, holder) => Some(holder.pid),
        (false, _) => None,
    }
}

/// Whether the lock at `path` is held now, and what its file says (the
/// holder, or the last one), without taking it; `None` when there is no
/// lock file.
pub fn peek(path: &Path) -> Option<(bool, Holder)> {
    #[allow(clippy::disallowed_methods)] // Errors are ignored; the lock needs std's File.
    let file = File::options().read(true).write(true).open(path).ok()?;
    let held = match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    };
    let text = fs_err::read_to_string(path).ok()?;
    Some((held, Holder::parse(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_holder_learns_the_killed_runs_id_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/job.lock");
        let first = acquire(&path, "job `app`").unwrap();
        first
            .run_note()
            .unwrap()
            .record("20261206T030000Z", "scheduled")
            .unwrap();
        drop(first);
        let second = acquire(&path, "job `app`").unwrap();
        assert_eq!(
            second.previous,
            Holder {
                pid: std::process::id().to_string(),
                run: Some("20261206T030000Z".to_owned()),
                reason: Some("scheduled".to_owned()),
            }
        );
        // A holder that never picked a run leaves only its PID.
        drop(second);
        let third = acquire(&path, "job `app`").unwrap();
        assert_eq!(third.previous.run, None);
        assert_eq!(third.previous.reason, None);
    }
}
