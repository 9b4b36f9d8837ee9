//! PostgreSQL: each `db-NAME.pgdump` stream goes through `pg_restore` into
//! database NAME (created when missing), `db-NAME.sql` through `psql`, and
//! `globals.sql` (roles, tablespaces) through `psql` into the server. A
//! scratch target restores into temporary databases on the store's server
//! and drops them afterwards.

use std::collections::BTreeMap;
use std::io::Read;

use super::{is_plain, stream_database, Postgres, GLOBALS};
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::PostgresStore;
use crate::stores::target::{self, check_query, drop_all, query_number, scratch_names};
use crate::stores::{Dumper, StoreError, Target, ToolCommand};

pub struct PostgresTarget {
    name: String,
    store: PostgresStore,
    server: Postgres,
    /// `--to` named this database for the artifact's only database.
    database: Option<String>,
    /// Scratch targets: the source database → its temporary database.
    scratch: Option<BTreeMap<String, String>>,
    /// Databases this target created.
    created: Vec<String>,
    /// What `existing` found holding data: what the safety backup dumps.
    occupied: Vec<String>,
}

impl PostgresTarget {
    /// The store's server, or `to` (a libpq URI or keyword string); a
    /// database named in `to` receives the artifact's only database.
    pub fn target(name: &str, store: &PostgresStore, to: Option<&str>) -> Result<Self, StoreError> {
        let mut store = store.clone();
        let mut database = None;
        if let Some(to) = to {
            if !to.contains("://") && !to.contains('=') {
                return Err(StoreError::new(
                    name,
                    format!("--to `{to}` is not a PostgreSQL connection string"),
                )
                .with_help("write it as postgresql://USER@HOST:PORT/DATABASE (the password from PGPASSWORD or .pgpass)"));
            }
            database = crate::config::raw::dsn_database(to).filter(|db| db != "postgres");
            store.dsn = Some(to.to_owned());
            store.host = None;
            store.port = None;
            store.user = None;
        }
        Ok(Self {
            name: name.to_owned(),
            server: Postgres::new(name, &store)?,
            store,
            database,
            scratch: None,
            created: Vec::new(),
            occupied: Vec::new(),
        })
    }

    /// Temporary databases on the store's server.
    pub fn scratch(name: &str, store: &PostgresStore) -> Result<Self, StoreError> {
        let mut target = Self::target(name, store, None)?;
        target.scratch = Some(scratch_names(&store.databases, 63));
        Ok(target)
    }

    /// The database a stream's database is restored into.
    fn database_for(&self, source: &str) -> String {
        target::database_for(&self.scratch, &self.database, source)
    }

    /// The target databases of an artifact's streams.
    fn databases(&self, streams: &[String]) -> Vec<String> {
        streams
            .iter()
            .filter_map(|s| stream_database(s))
            .map(|db| self.database_for(&db))
            .collect()
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        let error = StoreError::new(&self.name, message);
        if error.message.contains("password authentication failed")
            || error.message.contains("no password supplied")
        {
            error.with_help("set PGPASSWORD (or a .pgpass entry) for the target server")
        } else if error
            .message
            .contains("permission denied to create database")
        {
            error.with_help("the restoring role needs CREATEDB (or create the database first)")
        } else {
            error
        }
    }

    /// Runs one statement in `database` and returns psql's unaligned output.
    fn sql(&self, database: &str, statement: &str) -> Result<String, StoreError> {
        self.server
            .tool("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(format!("--command={statement}"))
            .args(self.server.connection_args(Some(database)))
            .output()
            .map(|out| out.trim().to_owned())
            .map_err(|e| self.error(e))
    }

    fn exists(&self, database: &str) -> Result<bool, StoreError> {
        Ok(self.sql(
            "postgres",
            &format!(
                "select count(*) from pg_database where datname = {}",
                literal(database)
            ),
        )? != "0")
    }

    fn drop_database(&self, database: &str) -> Result<(), StoreError> {
        // Connections first: a restore replaces the database under them.
        self.sql(
            "postgres",
            &format!(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = {} and pid <> pg_backend_pid()",
                literal(database)
            ),
        )?;
        // PostgreSQL 13 and later also close sessions that connect in between.
        let version: u32 = self
            .sql("postgres", "show server_version_num")?
            .parse()
            .unwrap_or(0);
        let force = if version >= 130_000 {
            " with (force)"
        } else {
            ""
        };
        self.sql(
            "postgres",
            &format!("drop database if exists {}{force}", identifier(database)),
        )?;
        Ok(())
    }

    fn restore_tool(&self, stream: &str, database: &str) -> ToolCommand {
        let tool = if is_plain(stream) {
            self.server.tool("psql").args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--output=/dev/null",
            ])
        } else {
            let mut tool = self.server.tool("pg_restore").arg("--exit-on-error");
            if self.scratch.is_some() {
                // A scratch copy needs the data, not the owners and grants.
                tool = tool.args(["--no-owner", "--no-privileges"]);
            }
            tool
        };
        tool.args(self.server.connection_args(Some(database)))
    }
}

fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Target for PostgresTarget {
    fn describe(&self) -> String {
        let source = self.server.source();
        match (&self.scratch, &self.database) {
            (Some(_), _) => format!("scratch databases on PostgreSQL {source}"),
            (None, Some(db)) => format!("database `{db}` on PostgreSQL {source}"),
            (None, None) => format!("PostgreSQL {source}"),
        }
    }

    fn existing(&mut self, streams: &[String]) -> Result<Option<String>, StoreError> {
        let held = streams
            .iter()
            .filter(|s| stream_database(s).is_some())
            .count();
        if let (Some(database), true) = (&self.database, held > 1) {
            return Err(StoreError::new(
                &self.name,
                format!("--to names the database `{database}`, but the artifact holds {held} databases"),
            )
            .with_help("leave the database out of --to to restore each database under its own name on that server"));
        }
        let mut found = Vec::new();
        for database in self.databases(streams) {
            if !self.exists(&database)? {
                continue;
            }
            let relations = self.sql(
                &database,
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace \
                 where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') \
                 and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%'",
            )?;
            if relations != "0" {
                found.push(format!(
                    "database `{database}` has {relations} tables, views or sequences"
                ));
                self.occupied.push(database);
            }
        }
        Ok((!found.is_empty()).then(|| found.join(", ")))
    }

    fn as_store(&self) -> Store {
        // The safety backup keeps what the restore replaces: the databases
        // that hold data.
        let mut store = self.store.clone();
        store.databases = self.occupied.clone();
        store.globals = false;
        Store::Postgres(store)
    }

    fn clear(&mut self, streams: &[String]) -> Result<(), StoreError> {
        for database in self.databases(streams) {
            self.drop_database(&database)?;
        }
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        if stream == GLOBALS {
            if self.scratch.is_some() {
                // Roles belong to the whole server: a scratch restore reads
                // them (the checksum still counts) but does not create them.
                std::io::copy(input, &mut std::io::sink()).map_err(|e| {
                    StoreError::new(&self.name, format!("reading {GLOBALS} failed: {e}"))
                })?;
                return Ok(());
            }
            // Roles that exist already fail harmlessly: no ON_ERROR_STOP.
            return self
                .server
                .tool("psql")
                .args(["-X", "-q", "--output=/dev/null"])
                .args(self.server.connection_args(Some("postgres")))
                .feed_from(input, cancel)
                .map(drop)
                .map_err(|e| self.error(e));
        }
        let Some(source) = stream_database(stream) else {
            return Err(StoreError::new(
                &self.name,
                format!("`{stream}` is not a stream cairn's PostgreSQL dumps write"),
            ));
        };
        let database = self.database_for(&source);
        if !self.exists(&database)? {
            self.sql(
                "postgres",
                &format!("create database {}", identifier(&database)),
            )?;
            self.created.push(database.clone());
        }
        let result = self
            .restore_tool(stream, &database)
            .feed_from(input, cancel);
        if let Err(error) = result {
            if self.created.contains(&database) && self.scratch.is_none() {
                // Do not leave a half-restored database that looks restored.
                let _ = self.drop_database(&database);
            }
            return Err(self.error(format!("restoring database `{database}` failed: {error}")));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    fn measure(&mut self, check: &Check) -> Result<i64, StoreError> {
        let (query, source) = check_query(&self.name, "PostgreSQL", check, &self.store.databases)?;
        let database = self.database_for(&source);
        let output = self.sql(&database, query)?;
        query_number(&self.name, query, &source, &output)
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        let created = std::mem::take(&mut self.created);
        drop_all(&self.name, "databases", created, |name| {
            self.drop_database(name)
        })
    }
}

impl Drop for PostgresTarget {
    fn drop(&mut self) {
        if self.scratch.is_some() {
            let _ = self.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted() {
        assert_eq!(identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
