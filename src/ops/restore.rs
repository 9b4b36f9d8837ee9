//! `cairn restore`: one job's artifact, or every backup job's newest in
//! graph order (`--all`); a forced restore first takes a safety backup of
//! the target through a run of the job (SPEC §8).

use crate::config::model::{Config, Store};
use crate::history::Outcome;
use crate::manifest::Reason;
use crate::restore::{self, RestoreError, RestoreOptions};
use crate::state::Host;

use super::run::{lock_job, record_run_locked, RunOptions, Task};
use crate::lock::Lock;

/// Restores the artifact `options` selects of job `job`; returns the
/// target's notes. Holds the job's lock throughout, so that no run of the
/// job dumps a half-restored store, and no restore starts while one runs.
pub fn restore_job(
    runtime: &tokio::runtime::Handle,
    config: &Config,
    host: &Host,
    job: &str,
    options: &RestoreOptions<'_>,
) -> Result<Vec<String>, RestoreError> {
    config.job(job)?;
    let state = host.state_dir(&config.settings.state_dir);
    let lock = lock_job(&state, job, options.now, &options.log)?;
    let mut options = options.clone();
    options.recovery.restore_command = restore_command(config, job);
    let options = &options;
    let mut safety_backup =
        |store: Store| take_safety_backup(runtime, config, host, job, store, options, &lock);
    restore::restore(runtime, config, job, options, &mut safety_backup)
}

/// The `restore_command` a restored base backup of `job` recovers with:
/// this cairn's `wal fetch`, with the same configuration and `--env`.
pub(super) fn restore_command(config: &Config, job: &str) -> String {
    let binary = std::env::current_exe().unwrap_or_else(|_| config.settings.binary.clone());
    let mut command = format!(
        "{} wal fetch %f %p --job {job} --config {}",
        shell_word(&binary.display().to_string()),
        shell_word(&config.path.display().to_string())
    );
    if let Some(env) = &config.env {
        command.push_str(&format!(" --env {}", shell_word(env)));
    }
    command
}

/// `word` as one word for `sh`: quoted when it needs to be.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Takes a safety backup of what a forced restore is about to replace: a run
/// of the job with its destinations and settings, dumping `store` (the
/// target), marked `reason = "safety"`.
fn take_safety_backup(
    runtime: &tokio::runtime::Handle,
    config: &Config,
    host: &Host,
    job: &str,
    store: Store,
    options: &RestoreOptions<'_>,
    lock: &Lock,
) -> Result<(), RestoreError> {
    let run_options = RunOptions {
        reason: Reason::Safety,
        now: options.now,
        identity: None,
        log: options.log.clone(),
    };
    let record = runtime
        .block_on(record_run_locked(
            config,
            host,
            job,
            Task::SafetyBackup(store),
            &run_options,
            lock,
        ))
        .map_err(|e| RestoreError::SafetyBackupStart(Box::new(e)))?;
    if record.outcome == Outcome::Failed {
        return Err(RestoreError::refused(
            format!(
                "the safety backup of the target failed ({}); nothing was restored and the target was not touched",
                record.failure_reasons().join("; ")
            ),
            "fix the cause and rerun; a forced restore never replaces data it could not back up first",
        ));
    }
    options.log.progress(&format!(
        "safety backup {} written to {} (kept {} days, outside retention)",
        record.id,
        record
            .destinations
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        crate::plan::jobs::SAFETY_DAYS
    ));
    Ok(())
}

/// Every backup job, each after the jobs it waits for (SPEC §3), for
/// `restore --all`; ties in name order.
pub fn backup_jobs_in_order(config: &Config) -> Vec<String> {
    config
        .job_order()
        .into_iter()
        .filter(|name| config.job(name).is_ok_and(|job| job.backup().is_some()))
        .collect()
}
