//! `cairn apply` (and `plan`): one apply at a time, a plan made now or a
//! saved one checked against what is there now, then the plan executed
//! with every due job run through [`super::run::run_job`].

use std::path::Path;

use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;

use super::run::{run_job, RunOptions, Task};
use crate::apply::{ApplyError, ApplyOptions, JobRunner, Outcome};
use crate::config::Config;
use crate::history::RunRecord;
use crate::lock::{self, Lock, LockError};
use crate::manifest::Reason;
use crate::output::Log;
use crate::plan::{self, Plan, PlanError, PlanOptions};
use crate::state::Host;

/// Takes the global apply lock `STATE_DIR/apply.lock` (under `--root`).
pub fn lock(config: &Config, host: &Host) -> Result<Lock, LockError> {
    lock::acquire(
        &host.state_dir(&config.settings.state_dir).apply_lock(),
        "another `cairn apply`",
    )
}

/// Why a saved plan cannot be applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SavedPlanError {
    #[error("cannot read the saved plan: {0}")]
    Read(std::io::Error),
    #[error("{path} is not a saved cairn plan: {error}")]
    #[diagnostic(help("pass a file written by `cairn plan -o FILE`"))]
    NotAPlan { path: String, error: String },
    #[error("{path} was saved in plan format {saved}, this cairn reads format {current}")]
    #[diagnostic(help("make a new plan with this cairn"))]
    Format {
        path: String,
        saved: u32,
        current: u32,
    },
    #[error("--target cannot be combined with a saved plan")]
    #[diagnostic(help(
        "targets are part of the saved plan: make a new one with `cairn plan --target ... -o FILE`"
    ))]
    Targeted,
    #[error("the saved plan {path} is stale: {what} changed since it was made")]
    #[diagnostic(help("make a new plan with `cairn plan -o {path}` and review it"))]
    Stale { path: String, what: &'static str },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
}

/// Reads a plan saved with `cairn plan -o FILE`.
pub fn read_saved(file: &Path) -> Result<Plan, SavedPlanError> {
    let text = fs_err::read_to_string(file).map_err(SavedPlanError::Read)?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| SavedPlanError::NotAPlan {
        path: file.display().to_string(),
        error: e.to_string(),
    })?;
    if plan.format_version != plan::FORMAT_VERSION {
        return Err(SavedPlanError::Format {
            path: file.display().to_string(),
            saved: plan.format_version,
            current: plan::FORMAT_VERSION,
        });
    }
    Ok(plan)
}

/// Reads the saved plan `file` and checks that it still holds: made from
/// this configuration (same digest, file and `--env`), and that planning
/// again now yields the same actions on the same things (files on this
/// host, artifacts, run history). Returns the saved plan to execute.
pub async fn check_saved(
    file: &Path,
    config: &Config,
    config_digest: String,
    host: &Host,
    now: DateTime<Utc>,
    force_prune: bool,
) -> Result<Plan, SavedPlanError> {
    let saved = read_saved(file)?;
    let stale = |what| SavedPlanError::Stale {
        path: file.display().to_string(),
        what,
    };
    if saved.config_digest != config_digest
        || saved.config != config.path
        || saved.env != config.env
    {
        return Err(stale("the configuration"));
    }
    let options = PlanOptions {
        targets: &saved.targets,
        now,
        verbose: false,
        force_prune,
    };
    let current = plan::plan(config, config_digest, host, &options).await?;
    if current.fingerprint() != saved.fingerprint()
        || current.root != saved.root
        || !saved.wal_ranges_hold(&current)
    {
        return Err(stale(
            "the files on this host, the artifacts or the run history",
        ));
    }
    Ok(saved)
}

/// Executes `plan`: the files, then the due jobs (each a full run through
/// [`run_job`], up to `parallelism` at once), then the prunes and cleanups.
pub async fn execute(
    plan: &Plan,
    config: &Config,
    host: &Host,
    parallelism: usize,
    now: DateTime<Utc>,
    log: &Log,
) -> Result<Outcome, ApplyError> {
    let runner = Runner {
        config,
        host,
        now,
        log,
    };
    let options = ApplyOptions { parallelism, now };
    crate::apply::apply(plan, config, host, &options, &runner).await
}

/// How apply runs a due job: a scheduled run, notified like any other.
struct Runner<'a> {
    config: &'a Config,
    host: &'a Host,
    now: DateTime<Utc>,
    log: &'a Log,
}

impl JobRunner for Runner<'_> {
    type Error = super::run::RunError;

    fn run<'a>(&'a self, job: &'a str) -> LocalBoxFuture<'a, Result<RunRecord, Self::Error>> {
        let options = RunOptions {
            reason: Reason::Scheduled,
            now: self.now,
            identity: None,
            log: self.log.clone(),
        };
        Box::pin(
            async move { run_job(self.config, self.host, job, Task::Declared, &options).await },
        )
    }
}

/// Where `cairn plan -o FILE` is saved: written atomically, private.
pub fn save(plan: &Plan, out: &Path) -> std::io::Result<()> {
    let saved = serde_json::to_string_pretty(plan).map_err(std::io::Error::other)?;
    crate::atomic::write_file(out, saved.as_bytes(), 0o600)
}
