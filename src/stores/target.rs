//! Where restored data goes: one implementation per store kind, for a real
//! target (`cairn restore`) or a scratch one (`cairn verify`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};

/// A place an artifact's streams are loaded into.
///
/// The restore drives it in this order: [`Target::existing`] (is there data
/// that a restore would replace?), then, only when the operator allowed it
/// and after the safety backup, [`Target::clear`]; then [`Target::load`] once
/// per stream in the manifest's order, and [`Target::finish`]. A scratch
/// target is then measured with [`Target::measure`] and always
/// [`Target::discard`]ed.
pub trait Target: Send {
    /// What the target is, for messages, e.g. `database app on 127.0.0.1:5432`
    /// (never a password).
    fn describe(&self) -> String;

    /// The data the target already holds that loading `streams` would
    /// replace, described for the operator (e.g. `database app has 12
    /// tables`), or `None` when there is none.
    fn existing(&mut self, streams: &[String]) -> Result<Option<String>, StoreError>;

    /// A store definition that dumps this target as it is now, for the
    /// safety backup taken before `--force` replaces it.
    fn as_store(&self) -> Store;

    /// Removes the data that loading `streams` replaces. Called only after
    /// the safety backup, and only when [`Target::existing`] found some.
    fn clear(&mut self, streams: &[String]) -> Result<(), StoreError>;

    /// Loads one stream, named as the dump named it (e.g. `db-app.pgdump`,
    /// without compression or encryption suffixes), from its plain bytes.
    /// `input` fails with an error when the bytes do not match their
    /// checksum; the load must then fail and leave no half-loaded data where
    /// it can avoid it.
    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError>;

    /// Completes the restore after every stream loaded (e.g. renames a
    /// restored file into place). Returns notes for the operator.
    fn finish(&mut self) -> Result<Vec<String>, StoreError>;

    /// Checks that hold for every artifact of this kind, run by verify
    /// before the declared ones (e.g. `PRAGMA integrity_check` for SQLite).
    /// Each is `(what, passed, measured value)`.
    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        Ok(Vec::new())
    }

    /// The number a declared check measures on the loaded data: the query's
    /// result, the key count, the file count.
    fn measure(&mut self, check: &Check) -> Result<i64, StoreError>;

    /// Removes a scratch target and everything in it. Never called on a
    /// real restore target.
    fn discard(&mut self) -> Result<(), StoreError>;
}

/// The temporary database (or schema) of a SQL scratch target for each of
/// `databases`: `cairn_verify_PID_NAME`, cut to the server's `limit`.
pub(super) fn scratch_names(databases: &[String], limit: usize) -> BTreeMap<String, String> {
    let tag = format!("cairn_verify_{}", std::process::id());
    databases
        .iter()
        .map(|db| {
            let mut scratch = format!("{tag}_{db}");
            scratch.truncate(limit);
            (db.clone(), scratch)
        })
        .collect()
}

/// The number a SQL check's query printed (its first line).
pub(super) fn query_number(
    store: &str,
    query: &str,
    database: &str,
    output: &str,
) -> Result<i64, StoreError> {
    let first = output.lines().next().unwrap_or("").trim();
    first.parse::<i64>().map_err(|_| {
        StoreError::new(
            store,
            format!(
                "the check `{query}` in database `{database}` returned `{first}`, not a number"
            ),
        )
    })
}

/// The database (or schema) a SQL target loads the artifact's database
/// `source` into: its scratch copy, else the one `--to` named, else
/// `source` itself.
pub(super) fn database_for(
    scratch: &Option<BTreeMap<String, String>>,
    renamed: &Option<String>,
    source: &str,
) -> String {
    if let Some(scratch) = scratch {
        if let Some(database) = scratch.get(source) {
            return database.clone();
        }
    }
    renamed.clone().unwrap_or_else(|| source.to_owned())
}

/// The path a file or directory target restores to: the store's own
/// `path`, or `to` (relative to the working directory).
pub(super) fn restore_path(path: &Path, to: Option<&str>) -> PathBuf {
    to.map_or_else(
        || path.to_owned(),
        |to| crate::config::absolute(Path::new(to)),
    )
}

/// A directory store of `path`: the `as_store` of a target that restores
/// into a data directory. Never asked for a safety backup: such targets
/// refuse a directory holding data instead of offering it to `--force`.
pub(super) fn directory_store(path: &Path) -> Store {
    Store::Directory(crate::config::raw::DirectoryStore {
        path: path.to_owned(),
        ..serde_json::from_value(serde_json::json!({ "path": "/" }))
            .expect("a directory store needs only a path")
    })
}

/// A private temporary directory for a scratch target.
pub(super) fn scratch_dir(store: &str) -> Result<tempfile::TempDir, StoreError> {
    tempfile::Builder::new()
        .prefix("cairn-verify-")
        .tempdir()
        .map_err(|e| StoreError::new(store, format!("cannot create a scratch directory: {e}")))
}

/// Removes a scratch target's directory, when it has one.
pub(super) fn remove_scratch_dir(
    store: &str,
    dir: Option<tempfile::TempDir>,
) -> Result<(), StoreError> {
    if let Some(dir) = dir {
        dir.close().map_err(|e| {
            StoreError::new(store, format!("cannot remove the scratch directory: {e}"))
        })?;
    }
    Ok(())
}

/// A SQL check's query, and the database it runs in (the store's first
/// database unless the check names one).
pub(super) fn check_query<'c>(
    store: &str,
    kind: &str,
    check: &'c Check,
    databases: &[String],
) -> Result<(&'c str, String), StoreError> {
    let query = check.query.as_deref().ok_or_else(|| {
        StoreError::new(store, format!("{kind} checks are SQL queries (`query`)"))
    })?;
    let database = match &check.database {
        Some(db) => db.clone(),
        None => databases.first().cloned().unwrap_or_default(),
    };
    Ok((query, database))
}

/// Drops every scratch database (or schema) in `created` with `drop`,
/// trying them all; one error naming those that failed.
pub(super) fn drop_all(
    store: &str,
    what: &str,
    created: Vec<String>,
    mut drop: impl FnMut(&str) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let errors: Vec<String> = created
        .iter()
        .filter_map(|name| drop(name).err().map(|e| e.message))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StoreError::new(
            store,
            format!("dropping the scratch {what} failed: {}", errors.join("; ")),
        ))
    }
}

/// Who restored files belong to: the owner of what they replace, else of
/// the directory they go into (SPEC §10: restored data takes the target's
/// owner). `None` when cairn does not run as root, where files are its own
/// and could not be given away anyway.
pub(super) fn target_owner(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let existing = fs_err::symlink_metadata(path)
        .or_else(|_| fs_err::metadata(path.parent().unwrap_or(Path::new("/"))));
    existing.ok().map(|meta| (meta.uid(), meta.gid()))
}

/// Gives `path` and, for a directory, everything under it (symlinks
/// themselves, never what they point to) to `owner`.
pub(super) fn give_to(path: &Path, owner: (u32, u32)) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1))?;
    if fs_err::symlink_metadata(path)?.is_dir() {
        for entry in fs_err::read_dir(path)? {
            give_to(&entry?.path(), owner)?;
        }
    }
    Ok(())
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

/// Extracts the tar stream `input` into `dst` with [`unpack_inside`],
/// keeping modes and mtimes, then reads `input` past the end-of-archive
/// blocks to its end, so that its checksum is confirmed.
pub(super) fn extract_tar(input: &mut dyn Read, cancel: &Cancel, dst: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(CancelReader {
        inner: input,
        cancel,
    });
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    unpack_inside(&mut archive, dst).map_err(|e| format!("extracting failed: {e}"))?;
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
        .map_err(|e| format!("reading failed: {e}"))?;
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
