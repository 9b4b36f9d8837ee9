//! A directory tree: dumped as a tar stream with excludes, restored by
//! extracting beside the target and swapping it into place, verified by
//! counting the extracted files.
//!
//! An artifact holds one stream, the tar archive.

mod dump;
mod restore;

pub use dump::Directory;
pub use restore::DirectoryTarget;

/// The one stream of a directory artifact: the tar archive.
pub const STREAM: &str = "files.tar";
