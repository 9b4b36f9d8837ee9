//! MariaDB and MySQL: each `db-NAME.sql` stream is piped into the `mariadb`
//! client (`mysql` where that is what is installed) with schema NAME (or
//! `--to SCHEMA`) as its default database. A scratch target loads into
//! temporary schemas on the store's server and drops them afterwards.

use std::collections::BTreeMap;
use std::io::Read;

use super::{stream_database, Mariadb};
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::MariadbStore;
use crate::stores::target::{check_query, database_for, drop_all, query_number, scratch_names};
use crate::stores::{Dumper, StoreError, Target, ToolCommand};

pub struct MariadbTarget {
    name: String,
    store: MariadbStore,
    server: Mariadb,
    program: &'static str,
    /// `--to SCHEMA` for the artifact's only database.
    schema: Option<String>,
    /// Scratch targets: the source database → its temporary schema.
    scratch: Option<BTreeMap<String, String>>,
    created: Vec<String>,
    /// What `existing` found holding data: what the safety backup dumps.
    occupied: Vec<String>,
}

impl MariadbTarget {
    /// The store's server; `to` names the schema the artifact's only
    /// database is loaded into.
    pub fn target(name: &str, store: &MariadbStore, to: Option<&str>) -> Result<Self, StoreError> {
        if let Some(to) = to {
            if to.is_empty() || to.contains(['/', '\\', '`', '.']) {
                return Err(StoreError::new(
                    name,
                    format!("--to `{to}` is not a schema name"),
                )
                .with_help("for a MariaDB job, --to names the schema (database) to load into, on the store's server"));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            server: Mariadb::new(name, store),
            store: store.clone(),
            program: super::program(store, "mariadb", "mysql"),
            schema: to.map(str::to_owned),
            scratch: None,
            created: Vec::new(),
            occupied: Vec::new(),
        })
    }

    pub fn scratch(name: &str, store: &MariadbStore) -> Self {
        let mut target = Self::target(name, store, None).expect("no --to to check");
        target.scratch = Some(scratch_names(&store.databases, 64));
        target
    }

    fn schema_for(&self, source: &str) -> String {
        database_for(&self.scratch, &self.schema, source)
    }

    fn schemas(&self, streams: &[String]) -> Vec<String> {
        streams
            .iter()
            .filter_map(|s| stream_database(s))
            .map(|db| self.schema_for(&db))
            .collect()
    }

    fn client(&self) -> ToolCommand {
        ToolCommand::new(self.program, &self.store.exec).args(self.server.connection_args())
    }

    fn sql(&self, schema: Option<&str>, statement: &str) -> Result<String, StoreError> {
        let mut client = self.client().args(["--batch", "--skip-column-names"]);
        if let Some(schema) = schema {
            client = client.arg(format!("--database={schema}"));
        }
        client
            .arg(format!("--execute={statement}"))
            .output()
            .map(|out| out.trim().to_owned())
            .map_err(|e| self.error(e))
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        let error = StoreError::new(&self.name, message);
        if error.message.contains("Access denied") {
            error.with_help(
                "set MYSQL_PWD or a [client] password in an option file for the restoring user",
            )
        } else {
            error
        }
    }

    fn tables(&self, schema: &str) -> Result<u64, StoreError> {
        let count = self.sql(
            None,
            &format!(
                "select count(*) from information_schema.tables where table_schema = {}",
                literal(schema)
            ),
        )?;
        Ok(count.parse().unwrap_or(0))
    }

    fn schema_exists(&self, schema: &str) -> Result<bool, StoreError> {
        Ok(self.sql(
            None,
            &format!(
                "select count(*) from information_schema.schemata where schema_name = {}",
                literal(schema)
            ),
        )? != "0")
    }
}

fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

impl Target for MariadbTarget {
    fn describe(&self) -> String {
        let source = self.server.source();
        match (&self.scratch, &self.schema) {
            (Some(_), _) => format!("scratch schemas on MariaDB {source}"),
            (None, Some(schema)) => format!("schema `{schema}` on MariaDB {source}"),
            (None, None) => format!("MariaDB {source}"),
        }
    }

    fn existing(&mut self, streams: &[String]) -> Result<Option<String>, StoreError> {
        let mut found = Vec::new();
        for schema in self.schemas(streams) {
            let tables = self.tables(&schema)?;
            if tables > 0 {
                found.push(format!("schema `{schema}` has {tables} tables"));
                self.occupied.push(schema);
            }
        }
        Ok((!found.is_empty()).then(|| found.join(", ")))
    }

    fn as_store(&self) -> Store {
        // The safety backup keeps what the restore replaces.
        let mut store = self.store.clone();
        store.databases = self.occupied.clone();
        Store::Mariadb(store)
    }

    fn clear(&mut self, streams: &[String]) -> Result<(), StoreError> {
        for schema in self.schemas(streams) {
            self.sql(
                None,
                &format!("drop database if exists {}", identifier(&schema)),
            )?;
        }
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        let Some(source) = stream_database(stream) else {
            return Err(StoreError::new(
                &self.name,
                format!("`{stream}` is not a stream cairn's MariaDB dumps write"),
            ));
        };
        let schema = self.schema_for(&source);
        if !self.schema_exists(&schema)? {
            self.sql(None, &format!("create database {}", identifier(&schema)))?;
            self.created.push(schema.clone());
        }
        let result = self
            .client()
            .arg("--batch")
            .arg(format!("--database={schema}"))
            .feed_from(input, cancel);
        if let Err(error) = result {
            if self.created.contains(&schema) && self.scratch.is_none() {
                let _ = self.sql(
                    None,
                    &format!("drop database if exists {}", identifier(&schema)),
                );
            }
            return Err(self.error(format!("loading schema `{schema}` failed: {error}")));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    fn measure(&mut self, check: &Check) -> Result<i64, StoreError> {
        let (query, source) = check_query(&self.name, "MariaDB", check, &self.store.databases)?;
        let schema = self.schema_for(&source);
        let output = self.sql(Some(&schema), query)?;
        query_number(&self.name, query, &source, &output)
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        let created = std::mem::take(&mut self.created);
        drop_all(&self.name, "schemas", created, |name| {
            self.sql(
                None,
                &format!("drop database if exists {}", identifier(name)),
            )
            .map(drop)
        })
    }
}

impl Drop for MariadbTarget {
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
    fn streams_name_their_databases() {
        assert_eq!(stream_database("db-shop.sql").as_deref(), Some("shop"));
        assert_eq!(stream_database("dump.rdb"), None);
        assert_eq!(identifier("a`b"), "`a``b`");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
