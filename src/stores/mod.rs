//! Data sources: one folder per store kind, each with its dump, restore and
//! verify, its stream names and its URL or DSN parsing, behind one trait
//! family: [`Dumper`] (a store into streams), [`Target`] (streams back into
//! a store, or a scratch one for verify) and [`Kind`] (a store's dumper and
//! targets). A store turns into one or more streams (e.g. one per database)
//! written in order into one artifact.
//!
//! A new kind is a new folder and one line in [`kind`].

mod command;
pub mod directory;
pub mod kafka;
pub mod mariadb;
pub mod postgres;
pub mod redis;
pub mod sqlite;
mod target;

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
    pub fn new(store: &str, message: impl std::fmt::Display) -> Self {
        Self {
            store: store.to_owned(),
            message: message.to_string(),
            help: None,
        }
    }

    /// The error with its hint inline, as run and verify records keep it:
    /// `store `db`: … (hint: …)`.
    pub fn with_hint_inline(&self) -> String {
        match &self.help {
            Some(help) => format!("{self} (hint: {help})"),
            None => self.to_string(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// What a stream's dump that succeeded has to say.
#[derive(Debug, Default)]
pub struct Dumped {
    /// What the dump tool said on stderr although it exited 0 (its end,
    /// bounded); empty when it said nothing. The run keeps it as a warning.
    pub stderr: String,
}

/// How one store is dumped.
pub trait Dumper: Send {
    /// Takes what the dump needs from the store before the first stream:
    /// e.g. a Kafka backup's snapshot of topics and end offsets, which also
    /// decides [`Dumper::streams`]. Runs once, on a thread that may block.
    fn prepare(&mut self, _cancel: &Cancel) -> Result<(), StoreError> {
        Ok(())
    }

    /// The streams of an artifact, in order, e.g. `db-app.pgdump`, `globals.sql`.
    fn streams(&self) -> Vec<String>;

    /// Writes stream `index` to `out`.
    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError>;

    /// Where the data comes from, for the manifest (no passwords).
    fn source(&self) -> String;

    /// The versions of the tools used, for the manifest.
    fn tools(&self) -> BTreeMap<String, String>;

    /// After the last stream: a base backup's place in the WAL.
    fn wal(&self) -> Option<crate::manifest::WalRecord> {
        None
    }
}

/// One kind of store: how its stores are dumped, restored and verified.
/// Each kind's folder implements it for the kind's configuration, and
/// [`kind`] is the one place that maps a [`Store`] to it.
pub trait Kind {
    /// How the store named `name` is dumped.
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError>;

    /// Where a restore of the store named `name` goes: the store itself, or
    /// `to` (`--to`), whose meaning the kind defines.
    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError>;

    /// A scratch target for verify, removed afterwards.
    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError>;
}

/// The kind of `store`, named `name` in the configuration: one line per
/// kind cairn supports.
fn kind<'s>(name: &str, store: &'s Store) -> Result<&'s dyn Kind, StoreError> {
    Ok(match store {
        Store::Postgres(postgres) => postgres,
        Store::Redis(redis) => redis,
        Store::Mariadb(mariadb) => mariadb,
        Store::Sqlite(sqlite) => sqlite,
        Store::Directory(directory) => directory,
        Store::Kafka(kafka) => kafka,
        Store::Cassandra(_) => return Err(unsupported(name, store)),
    })
}

/// The error for a kind that the configuration accepts but this cairn
/// cannot back up or restore yet.
fn unsupported(name: &str, store: &Store) -> StoreError {
    StoreError::new(
        name,
        format!(
            "`{}` stores are not supported by this version of cairn yet",
            store.kind()
        ),
    )
    .with_help("back this store up another way for now; cairn accepts the configuration so it can be reviewed")
}

/// The dumper for `store`, named `name` in the configuration.
pub fn dumper(name: &str, store: &Store) -> Result<Box<dyn Dumper>, StoreError> {
    kind(name, store)?.dumper(name)
}

/// The target of a restore: the store `name` itself, or `to`. A base
/// backup goes into the data directory `to`, recovering as `recovery` says;
/// Kafka topics are restored under `topic_prefix` plus their name.
pub fn target_for(
    name: &str,
    store: &Store,
    to: Option<&str>,
    topic_prefix: Option<&str>,
    recovery: &postgres::Recovery,
) -> Result<Box<dyn Target>, StoreError> {
    match (store, topic_prefix) {
        (Store::Kafka(kafka), prefix) => {
            return Ok(Box::new(kafka::KafkaTarget::target(
                name, kafka, to, prefix,
            )?))
        }
        (_, Some(_)) => {
            return Err(StoreError::new(
                name,
                format!(
                    "--topic-prefix is for Kafka stores; this one is a {} store",
                    store.kind()
                ),
            )
            .with_help("leave out --topic-prefix"))
        }
        (_, None) => {}
    }
    if let Store::Postgres(pg) = store {
        if pg.method == crate::config::raw::PostgresMethod::Basebackup {
            return Ok(Box::new(postgres::PitrTarget::new(name, to, recovery)?));
        }
    }
    kind(name, store)?.target(name, to)
}

/// A scratch target for verifying an artifact of the store `name`.
/// A base backup is replayed into a scratch cluster recovering as
/// `recovery` says (its `restore_command`).
pub fn scratch_for(
    name: &str,
    store: &Store,
    recovery: &postgres::Recovery,
) -> Result<Box<dyn Target>, StoreError> {
    if let Store::Postgres(pg) = store {
        if pg.method == crate::config::raw::PostgresMethod::Basebackup {
            return Ok(Box::new(postgres::PitrTarget::scratch(name, recovery)?));
        }
    }
    kind(name, store)?.scratch(name)
}
