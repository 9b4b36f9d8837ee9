//! An AOF artifact restored into the data directory of a stopped Redis
//! (`cairn restore JOB --to DIR`): unpacked into a private directory inside
//! DIR, checked with `redis-check-aof`, then moved into place as
//! `DIR/APPENDDIRNAME`. A directory that a running redis-server uses, or
//! that holds an AOF already, is refused: nothing there is ever replaced.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::aof;
use super::server::{unpack_aof, Data};
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::stores::target::{directory_store, give_to, target_owner};
use crate::stores::{StoreError, Target};

/// What a staging directory's name starts with.
const STAGING_PREFIX: &str = ".cairn-restore.";

/// The data directory of a stopped Redis, receiving an AOF.
pub struct AofDirTarget {
    store: String,
    dir: PathBuf,
    /// The unpacked, checked AOF and its names, until `finish` moves it.
    staged: Option<(tempfile::TempDir, Data)>,
}

impl AofDirTarget {
    /// A target for `--to DIR` (relative to the working directory).
    pub fn new(store: &str, to: &str) -> Self {
        Self {
            store: store.to_owned(),
            dir: crate::config::absolute(Path::new(to)),
            staged: None,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.store, message)
    }

    /// Refuses the directory while a redis-server runs in it.
    fn refuse_if_used(&self) -> Result<(), StoreError> {
        match server_using(&self.dir) {
            Ok(None) => Ok(()),
            Ok(Some(pid)) => Err(self
                .error(format!(
                    "{} belongs to a running redis-server (pid {pid} works in it)",
                    self.describe()
                ))
                .with_help("stop that server first, or restore into a new directory with --to; a restore never writes under a running Redis")),
            Err((pid, e)) => Err(self
                .error(format!(
                    "cannot tell whether redis-server (pid {pid}) works in {}: reading /proc/{pid}/cwd failed: {e}",
                    self.dir.display()
                ))
                .with_help("run the restore as root (or as the user that server runs as), so that cairn can see where it works")),
        }
    }
}

/// The redis-server process, if any, whose working directory is `dir`:
/// Redis changes into its `dir` when it starts. Compared by device and
/// inode, so a server in a container (whose path differs) is found too.
/// The error names a redis-server whose directory cannot be read.
fn server_using(dir: &Path) -> Result<Option<u32>, (u32, std::io::Error)> {
    let Ok(target) = fs_err::metadata(dir) else {
        // No directory yet: nobody works in it.
        return Ok(None);
    };
    let Ok(processes) = fs_err::read_dir("/proc") else {
        return Ok(None);
    };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let proc = process.path();
        // A process that ended meanwhile has no comm to read.
        let Ok(comm) = fs_err::read_to_string(proc.join("comm")) else {
            continue;
        };
        if comm.trim() != "redis-server" {
            continue;
        }
        match fs_err::metadata(proc.join("cwd")) {
            Ok(cwd) if cwd.dev() == target.dev() && cwd.ino() == target.ino() => {
                return Ok(Some(pid))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((pid, e)),
        }
    }
    Ok(None)
}

/// An AOF directory (one holding a `*.manifest` file) directly in `dir`.
fn existing_aof(dir: &Path) -> Option<PathBuf> {
    let entries = fs_err::read_dir(dir).ok()?;
    entries.flatten().find_map(|entry| {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(STAGING_PREFIX) {
            return None;
        }
        let files = fs_err::read_dir(entry.path()).ok()?;
        files
            .flatten()
            .any(|file| {
                file.file_name()
                    .to_string_lossy()
                    .ends_with(aof::MANIFEST_SUFFIX)
            })
            .then(|| entry.path())
    })
}

impl Target for AofDirTarget {
    fn describe(&self) -> String {
        format!("the Redis data directory {}", self.dir.display())
    }

    /// Never offers data for `--force` to replace: a running server's
    /// directory, or one holding an AOF, is refused.
    fn existing(&mut self, _streams: &[String]) -> Result<Option<String>, StoreError> {
        self.refuse_if_used()?;
        if let Some(found) = existing_aof(&self.dir) {
            return Err(self
                .error(format!(
                    "{} holds an append-only file already ({}); nothing was changed",
                    self.describe(),
                    found.display()
                ))
                .with_help("move it aside first, or restore into another directory with --to"));
        }
        Ok(None)
    }

    fn as_store(&self) -> Store {
        // Never asked: `existing` refuses a directory holding an AOF.
        directory_store(&self.dir)
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
        if stream != aof::STREAM {
            return Err(self
                .error(format!(
                    "the artifact holds `{stream}`, not an append-only file: only an artifact of method = \"aof\" restores into a data directory"
                ))
                .with_help("restore an RDB into a server: --to redis://HOST:PORT"));
        }
        if !self.dir.exists() {
            crate::atomic::create_private_dir(&self.dir)
                .map_err(|e| self.error(format!("cannot create {}: {e}", self.dir.display())))?;
        }
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(|e| {
                self.error(format!(
                    "cannot create a directory in {}: {e}",
                    self.dir.display()
                ))
            })?;
        let (data, _size, _checked) = unpack_aof(&self.store, staging.path(), input, cancel)?;
        self.staged = Some((staging, data));
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let Some((staging, Data::Aof { dirname, filename })) = self.staged.take() else {
            return Ok(Vec::new());
        };
        // A server may have started meanwhile; it would not see the AOF
        // until restarted, but it could rewrite over it.
        self.refuse_if_used()?;
        let placed = self.dir.join(&dirname);
        if fs_err::symlink_metadata(&placed).is_ok() {
            // An empty directory is taken over; anything else stays.
            fs_err::remove_dir(&placed).map_err(|e| {
                self.error(format!(
                    "{} exists and is not an empty directory: {e}; nothing was changed",
                    placed.display()
                ))
                .with_help("move it aside first, or restore into another directory with --to")
            })?;
        }
        let owner = target_owner(&self.dir);
        fs_err::rename(staging.path().join(&dirname), &placed).map_err(|e| self.error(e))?;
        if let Some(owner) = owner {
            give_to(&placed, owner).map_err(|e| {
                self.error(format!(
                    "cannot give {} to the directory's owner: {e}",
                    placed.display()
                ))
            })?;
        }
        staging
            .close()
            .map_err(|e| self.error(format!("removing the staging directory failed: {e}")))?;
        Ok(vec![format!(
            "restored the append-only file into {}: start Redis with `dir {}`, `appendonly yes`, `appenddirname \"{dirname}\"` and `appendfilename \"{filename}\"` (with appendonly yes it loads the AOF and ignores any dump.rdb there)",
            placed.display(),
            self.dir.display()
        )])
    }

    fn measure(&mut self, _check: &Check) -> Result<i64, StoreError> {
        Err(self.error("a data directory is not measured: `cairn verify` loads the artifact into a private redis-server"))
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        self.staged = None;
        Ok(())
    }
}
