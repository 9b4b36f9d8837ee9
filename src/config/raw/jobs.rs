//! `[jobs.NAME]` and `[schedules.NAME]`: what a job does, when (a named or
//! inline schedule), where to, for how long, and the checks of verify jobs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::RetentionPolicy;
use crate::config::name::Name;
use crate::duration::Duration;

/// One host name, or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HostNames {
    One(String),
    Many(Vec<String>),
}

impl HostNames {
    pub fn names(&self) -> Vec<String> {
        match self {
            HostNames::One(name) => vec![name.clone()],
            HostNames::Many(names) => names.clone(),
        }
    }
}

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
    /// The host (or hosts) the job runs on, by host name; every host when
    /// left out. `--host` (default: this host's name) picks a host's jobs.
    pub host: Option<HostNames>,
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
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
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
