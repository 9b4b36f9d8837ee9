//! `[stores.NAME]`: the data sources, one type per store kind.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A data source to back up. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Store {
    /// PostgreSQL: `pg_dump` per database, optionally `pg_dumpall --globals-only`.
    Postgres(PostgresStore),
    /// Redis: an RDB snapshot over the replication protocol or via BGSAVE, or a copy of the AOF.
    Redis(RedisStore),
    /// MariaDB or MySQL: `mariadb-dump --single-transaction` per database.
    Mariadb(MariadbStore),
    /// SQLite: a consistent copy through the online backup API.
    Sqlite(SqliteStore),
    /// A directory tree, as a tar stream.
    Directory(DirectoryStore),
    /// Cassandra snapshots (not supported by `cairn run` yet).
    Cassandra(CassandraStore),
    /// Kafka topics: records, configurations and consumer group offsets.
    Kafka(KafkaStore),
}

/// The store kinds, as written in `kind`.
pub const STORE_KINDS: [&str; 7] = [
    "postgres",
    "redis",
    "mariadb",
    "sqlite",
    "directory",
    "cassandra",
    "kafka",
];

impl Store {
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis",
            Store::Mariadb(_) => "mariadb",
            Store::Sqlite(_) => "sqlite",
            Store::Directory(_) => "directory",
            Store::Cassandra(_) => "cassandra",
            Store::Kafka(_) => "kafka",
        }
    }
}

/// A PostgreSQL server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresStore {
    /// A libpq connection string or URI, e.g. "postgresql://backup@db.internal:5432/postgres".
    /// Use `${VAR}` for a password, or leave it out and use PGPASSWORD or a .pgpass file.
    pub dsn: Option<String>,
    /// Server host name or socket directory (instead of `dsn`).
    pub host: Option<String>,
    /// Server port (instead of `dsn`).
    pub port: Option<u16>,
    /// User to connect as (instead of `dsn`).
    pub user: Option<String>,
    /// The databases to dump, each into its own stream of the artifact.
    /// Defaults to the database the `dsn` names; required otherwise.
    #[serde(default)]
    pub databases: Vec<String>,
    /// Dump format: `custom` (pg_restore-able, default) or `plain` SQL.
    #[serde(default)]
    pub format: PostgresFormat,
    /// Dump only the schema, no data.
    #[serde(default)]
    pub schema_only: bool,
    /// Also dump roles and tablespaces with `pg_dumpall --globals-only`.
    #[serde(default)]
    pub globals: bool,
    /// A command prefix the dump tools run through, e.g. ["docker", "exec", "-i", "postgres-db"].
    pub exec: Option<Vec<String>>,
    /// `dump` (pg_dump per database, the default) or `basebackup`: a physical
    /// copy of the whole cluster with pg_basebackup, plus the WAL archive that
    /// `cairn wal push` keeps, for point-in-time recovery.
    #[serde(default)]
    pub method: PostgresMethod,
}

/// How a PostgreSQL store is backed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostgresMethod {
    /// Logical dumps with pg_dump, one stream per database.
    #[default]
    Dump,
    /// `pg_basebackup` of the cluster (one stream, base.tar) and a continuous
    /// WAL archive (`archive_command = 'cairn wal push %p --job JOB'`).
    Basebackup,
}

impl PostgresStore {
    /// The database `dsn` names, if any: the path of a URI
    /// (`postgresql://backup@db/app`) or `dbname=` of a keyword string.
    pub fn dsn_database(&self) -> Option<String> {
        dsn_database(self.dsn.as_deref()?)
    }
}

/// The database a connection string names, if any.
pub fn dsn_database(dsn: &str) -> Option<String> {
    if let Some((_, rest)) = dsn.split_once("://") {
        let path = rest.split('?').next()?.split_once('/')?.1;
        return (!path.is_empty()).then(|| path.to_owned());
    }
    dsn.split_whitespace()
        .find_map(|word| word.strip_prefix("dbname="))
        .map(|db| db.trim_matches('\'').to_owned())
        .filter(|db| !db.is_empty())
}

/// pg_dump output formats that can stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostgresFormat {
    /// `pg_dump -Fc`, restored with pg_restore.
    #[default]
    Custom,
    /// Plain SQL, restored with psql.
    Plain,
    /// `pg_dump -Fd` writes a directory and cannot stream; rejected by validation.
    #[schemars(skip)]
    Directory,
}

/// A Redis server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStore {
    /// Server URL, e.g. "redis://127.0.0.1:6379" or "rediss://:${REDIS_PASSWORD}@cache:6380".
    pub url: String,
    /// How the snapshot is taken.
    #[serde(default)]
    pub method: RedisMethod,
    /// The server's data directory (its `dir`), where BGSAVE writes dump.rdb and the
    /// append-only file lives (`method = "bgsave"` and `method = "aof"` only).
    pub data_dir: Option<PathBuf>,
    /// A command prefix `redis-cli` runs through, e.g. ["docker", "exec", "-i", "redis-cache"].
    pub exec: Option<Vec<String>>,
}

/// How a Redis snapshot is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RedisMethod {
    /// Stream an RDB over the replication protocol (`redis-cli --rdb -`); works remotely.
    #[default]
    Replication,
    /// BGSAVE, wait for LASTSAVE to change, then copy `data_dir`/dump.rdb; local instances only.
    Bgsave,
    /// A consistent copy of Redis 7's multi-part append-only file in `data_dir` (the files
    /// its manifest lists, hard-linked while they are copied); needs `appendonly yes`.
    Aof,
}

/// A MariaDB or MySQL server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MariadbStore {
    /// Server host (or use `socket`).
    pub host: Option<String>,
    /// Server port.
    pub port: Option<u16>,
    /// User to connect as; the password comes from MYSQL_PWD or an option file.
    pub user: Option<String>,
    /// Unix socket of a local server (instead of `host`).
    pub socket: Option<PathBuf>,
    /// The databases to dump, each into its own stream of the artifact.
    pub databases: Vec<String>,
    /// A command prefix the dump tool runs through, e.g. ["docker", "exec", "-i", "mariadb"].
    pub exec: Option<Vec<String>>,
}

/// A SQLite database file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteStore {
    /// Path of the database file.
    pub path: PathBuf,
}

/// A directory tree.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryStore {
    /// The directory to archive.
    pub path: PathBuf,
    /// Glob patterns, relative to `path`, of files and directories to leave out, e.g. ["cache/**", "*.tmp"].
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A Cassandra node (not supported by `cairn run` yet).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CassandraStore {
    /// Host that `nodetool` connects to.
    pub host: Option<String>,
    /// JMX port that `nodetool` connects to.
    pub port: Option<u16>,
    /// The keyspaces to snapshot.
    pub keyspaces: Vec<String>,
    /// The node's data directory, where snapshots are written.
    pub data_dir: Option<PathBuf>,
    /// A command prefix `nodetool` runs through, e.g. ["docker", "exec", "-i", "cassandra-db"].
    pub exec: Option<Vec<String>>,
}

/// A Kafka cluster: its topics' records, configurations and, optionally,
/// the committed offsets of the consumer groups reading them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaStore {
    /// Bootstrap servers as host:port, e.g. ["kafka-1:9092", "kafka-2:9092"].
    pub bootstrap_servers: Vec<String>,
    /// The topics to back up: names or globs (`orders`, `events-*`). Internal
    /// topics such as `__consumer_offsets` are never included.
    pub topics: Vec<String>,
    /// Also save the committed offsets of the consumer groups on those topics
    /// (`groups.json`), and commit them, translated, on restore.
    #[serde(default)]
    pub consumer_groups: bool,
    /// SASL user name (not supported yet: validation refuses it).
    pub username: Option<String>,
    /// SASL password, as `${VAR}` (not supported yet: validation refuses it).
    pub password: Option<String>,
    /// Connect to the brokers with TLS (rustls; TLS 1.2 or 1.3).
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of the CA that signs the brokers' certificates (with `tls`);
    /// the system's roots are trusted otherwise.
    pub ca_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_name_a_database() {
        assert_eq!(
            dsn_database("postgresql://u@h:5/app?sslmode=require").as_deref(),
            Some("app")
        );
        assert_eq!(dsn_database("postgresql://u@h:5"), None);
        assert_eq!(dsn_database("postgresql://u@h:5/"), None);
        assert_eq!(dsn_database("host=h dbname='x'").as_deref(), Some("x"));
        assert_eq!(dsn_database("host=h dbname=''"), None);
        assert_eq!(dsn_database("host=h user=backup"), None);
    }
}
