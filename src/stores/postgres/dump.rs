//! PostgreSQL: `pg_dump` per database in custom format without its own
//! compression (cairn compresses), plus `pg_dumpall --globals-only` when
//! asked. The password never goes on the command line: it is taken out of
//! the DSN and passed as PGPASSWORD.

use std::collections::BTreeMap;
use std::io::Write;

use super::dsn::{split_password, with_database, with_replication, Connection};
use crate::cancel::Cancel;
use crate::config::raw::{PostgresFormat, PostgresStore};
use crate::stores::{Dumped, Dumper, StoreError, ToolCommand};

pub struct Postgres {
    name: String,
    store: PostgresStore,
    /// The DSN without its password, when the store has one.
    dsn: Option<Connection>,
}

impl Postgres {
    pub fn new(name: &str, store: &PostgresStore) -> Result<Self, StoreError> {
        Ok(Self {
            name: name.to_owned(),
            store: store.clone(),
            dsn: store.dsn.as_deref().map(split_password),
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Connection arguments for a replication connection (IDENTIFY_SYSTEM,
    /// SHOW) to the DSN's database or the server's default one.
    pub(super) fn replication_args(&self) -> Vec<String> {
        match &self.dsn {
            Some(dsn) => vec![format!(
                "--dbname={}",
                with_replication(&dsn.without_password)
            )],
            None => {
                let mut args = self.connection_args(None);
                args.push("--dbname=replication=database".to_owned());
                args
            }
        }
    }

    /// `error` with the hint an operator needs for the common failures.
    pub(super) fn explain(&self, error: StoreError) -> StoreError {
        if error.message.contains("password authentication failed")
            || error.message.contains("no password supplied")
        {
            error.with_help(format!(
                "set PGPASSWORD (or a .pgpass entry) for {} in the environment the job runs with",
                self.source()
            ))
        } else if error.message.contains("Connection refused")
            || error.message.contains("could not connect")
        {
            error.with_help(format!(
                "check that PostgreSQL is running and reachable at {}",
                self.source()
            ))
        } else if error
            .message
            .contains("no pg_hba.conf entry for replication")
            || error.message.contains("must have REPLICATION")
            || error
                .message
                .contains("permission denied to start WAL sender")
        {
            error.with_help(
                "a base backup needs a replication connection: give the role REPLICATION \
                 (ALTER ROLE … REPLICATION) and allow it in pg_hba.conf (`host replication …`)",
            )
        } else {
            error
        }
    }

    pub(super) fn tool(&self, program: &str) -> ToolCommand {
        let mut command = ToolCommand::new(program, &self.store.exec).arg("--no-password");
        if let Some(password) = self.dsn.as_ref().and_then(|d| d.password.clone()) {
            command = command.env("PGPASSWORD", password);
        }
        command
    }

    /// Connection arguments for `database` (None: the DSN's own database).
    pub(super) fn connection_args(&self, database: Option<&str>) -> Vec<String> {
        match &self.dsn {
            Some(dsn) => {
                let dsn = match database {
                    Some(database) => with_database(&dsn.without_password, database),
                    None => dsn.without_password.clone(),
                };
                vec![format!("--dbname={dsn}")]
            }
            None => {
                let mut args = Vec::new();
                if let Some(host) = &self.store.host {
                    args.push(format!("--host={host}"));
                }
                if let Some(port) = self.store.port {
                    args.push(format!("--port={port}"));
                }
                if let Some(user) = &self.store.user {
                    args.push(format!("--username={user}"));
                }
                if let Some(database) = database {
                    args.push(format!("--dbname={database}"));
                }
                args
            }
        }
    }

    fn stream_command(&self, index: usize) -> ToolCommand {
        match self.store.databases.get(index) {
            Some(database) => {
                let format = match self.store.format {
                    PostgresFormat::Plain => "--format=plain",
                    _ => "--format=custom",
                };
                let mut command = self.tool("pg_dump").arg(format).arg("--compress=0");
                if self.store.schema_only {
                    command = command.arg("--schema-only");
                }
                command.args(self.connection_args(Some(database)))
            }
            None => self
                .tool("pg_dumpall")
                .arg("--globals-only")
                .args(self.connection_args(None)),
        }
    }
}

impl Dumper for Postgres {
    fn streams(&self) -> Vec<String> {
        let mut streams: Vec<String> = self
            .store
            .databases
            .iter()
            .map(|db| super::database_stream(db, self.store.format))
            .collect();
        if self.store.globals {
            streams.push(super::GLOBALS.to_owned());
        }
        streams
    }

    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        self.stream_command(index)
            .stream_to(out, cancel)
            .map(|stderr| Dumped { stderr })
            .map_err(|message| self.explain(StoreError::new(&self.name, message)))
    }

    fn source(&self) -> String {
        match &self.dsn {
            Some(dsn) => dsn.without_password.clone(),
            None => format!(
                "{}:{}",
                self.store.host.as_deref().unwrap_or("local socket"),
                self.store.port.map_or("5432".to_owned(), |p| p.to_string())
            ),
        }
    }

    fn tools(&self) -> BTreeMap<String, String> {
        let mut tools = BTreeMap::new();
        tools.insert(
            "pg_dump".to_owned(),
            ToolCommand::new("pg_dump", &self.store.exec).version(),
        );
        if self.store.globals {
            tools.insert(
                "pg_dumpall".to_owned(),
                ToolCommand::new("pg_dumpall", &self.store.exec).version(),
            );
        }
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_per_database_and_globals_last() {
        let store: PostgresStore = serde_json::from_value(serde_json::json!({
            "dsn": "postgresql://u:pw@h/postgres", "databases": ["app", "billing"], "globals": true
        }))
        .unwrap();
        let pg = Postgres::new("pg", &store).unwrap();
        assert_eq!(
            pg.streams(),
            ["db-app.pgdump", "db-billing.pgdump", "globals.sql"]
        );
        let dump = pg.stream_command(1);
        assert!(!dump.display().contains("pw"), "{}", dump.display());
        assert!(
            dump.display().contains("--dbname=postgresql://u@h/billing"),
            "{}",
            dump.display()
        );
        assert!(dump
            .env
            .contains(&("PGPASSWORD".to_owned(), "pw".to_owned())));
        assert!(pg
            .stream_command(2)
            .display()
            .starts_with("pg_dumpall --no-password --globals-only"));
    }
}
