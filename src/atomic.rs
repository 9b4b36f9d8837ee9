//! Writing files so that a crash leaves either the old file or the new one,
//! never half of either: temporary file, fsync, rename, fsync the directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents, each one cairn creates mode 0700
/// whatever the umask (SPEC §10: the state directory and local artifacts
/// are private). Directories that exist already are left as they are.
/// Like std's, the error does not name `dir`: every caller's message does.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    create_dirs(dir, 0o700)
}

/// Creates `dir` and its missing parents with `mode`; the umask only
/// removes bits, and cairn's modes keep the owner's.
fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    // fs-err has no DirBuilder.
    #[allow(clippy::disallowed_methods)]
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Replaces `path` with `contents`, mode `mode`, atomically. Creates missing
/// parent directories: 0700 for a private file (no bits for group or
/// others in `mode`), else 0755, whatever the umask.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    write_files(&[(path, contents)], mode)
}

/// [`write_file`] for several files in one directory, renamed into place
/// in order once every one is written and fsynced, with one fsync of the
/// directory at the end: a crash can leave an earlier one in place and a
/// later one not, never half of one.
pub fn write_files(files: &[(&Path, &[u8])], mode: u32) -> std::io::Result<()> {
    let Some((first, _)) = files.first() else {
        return Ok(());
    };
    let dir = first
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_mode = if mode & 0o077 == 0 { 0o700 } else { 0o755 };
    create_dirs(dir, dir_mode).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
    })?;
    let temporaries: Vec<PathBuf> = files
        .iter()
        .map(|(path, _)| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            dir.join(format!(".{name}.cairn-tmp-{}", std::process::id()))
        })
        .collect();
    let placed = write_synced_all(files, &temporaries, mode).and_then(|()| {
        files
            .iter()
            .zip(&temporaries)
            .try_for_each(|((path, _), temporary)| fs_err::rename(temporary, path))
    });
    if placed.is_err() {
        for temporary in &temporaries {
            let _ = fs_err::remove_file(temporary);
        }
    }
    placed?;
    sync_dir(dir)
}

/// Writes each file's contents to its temporary path and fsyncs it, all at
/// once (a thread per file after the first): fsyncs in a row would each
/// wait for a journal commit of their own, together they can share one.
fn write_synced_all(
    files: &[(&Path, &[u8])],
    temporaries: &[PathBuf],
    mode: u32,
) -> std::io::Result<()> {
    let mut jobs = files
        .iter()
        .zip(temporaries)
        .map(|((_, contents), temporary)| (temporary, *contents));
    let Some((first, first_contents)) = jobs.next() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = jobs
            .map(|(temporary, contents)| {
                scope.spawn(move || write_synced(temporary, contents, mode))
            })
            .collect();
        let mut result = write_synced(first, first_contents, mode);
        for other in others {
            let written = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            result = result.and(written);
        }
        result
    })
}

/// Writes `contents` to a new file at `path`, mode `mode`, and fsyncs it.
fn write_synced(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = fs_err::File::create(path)?;
    file.write_all(contents)?;
    file.file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

/// Removes `path` and makes the removal durable.
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    fs_err::remove_file(path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// fsyncs a directory so that a rename or removal in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_with_the_mode_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/file.txt");
        write_file(&path, b"first", 0o644).unwrap();
        write_file(&path, b"second", 0o600).unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "second");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs_err::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        remove_file(&path).unwrap();
        assert!(!path.exists());
    }
}
