//! Files and directory trees as tests compare them.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Copies a directory tree (an example with its data) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

/// Every entry below `root`, as relative paths (symlinks not followed).
pub fn tree(root: &Path) -> BTreeSet<String> {
    let mut entries = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            entries.insert(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    entries
}

/// Every entry below `root` with its mode, mtime and content hash (a
/// symlink's target, not its target's content).
pub fn tree_snapshot(root: &Path) -> BTreeMap<String, String> {
    tree(root)
        .into_iter()
        .map(|relative| {
            let path = root.join(&relative);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_file() {
                sha256_file(&path)
            } else if meta.file_type().is_symlink() {
                std::fs::read_link(&path).unwrap().display().to_string()
            } else {
                "dir".to_owned()
            };
            let mtime = if meta.is_dir() { 0 } else { meta.mtime() };
            let line = format!("{:o} {mtime} {content}", meta.permissions().mode());
            (relative, line)
        })
        .collect()
}

/// Every file and directory below `root`: relative path -> SHA-256
/// (directories end in `/` and map to "directory"); empty when `root` is
/// not a directory.
pub fn content_snapshot(root: &Path) -> BTreeMap<String, String> {
    if !root.is_dir() {
        return BTreeMap::new();
    }
    tree(root)
        .into_iter()
        .map(|relative| {
            let path = root.join(&relative);
            if path.is_dir() {
                (format!("{relative}/"), "directory".to_owned())
            } else {
                (relative, sha256_file(&path))
            }
        })
        .collect()
}

/// The bytes of every file below `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    tree(dir)
        .iter()
        .map(|relative| std::fs::symlink_metadata(dir.join(relative)).unwrap())
        .filter(|meta| !meta.is_dir())
        .map(|meta| meta.len())
        .sum()
}

/// The names in `dir`.
pub fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Files below `root`, as paths relative to it.
pub fn relative_files(root: &Path) -> BTreeSet<String> {
    tree(root)
        .into_iter()
        .filter(|relative| root.join(relative).is_file())
        .collect()
}

/// Bytes that no compressor can shrink (xorshift64).
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
