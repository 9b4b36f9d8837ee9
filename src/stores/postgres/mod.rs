//! PostgreSQL: dumped with `pg_dump` per database (and `pg_dumpall
//! --globals-only`), restored with `pg_restore` or `psql`, verified in
//! temporary databases on the store's server.
//!
//! An artifact holds one stream per database, `db-NAME.pgdump` (custom
//! format) or `db-NAME.sql` (plain), then `globals.sql` when asked.

mod basebackup;
mod dsn;
mod dump;
mod pitr;
mod restore;
pub mod walfile;

use crate::config::raw::{PostgresFormat, PostgresMethod, PostgresStore};
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use basebackup::{ArchiveSettings, Basebackup, BASE_TAR};
pub use dump::Postgres;
pub use pitr::{PitrTarget, Recovery, TargetAction};
pub use restore::PostgresTarget;
pub use walfile::{Segment, SegmentSize};

/// The stream of the server's roles and tablespaces.
pub const GLOBALS: &str = "globals.sql";
/// What a database's stream starts with.
const DATABASE_PREFIX: &str = "db-";
/// The extension of a database in pg_dump's custom format.
const CUSTOM: &str = ".pgdump";
/// The extension of a database as plain SQL (and of the globals).
const PLAIN: &str = ".sql";

/// The stream of `database`: `db-app.pgdump`, or `db-app.sql` in the plain format.
pub fn database_stream(database: &str, format: PostgresFormat) -> String {
    let extension = match format {
        PostgresFormat::Plain => PLAIN,
        _ => CUSTOM,
    };
    format!("{DATABASE_PREFIX}{database}{extension}")
}

/// The database a stream holds: `db-app.pgdump` → `app`.
pub fn stream_database(stream: &str) -> Option<String> {
    let rest = stream.strip_prefix(DATABASE_PREFIX)?;
    let name = rest
        .strip_suffix(CUSTOM)
        .or_else(|| rest.strip_suffix(PLAIN))?;
    Some(name.to_owned())
}

/// Whether a stream is plain SQL, loaded with `psql` rather than `pg_restore`.
pub fn is_plain(stream: &str) -> bool {
    stream.ends_with(PLAIN)
}

impl Kind for PostgresStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(match self.method {
            PostgresMethod::Dump => Box::new(Postgres::new(name, self)?),
            PostgresMethod::Basebackup => Box::new(Basebackup::new(name, self)?),
        })
    }

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(PostgresTarget::target(name, self, to)?))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        // Base backups go to `stores::scratch_for`, which has their
        // restore_command; a dump's scratch is a database on the server.
        Ok(Box::new(PostgresTarget::scratch(name, self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_name_their_databases() {
        assert_eq!(stream_database("db-app.pgdump").as_deref(), Some("app"));
        assert_eq!(stream_database("db-my-db.sql").as_deref(), Some("my-db"));
        assert_eq!(stream_database("globals.sql"), None);
    }
}
