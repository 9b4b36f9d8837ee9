//! Where cairn keeps its own files on this host: the `--root` prefix
//! ([`Host`]) and the state directory ([`StateDir`]), so that no other
//! module joins those paths by hand.
//!
//! The state directory (`settings.state_dir`, `/var/lib/cairn` by default,
//! under `--root` when given):
//!
//! ```text
//! STATE_DIR/
//! ├── apply.lock            one `cairn apply` at a time
//! ├── history/
//! │   └── JOB.jsonl         one JSON line per run of JOB (SPEC §5)
//! ├── locks/
//! │   └── JOB.lock          one run of JOB at a time: the PID and run ID of
//! │                         its (last) holder; a killed run is known by it
//! └── notify/
//!     └── stale/
//!         └── JOB           a `stale` notification was sent for this episode
//! ```
//!
//! Whatever the umask, cairn creates these directories 0700
//! ([`crate::atomic::create_private_dir`]) and these files 0600 (SPEC §10).

use std::path::{Path, PathBuf};

/// Where cairn writes for itself: `--root` prefixes every such path.
#[derive(Debug, Clone, Default)]
pub struct Host {
    pub root: Option<PathBuf>,
}

impl Host {
    /// `path` as seen on this machine: under `--root` when given.
    pub fn local(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_owned(),
        }
    }

    /// The state directory configured as `configured` (`settings.state_dir`),
    /// as seen on this machine.
    pub fn state_dir(&self, configured: &Path) -> StateDir {
        StateDir {
            root: self.local(configured),
        }
    }
}

/// This machine's name as gethostname(2) gives it, lowercase.
pub fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = String::from_utf8_lossy(&buffer[..end])
        .trim()
        .to_lowercase();
    (!name.is_empty()).then_some(name)
}

/// The state directory and every path in it (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// A state directory at `root` exactly (no `--root` prefixing).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock that keeps two `cairn apply` from running at once.
    pub fn apply_lock(&self) -> PathBuf {
        self.root.join("apply.lock")
    }

    /// The directory of the per-job locks.
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// The lock a run of `job` holds.
    pub fn job_lock(&self, job: &str) -> PathBuf {
        self.locks().join(format!("{job}.lock"))
    }

    /// The directory of the run history.
    pub fn history(&self) -> PathBuf {
        self.root.join("history")
    }

    /// The history file of `job`.
    pub fn history_file(&self, job: &str) -> PathBuf {
        self.history().join(format!("{job}.jsonl"))
    }

    /// The directory of the markers of sent `stale` notifications.
    pub fn stale_markers(&self) -> PathBuf {
        self.root.join("notify").join("stale")
    }

    /// The marker that a `stale` notification was sent for `job`.
    pub fn stale_marker(&self, job: &str) -> PathBuf {
        self.stale_markers().join(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_prefixes_absolute_paths() {
        let host = Host {
            root: Some("/tmp/r".into()),
        };
        assert_eq!(
            host.local(Path::new("/etc/systemd/system")),
            PathBuf::from("/tmp/r/etc/systemd/system")
        );
        assert_eq!(
            Host::default().local(Path::new("/etc")),
            PathBuf::from("/etc")
        );
    }

    #[test]
    fn state_paths_are_under_the_root() {
        let host = Host {
            root: Some("/tmp/demo".into()),
        };
        let state = host.state_dir(Path::new("/var/lib/cairn"));
        assert_eq!(
            state.job_lock("app"),
            Path::new("/tmp/demo/var/lib/cairn/locks/app.lock")
        );
        assert_eq!(
            state.history_file("app"),
            Path::new("/tmp/demo/var/lib/cairn/history/app.jsonl")
        );
        assert_eq!(
            Host::default().state_dir(Path::new("/s")).apply_lock(),
            Path::new("/s/apply.lock")
        );
    }
}
