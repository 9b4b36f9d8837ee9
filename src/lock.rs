//! Lock files: one `apply` at a time, one run of a job at a time. The lock
//! is the OS file lock (released when the process dies), and the file holds
//! the holder's PID for messages.

use std::fs::File;
use std::io::{Read, Seek, Write};
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
    _file: File,
    pub path: PathBuf,
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
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}", std::process::id()).map_err(io)?;
            Ok(Lock {
                _file: file,
                path: path.to_owned(),
            })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(LockError::Held {
                what: what.to_owned(),
                pid: pid.trim().to_owned(),
                path: path.display().to_string(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The PID in a lock file when its lock is held by someone, without taking it.
pub fn holder(path: &Path) -> Option<String> {
    #[allow(clippy::disallowed_methods)] // Errors are ignored; the lock needs std's File.
    let file = File::options().read(true).write(true).open(path).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => fs_err::read_to_string(path)
            .ok()
            .map(|pid| pid.trim().to_owned()),
    }
}
