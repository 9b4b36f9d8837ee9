//! A directory tree as a tar stream, with excludes, keeping modes and mtimes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::cancel::Cancel;
use crate::config::raw::DirectoryStore;
use crate::stores::{Dumped, Dumper, StoreError};

pub struct Directory {
    name: String,
    root: PathBuf,
    exclude: GlobSet,
}

impl Directory {
    pub fn new(name: &str, store: &DirectoryStore) -> Result<Self, StoreError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in &store.exclude {
            let glob = Glob::new(pattern)
                .map_err(|e| StoreError::new(name, format!("exclude pattern `{pattern}`: {e}")))?;
            builder.add(glob);
            // `cache` also excludes everything below cache/.
            if let Ok(below) = Glob::new(&format!("{}/**", pattern.trim_end_matches('/'))) {
                builder.add(below);
            }
        }
        Ok(Self {
            name: name.to_owned(),
            root: store.path.clone(),
            exclude: builder
                .build()
                .map_err(|e| StoreError::new(name, format!("exclude patterns: {e}")))?,
        })
    }

    fn add_tree(
        &self,
        tar: &mut tar::Builder<&mut dyn Write>,
        dir: &Path,
        cancel: &Cancel,
    ) -> std::io::Result<()> {
        let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            cancel.check()?;
            let path = entry.path();
            let relative = path.strip_prefix(&self.root).expect("walks below the root");
            if self.exclude.is_match(relative) {
                continue;
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                tar.append_dir(relative, &path)?;
                self.add_tree(tar, &path, cancel)?;
            } else if file_type.is_file() || file_type.is_symlink() {
                tar.append_path_with_name(&path, relative)?;
            }
            // Sockets, FIFOs and devices are not data to restore.
        }
        Ok(())
    }
}

impl Dumper for Directory {
    fn streams(&self) -> Vec<String> {
        vec![super::STREAM.to_owned()]
    }

    fn dump(
        &mut self,
        _index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        if !self.root.is_dir() {
            return Err(StoreError::new(
                &self.name,
                format!("{} is not a directory", self.root.display()),
            )
            .with_help("check the store's `path`"));
        }
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        self.add_tree(&mut tar, &self.root.clone(), cancel)
            .and_then(|()| tar.finish())
            .map(|()| Dumped::default())
            .map_err(|e| {
                StoreError::new(
                    &self.name,
                    format!("archiving {} failed: {e}", self.root.display()),
                )
            })
    }

    fn source(&self) -> String {
        self.root.display().to_string()
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("tar".to_owned(), "tar crate (ustar/GNU)".to_owned())])
    }
}
