//! Running one job: `cairn run JOB`, `cairn verify JOB`, and every run that
//! `apply` starts. One path for backup and verify jobs alike: the job's
//! lock, the engine (`backup`, or `restore::verify` on its own thread, since
//! restores drive blocking tools), the history, the notifications; then,
//! for `cairn run` of a backup job, the same tidy-up `apply` would do.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::backup::{self, BackupOptions, OnId};
use crate::config::model::{Config, Job, JobKind, Store, UnknownJob};
use crate::config::raw::StateKeeping;
use crate::history::remote::{self, Running, Stored};
use crate::history::{self, Outcome, RunRecord};
use crate::lock::{self, Holder, Lock, LockError};
use crate::manifest::Reason;
use crate::output::Log;
use crate::plan::{self, Action, ActionKind, Address, PlanError, PlanOptions, Target};
use crate::restore::verify::{self, VerifyOptions};
use crate::state::{Host, StateDir};

/// How a job is run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub reason: Reason,
    /// The run's start time (`CAIRN_NOW` or the clock); it names the artifact.
    pub now: DateTime<Utc>,
    /// For verify runs: the age identity file (else `settings.age_identity_file`).
    pub identity: Option<PathBuf>,
    /// Where progress and warnings go.
    pub log: Log,
}

/// Why a job did not run at all (a run that failed is a record).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownJob(#[from] UnknownJob),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error("the verify of job `{0}` stopped unexpectedly: {1}")]
    VerifyThread(String, String),
}

/// What a run of a job does.
#[derive(Debug, Clone)]
pub enum Task {
    /// What the job declares: a backup, or the verify of a verify job.
    Declared,
    /// Verify the job's newest artifact (`cairn verify` of a backup job: the
    /// built-in checks only).
    Verify,
    /// A backup of the job that dumps this store instead of its own: the
    /// safety backup of a forced restore's target.
    SafetyBackup(Store),
}

/// Runs the job `name` under its lock, appends the record to the history
/// and sends the notifications it calls for.
pub async fn run_job(
    config: &Config,
    host: &Host,
    name: &str,
    task: Task,
    options: &RunOptions,
) -> Result<RunRecord, RunError> {
    let record = record_run(config, host, name, task, options).await?;
    let state = host.state_dir(&config.settings.state_dir);
    crate::notify::after_run(config, &state, &record, &options.log).await;
    Ok(record)
}

/// Runs the job `name` under its lock and appends the record to the
/// history, without notifications.
pub async fn record_run(
    config: &Config,
    host: &Host,
    name: &str,
    task: Task,
    options: &RunOptions,
) -> Result<RunRecord, RunError> {
    config.job(name)?;
    let state = host.state_dir(&config.settings.state_dir);
    let lock = lock_job(&state, name, options.now, &options.log)?;
    record_run_locked(config, host, name, task, options, &lock).await
}

/// Takes the lock of job `name`, which every run and restore of the job
/// holds; records the run that held it last as interrupted when that run
/// was killed (see [`record_interrupted`]).
pub fn lock_job(
    state: &StateDir,
    name: &str,
    now: DateTime<Utc>,
    log: &Log,
) -> Result<Lock, LockError> {
    let lock = lock::acquire(&state.job_lock(name), &format!("job `{name}`"))?;
    record_interrupted(state, name, &lock.previous, now, log);
    Ok(lock)
}

/// [`record_run`] for a caller that holds the job's lock already (`lock`,
/// from [`lock_job`]): a forced restore's safety backup.
pub async fn record_run_locked(
    config: &Config,
    host: &Host,
    name: &str,
    task: Task,
    options: &RunOptions,
    lock: &Lock,
) -> Result<RunRecord, RunError> {
    let job = config.job(name)?;
    let state = host.state_dir(&config.settings.state_dir);
    let shared = config.settings.state == StateKeeping::Destinations;
    if shared {
        record_interrupted_at_destinations(config, &state, job, &lock.previous, options).await;
    }
    let record = match (&job.kind, task) {
        (JobKind::Verify(_), _) | (JobKind::Backup(_), Task::Verify) => {
            let mut record = verify_on_own_thread(config, job, options).await?;
            record.id = unused_verify_id(config, &state, &record, shared).await;
            record
        }
        (JobKind::Backup(backup), Task::Declared) => {
            let options = backup_options(config, job, options, None, lock);
            backup::run(config, job, backup, options).await
        }
        (JobKind::Backup(backup), Task::SafetyBackup(store)) => {
            let options = backup_options(config, job, options, Some(store), lock);
            backup::run(config, job, backup, options).await
        }
    };
    if let Err(error) = history::append(&state, &record) {
        options.log.warn(&format!(
            "cannot record the run in {}: {error}",
            state.history().display()
        ));
    }
    if shared {
        // After the manifests: the record replaces the run's `running` one.
        let refused = remote::publish(config, &Stored::Finished(record.clone())).await;
        warn_unpublished(&record.job, &record.id, &refused, &options.log);
    }
    Ok(record)
}

/// The ID of verify run `record`, made unique with `-2`, `-3`… (as a
/// backup's is) when its job already has a run of that ID: `cairn verify
/// JOB` right after a backup of JOB in the same second would otherwise
/// share the backup's ID, and with the records at the destinations replace
/// its record there. A verify run writes no artifact, so only the records
/// (here, and at the destinations when they are kept there) are asked.
async fn unused_verify_id(
    config: &Config,
    state: &StateDir,
    record: &RunRecord,
    shared: bool,
) -> String {
    let local: Vec<String> = history::read(state, Some(&record.job))
        .map(|history| history.records.into_iter().map(|r| r.id).collect())
        .unwrap_or_default();
    let mut candidate = record.id.clone();
    for n in 2.. {
        let taken = local.contains(&candidate)
            || (shared && remote::id_taken(config, &record.job, &candidate).await);
        if !taken {
            break;
        }
        candidate = format!("{}-{n}", record.id);
    }
    candidate
}

/// Warns that the record of run `id` is missing at the destinations in
/// `refused`: machines that read the records there do not see it.
fn warn_unpublished(job: &str, id: &str, refused: &BTreeMap<String, String>, log: &Log) {
    for (destination, why) in refused {
        log.warn(&format!(
            "job `{job}`: cannot write the record of run {id} at destination `{destination}`: {why}; \
             machines that read the records there do not see this run"
        ));
    }
}

/// With `settings.state = "destinations"`: the runs of `job` that a
/// destination still marks running although none can be: the one the
/// job's lock names (this host's last run of the job, which was killed),
/// and any past its deadline (a pod that was evicted). Each is recorded as
/// interrupted, here and at the destinations, so that the tidy-up after
/// this run removes what it left at once. A run marked running that may
/// still be alive (another machine's, before its deadline) is left be.
async fn record_interrupted_at_destinations(
    config: &Config,
    state: &StateDir,
    job: &Job,
    previous: &Holder,
    options: &RunOptions,
) {
    let name = job.name.as_str();
    let found = remote::read(config, &[name], Some(remote::RECENT)).await;
    for (destination, why) in &found.unreadable {
        options.log.warn(&format!(
            "job `{name}`: the run records at destination `{destination}` cannot be read ({why}); \
             a run interrupted there is recorded once they can be"
        ));
    }
    if found.running.is_empty() {
        return;
    }
    let local = history::read(state, Some(name)).unwrap_or_default();
    for running in &found.running {
        let by_lock = previous.run.as_deref() == Some(running.id.as_str());
        if !by_lock && !running.expired(options.now) {
            options.log.warn(&format!(
                "job `{name}`: run {} is marked running (pid {}, since {}); \
                 unless it ends first, it is taken for interrupted after {}",
                running.id,
                running.holder(),
                running.started_at.to_rfc3339(),
                running.deadline.to_rfc3339()
            ));
            continue;
        }
        let record = match local.records.iter().find(|r| r.id == running.id) {
            Some(record) => record.clone(),
            None => {
                let record = running.interrupted(options.now);
                options.log.warn(&format!(
                    "job `{name}`: run {} (pid {}) was interrupted before it recorded its outcome; \
                     recorded it as failed, and what it left goes with the cleanup after this run",
                    running.id,
                    running.holder()
                ));
                if let Err(error) = history::append(state, &record) {
                    options.log.warn(&format!(
                        "cannot record the interrupted run in {}: {error}",
                        state.history().display()
                    ));
                }
                record
            }
        };
        let refused = remote::publish(config, &Stored::Finished(record)).await;
        warn_unpublished(name, &running.id, &refused, &options.log);
    }
}

/// When the lock's last holder was a backup run that left no record (it was
/// killed), records it as interrupted: its leftovers then go at once, with
/// the tidy-up after this run, as those of any failed run.
fn record_interrupted(
    state: &StateDir,
    job: &str,
    previous: &Holder,
    now: DateTime<Utc>,
    log: &Log,
) {
    let Some(id) = &previous.run else { return };
    let recorded = match history::read(state, Some(job)) {
        Ok(history) => history.records.iter().any(|record| &record.id == id),
        // Unknown: better a cleanup that waits for the grace period.
        Err(_) => true,
    };
    if recorded {
        return;
    }
    let started_at = crate::destinations::id_time(id).unwrap_or(now);
    let reason = previous
        .reason
        .as_deref()
        .and_then(|reason| serde_json::from_value(serde_json::Value::from(reason)).ok())
        .unwrap_or(crate::manifest::Reason::Manual);
    let record = RunRecord::interrupted(job, id, &previous.pid, reason, started_at, now);
    log.warn(&format!(
        "job `{job}`: run {id} (pid {}) was interrupted before it recorded its outcome; \
         recorded it as failed, and what it left goes with the cleanup after this run",
        previous.pid
    ));
    if let Err(error) = history::append(state, &record) {
        log.warn(&format!(
            "cannot record the interrupted run in {}: {error}",
            state.history().display()
        ));
    }
}

/// The engine's options for a backup run of `job`; once the run's ID is
/// picked, it is noted in the job's lock and, with `settings.state =
/// "destinations"`, the run is marked running at the destinations (one
/// that does not take the mark is not written to: a run killed there
/// would leave data that no record accounts for).
fn backup_options(
    config: &Config,
    job: &Job,
    options: &RunOptions,
    store: Option<Store>,
    lock: &Lock,
) -> BackupOptions {
    let log = options.log.clone();
    let reason = serde_json::to_value(options.reason)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut note = lock.run_note();
    let path = lock.path.display().to_string();
    let shared = (config.settings.state == StateKeeping::Destinations)
        .then(|| (config.clone(), job.clone(), options.reason, options.now));
    let on_id: OnId = Box::new(move |id: String| {
        match &mut note {
            Ok(note) => {
                if let Err(error) = note.record(&id, &reason) {
                    log.warn(&format!("cannot note run {id} in its lock file: {error}"));
                }
            }
            Err(error) => log.warn(&format!("cannot note the run in {path}: {error}")),
        }
        Box::pin(async move {
            let Some((config, job, reason, now)) = shared else {
                return BTreeMap::new();
            };
            let host = config
                .host
                .clone()
                .or_else(crate::state::host_name)
                .unwrap_or_else(|| "unknown".to_owned());
            let running = Running::new(&job, &id, reason, now, &host, std::process::id());
            remote::publish(&config, &Stored::Running(running))
                .await
                .into_iter()
                .map(|(destination, why)| {
                    let why = format!(
                        "cannot mark the run running there (settings.state = \"destinations\"), \
                         so nothing of it is written there: {why}"
                    );
                    (destination, why)
                })
                .collect()
        })
    });
    BackupOptions {
        reason: options.reason,
        now: options.now,
        store,
        log: options.log.clone(),
        on_id: Some(on_id),
    }
}

/// A verify run restores with blocking tools: on its own thread.
async fn verify_on_own_thread(
    config: &Config,
    job: &Job,
    options: &RunOptions,
) -> Result<RunRecord, RunError> {
    let (config, job, options) = (config.clone(), job.clone(), options.clone());
    let runtime = tokio::runtime::Handle::current();
    let job_name = job.name.to_string();
    tokio::task::spawn_blocking(move || {
        let verify_options = VerifyOptions {
            reason: options.reason,
            now: options.now,
            identity: options.identity.as_deref(),
            log: options.log.clone(),
            restore_command: super::restore::restore_command(&config, verified_job(&job)),
        };
        verify::verify(&runtime, &config, &job, &verify_options)
    })
    .await
    .map_err(|e| RunError::VerifyThread(job_name, e.to_string()))
}

/// What `cairn run` did after the run: the cleanups and prunes, and what
/// went wrong with them.
#[derive(Debug, Default)]
pub struct Tidied {
    pub done: Vec<Action>,
    pub errors: Vec<String>,
}

/// Why the tidy-up after a run could not be planned or applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TidyError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] crate::apply::ApplyError),
}

/// What the tidy-up after a run removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tidy {
    /// After a failed run: only what failed runs left behind.
    Cleanup,
    /// After a good run: that, and the artifacts outside retention
    /// (`force`: even when the newest run at a destination failed).
    CleanupAndPrune { force: bool },
}

/// After a run, with the same planner and executor as `apply`: cleans up
/// what failed runs of the job left at its destinations (data without a
/// manifest, unfinished uploads) and, with [`Tidy::CleanupAndPrune`],
/// prunes the artifacts outside retention.
pub async fn tidy(
    config: &Config,
    config_digest: String,
    host: &Host,
    job: &str,
    scope: Tidy,
    options: &RunOptions,
) -> Result<Tidied, TidyError> {
    let (prune, force_prune) = match scope {
        Tidy::Cleanup => (false, false),
        Tidy::CleanupAndPrune { force } => (true, force),
    };
    let now = options.now;
    let targets = [Target::Address(Address::Job(job.to_owned()))];
    let plan_options = PlanOptions {
        targets: &targets,
        now,
        verbose: false,
        force_prune,
    };
    let mut plan = plan::plan(config, config_digest, host, &plan_options).await?;
    plan.actions.retain(|a| match a.kind() {
        ActionKind::Cleanup => true,
        ActionKind::Prune => prune,
        _ => false,
    });
    if plan.actions.is_empty() {
        return Ok(Tidied::default());
    }
    let outcome = super::apply::execute(&plan, config, host, 1, now, &options.log).await?;
    Ok(Tidied {
        done: plan.actions,
        errors: outcome.errors,
    })
}

/// Whether `record` is a run that stored everything everywhere.
pub fn succeeded(record: &RunRecord) -> bool {
    record.outcome == Outcome::Success && record.destinations.values().all(|d| d.error.is_none())
}

/// The backup job a verify run restores: a verify job's `verifies`, or the
/// backup job itself.
fn verified_job(job: &crate::config::model::Job) -> &str {
    match &job.kind {
        JobKind::Verify(verify) => verify.verifies.as_str(),
        JobKind::Backup(_) => job.name.as_str(),
    }
}
