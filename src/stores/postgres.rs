//! PostgreSQL: `pg_dump` per database in custom format without its own
//! compression (cairn compresses), plus `pg_dumpall --globals-only` when
//! asked. The password never goes on the command line: it is taken out of
//! the DSN and passed as PGPASSWORD.

use std::collections::BTreeMap;
use std::io::Write;

use super::{Dumper, StoreError, ToolCommand};
use crate::cancel::Cancel;
use crate::config::raw::{PostgresFormat, PostgresStore};

pub struct Postgres {
    name: String,
    store: PostgresStore,
    /// The DSN without its password, when the store has one.
    dsn: Option<Connection>,
}

/// A libpq connection string split into the part that can be shown and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Connection {
    without_password: String,
    password: Option<String>,
}

impl Postgres {
    pub fn new(name: &str, store: &PostgresStore) -> Result<Self, StoreError> {
        Ok(Self {
            name: name.to_owned(),
            store: store.clone(),
            dsn: store.dsn.as_deref().map(split_password),
        })
    }

    pub(crate) fn tool(&self, program: &str) -> ToolCommand {
        let mut command = ToolCommand::new(program, &self.store.exec).arg("--no-password");
        if let Some(password) = self.dsn.as_ref().and_then(|d| d.password.clone()) {
            command = command.env("PGPASSWORD", password);
        }
        command
    }

    /// Connection arguments for `database` (None: the DSN's own database).
    pub(crate) fn connection_args(&self, database: Option<&str>) -> Vec<String> {
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
        let extension = match self.store.format {
            PostgresFormat::Plain => "sql",
            _ => "pgdump",
        };
        let mut streams: Vec<String> = self
            .store
            .databases
            .iter()
            .map(|db| format!("db-{db}.{extension}"))
            .collect();
        if self.store.globals {
            streams.push("globals.sql".to_owned());
        }
        streams
    }

    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        self.stream_command(index).stream_to(out, cancel).map_err(|message| {
            let error = StoreError::new(&self.name, message);
            if error.message.contains("password authentication failed") || error.message.contains("no password supplied") {
                error.with_help(format!(
                    "set PGPASSWORD (or a .pgpass entry) for {} in the environment the job runs with",
                    self.source()
                ))
            } else if error.message.contains("Connection refused") || error.message.contains("could not connect") {
                error.with_help(format!("check that PostgreSQL is running and reachable at {}", self.source()))
            } else {
                error
            }
        })
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

/// Takes the password out of a URI (`postgresql://user:pw@host/db`) or a
/// keyword string (`host=db password=pw`).
fn split_password(dsn: &str) -> Connection {
    if let Some((scheme, rest)) = dsn.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if let Some((user, password)) = userinfo.split_once(':') {
                return Connection {
                    without_password: format!("{scheme}://{user}@{host}{tail}"),
                    password: Some(percent_decode(password)),
                };
            }
        }
        return Connection {
            without_password: dsn.to_owned(),
            password: None,
        };
    }
    let mut password = None;
    let kept: Vec<&str> = dsn
        .split_whitespace()
        .filter(|word| match word.strip_prefix("password=") {
            Some(value) => {
                password = Some(value.trim_matches('\'').to_owned());
                false
            }
            None => true,
        })
        .collect();
    Connection {
        without_password: kept.join(" "),
        password,
    }
}

/// The DSN pointed at `database`.
fn with_database(dsn: &str, database: &str) -> String {
    if let Some((scheme, rest)) = dsn.split_once("://") {
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let authority = before_query.split('/').next().unwrap_or("");
        let mut uri = format!("{scheme}://{authority}/{}", percent_encode(database));
        if let Some(query) = query {
            uri.push('?');
            uri.push_str(query);
        }
        uri
    } else {
        format!(
            "{dsn} dbname='{}'",
            database.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_dsn() {
        let uri = split_password("postgresql://backup:s%40cret@db:5432/postgres?sslmode=require");
        assert_eq!(
            uri.without_password,
            "postgresql://backup@db:5432/postgres?sslmode=require"
        );
        assert_eq!(uri.password.as_deref(), Some("s@cret"));
        let keywords = split_password("host=db user=backup password=pw dbname=postgres");
        assert_eq!(
            keywords.without_password,
            "host=db user=backup dbname=postgres"
        );
        assert_eq!(keywords.password.as_deref(), Some("pw"));
        assert_eq!(split_password("postgresql://backup@db/x").password, None);
    }

    #[test]
    fn the_database_is_replaced() {
        assert_eq!(
            with_database(
                "postgresql://backup@db:5432/postgres?sslmode=require",
                "app"
            ),
            "postgresql://backup@db:5432/app?sslmode=require"
        );
        assert_eq!(
            with_database("postgresql://db", "my app"),
            "postgresql://db/my%20app"
        );
        assert_eq!(with_database("host=db", "app"), "host=db dbname='app'");
    }

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
