//! Data sources: one file per store kind behind one trait. A store turns
//! into one or more streams (e.g. one per database) written in order into
//! one artifact.

mod command;
pub mod directory;
pub mod mariadb;
pub mod postgres;
pub mod redis;
pub mod sqlite;
pub(crate) mod target;

use std::collections::BTreeMap;
use std::io::Write;

use crate::cancel::Cancel;
use crate::config::model::Store;

pub use command::ToolCommand;
pub use target::Target;

/// A failed dump, naming the store, the command and what it said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store `{store}`: {message}")]
pub struct StoreError {
    pub store: String,
    pub message: String,
    pub help: Option<String>,
}

impl StoreError {
    pub fn new(store: &str, message: impl Into<String>) -> Self {
        Self {
            store: store.to_owned(),
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// How one store is dumped.
pub trait Dumper: Send {
    /// The streams of an artifact, in order, e.g. `db-app.pgdump`, `globals.sql`.
    fn streams(&self) -> Vec<String>;

    /// Writes stream `index` to `out`.
    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<(), StoreError>;

    /// Where the data comes from, for the manifest (no passwords).
    fn source(&self) -> String;

    /// The versions of the tools used, for the manifest.
    fn tools(&self) -> BTreeMap<String, String>;
}

/// The dumper for `store`, named `name` in the configuration.
pub fn dumper(name: &str, store: &Store) -> Result<Box<dyn Dumper>, StoreError> {
    Ok(match store {
        Store::Postgres(pg) => Box::new(postgres::Postgres::new(name, pg)?),
        Store::Redis(redis) => Box::new(redis::Redis::new(name, redis)?),
        Store::Mariadb(maria) => Box::new(mariadb::Mariadb::new(name, maria)),
        Store::Sqlite(sqlite) => Box::new(sqlite::Sqlite::new(name, sqlite)),
        Store::Directory(directory) => Box::new(directory::Directory::new(name, directory)?),
        Store::Cassandra(_) | Store::Kafka(_) => {
            return Err(StoreError::new(
                name,
                format!("`{}` stores are not supported by this version of cairn yet", store.kind()),
            )
            .with_help("back this store up another way for now; cairn accepts the configuration so it can be reviewed"))
        }
    })
}
