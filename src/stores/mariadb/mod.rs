//! MariaDB and MySQL: dumped with `mariadb-dump` per database, loaded with
//! the `mariadb` client (`mysqldump` and `mysql` where those are what is
//! installed), verified in temporary schemas on the store's server.
//!
//! An artifact holds one stream per database, `db-NAME.sql`.

mod dump;
mod restore;

use crate::config::raw::MariadbStore;
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use dump::Mariadb;
pub use restore::MariadbTarget;

/// What a database's stream starts with.
const DATABASE_PREFIX: &str = "db-";
/// What a database's stream ends with: it is SQL.
const EXTENSION: &str = ".sql";

/// The stream of `database`: `db-shop.sql`.
pub fn database_stream(database: &str) -> String {
    format!("{DATABASE_PREFIX}{database}{EXTENSION}")
}

/// The database a stream holds: `db-shop.sql` → `shop`.
pub fn stream_database(stream: &str) -> Option<String> {
    Some(
        stream
            .strip_prefix(DATABASE_PREFIX)?
            .strip_suffix(EXTENSION)?
            .to_owned(),
    )
}

/// The tool under MariaDB's name, or MySQL's where only that is installed.
/// Through an exec prefix the tool lives elsewhere: assume MariaDB's name.
fn program(store: &MariadbStore, mariadb: &'static str, mysql: &'static str) -> &'static str {
    if store.exec.is_none() && !on_path(mariadb) && on_path(mysql) {
        mysql
    } else {
        mariadb
    }
}

#[allow(clippy::disallowed_methods)] // Which tool is installed, as `command -v` finds it.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

impl Kind for MariadbStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(Box::new(Mariadb::new(name, self)))
    }

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(MariadbTarget::target(name, self, to)?))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(MariadbTarget::scratch(name, self)))
    }
}
