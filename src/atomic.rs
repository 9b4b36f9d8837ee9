//! Writing files so that a crash leaves either the old file or the new one,
//! never half of either: temporary file, fsync, rename, fsync the directory.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `contents`, mode `mode`, atomically. Creates missing
/// parent directories.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.cairn-tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs_err::File::create(&temporary)?;
        file.write_all(contents)?;
        file.file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs_err::rename(&temporary, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&temporary);
    }
    result
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
