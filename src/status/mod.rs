//! `cairn status` (SPEC §9): are the backups healthy? One state per job and
//! for the whole configuration, in the monitoring-plugin convention (exit 0
//! OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), for humans, for scripts
//! (`--json`) and for Prometheus (`--prometheus FILE`).
//!
//! docs/status.md says the same for operators, with examples.
//!
//! [`evaluate`] is a pure function of the configuration, the destinations'
//! listings, the run history and the time, so the rules below are tested
//! exactly; only [`read_destinations`] and the command around it do I/O.
//!
//! # What counts
//!
//! - A **good artifact** has a manifest whose `reason` is not `safety`
//!   (safety backups taken before a forced restore never count). Its time is
//!   the run's start, from the artifact ID.
//! - A job's **runs** are its history records that are neither safety
//!   backups nor verify runs; a run **failed** when it failed as a whole or
//!   at any destination. The **last success** is the newest run that did not
//!   fail (or, with no such record, the newest good artifact).
//! - A backup job's **last verify** is the newest record of any job whose
//!   `verify.job` names it (a verify job's run, or `cairn verify JOB`). A
//!   verify job's runs and last verify are the records under its own name
//!   that carry `verify`.
//!
//! # States
//!
//! A backup job is
//! - **CRITICAL** when the newest good artifact over its readable
//!   destinations is older than its `rpo`, when none of its readable
//!   destinations holds a good artifact, when its last run failed (as a
//!   whole or at any destination), or when its last verify failed;
//! - else **UNKNOWN** when one of its destinations cannot be read;
//! - else **WARNING** when it missed its schedule: the latest time its cron
//!   expression fired at or before `now - jitter - grace` (grace is the
//!   job's `timeout`, or 1 hour without one, because a run that started on
//!   time may still be writing and its artifact is named by its start) is
//!   later than the newest good artifact;
//! - else **OK**.
//!
//! A verify job is CRITICAL when its last verify failed, WARNING when it
//! never ran or missed its schedule (the same rule, with the last verify's
//! start in place of the newest artifact), else OK.
//!
//! The overall state is the worst job's, CRITICAL before UNKNOWN before
//! WARNING before OK; with no jobs it is OK. When the configuration (or
//! `CAIRN_NOW`, or the history) cannot be read, status cannot tell: UNKNOWN.
//!
//! # `--json` (format_version 1)
//!
//! Times are RFC 3339 (`Z` for UTC; `next_run` in `settings.timezone`),
//! ages in whole seconds; absent values are `null`.
//!
//! - `format_version` (1), `now`, `timezone`, `state` (`ok`, `warning`,
//!   `critical`, `unknown`), `exit_code` (0-3), `jobs` (by name), and
//!   `error` (only when status cannot tell at all; `jobs` is then empty).
//! - Each job: `job`, `kind` (`backup`/`verify`), `verifies` (verify jobs),
//!   `state`, `message` (the worst problem, or what makes it OK),
//!   `problems` (`[{state, message}]`, worst first), `schedule` (the cron
//!   expression), `next_run`, `rpo` (e.g. `1d2h`), `newest` (`{destination,
//!   id, time, age_seconds}` over all destinations), `last_success` (`{id,
//!   started_at, finished_at}`), `last_run` (`{id, started_at, finished_at,
//!   duration_seconds, outcome, error, failed_destinations: {DEST: error},
//!   stored_bytes}`), `last_failure` (`{id, started_at, error}`),
//!   `consecutive_failures`, `failures_total`, `last_verify` (`{run_by, id,
//!   started_at, outcome, destination, artifact, failed_checks, error}`;
//!   `run_by` is the job the verify run is recorded under), and
//!   `destinations`.
//! - Each destination of a backup job: `destination`, `readable`, `error`,
//!   `artifacts` and `stored_bytes` (good artifacts), `newest` (`{id, time,
//!   age_seconds}`), `last_outcome` (of the last run there: `success`,
//!   `failed`).
//!
//! # `--prometheus FILE`
//!
//! See [`prometheus`]: a node_exporter textfile written atomically.

mod evaluate;
pub mod prometheus;
mod render;
mod runs;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::model::Config;
use crate::destinations::Listing;
use crate::duration::Duration;
use crate::history::Outcome;
use crate::ExitStatus;

pub use evaluate::{evaluate, evaluate_jobs};
pub use render::{json, json_unknown, text};

/// How healthy a job is. Ordered by severity: CRITICAL is worse than
/// UNKNOWN, which is worse than WARNING.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl State {
    /// The monitoring-plugin code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn code(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    /// `ok`, `warning`, `critical`, `unknown`, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning => "warning",
            State::Critical => "critical",
            State::Unknown => "unknown",
        }
    }

    pub fn exit_status(self) -> ExitStatus {
        match self {
            State::Ok => ExitStatus::Success,
            State::Warning => ExitStatus::Warning,
            State::Critical => ExitStatus::Critical,
            State::Unknown => ExitStatus::Unknown,
        }
    }
}

/// The status of every job at one moment.
#[derive(Debug, Clone)]
pub struct Report {
    pub now: DateTime<Utc>,
    pub timezone: Tz,
    /// The worst job's state; OK without jobs.
    pub state: State,
    /// By job name.
    pub jobs: Vec<JobStatus>,
}

#[derive(Debug, Clone)]
pub struct JobStatus {
    pub job: String,
    /// For a verify job, the backup job it verifies.
    pub verifies: Option<String>,
    pub state: State,
    /// What is wrong, worst first; empty when OK.
    pub problems: Vec<Problem>,
    /// One line: the worst problem, or what makes the job OK.
    pub message: String,
    /// The cron expression as written.
    pub schedule: String,
    /// The next time the schedule fires, in `settings.timezone`.
    pub next_run: Option<DateTime<Tz>>,
    pub rpo: Option<Duration>,
    /// The newest good artifact over the readable destinations.
    pub newest: Option<Newest>,
    pub last_success: Option<Success>,
    pub last_run: Option<LastRun>,
    pub last_failure: Option<LastFailure>,
    /// Failed runs since the last one that did not fail.
    pub consecutive_failures: u64,
    /// Failed runs in the whole history.
    pub failures_total: u64,
    pub last_verify: Option<LastVerify>,
    /// A backup job's destinations, in the order the job lists them.
    pub destinations: Vec<DestinationStatus>,
    /// A basebackup job's WAL archive.
    pub wal: Option<WalStatus>,
    /// The hosts the job runs on (`host`); `None`: every host.
    pub hosts: Option<Vec<String>>,
}

/// A basebackup job's WAL archive over its destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalStatus {
    /// The newest archived file and when it was stored.
    pub newest: Option<(String, DateTime<Utc>)>,
    /// Segments archived at the destination that holds the most.
    pub segments: usize,
}

/// One reason a job is not OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub state: State,
    pub message: String,
    /// A freshness problem (beyond the rpo, no good artifact, a missed
    /// schedule): what `status --notify` sends `stale` notifications for.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest {
    pub destination: String,
    pub id: String,
    /// The run's start, from the ID.
    pub time: DateTime<Utc>,
}

/// The newest successful run, or the newest good artifact without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Failed when the run failed as a whole or at any destination.
    pub outcome: Outcome,
    /// Why the run failed as a whole.
    pub error: Option<String>,
    /// The destinations where it failed, with why.
    pub failed_destinations: BTreeMap<String, String>,
    /// Bytes stored at each destination, as the history records them.
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastFailure {
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// The run's error, or its destinations' errors.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastVerify {
    /// The job the verify run is recorded under.
    pub run_by: String,
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub destination: Option<String>,
    pub artifact: Option<String>,
    /// The checks that did not pass, e.g. `select count(*) from users >= 1 (got 0)`.
    pub failed_checks: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    pub destination: String,
    /// Why the destination could not be listed; `None` when it could.
    pub error: Option<String>,
    /// Good artifacts of the job there.
    pub artifacts: u64,
    /// Bytes those artifacts store.
    pub stored_bytes: u64,
    pub newest: Option<Newest>,
    /// The outcome of the job's last run at this destination.
    pub last_outcome: Option<Outcome>,
}

impl DestinationStatus {
    pub fn readable(&self) -> bool {
        self.error.is_none()
    }
}

/// Lists every destination of the configuration, concurrently; one that
/// cannot be opened or listed is an `Err` with why.
pub async fn read_destinations(config: &Config) -> BTreeMap<String, Result<Listing, String>> {
    let opened = crate::inventory::open_all(config).await;
    crate::inventory::read(&opened, None).await.destinations
}

/// `status --notify`: a `stale` notification for every job that has become
/// stale, once per episode. A marker file in `STATE_DIR/notify/stale/`
/// remembers that it was sent; it goes when the job is fresh again, so the
/// next episode notifies again.
pub async fn notify_stale(
    config: &crate::config::Config,
    state: &crate::state::StateDir,
    report: &Report,
    log: &crate::output::Log,
) {
    let dir = state.stale_markers();
    for job in &report.jobs {
        let marker = state.stale_marker(&job.job);
        let stale: Vec<&str> = job
            .problems
            .iter()
            .filter(|p| p.stale)
            .map(|p| p.message.as_str())
            .collect();
        if stale.is_empty() {
            if let Err(e) = fs_err::remove_file(&marker) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log.warn(&format!("cannot remove {}: {e}", marker.display()));
                }
            }
            continue;
        }
        if marker.exists() {
            continue;
        }
        let message = format!("job `{}` is stale: {}", job.job, stale.join("; "));
        crate::notify::stale(config, &job.job, &message, log).await;
        let written = crate::atomic::create_private_dir(&dir)
            .and_then(|()| crate::atomic::write_file(&marker, message.as_bytes(), 0o600));
        if let Err(e) = written {
            log.warn(&format!(
                "cannot remember that job `{}` was reported stale ({}: {e}); the next `status --notify` reports it again",
                job.job,
                marker.display()
            ));
        }
    }
}
