//! A directory tree: dumped as a tar stream with excludes, restored by
//! extracting beside the target and swapping it into place, verified by
//! counting the extracted files.
//!
//! An artifact holds one stream, the tar archive.

mod dump;
mod restore;

use crate::config::raw::DirectoryStore;
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use dump::Directory;
pub use restore::DirectoryTarget;

/// The one stream of a directory artifact: the tar archive.
pub const STREAM: &str = "files.tar";

impl Kind for DirectoryStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(Box::new(Directory::new(name, self)?))
    }

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(DirectoryTarget::target(name, self, to)))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(DirectoryTarget::scratch(name)?))
    }
}
