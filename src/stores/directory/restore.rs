//! A directory tree: the tar stream is extracted into a new directory
//! beside the target, keeping modes and mtimes and taking the target's
//! owner (when run as root), and swapped into place only when the whole tree
//! is there. An archive entry that would land outside that directory
//! refuses the restore. A scratch target is a temporary directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::DirectoryStore;
use crate::stores::target::{
    extract_tar, give_to, remove_scratch_dir, restore_path, scratch_dir, target_owner,
};
use crate::stores::{StoreError, Target};

pub struct DirectoryTarget {
    name: String,
    path: PathBuf,
    /// The extracted tree, before it replaces the target.
    pending: Option<tempfile::TempDir>,
    scratch: Option<tempfile::TempDir>,
}

impl DirectoryTarget {
    pub fn target(name: &str, store: &DirectoryStore, to: Option<&str>) -> Self {
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
            path: dir.path().join("files"),
            pending: None,
            scratch: Some(dir),
        })
    }

    fn io(&self, what: &str, path: &Path, error: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.name, format!("{what} {}: {error}", path.display()))
    }

    fn parent(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new("/")).to_owned()
    }
}

/// Regular files under `dir`, counted recursively (symlinks not followed).
fn count_files(dir: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            count += count_files(&entry.path())?;
        } else if kind.is_file() {
            count += 1;
        }
    }
    Ok(count)
}

impl Target for DirectoryTarget {
    fn describe(&self) -> String {
        match &self.scratch {
            Some(_) => format!("scratch directory {}", self.path.display()),
            None => format!("directory {}", self.path.display()),
        }
    }

    fn existing(&mut self, _streams: &[String]) -> Result<Option<String>, StoreError> {
        match fs_err::read_dir(&self.path) {
            Ok(entries) => {
                let n = entries.count();
                Ok((n > 0).then(|| format!("{} holds {n} entries", self.path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new(&self.name, e.to_string())),
        }
    }

    fn as_store(&self) -> Store {
        Store::Directory(DirectoryStore {
            path: self.path.clone(),
            exclude: Vec::new(),
        })
    }

    /// Nothing to do: the restored tree replaces the old one by renames.
    fn clear(&mut self, _streams: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        let parent = self.parent();
        fs_err::create_dir_all(&parent).map_err(|e| StoreError::new(&self.name, e.to_string()))?;
        let staging = tempfile::Builder::new()
            .prefix(".cairn-restore-")
            .tempdir_in(&parent)
            .map_err(|e| self.io("cannot create a directory in", &parent, e))?;
        extract_tar(input, cancel, staging.path())
            .map_err(|e| StoreError::new(&self.name, format!("{stream}: {e}")))?;
        // The archive holds the tree's contents, not its root: give the root
        // the old directory's mode, or 0700 for a new one.
        let mode = fs_err::metadata(&self.path)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap_or(0o700);
        fs_err::set_permissions(
            staging.path(),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .map_err(|e| self.io("cannot set the mode of", staging.path(), e))?;
        if let Some(owner) = target_owner(&self.path) {
            give_to(staging.path(), owner).map_err(|e| {
                self.io(
                    "cannot give the restored tree to the target's owner:",
                    staging.path(),
                    e,
                )
            })?;
        }
        self.pending = Some(staging);
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let Some(staging) = self.pending.take() else {
            return Ok(Vec::new());
        };
        let parent = self.parent();
        let staged = staging.keep();
        let mut notes = Vec::new();
        if self.path.exists() {
            // Swap: the old tree moves aside, the new one takes its name,
            // then the old one goes.
            let aside = tempfile::Builder::new()
                .prefix(".cairn-replaced-")
                .tempdir_in(&parent)
                .map_err(|e| self.io("cannot create a directory in", &parent, e))?
                .keep();
            let old = aside.join("old");
            fs_err::rename(&self.path, &old)
                .map_err(|e| StoreError::new(&self.name, e.to_string()))?;
            if let Err(e) = fs_err::rename(&staged, &self.path) {
                let _ = fs_err::rename(&old, &self.path);
                return Err(StoreError::new(
                    &self.name,
                    format!("{e}; the old tree is back in place"),
                ));
            }
            if let Err(e) = fs_err::remove_dir_all(&aside) {
                notes.push(format!(
                    "the replaced tree is left in {}: {e}",
                    aside.display()
                ));
            }
        } else {
            fs_err::rename(&staged, &self.path)
                .map_err(|e| StoreError::new(&self.name, e.to_string()))?;
        }
        crate::atomic::sync_dir(&parent).map_err(|e| self.io("cannot sync", &parent, e))?;
        Ok(notes)
    }

    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        let files = count_files(&self.path).map_err(|e| self.io("cannot list", &self.path, e))?;
        Ok(vec![(
            "the archive extracts".to_owned(),
            true,
            format!("{files} files"),
        )])
    }

    fn measure(&mut self, check: &Check) -> Result<i64, StoreError> {
        if check.min_files.is_none() {
            return Err(StoreError::new(
                &self.name,
                "directory checks count files (`min_files`)",
            ));
        }
        let files = count_files(&self.path).map_err(|e| self.io("cannot list", &self.path, e))?;
        Ok(files as i64)
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        self.pending = None;
        remove_scratch_dir(&self.name, self.scratch.take())
    }
}
