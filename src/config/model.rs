//! The validated configuration: every reference resolved, every expression
//! parsed, every relative path made absolute. Code that receives a
//! [`Config`] does not check again what validation guaranteed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono_tz::Tz;

use super::name::Name;
use super::raw;
use crate::duration::Duration;
use crate::schedule::cron::CronExpr;

pub use super::raw::{
    Check, CompressionAlgorithm, Destination, Event, Hooks, Notify, RetentionPolicy, Settings,
    Store,
};

#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute path of the base configuration file.
    pub path: PathBuf,
    /// The environment selected with `--env`, if any.
    pub env: Option<String>,
    /// Settings with absolute paths.
    pub settings: Settings,
    /// `settings.timezone`, parsed.
    pub timezone: Tz,
    pub stores: BTreeMap<Name, Store>,
    pub destinations: BTreeMap<Name, Destination>,
    /// Named retention policies (jobs hold their own resolved copies).
    pub retention: BTreeMap<Name, RetentionPolicy>,
    /// Named schedules (jobs hold their own resolved copies).
    pub schedules: BTreeMap<Name, Schedule>,
    pub jobs: BTreeMap<Name, Job>,
    pub notify: BTreeMap<Name, Notifier>,
    /// The host whose jobs the commands act on (`--host`, lowercase);
    /// `None`: every host's. Set after validation, which checks every job.
    pub host: Option<String>,
    /// With `scheduler = "kubernetes"`: the effective configuration (the
    /// environment's overlays merged, `${VAR}`s as written) in a canonical
    /// TOML form, for the ConfigMap the pods read.
    pub effective: Option<String>,
}

/// When a job runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The name in `[schedules]`, or `None` for an inline schedule.
    pub name: Option<Name>,
    pub cron: CronExpr,
    pub jitter: Duration,
    pub persistent: bool,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: Name,
    pub schedule: Schedule,
    /// Jobs that must finish first when both run.
    pub after: Vec<Name>,
    pub rpo: Option<Duration>,
    pub timeout: Option<Duration>,
    pub hooks: Hooks,
    pub kind: JobKind,
    /// The hosts the job runs on, lowercase; `None`: every host.
    pub hosts: Option<Vec<String>>,
}

impl Job {
    /// Whether the job runs on `host` (lowercase); every job runs when no
    /// host is picked (`None`).
    pub fn runs_on(&self, host: Option<&str>) -> bool {
        match (&self.hosts, host) {
            (Some(hosts), Some(host)) => hosts.iter().any(|h| h == host),
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
pub enum JobKind {
    Backup(Backup),
    Verify(Verify),
}

#[derive(Debug, Clone)]
pub struct Backup {
    pub store: Name,
    /// Destinations, in the order the job lists them.
    pub to: Vec<Name>,
    /// The policy at each destination; a destination without one keeps
    /// artifacts forever.
    pub retention: BTreeMap<Name, Retention>,
    pub compression: Compression,
    /// age recipients, validated.
    pub encrypt_to: Vec<String>,
}

/// A retention policy as a job applies it at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// The name in `[retention]`, or `None` for an inline policy.
    pub name: Option<Name>,
    pub policy: RetentionPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    pub algorithm: CompressionAlgorithm,
    /// The level, defaulted per algorithm (zstd 3, gzip 6); `None` for no compression.
    pub level: Option<i32>,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            algorithm: CompressionAlgorithm::Zstd,
            level: Some(3),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Verify {
    /// The backup job whose newest artifact is restored and checked.
    pub verifies: Name,
    pub checks: Vec<Check>,
}

/// A notification channel and the events it is sent.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub channel: raw::Notify,
    pub events: Vec<Event>,
}

impl Job {
    /// The jobs this one runs after when both run: its `after`, and for a
    /// verify job the job it verifies.
    pub fn waits_for(&self) -> Vec<&Name> {
        let mut jobs: Vec<&Name> = self.after.iter().collect();
        if let JobKind::Verify(verify) = &self.kind {
            if !jobs.contains(&&verify.verifies) {
                jobs.push(&verify.verifies);
            }
        }
        jobs
    }

    pub fn backup(&self) -> Option<&Backup> {
        match &self.kind {
            JobKind::Backup(backup) => Some(backup),
            JobKind::Verify(_) => None,
        }
    }
}

/// There is no job of that name in the configuration.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("there is no job `{job}` in the configuration")]
#[diagnostic(help("the jobs are: {known}"))]
pub struct UnknownJob {
    pub job: String,
    pub known: String,
}

impl Config {
    /// The job `name`, or an error that lists the jobs there are.
    /// The jobs of the host the commands act on (all without a host).
    pub fn host_jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs
            .values()
            .filter(|job| job.runs_on(self.host.as_deref()))
    }

    pub fn job(&self, name: &str) -> Result<&Job, UnknownJob> {
        self.jobs
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, job)| job)
            .ok_or_else(|| UnknownJob {
                job: name.to_owned(),
                known: self
                    .jobs
                    .keys()
                    .map(|j| j.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The store a job reads: its own for a backup job, the verified job's
    /// for a verify job. `None` only for a job that is not this
    /// configuration's (validation resolves every job's store).
    pub fn store_of(&self, job: &Job) -> Option<&Store> {
        let store = match &job.kind {
            JobKind::Backup(backup) => &backup.store,
            JobKind::Verify(verify) => &self.jobs.get(&verify.verifies)?.backup()?.store,
        };
        self.stores.get(store)
    }
}
