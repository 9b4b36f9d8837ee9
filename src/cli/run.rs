//! `cairn run JOB`: one job now (a backup, or a verify job's verify), then
//! the cleanups and prunes of that job.

use crate::config::raw::Scheduler;
use crate::history::RunRecord;
use crate::manifest::Reason;
use crate::ops::run::{self as op, RunOptions, Task};

use super::*;

pub(super) fn run(global: &GlobalArgs, job: &str, force_prune: bool) -> miette::Result<ExitStatus> {
    let (config, digest) = load_host_config(global)?;
    if let Ok(found) = config.job(job) {
        if !found.runs_on(config.host.as_deref()) {
            return Err(miette!(
                help = "run it on its host, or pass --host NAME to act as that host",
                "job `{job}` runs on {}, not on host `{}`",
                found.hosts.as_deref().unwrap_or_default().join(", "),
                config.host.as_deref().unwrap_or_default()
            ));
        }
    }
    #[allow(clippy::disallowed_methods)] // The units set it: how the run was started.
    let reason = match std::env::var("CAIRN_REASON").as_deref() {
        Ok("scheduled") => Reason::Scheduled,
        _ => Reason::Manual,
    };
    if reason == Reason::Scheduled && config.settings.scheduler == Scheduler::Kubernetes {
        if let Ok(found) = config.job(job) {
            jitter_sleep(found.schedule.jitter.as_seconds());
        }
    }
    let options = RunOptions {
        reason,
        now: now()?,
        identity: None,
        log: Log::stderr(),
    };
    let host = host(global);
    let runtime = runtime()?;
    // The run is notified inside the op, before anything here that can
    // stop early (a closed stdout): a run that happened is always reported.
    let record = runtime.block_on(op::run_job(&config, &host, job, Task::Declared, &options))?;
    if record.verify.is_some() {
        return verify::report(job, &record);
    }
    let failed = report_errors(job, &record);
    if failed {
        eprintln!(
            "Run {} of job `{job}` failed; earlier backups are untouched and no incomplete artifact counts as a backup.",
            record.id
        );
        // What earlier failed runs left still goes; pruning waits for a
        // good run. A cleanup that fails here is only a warning.
        let tidied = runtime.block_on(op::tidy(
            &config,
            digest,
            &host,
            job,
            op::Tidy::Cleanup,
            &options,
        ));
        match tidied {
            Ok(tidied) => print_tidied(&tidied),
            Err(error) => eprintln!(
                "warning: job `{job}`: cleanup after the run: {:?}",
                miette::Report::new(error)
            ),
        }
        return Ok(ExitStatus::Failure);
    }
    output::print(&format!(
        "Backup {} of job `{job}` complete: {}.\n",
        record.id,
        record.stored_summary()
    ))?;
    let tidied = runtime.block_on(op::tidy(
        &config,
        digest,
        &host,
        job,
        op::Tidy::CleanupAndPrune { force: force_prune },
        &options,
    ))?;
    print_tidied(&tidied);
    Ok(if tidied.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Prints why the run failed, per destination and as a whole; true when it
/// failed anywhere.
fn report_errors(job: &str, record: &RunRecord) -> bool {
    let mut failed = false;
    for (destination, outcome) in &record.destinations {
        if let Some(error) = &outcome.error {
            failed = true;
            eprintln!("error: job `{job}`: destination `{destination}`: {error}");
        }
    }
    if let Some(error) = &record.error {
        failed = true;
        eprintln!("error: job `{job}` failed: {error}");
    }
    failed || !op::succeeded(record)
}

fn print_tidied(tidied: &op::Tidied) {
    for action in &tidied.done {
        let done = match action.kind() {
            crate::plan::ActionKind::Prune => "pruned",
            _ => "cleaned up",
        };
        eprintln!("cairn: {done} {} ({})", action.address(), action.reason);
    }
    for error in &tidied.errors {
        eprintln!("error: {error}");
    }
}

/// A CronJob fires on the minute: the run first waits a random delay up to
/// the job's jitter, as systemd's RandomizedDelaySec and the cron entries'
/// `sleep $(shuf …)` do, so that a fleet's jobs do not all start at once.
fn jitter_sleep(jitter_seconds: u64) {
    if jitter_seconds == 0 {
        return;
    }
    use std::hash::{BuildHasher, Hasher};
    // A fresh RandomState is seeded from the OS: random enough for a delay.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let delay = hasher.finish() % (jitter_seconds + 1);
    eprintln!("Waiting {delay}s (a random delay up to the job's jitter of {jitter_seconds}s).");
    std::thread::sleep(std::time::Duration::from_secs(delay));
}
