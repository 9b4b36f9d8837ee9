//! The configuration file as written: serde types with `deny_unknown_fields`,
//! whose doc comments become the descriptions of the JSON Schema.
//!
//! Nothing here is checked beyond types; `validate` turns these into the
//! model the rest of cairn works with.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::name::Name;
use crate::duration::Duration;

/// cairn's configuration: what to back up, when, where to and for how long.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "cairn backup.toml")]
pub struct Config {
    /// Host-wide settings: scheduler, paths, time zone, parallelism.
    #[serde(default)]
    pub settings: Settings,
    /// Data sources, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Store>")]
    pub stores: BTreeMap<Name, Store>,
    /// Where artifacts are stored, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Destination>")]
    pub destinations: BTreeMap<Name, Destination>,
    /// Retention policies, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<RetentionPolicy>")]
    pub retention: BTreeMap<Name, RetentionPolicy>,
    /// Schedules, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Schedule>")]
    pub schedules: BTreeMap<Name, Schedule>,
    /// Backup and verify jobs, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Job>")]
    pub jobs: BTreeMap<Name, Job>,
    /// Notification channels, by name.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<Notify>")]
    pub notify: BTreeMap<Name, Notify>,
    /// Per-environment overrides, deep-merged over the rest of the file when
    /// cairn runs with `--env NAME`.
    #[serde(default)]
    #[schemars(schema_with = "named_map::<EnvOverlay>")]
    pub env: BTreeMap<Name, EnvOverlay>,
}

/// The top-level keys of the file, in the order the documentation lists them.
pub const SECTIONS: [&str; 8] = [
    "settings",
    "stores",
    "destinations",
    "retention",
    "schedules",
    "jobs",
    "notify",
    "env",
];

/// Host-wide settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How schedules are installed: systemd timers, one cron.d file, or not at all.
    pub scheduler: Scheduler,
    /// Where systemd units are written.
    pub units_dir: PathBuf,
    /// The cron.d file written when `scheduler = "cron"`.
    pub cron_file: PathBuf,
    /// The cairn binary that units and cron entries call.
    pub binary: PathBuf,
    /// The user jobs run as.
    pub run_as: String,
    /// Where cairn keeps locks and run history.
    pub state_dir: PathBuf,
    /// IANA time zone for schedules and retention periods, e.g. "Europe/Berlin".
    pub timezone: String,
    /// How many independent jobs `apply` runs at once.
    pub parallelism: u32,
    /// An environment file (KEY=value lines) that units load with
    /// `EnvironmentFile=-`, so that `${VAR}`s, PGPASSWORD and AWS keys that
    /// exist at apply time also exist when a timer fires.
    pub environment_file: Option<PathBuf>,
    /// The age identity file used to decrypt artifacts for restore and verify.
    pub age_identity_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scheduler: Scheduler::Systemd,
            units_dir: "/etc/systemd/system".into(),
            cron_file: "/etc/cron.d/cairn".into(),
            binary: "/usr/local/bin/cairn".into(),
            run_as: "root".into(),
            state_dir: "/var/lib/cairn".into(),
            timezone: "UTC".into(),
            parallelism: 2,
            environment_file: None,
            age_identity_file: None,
        }
    }
}

/// How cairn installs schedules on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// One `cairn-JOB.service` and `cairn-JOB.timer` per job.
    Systemd,
    /// One cron.d file with a line per job.
    Cron,
    /// Install nothing; something else calls `cairn run JOB`.
    None,
}

/// A data source to back up. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Store {
    /// PostgreSQL: `pg_dump` per database, optionally `pg_dumpall --globals-only`.
    Postgres(PostgresStore),
    /// Redis: an RDB snapshot over the replication protocol or via BGSAVE.
    Redis(RedisStore),
    /// MariaDB or MySQL: `mariadb-dump --single-transaction` per database.
    Mariadb(MariadbStore),
    /// SQLite: a consistent copy through the online backup API.
    Sqlite(SqliteStore),
    /// A directory tree, as a tar stream.
    Directory(DirectoryStore),
    /// Cassandra snapshots (not supported by `cairn run` yet).
    Cassandra(CassandraStore),
    /// Kafka topics (not supported by `cairn run` yet).
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStore {
    /// Server URL, e.g. "redis://127.0.0.1:6379" or "rediss://:${REDIS_PASSWORD}@cache:6380".
    pub url: String,
    /// How the snapshot is taken.
    #[serde(default)]
    pub method: RedisMethod,
    /// The server's data directory, where BGSAVE writes dump.rdb (`method = "bgsave"` only).
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
}

/// A MariaDB or MySQL server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteStore {
    /// Path of the database file.
    pub path: PathBuf,
}

/// A directory tree.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryStore {
    /// The directory to archive.
    pub path: PathBuf,
    /// Glob patterns, relative to `path`, of files and directories to leave out, e.g. ["cache/**", "*.tmp"].
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A Cassandra node (not supported by `cairn run` yet).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

/// A Kafka cluster (not supported by `cairn run` yet).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaStore {
    /// Bootstrap servers, e.g. ["kafka-1:9092", "kafka-2:9092"].
    pub bootstrap_servers: Vec<String>,
    /// The topics to export.
    pub topics: Vec<String>,
}

/// Where artifacts go. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Destination {
    /// A directory on this host.
    Local(LocalDestination),
    /// An S3 bucket, or a bucket on an S3-compatible store (Garage, MinIO, ...).
    S3(S3Destination),
}

/// The destination kinds, as written in `kind`.
pub const DESTINATION_KINDS: [&str; 2] = ["local", "s3"];

/// A directory on this host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalDestination {
    /// The directory artifacts are written under.
    pub path: PathBuf,
}

/// An S3 or S3-compatible bucket. Credentials come from the standard AWS
/// chain (environment, profile, instance role), never from this file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix artifacts are written under, e.g. "backups/db1".
    #[serde(default)]
    pub prefix: String,
    /// Region; defaults to the AWS chain's region.
    pub region: Option<String>,
    /// Endpoint URL of an S3-compatible store, e.g. "http://127.0.0.1:3900".
    pub endpoint: Option<String>,
    /// Use path-style addressing (bucket in the path, not the host name), as most S3-compatible stores need.
    #[serde(default)]
    pub path_style: bool,
    /// Storage class of uploaded objects.
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption.
    pub sse: Option<ServerSideEncryption>,
    /// When the SDK sends request checksums: `when_supported` (default) or
    /// `when_required`, for stores that reject the SDK's default checksums.
    #[serde(default)]
    pub checksums: Checksums,
}

/// S3 storage classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Standard,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    GlacierIr,
    Glacier,
    DeepArchive,
    ReducedRedundancy,
}

/// S3 server-side encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServerSideEncryption {
    /// S3-managed keys.
    #[serde(rename = "AES256")]
    Aes256,
    /// KMS-managed keys (the bucket's default key).
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// When request checksums are sent to S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Checksums {
    #[default]
    WhenSupported,
    WhenRequired,
}

/// How many artifacts to keep, with the semantics of `restic forget`: an
/// artifact kept by any tier is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the newest N artifacts.
    pub keep_last: Option<u32>,
    /// Keep the newest artifact of each of the N most recent hours that have one.
    pub hourly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent days that have one.
    pub daily: Option<u32>,
    /// Keep the newest artifact of each of the N most recent ISO weeks that have one.
    pub weekly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent months that have one.
    pub monthly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent years that have one.
    pub yearly: Option<u32>,
    /// Keep every artifact newer than the newest one minus this duration.
    pub within: Option<Duration>,
}

impl RetentionPolicy {
    /// The count of tier `tier` (`keep_last`, `hourly`, ... `yearly`), for
    /// the parsers of the inline and `--policy` forms; `None` for any other name.
    pub fn count_mut(&mut self, tier: &str) -> Option<&mut Option<u32>> {
        Some(match tier {
            "keep_last" => &mut self.keep_last,
            "hourly" => &mut self.hourly,
            "daily" => &mut self.daily,
            "weekly" => &mut self.weekly,
            "monthly" => &mut self.monthly,
            "yearly" => &mut self.yearly,
            _ => return None,
        })
    }
}

/// The tier keys of a retention policy.
pub const RETENTION_TIERS: [&str; 7] = [
    "keep_last",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "within",
];

/// When a job runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// A 5-field cron expression (minute hour day-of-month month day-of-week)
    /// or @hourly, @daily, @weekly, @monthly, @yearly, @annually.
    pub cron: String,
    /// A random delay of up to this long before each run, to spread load.
    pub jitter: Option<Duration>,
    /// Run at boot a run that was missed while the host was down (default true).
    pub persistent: Option<bool>,
}

/// A backup job, or a verify job that restore-tests another job's artifacts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// `backup` (default) or `verify`.
    #[serde(default)]
    pub kind: JobKind,
    /// The store to back up (backup jobs).
    pub store: Option<Name>,
    /// A schedule name, or an inline schedule such as { cron = "0 3 * * *" }.
    pub schedule: ScheduleRef,
    /// The destinations every artifact is written to (backup jobs).
    #[serde(default)]
    pub to: Vec<Name>,
    /// A policy name, an inline policy such as { daily = 7 }, or a policy per
    /// destination such as { local = { daily = 7 }, offsite = "gfs" }.
    pub retention: Option<JobRetention>,
    /// Compression: "zstd" (default), "gzip" or "none", or a table with a level,
    /// e.g. { algorithm = "zstd", level = 9 }.
    pub compression: Option<Compression>,
    /// age recipients (public keys, "age1...") artifacts are encrypted to.
    #[serde(default)]
    pub encrypt_to: Vec<String>,
    /// Jobs that must finish first when both run.
    #[serde(default)]
    pub after: Vec<Name>,
    /// Recovery point objective: the maximum tolerated age of the newest good artifact.
    pub rpo: Option<Duration>,
    /// How long a run may take before it is stopped and counted as failed.
    pub timeout: Option<Duration>,
    /// Commands run around the job.
    pub hooks: Option<Hooks>,
    /// The backup job whose newest artifact a verify job restores and checks.
    pub verifies: Option<Name>,
    /// Checks a verify job runs against the restored data.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// What a job does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Dump a store to destinations.
    #[default]
    Backup,
    /// Restore another job's newest artifact into a scratch target and run checks.
    Verify,
}

/// A job's schedule: a name from `[schedules]` or an inline schedule.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum ScheduleRef {
    Named(Name),
    Inline(Schedule),
}

/// A job's retention: a policy name, an inline policy, or one of those per destination.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum JobRetention {
    Named(Name),
    Inline(RetentionPolicy),
    PerDestination(BTreeMap<Name, PolicyRef>),
}

/// A policy name or an inline policy.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum PolicyRef {
    Named(Name),
    Inline(RetentionPolicy),
}

/// A job's compression: an algorithm, or an algorithm and a level.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum Compression {
    Algorithm(CompressionAlgorithm),
    Detailed(CompressionSettings),
}

/// Compression with an explicit level.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionSettings {
    /// The algorithm.
    pub algorithm: CompressionAlgorithm,
    /// The level: zstd 1-19 (default 3), gzip 1-9 (default 6).
    pub level: Option<i32>,
}

/// Compression algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CompressionAlgorithm {
    Zstd,
    Gzip,
    None,
}

/// Commands run around a job, each through `sh -c`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run before the dump; a failure fails the run.
    #[serde(default)]
    pub before: Vec<String>,
    /// Run after a successful run.
    #[serde(default)]
    pub after: Vec<String>,
    /// Run after a failed run.
    #[serde(default)]
    pub on_failure: Vec<String>,
}

/// One check of a verify job. Use `query` (with `min`/`max`) for SQL stores,
/// `min_keys` for Redis, `min_files` for directories.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A SQL query returning one number, e.g. "select count(*) from users".
    pub query: Option<String>,
    /// The database the query runs in (default: the store's first database).
    pub database: Option<String>,
    /// The least value the query may return.
    pub min: Option<i64>,
    /// The greatest value the query may return.
    pub max: Option<i64>,
    /// The least number of keys the restored Redis data must hold.
    pub min_keys: Option<u64>,
    /// The least number of files the restored directory must hold.
    pub min_files: Option<u64>,
}

/// A notification channel. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Notify {
    /// A JSON POST to a URL (healthchecks.io-style ping URLs work too).
    Webhook(WebhookNotify),
    /// A command, with the event in environment variables.
    Command(CommandNotify),
}

/// The notification kinds, as written in `kind`.
pub const NOTIFY_KINDS: [&str; 2] = ["webhook", "command"];

/// A JSON POST for each event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookNotify {
    /// The URL every event is posted to.
    pub url: String,
    /// Per-event URLs that replace `url`, e.g. { failure = "https://hc-ping.com/UUID/fail" }.
    #[serde(default)]
    pub urls: BTreeMap<Event, String>,
    /// The events sent (default: failure, recovery, stale).
    pub on: Option<Vec<Event>>,
}

/// A command run for each event, through `sh -c`, with CAIRN_EVENT, CAIRN_JOB,
/// CAIRN_MESSAGE, CAIRN_STATUS and CAIRN_ARTIFACT in its environment (see
/// docs/notifications.md).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandNotify {
    /// The command line.
    pub command: String,
    /// The events sent (default: failure, recovery, stale).
    pub on: Option<Vec<Event>>,
}

/// Events that notifications are sent for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A run or verify failed.
    Failure,
    /// A job succeeded after failing.
    Recovery,
    /// A job's newest good artifact is older than its schedule or rpo allows.
    Stale,
    /// A run or verify succeeded.
    Success,
}

/// Overrides for one environment: any part of the file, deep-merged over it.
/// Tables merge key by key; strings, numbers and arrays replace.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvOverlay {
    /// Overrides of `[settings]`.
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[stores]`.
    pub stores: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[destinations]`.
    pub destinations: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[retention]`.
    pub retention: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[schedules]`.
    pub schedules: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[jobs]`.
    pub jobs: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides and additions to `[notify]`.
    pub notify: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A map keyed by names, in the schema: an object whose property names match
/// the name pattern.
fn named_map<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let values = generator.subschema_for::<T>();
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "pattern": super::name::PATTERN },
        "additionalProperties": values,
    })
}
