//! SQLite: dumped through SQLite's online backup API, restored by writing
//! the file beside the target and renaming it into place, verified with
//! `PRAGMA integrity_check` and the declared queries.
//!
//! An artifact holds one stream, the database file.

mod dump;
mod restore;

use crate::config::raw::SqliteStore;
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use dump::Sqlite;
pub use restore::SqliteTarget;

/// The one stream of a SQLite artifact: the database file.
pub const STREAM: &str = "database.sqlite";

impl Kind for SqliteStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(Box::new(Sqlite::new(name, self)))
    }

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(SqliteTarget::target(name, self, to)))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(SqliteTarget::scratch(name)?))
    }
}
