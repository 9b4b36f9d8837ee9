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
use crate::stores::target::{give_to, remove_scratch_dir, restore_path, scratch_dir, target_owner};
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
        let mut archive = tar::Archive::new(CancelReader {
            inner: input,
            cancel,
        });
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        unpack_inside(&mut archive, staging.path())
            .map_err(|e| StoreError::new(&self.name, format!("extracting {stream} failed: {e}")))?;
        // Past the end-of-archive blocks, to the end of the stream, so that
        // its checksum is confirmed.
        std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
            .map_err(|e| StoreError::new(&self.name, format!("reading {stream} failed: {e}")))?;
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

/// Why an archive entry may not be extracted: its own path, or the target
/// of a hard link, is absolute or climbs out with `..`.
fn escapes(path: &Path) -> Option<&'static str> {
    use std::path::Component;
    path.components().find_map(|part| match part {
        Component::RootDir | Component::Prefix(_) => Some("is absolute"),
        Component::ParentDir => Some("climbs out with `..`"),
        Component::CurDir | Component::Normal(_) => None,
    })
}

/// Extracts `archive` into `dst`, entry by entry, refusing the whole
/// archive at the first entry that would be written outside `dst`: an
/// absolute path, a `..`, a hard link to such a path, or a path that passes
/// through a symlink (the tar crate checks that one). A symlink itself is
/// data and is restored as archived, wherever it points: nothing is ever
/// written through one. Directories come last, deepest first, so that a
/// read-only directory's mode does not stop its contents from being written.
fn unpack_inside<R: Read>(archive: &mut tar::Archive<R>, dst: &Path) -> Result<(), String> {
    let mut directories = Vec::new();
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let shown = path.display();
        if let Some(why) = escapes(&path) {
            return Err(format!(
                "the archive entry `{shown}` {why}: refusing to restore"
            ));
        }
        if entry.header().entry_type().is_hard_link() {
            let link = entry.link_name().map_err(|e| e.to_string())?;
            if let Some(why) = link.as_deref().and_then(escapes) {
                return Err(format!(
                    "the hard link `{shown}` points to a path that {why}: refusing to restore"
                ));
            }
        }
        if entry.header().entry_type().is_dir() {
            directories.push(entry);
            continue;
        }
        match entry.unpack_in(dst) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "the archive entry `{shown}` lies outside the target: refusing to restore"
                ))
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    }
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut directory in directories {
        let shown = String::from_utf8_lossy(&directory.path_bytes()).into_owned();
        directory
            .unpack_in(dst)
            .map_err(|e| format!("{shown}: {e}"))?;
    }
    Ok(())
}

/// Stops the extraction when the restore is cancelled.
struct CancelReader<'a> {
    inner: &'a mut dyn Read,
    cancel: &'a Cancel,
}

impl Read for CancelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.cancel.check()?;
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw tar entry: the tar crate's own setters refuse `..`, and the
    /// point is to feed the extraction what a tampered artifact could hold.
    fn entry(tar: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }

    fn finished(mut tar: Vec<u8>) -> Vec<u8> {
        tar.extend_from_slice(&[0; 1024]);
        tar
    }

    struct Dirs {
        _root: tempfile::TempDir,
        inside: PathBuf,
        outside: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("inside");
        let outside = root.path().join("outside");
        fs_err::create_dir(&inside).unwrap();
        fs_err::create_dir(&outside).unwrap();
        Dirs {
            _root: root,
            inside,
            outside,
        }
    }

    fn unpack(tar: Vec<u8>, dst: &Path) -> Result<(), String> {
        unpack_inside(&mut tar::Archive::new(&finished(tar)[..]), dst)
    }

    fn outside_files(dirs: &Dirs) -> Vec<String> {
        fs_err::read_dir(&dirs.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_dot_dot_entry_refuses_the_archive_and_writes_nothing_outside() {
        let dirs = dirs();
        let mut tar = Vec::new();
        entry(&mut tar, "fine.txt", tar::EntryType::Regular, "", b"ok");
        entry(
            &mut tar,
            "../outside/evil",
            tar::EntryType::Regular,
            "",
            b"x",
        );
        let error = unpack(tar, &dirs.inside).unwrap_err();
        assert!(
            error.contains("`../outside/evil` climbs out with `..`"),
            "{error}"
        );
        assert!(outside_files(&dirs).is_empty());
    }

    #[test]
    fn an_absolute_entry_refuses_the_archive() {
        let dirs = dirs();
        let evil = dirs.outside.join("evil");
        let mut tar = Vec::new();
        entry(
            &mut tar,
            evil.to_str().unwrap(),
            tar::EntryType::Regular,
            "",
            b"x",
        );
        let error = unpack(tar, &dirs.inside).unwrap_err();
        assert!(error.contains("is absolute"), "{error}");
        assert!(outside_files(&dirs).is_empty());
        assert!(fs_err::read_dir(&dirs.inside).unwrap().next().is_none());
    }

    #[test]
    fn a_hard_link_to_outside_refuses_the_archive() {
        let dirs = dirs();
        fs_err::write(dirs.outside.join("secret"), "s").unwrap();
        let mut tar = Vec::new();
        entry(
            &mut tar,
            "h",
            tar::EntryType::Link,
            "../outside/secret",
            b"",
        );
        let error = unpack(tar, &dirs.inside).unwrap_err();
        assert!(error.contains("the hard link `h`"), "{error}");
        assert!(!dirs.inside.join("h").exists());
    }

    #[test]
    fn nothing_is_written_through_a_symlink() {
        let dirs = dirs();
        let mut tar = Vec::new();
        let target = dirs.outside.to_str().unwrap();
        entry(&mut tar, "s", tar::EntryType::Symlink, target, b"");
        entry(&mut tar, "s/evil", tar::EntryType::Regular, "", b"x");
        let error = unpack(tar, &dirs.inside).unwrap_err();
        assert!(error.contains("s/evil"), "{error}");
        assert!(outside_files(&dirs).is_empty());
    }

    #[test]
    fn a_symlink_pointing_anywhere_is_restored_as_archived() {
        let dirs = dirs();
        let mut tar = Vec::new();
        entry(&mut tar, "docs/", tar::EntryType::Directory, "", b"");
        entry(
            &mut tar,
            "docs/a.txt",
            tar::EntryType::Regular,
            "",
            b"alpha",
        );
        entry(
            &mut tar,
            "current",
            tar::EntryType::Symlink,
            "/opt/app",
            b"",
        );
        unpack(tar, &dirs.inside).unwrap();
        assert_eq!(
            fs_err::read(dirs.inside.join("docs/a.txt")).unwrap(),
            b"alpha"
        );
        let link = fs_err::read_link(dirs.inside.join("current")).unwrap();
        assert_eq!(link, Path::new("/opt/app"));
    }
}
