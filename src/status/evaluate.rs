//! The rules of `cairn status` (documented in the module above): a pure
//! function of the jobs, the listings, the history and the time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::runs::{
    destination_errors, failed, failure_detail, last_verify, newest, outcome, verify_detail,
};
use super::{
    DestinationStatus, JobStatus, LastFailure, LastRun, Newest, Problem, Report, State, Success,
    WalStatus,
};
use crate::config::model::{Backup, Config, Job, JobKind};
use crate::destinations::{Found, FoundState, Listing};
use crate::format::age;
use crate::history::{Outcome, RunRecord};
use crate::manifest::Reason;
use crate::wal::Archives;

/// How long after a scheduled time a run of a job without a `timeout` may
/// still be writing its artifact.
const DEFAULT_GRACE_HOURS: i64 = 1;

mod archive;

/// The status of every job of `config` at `now`. `archives` holds the WAL
/// archives of basebackup jobs.
pub fn evaluate(
    config: &Config,
    listings: &BTreeMap<String, Result<Listing, String>>,
    archives: &Archives,
    records: &[RunRecord],
    now: DateTime<Utc>,
) -> Report {
    evaluate_jobs(
        config.host_jobs(),
        config.timezone,
        listings,
        archives,
        records,
        now,
    )
}

/// The status of `jobs`, with schedules read in `timezone`.
pub fn evaluate_jobs<'a>(
    jobs: impl IntoIterator<Item = &'a Job>,
    timezone: Tz,
    listings: &BTreeMap<String, Result<Listing, String>>,
    archives: &Archives,
    records: &[RunRecord],
    now: DateTime<Utc>,
) -> Report {
    let mut jobs: Vec<JobStatus> = jobs
        .into_iter()
        .map(|job| match &job.kind {
            JobKind::Backup(backup) => backup_job(
                job,
                backup,
                timezone,
                listings,
                archives.get(job.name.as_str()),
                records,
                now,
            ),
            JobKind::Verify(verify) => {
                verify_job(job, verify.verifies.as_str(), timezone, records, now)
            }
        })
        .collect();
    jobs.sort_by(|a, b| a.job.cmp(&b.job));
    Report {
        now,
        timezone,
        state: jobs.iter().map(|j| j.state).max().unwrap_or(State::Ok),
        jobs,
    }
}

fn backup_job(
    job: &Job,
    backup: &Backup,
    timezone: Tz,
    listings: &BTreeMap<String, Result<Listing, String>>,
    archive: Option<&BTreeMap<String, Result<Vec<crate::destinations::WalEntry>, String>>>,
    records: &[RunRecord],
    now: DateTime<Utc>,
) -> JobStatus {
    let name = job.name.as_str();
    let runs: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.job == name && r.verify.is_none() && r.reason != Reason::Safety)
        .collect();
    let last_run = newest(&runs);
    let destinations: Vec<DestinationStatus> = backup
        .to
        .iter()
        .map(|destination| destination_status(destination.as_str(), name, listings, last_run))
        .collect();
    let newest_good = destinations
        .iter()
        .filter_map(|d| d.newest.clone())
        .max_by_key(|n| n.time);
    let verifies: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.verify.as_ref().is_some_and(|v| v.job == name))
        .collect();
    let last_verify = newest(&verifies);

    let mut problems = Vec::new();
    let readable: Vec<&str> = destinations
        .iter()
        .filter(|d| d.readable())
        .map(|d| d.destination.as_str())
        .collect();
    match &newest_good {
        // With a WAL archive, the archive meets the rpo (see `archive`).
        Some(newest) if archive.is_none() => {
            let old = now - newest.time;
            if let Some(rpo) = job.rpo.filter(|rpo| old > rpo.to_chrono()) {
                problems.push(stale(critical(format!(
                    "newest good artifact is {} old, beyond its rpo of {rpo}",
                    age(old)
                ))));
            }
        }
        Some(_) => {}
        None if !readable.is_empty() => problems.push(stale(critical(if readable.len() == 1 {
            format!("no good artifact at `{}`", readable[0])
        } else {
            format!("no good artifact at any of `{}`", readable.join("`, `"))
        }))),
        None => {}
    }
    if let Some(run) = last_run.filter(|r| failed(r)) {
        problems.push(critical(format!(
            "last run {} failed{}",
            run.id,
            failure_detail(run)
        )));
    }
    if let Some(verify) = last_verify.filter(|r| failed(r)) {
        problems.push(critical(format!(
            "last verify {} failed{}",
            verify.id,
            verify_detail(verify)
        )));
    }
    for destination in &destinations {
        if let Some(error) = &destination.error {
            problems.push(Problem {
                state: State::Unknown,
                message: format!(
                    "destination `{}` cannot be read: {error}",
                    destination.destination
                ),
                stale: false,
            });
        }
    }
    if let Some(newest) = &newest_good {
        if let Some(scheduled) = missed_schedule(job, timezone, now, newest.time) {
            problems.push(stale(warning(format!(
                "missed its run scheduled for {}: newest good artifact is {} old",
                scheduled.format("%Y-%m-%d %H:%M %Z"),
                age(now - newest.time)
            ))));
        }
    }
    let wal = archive.map(|archive| archive::evaluate(job, archive, listings, now, &mut problems));
    let mut ok_message = newest_good
        .as_ref()
        .map(|n| format!("newest good artifact is {} old", age(now - n.time)))
        .unwrap_or_default();
    if let Some((_, time)) = wal.as_ref().and_then(|wal| wal.newest.as_ref()) {
        ok_message.push_str(&format!(
            "; newest archived WAL is {} old",
            age(now - *time)
        ));
    }
    let success_without_history = newest_good_success(&newest_good, listings);
    finish(
        job,
        None,
        problems,
        ok_message,
        timezone,
        now,
        JobFacts {
            success_without_history,
            newest: newest_good,
            runs: &runs,
            last_verify,
            destinations,
            wal,
        },
    )
}

fn verify_job(
    job: &Job,
    verifies: &str,
    timezone: Tz,
    records: &[RunRecord],
    now: DateTime<Utc>,
) -> JobStatus {
    let runs: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.job == job.name.as_str() && r.verify.is_some() && r.reason != Reason::Safety)
        .collect();
    let last_verify = newest(&runs);
    let mut problems = Vec::new();
    let mut ok_message = String::new();
    match last_verify {
        None => problems.push(stale(warning("has never run".to_owned()))),
        Some(verify) => {
            if failed(verify) {
                problems.push(critical(format!(
                    "last verify {} failed{}",
                    verify.id,
                    verify_detail(verify)
                )));
            }
            if let Some(scheduled) = missed_schedule(job, timezone, now, verify.started_at) {
                problems.push(stale(warning(format!(
                    "missed its run scheduled for {}: last verify is {} old",
                    scheduled.format("%Y-%m-%d %H:%M %Z"),
                    age(now - verify.started_at)
                ))));
            }
            ok_message = format!("last verify passed {} ago", age(now - verify.started_at));
        }
    }
    finish(
        job,
        Some(verifies.to_owned()),
        problems,
        ok_message,
        timezone,
        now,
        JobFacts {
            newest: None,
            success_without_history: None,
            runs: &runs,
            last_verify,
            destinations: Vec::new(),
            wal: None,
        },
    )
}

/// What both kinds of job report beyond their problems.
struct JobFacts<'a> {
    newest: Option<Newest>,
    /// The last success when no run in the history succeeded.
    success_without_history: Option<Success>,
    runs: &'a [&'a RunRecord],
    last_verify: Option<&'a RunRecord>,
    destinations: Vec<DestinationStatus>,
    wal: Option<WalStatus>,
}

fn finish(
    job: &Job,
    verifies: Option<String>,
    mut problems: Vec<Problem>,
    ok_message: String,
    timezone: Tz,
    now: DateTime<Utc>,
    facts: JobFacts<'_>,
) -> JobStatus {
    // Stable: problems of one state keep the order they were found in.
    problems.sort_by_key(|p| std::cmp::Reverse(p.state));
    let state = problems.first().map_or(State::Ok, |p| p.state);
    let message = problems.first().map_or(ok_message, |p| p.message.clone());
    let last_run = newest(facts.runs);
    let consecutive_failures = {
        let mut runs = facts.runs.to_vec();
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        runs.iter().take_while(|r| failed(r)).count() as u64
    };
    JobStatus {
        job: job.name.to_string(),
        verifies,
        state,
        problems,
        message,
        schedule: job.schedule.cron.source().to_owned(),
        next_run: job.schedule.cron.next_after(&now.with_timezone(&timezone)),
        rpo: job.rpo,
        newest: facts.newest,
        last_success: facts
            .runs
            .iter()
            .filter(|r| !failed(r))
            .max_by_key(|r| r.started_at)
            .map(|r| Success {
                id: r.id.clone(),
                started_at: r.started_at,
                finished_at: r.finished_at,
            })
            .or(facts.success_without_history),
        last_run: last_run.map(|r| LastRun {
            id: r.id.clone(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: outcome(r),
            error: r.error.clone(),
            failed_destinations: destination_errors(r),
            stored_bytes: r.stored_size,
        }),
        last_failure: facts
            .runs
            .iter()
            .filter(|r| failed(r))
            .max_by_key(|r| r.started_at)
            .map(|r| LastFailure {
                id: r.id.clone(),
                started_at: r.started_at,
                error: r.error.clone().or_else(|| {
                    let errors = destination_errors(r);
                    (!errors.is_empty()).then(|| {
                        errors
                            .iter()
                            .map(|(d, e)| format!("{d}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                }),
            }),
        consecutive_failures,
        failures_total: facts.runs.iter().filter(|r| failed(r)).count() as u64,
        last_verify: facts.last_verify.map(last_verify),
        destinations: facts.destinations,
        wal: facts.wal,
        hosts: job.hosts.clone(),
    }
}

fn destination_status(
    destination: &str,
    job: &str,
    listings: &BTreeMap<String, Result<Listing, String>>,
    last_run: Option<&RunRecord>,
) -> DestinationStatus {
    let last_outcome = last_run
        .and_then(|r| r.destinations.get(destination))
        .map(|d| d.outcome);
    let listing = match listings.get(destination) {
        Some(Ok(listing)) => listing,
        Some(Err(error)) => return unreadable(destination, error.clone(), last_outcome),
        None => return unreadable(destination, "it was not listed".to_owned(), last_outcome),
    };
    let good: Vec<&Found> = listing
        .artifacts
        .iter()
        .filter(|found| found.job == job && is_good(found))
        .collect();
    DestinationStatus {
        destination: destination.to_owned(),
        error: None,
        artifacts: good.len() as u64,
        stored_bytes: good.iter().map(|f| f.stored_size).sum(),
        newest: good.iter().max_by_key(|f| f.time).map(|f| Newest {
            destination: destination.to_owned(),
            id: f.id.clone(),
            time: f.time,
        }),
        last_outcome,
    }
}

fn unreadable(
    destination: &str,
    error: String,
    last_outcome: Option<Outcome>,
) -> DestinationStatus {
    DestinationStatus {
        destination: destination.to_owned(),
        error: Some(error),
        artifacts: 0,
        stored_bytes: 0,
        newest: None,
        last_outcome,
    }
}

/// A backup: a manifest, and not a safety backup.
fn is_good(found: &Found) -> bool {
    matches!(&found.state, FoundState::Complete(manifest) if manifest.reason != Reason::Safety)
}

/// With no successful run in the history, the newest good artifact is the
/// last success (its manifest has the finish time).
fn newest_good_success(
    newest: &Option<Newest>,
    listings: &BTreeMap<String, Result<Listing, String>>,
) -> Option<Success> {
    let newest = newest.as_ref()?;
    let Ok(listing) = listings.get(&newest.destination)? else {
        return None;
    };
    let manifest = listing
        .artifacts
        .iter()
        .find(|f| f.id == newest.id && is_good(f))?
        .manifest()?;
    Some(Success {
        id: newest.id.clone(),
        started_at: manifest.started_at,
        finished_at: manifest.finished_at,
    })
}

/// The scheduled time a job missed, if any: the latest time its schedule
/// fired at or before `now - jitter - grace`, when that is after `last`.
fn missed_schedule(
    job: &Job,
    timezone: Tz,
    now: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Option<DateTime<Tz>> {
    let grace = job
        .timeout
        .map(|t| t.to_chrono())
        .unwrap_or_else(|| chrono::Duration::hours(DEFAULT_GRACE_HOURS));
    let deadline = now - job.schedule.jitter.to_chrono() - grace;
    let scheduled = job
        .schedule
        .cron
        .latest_at_or_before(&deadline.with_timezone(&timezone))?;
    (scheduled.with_timezone(&Utc) > last).then_some(scheduled)
}

fn critical(message: String) -> Problem {
    Problem {
        state: State::Critical,
        message,
        stale: false,
    }
}

fn warning(message: String) -> Problem {
    Problem {
        state: State::Warning,
        message,
        stale: false,
    }
}

/// Marks a freshness problem.
fn stale(problem: Problem) -> Problem {
    Problem {
        stale: true,
        ..problem
    }
}

#[cfg(test)]
mod tests;
