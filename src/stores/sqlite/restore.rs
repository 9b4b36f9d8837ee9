//! SQLite: the stream is a database file. It is written beside the target
//! under a temporary name, fsynced and checked with `PRAGMA
//! integrity_check`, and only then renamed over the target, so the target
//! is never half-written. A scratch target is a file in a temporary
//! directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::SqliteStore;
use crate::stores::target::{give_to, remove_scratch_dir, restore_path, scratch_dir, target_owner};
use crate::stores::{StoreError, Target};

pub struct SqliteTarget {
    name: String,
    path: PathBuf,
    /// The restored file, before it is renamed into place.
    pending: Option<tempfile::NamedTempFile>,
    /// A scratch target's directory.
    scratch: Option<tempfile::TempDir>,
}

impl SqliteTarget {
    pub fn target(name: &str, store: &SqliteStore, to: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            path: restore_path(&store.path, to),
            pending: None,
            scratch: None,
        }
    }

    pub fn scratch(name: &str) -> Result<Self, StoreError> {
        let dir = scratch_dir(name)?;
        Ok(Self {
            name: name.to_owned(),
            path: dir.path().join(super::STREAM),
            pending: None,
            scratch: Some(dir),
        })
    }

    fn io(&self, what: &str, error: impl std::fmt::Display) -> StoreError {
        StoreError::new(
            &self.name,
            format!("{what} {}: {error}", self.path.display()),
        )
    }

    /// The restored file, opened read-only.
    fn open(&self) -> Result<rusqlite::Connection, StoreError> {
        rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .map_err(|e| self.io("cannot open", e))
    }
}

/// `PRAGMA integrity_check` on `path`: `ok`, or what SQLite found.
fn integrity(path: &Path) -> Result<String, rusqlite::Error> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    connection.query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0))
}

impl Target for SqliteTarget {
    fn describe(&self) -> String {
        match &self.scratch {
            Some(_) => format!("scratch SQLite file {}", self.path.display()),
            None => format!("SQLite file {}", self.path.display()),
        }
    }

    fn existing(&mut self, _streams: &[String]) -> Result<Option<String>, StoreError> {
        match fs_err::metadata(&self.path) {
            Ok(meta) if meta.len() > 0 => Ok(Some(format!(
                "{} exists ({})",
                self.path.display(),
                crate::format::human_bytes(meta.len())
            ))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("cannot inspect", e)),
        }
    }

    fn as_store(&self) -> Store {
        Store::Sqlite(SqliteStore {
            path: self.path.clone(),
        })
    }

    /// Nothing to do: the restored file replaces the old one in one rename.
    fn clear(&mut self, _streams: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        fs_err::create_dir_all(dir).map_err(|e| self.io("cannot create the directory of", e))?;
        let mut file = tempfile::Builder::new()
            .prefix(".cairn-restore-")
            .tempfile_in(dir)
            .map_err(|e| self.io("cannot write beside", e))?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            cancel.check().map_err(|e| self.io("restoring", e))?;
            let n = match input.read(&mut buffer) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError::new(
                        &self.name,
                        format!("reading {stream} failed: {e}"),
                    ))
                }
            };
            if n == 0 {
                break;
            }
            file.write_all(&buffer[..n])
                .map_err(|e| self.io("cannot write beside", e))?;
        }
        file.as_file()
            .sync_all()
            .map_err(|e| self.io("cannot sync beside", e))?;
        match integrity(file.path()) {
            Ok(result) if result == "ok" => {}
            Ok(result) => {
                return Err(StoreError::new(
                    &self.name,
                    format!("the restored database fails PRAGMA integrity_check: {result}"),
                ))
            }
            Err(e) => {
                return Err(StoreError::new(
                    &self.name,
                    format!("the restored file is not a SQLite database: {e}"),
                ))
            }
        }
        self.pending = Some(file);
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let Some(file) = self.pending.take() else {
            return Ok(Vec::new());
        };
        let mode = fs_err::metadata(&self.path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap_or(0o600);
        fs_err::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .map_err(|e| self.io("cannot set the mode of", e))?;
        if let Some(owner) = target_owner(&self.path) {
            give_to(file.path(), owner)
                .map_err(|e| self.io("cannot give the restored file to the owner of", e))?;
        }
        // A journal left by the old database must not be applied to the new one.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut journal = self.path.clone().into_os_string();
            journal.push(suffix);
            match fs_err::remove_file(&journal) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(self.io(&format!("cannot remove the old {suffix} file of"), e))
                }
                _ => {}
            }
        }
        file.persist(&self.path)
            .map_err(|e| self.io("cannot rename the restored file to", e.error))?;
        if let Some(dir) = self.path.parent() {
            crate::atomic::sync_dir(dir).map_err(|e| self.io("cannot sync the directory of", e))?;
        }
        Ok(Vec::new())
    }

    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        let path = match &self.pending {
            Some(file) => file.path().to_owned(),
            None => self.path.clone(),
        };
        let result = integrity(&path).map_err(|e| self.io("cannot check", e))?;
        Ok(vec![(
            "PRAGMA integrity_check".to_owned(),
            result == "ok",
            result,
        )])
    }

    fn measure(&mut self, check: &Check) -> Result<i64, StoreError> {
        let query = check.query.as_deref().ok_or_else(|| {
            StoreError::new(&self.name, "SQLite checks are SQL queries (`query`)")
        })?;
        self.open()?
            .query_row(query, [], |row| row.get::<_, i64>(0))
            .map_err(|e| StoreError::new(&self.name, format!("the check `{query}` failed: {e}")))
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        self.pending = None;
        remove_scratch_dir(&self.name, self.scratch.take())
    }
}
