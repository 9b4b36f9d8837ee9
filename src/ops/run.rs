//! Running one job: `cairn run JOB`, `cairn verify JOB`, and every run that
//! `apply` starts. One path for backup and verify jobs alike: the job's
//! lock, the engine (`backup`, or `restore::verify` on its own thread, since
//! restores drive blocking tools), the history, the notifications; then,
//! for `cairn run` of a backup job, the same tidy-up `apply` would do.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::backup::{self, BackupOptions, OnId};
use crate::config::model::{Config, Job, JobKind, Store, UnknownJob};
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
    let record = match (&job.kind, task) {
        (JobKind::Verify(_), _) | (JobKind::Backup(_), Task::Verify) => {
            verify_on_own_thread(config, job, options).await?
        }
        (JobKind::Backup(backup), Task::Declared) => {
            let options = backup_options(options, None, lock);
            backup::run(config, job, backup, options).await
        }
        (JobKind::Backup(backup), Task::SafetyBackup(store)) => {
            let options = backup_options(options, Some(store), lock);
            backup::run(config, job, backup, options).await
        }
    };
    if let Err(error) = history::append(&state, &record) {
        options.log.warn(&format!(
            "cannot record the run in {}: {error}",
            state.history().display()
        ));
    }
    Ok(record)
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

fn backup_options(options: &RunOptions, store: Option<Store>, lock: &Lock) -> BackupOptions {
    let log = options.log.clone();
    let reason = serde_json::to_value(options.reason)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let on_id: OnId = match lock.run_note() {
        Ok(mut note) => Box::new(move |id: &str| {
            if let Err(error) = note.record(id, &reason) {
                log.warn(&format!("cannot note run {id} in its lock file: {error}"));
            }
        }),
        Err(error) => {
            let path = lock.path.display().to_string();
            Box::new(move |_: &str| {
                log.warn(&format!("cannot note the run in {path}: {error}"));
            })
        }
    };
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
