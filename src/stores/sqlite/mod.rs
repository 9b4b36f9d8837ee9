//! SQLite: dumped through SQLite's online backup API, restored by writing
//! the file beside the target and renaming it into place, verified with
//! `PRAGMA integrity_check` and the declared queries.
//!
//! An artifact holds one stream, the database file.

mod dump;
mod restore;

pub use dump::Sqlite;
pub use restore::SqliteTarget;

/// The one stream of a SQLite artifact: the database file.
pub const STREAM: &str = "database.sqlite";
