//! The job part of a plan: which jobs are due (SPEC §4), which artifacts
//! fall outside their retention (SPEC §6), and which incomplete artifacts
//! are old enough to clean up. A pure function of the configuration, the
//! observed state and the time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::action::{Action, Operation};
use super::{observed_digest, Observed, PlanOptions};
use crate::config::address::{Address, ArtifactAddress};
use crate::config::model::{Config, Job, JobKind};
use crate::destinations::{Found, FoundState, Listing};
use crate::history::{Outcome, RunRecord};
use crate::manifest::Reason;
use crate::retention;

/// How long data without a manifest may sit before cleanup removes it: a
/// run in progress is never this old.
pub const CLEANUP_GRACE_HOURS: i64 = 24;
/// How long safety backups taken by `restore --force` are kept.
pub const SAFETY_DAYS: i64 = 7;

pub struct JobPlan {
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
}

/// What is known about one job's runs.
struct JobState<'a> {
    /// The start of the newest successful run, from the history or else the
    /// newest complete artifact.
    last_success: Option<DateTime<Utc>>,
    /// The outcome of the newest run at each destination.
    last_at: BTreeMap<String, Outcome>,
    /// The PID of a run in progress.
    running: Option<&'a str>,
}

/// The artifacts of each (destination, job), found once so that planning
/// stays near-linear in the number of artifacts.
type ByJob<'a> = BTreeMap<(&'a str, &'a str), Vec<&'a Found>>;

fn index_artifacts(listings: &BTreeMap<String, Result<Listing, String>>) -> ByJob<'_> {
    let mut by_job: ByJob = BTreeMap::new();
    for (destination, listing) in listings {
        let Ok(listing) = listing else { continue };
        for found in &listing.artifacts {
            by_job
                .entry((destination.as_str(), found.job.as_str()))
                .or_default()
                .push(found);
        }
    }
    by_job
}

fn job_state<'a>(
    job: &str,
    records: &[&RunRecord],
    artifacts: &ByJob<'_>,
    observed: &'a Observed,
) -> JobState<'a> {
    let mut last_success = records
        .iter()
        .filter(|r| r.outcome == Outcome::Success && r.reason != Reason::Safety)
        .map(|r| r.started_at)
        .max();
    if last_success.is_none() {
        // No history (a new state directory): the artifacts tell.
        last_success = artifacts
            .iter()
            .filter(|((_, j), _)| *j == job)
            .flat_map(|(_, found)| found)
            .filter(|a| a.manifest().is_some_and(|m| m.reason != Reason::Safety))
            .map(|a| a.time)
            .max();
    }
    let mut last_at = BTreeMap::new();
    for record in records.iter().filter(|r| r.reason != Reason::Safety) {
        for (destination, outcome) in &record.destinations {
            last_at.insert(destination.clone(), outcome.outcome);
        }
    }
    let elsewhere = observed
        .running_elsewhere
        .get(job)
        .and_then(|runs| runs.first())
        .map(|(_, holder)| holder.as_str());
    JobState {
        last_success,
        last_at,
        running: observed.running.get(job).map(String::as_str).or(elsewhere),
    }
}

/// Plans runs, prunes and cleanups for every job.
pub fn plan(config: &Config, observed: &Observed, options: &PlanOptions<'_>) -> JobPlan {
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let records: &[RunRecord] = match &observed.history {
        Ok(history) => {
            notes.extend(history.damaged.iter().map(ToString::to_string));
            &history.records
        }
        Err(unreadable) => {
            notes.push(unreadable.clone());
            &[]
        }
    };
    let listings = &observed.listings;
    let artifacts = index_artifacts(listings);
    let mut records_by_job: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for record in records {
        records_by_job
            .entry(record.job.as_str())
            .or_default()
            .push(record);
    }
    for (destination, listing) in listings {
        if let Err(error) = listing {
            notes.push(format!("destination `{destination}` cannot be read, so nothing is pruned or cleaned up there: {error}"));
        }
    }
    notes.extend(crate::inventory::ignored(listings));
    notes.extend(observed.records_ignored.iter().cloned());

    let mut will_run = BTreeMap::new();
    for job in config.host_jobs() {
        let job_records = records_by_job
            .get(job.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let state = job_state(job.name.as_str(), job_records, &artifacts, observed);
        if let Some(pid) = &state.running {
            notes.push(format!(
                "{} is running (pid {pid}); it is not started again and not pruned until it ends",
                Address::Job(job.name.to_string())
            ));
            continue;
        }
        if let Some(reason) = due(job, options.now, config, state.last_success) {
            actions.push(Action {
                operation: Operation::Run {
                    job: job.name.to_string(),
                },
                reason,
                observed: state
                    .last_success
                    .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
            });
            will_run.insert(job.name.to_string(), true);
        }
        prune(
            config,
            observed,
            job,
            &state,
            &artifacts,
            options,
            will_run.contains_key(job.name.as_str()),
            &mut actions,
            &mut notes,
        );
    }
    notes.extend(last_verified(config, records));
    for (job, settings) in &observed.server_settings {
        let rpo = config
            .jobs
            .iter()
            .find(|(name, _)| name.as_str() == job)
            .and_then(|(_, j)| j.rpo);
        notes.extend(super::wal::settings_notes(job, settings, rpo));
    }
    cleanup(records, observed, options.now, &mut actions);
    JobPlan { actions, notes }
}

/// When each backup job that has verify jobs (or was ever verified) was
/// last verified, and how it went.
fn last_verified(config: &Config, records: &[RunRecord]) -> Vec<String> {
    let mut notes = Vec::new();
    for job in config.host_jobs().filter(|j| j.backup().is_some()) {
        let verifiers: Vec<&str> = config
            .jobs
            .values()
            .filter(|v| matches!(&v.kind, JobKind::Verify(verify) if verify.verifies == job.name))
            .map(|v| v.name.as_str())
            .collect();
        let last = records
            .iter()
            .filter(|r| {
                r.verify
                    .as_ref()
                    .is_some_and(|v| v.job == job.name.as_str())
            })
            .max_by_key(|r| r.started_at);
        let by = |name: &str| {
            if name == job.name.as_str() {
                "`cairn verify`".to_owned()
            } else {
                format!("verify job `{name}`")
            }
        };
        match last {
            Some(record) => notes.push(format!(
                "{} was last verified {} ({}, artifact {}, by {})",
                Address::Job(job.name.to_string()),
                record.started_at.format("%Y-%m-%d %H:%M UTC"),
                if record.outcome == Outcome::Success {
                    "passed"
                } else {
                    "FAILED"
                },
                record
                    .verify
                    .as_ref()
                    .and_then(|v| v.artifact.as_deref())
                    .unwrap_or("none found"),
                by(&record.job)
            )),
            None if !verifiers.is_empty() => notes.push(format!(
                "{} has never been verified (verify job `{}`)",
                Address::Job(job.name.to_string()),
                verifiers.join("`, `")
            )),
            None => {}
        }
    }
    notes
}

/// Why a job is due at `now`, or `None`. A job is due when it never ran, or
/// when its most recent scheduled time plus its jitter has passed and no
/// successful run started at or after that time.
fn due(
    job: &Job,
    now: DateTime<Utc>,
    config: &Config,
    last_success: Option<DateTime<Utc>>,
) -> Option<String> {
    let Some(last) = last_success else {
        return Some("never ran".to_owned());
    };
    let local_now = now.with_timezone(&config.timezone);
    let scheduled = job.schedule.cron.latest_at_or_before(&local_now)?;
    let scheduled_utc = scheduled.with_timezone(&Utc);
    if scheduled_utc + job.schedule.jitter.to_chrono() > now || last >= scheduled_utc {
        return None;
    }
    Some(format!(
        "last success {} ago; due since {}",
        crate::format::age(now - last),
        scheduled.format("%Y-%m-%d %H:%M %Z")
    ))
}

fn artifact_address(destination: &str, found: &Found) -> ArtifactAddress {
    ArtifactAddress {
        destination: destination.to_owned(),
        job: found.job.clone(),
        id: found.id.clone(),
    }
}

/// What the plan records of an artifact, so that apply can tell it changed.
pub fn artifact_digest(found: &Found) -> String {
    match &found.state {
        // What identifies this artifact's content: its streams' checksums
        // and its finish time (cheaper than hashing the whole manifest,
        // which matters at 100,000 artifacts).
        FoundState::Complete(manifest) => {
            let mut identity = format!("{}\n{}", found.id, manifest.finished_at.to_rfc3339());
            for stream in &manifest.streams {
                identity.push('\n');
                identity.push_str(&stream.sha256);
            }
            observed_digest(Some(&identity))
        }
        _ => observed_digest(Some(&found.objects.join("\n"))),
    }
}

/// The prunes (and, with --verbose, the keeps) of one job at each destination.
#[allow(clippy::too_many_arguments)]
fn prune(
    config: &Config,
    observed: &Observed,
    job: &Job,
    state: &JobState,
    by_job: &ByJob<'_>,
    options: &PlanOptions<'_>,
    runs_now: bool,
    actions: &mut Vec<Action>,
    notes: &mut Vec<String>,
) {
    let Some(backup) = job.backup() else { return };
    // The records at the destinations are the history (settings.state =
    // "destinations"): with one unreadable, the latest run at each
    // destination is unknown.
    let unknown = backup.to.iter().find_map(|d| {
        let why = observed.records_unreadable.get(d.as_str())?;
        Some((d, why))
    });
    if let Some((destination, why)) = unknown.filter(|_| !options.force_prune) {
        notes.push(format!(
            "nothing of job `{}` is pruned: its run records at `{destination}` cannot be read, so its latest run at each destination is unknown (apply --force-prune overrides): {why}",
            job.name
        ));
        return;
    }
    for destination in &backup.to {
        let artifacts: Vec<&Found> = by_job
            .get(&(destination.as_str(), job.name.as_str()))
            .cloned()
            .unwrap_or_default();
        // Safety backups are outside retention; they go after a week.
        for found in artifacts
            .iter()
            .filter(|a| a.manifest().is_some_and(|m| m.reason == Reason::Safety))
        {
            if options.now - found.time > chrono::Duration::days(SAFETY_DAYS) {
                actions.push(Action {
                    operation: Operation::Prune {
                        artifact: artifact_address(destination.as_str(), found),
                        after_run: false,
                    },
                    reason: format!("safety backup older than {SAFETY_DAYS}d"),
                    observed: artifact_digest(found),
                });
            }
        }
        let Some(policy) = backup.retention.get(destination) else {
            continue;
        };
        let last_failed = state.last_at.get(destination.as_str()) == Some(&Outcome::Failed);
        if last_failed && !runs_now && !options.force_prune {
            notes.push(format!(
                "nothing of job `{}` is pruned at `{destination}`: its latest run failed there (apply --force-prune overrides)",
                job.name
            ));
            continue;
        }
        if last_failed && runs_now && !options.force_prune {
            notes.push(format!(
                "job `{}`'s latest run failed at `{destination}`: nothing is pruned there unless this run lands",
                job.name
            ));
        }
        let counted: Vec<&Found> = artifacts
            .iter()
            .copied()
            .filter(|a| a.manifest().is_some_and(|m| m.reason != Reason::Safety))
            .collect();
        // An artifact dated after now means the clock went backwards (or
        // another host's clock is ahead): the run this plan makes would sort
        // as the oldest and go first. Retention waits for the clock.
        if let Some(ahead) = counted
            .iter()
            .filter(|a| a.time > options.now)
            .max_by_key(|a| a.time)
        {
            notes.push(format!(
                "nothing of job `{}` is pruned at `{destination}`: artifact {} is dated after now ({}), so the clock may have gone backwards; retention resumes once the clock passes {}",
                job.name,
                ahead.id,
                options.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ahead.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ));
            continue;
        }
        // The run this plan makes counts as the newest artifact: prunes are
        // computed as of after it lands, and wait for it.
        let mut times: Vec<DateTime<Utc>> = counted.iter().map(|a| a.time).collect();
        let pending = runs_now.then(|| options.now.with_nanosecond_zero());
        if let Some(pending) = pending {
            times.push(pending);
        }
        let decisions = retention::apply(&policy.policy, &times, config.timezone);
        let newest = times.iter().copied().max();
        let description = retention::describe(&policy.policy);
        for (found, decision) in counted.iter().zip(&decisions) {
            let artifact = artifact_address(destination.as_str(), found);
            let observed = artifact_digest(found);
            if decision.keep || Some(found.time) == newest {
                if options.verbose {
                    let reason = if decision.keep {
                        format!("kept by {}", decision.reasons.join(", "))
                    } else {
                        "kept: the newest good artifact is never pruned".to_owned()
                    };
                    actions.push(Action {
                        operation: Operation::Keep { artifact },
                        reason,
                        observed,
                    });
                }
                continue;
            }
            actions.push(Action {
                operation: Operation::Prune {
                    artifact,
                    after_run: runs_now,
                },
                reason: format!("outside {description}"),
                observed,
            });
        }
        // The WAL archive, before the oldest base backup kept (counting
        // those this plan prunes only after its run lands: the run may fail).
        if let Some(archive) = observed.archives.get(job.name.as_str()) {
            let kept: Vec<&Found> = counted
                .iter()
                .zip(&decisions)
                .filter(|(found, decision)| runs_now || decision.keep || Some(found.time) == newest)
                .map(|(found, _)| *found)
                .collect();
            match archive.get(destination.as_str()) {
                Some(Ok(entries)) => {
                    match super::wal::prune(job.name.as_str(), destination.as_str(), &kept, entries) {
                        Ok(Some(action)) => actions.push(action),
                        Ok(None) => {}
                        Err(note) => notes.push(note),
                    }
                }
                Some(Err(error)) => notes.push(format!(
                    "the WAL archive of job `{}` at `{destination}` cannot be read, so nothing is pruned there: {error}",
                    job.name
                )),
                None => {}
            }
        }
    }
}

trait WithNanosecondZero {
    fn with_nanosecond_zero(self) -> Self;
}

impl WithNanosecondZero for DateTime<Utc> {
    /// Artifact IDs have whole seconds.
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}

/// Cleanups: data without a manifest, and unfinished uploads, older than the
/// grace period, of jobs that are not running now.
fn cleanup(
    records: &[RunRecord],
    observed: &Observed,
    now: DateTime<Utc>,
    actions: &mut Vec<Action>,
) {
    let grace = chrono::Duration::hours(CLEANUP_GRACE_HOURS);
    // A run in the history is over: what it left without a manifest is dead
    // at once (a destination that failed mid-upload), no need to wait.
    let finished: std::collections::BTreeSet<(&str, &str)> = records
        .iter()
        .map(|r| (r.job.as_str(), r.id.as_str()))
        .collect();
    // A run in progress here holds the job's lock; one elsewhere is known
    // by its ID: only its own data waits.
    let running = |job: &str, id: &str| {
        observed.running.contains_key(job)
            || observed
                .running_elsewhere
                .get(job)
                .is_some_and(|runs| runs.iter().any(|(run, _)| run == id))
    };
    let why = |job: &str, id: &str, what: &str| {
        if finished.contains(&(job, id)) {
            Some(format!(
                "{what} left by run {id}, which ended without completing it"
            ))
        } else if let Some(run) = observed.interrupted.get(job).filter(|run| run.id == id) {
            Some(format!(
                "{what} left by run {id}, which was interrupted (pid {} stopped before it recorded its outcome)",
                run.pid
            ))
        } else if crate::destinations::id_time(id).is_some_and(|t| now - t > grace) {
            Some(format!(
                "{what}, older than {CLEANUP_GRACE_HOURS}h: an interrupted run"
            ))
        } else {
            None
        }
    };
    for (destination, listing) in &observed.listings {
        let Ok(listing) = listing else { continue };
        for found in &listing.artifacts {
            if !matches!(found.state, FoundState::Incomplete) || running(&found.job, &found.id) {
                continue;
            }
            let Some(reason) = why(&found.job, &found.id, "data without a manifest") else {
                continue;
            };
            actions.push(Action {
                operation: Operation::Cleanup {
                    artifact: artifact_address(destination, found),
                },
                reason,
                observed: artifact_digest(found),
            });
        }
        for upload in &listing.uploads {
            let listed = listing.artifacts.iter().any(|a| {
                a.job == upload.job
                    && a.id == upload.id
                    && matches!(a.state, FoundState::Incomplete)
            });
            if listed || running(&upload.job, &upload.id) {
                continue;
            }
            let Some(reason) = why(&upload.job, &upload.id, "an unfinished multipart upload")
            else {
                continue;
            };
            let artifact = ArtifactAddress {
                destination: destination.clone(),
                job: upload.job.clone(),
                id: upload.id.clone(),
            };
            // One cleanup per artifact, however many uploads it left.
            if actions.iter().any(|action| {
                matches!(&action.operation, Operation::Cleanup { artifact: other } if *other == artifact)
            }) {
                continue;
            }
            actions.push(Action {
                operation: Operation::Cleanup { artifact },
                reason,
                observed: observed_digest(Some(&upload.upload_id)),
            });
        }
    }
}
