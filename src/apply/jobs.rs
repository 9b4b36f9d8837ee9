//! The job part of apply: due jobs run in graph order, independent ones
//! concurrently up to the parallelism; a job's prunes run only after its new
//! artifact landed at that destination; one failed job does not stop the
//! others, but the jobs that run after it are skipped.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{FuturesUnordered, StreamExt};

use super::{ApplyOptions, JobRunner, Outcome};
use crate::config::model::Config;
use crate::destinations::{Destination, Found};
use crate::history::{Outcome as RunOutcome, RunRecord};
use crate::plan::{ActionKind, ArtifactAddress, Operation, Plan};

pub(super) async fn apply<R: JobRunner>(
    plan: &Plan,
    config: &Config,
    options: &ApplyOptions,
    runner: &R,
    outcome: &mut Outcome,
) {
    let runs: Vec<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match &a.operation {
            Operation::Run { job } => Some(job.as_str()),
            _ => None,
        })
        .collect();
    let records = run_jobs(&runs, config, options, runner, outcome).await;

    let mut deletions: Vec<Deletion> = Vec::new();
    for action in &plan.actions {
        let (artifact, after_run) = match &action.operation {
            Operation::Prune {
                artifact,
                after_run,
            } => (artifact, *after_run),
            Operation::Cleanup { artifact } => (artifact, false),
            _ => continue,
        };
        if after_run {
            let ArtifactAddress {
                job, destination, ..
            } = artifact;
            let landed = records
                .get(job)
                .and_then(|r| r.as_ref())
                .and_then(|r| r.destinations.get(destination))
                .is_some_and(|d| d.outcome == RunOutcome::Success);
            if !landed {
                outcome.notes.push(format!(
                    "skipped `{artifact}`: the new artifact of job `{job}` did not land at `{destination}`"
                ));
                continue;
            }
        }
        deletions.push(Deletion {
            artifact,
            kind: action.kind(),
            observed: &action.observed,
        });
    }
    delete_artifacts(&deletions, config, outcome).await;
    for action in &plan.actions {
        if let Operation::PruneWal { wal, files } = &action.operation {
            prune_wal(wal, files, config, outcome).await;
        }
    }
}

/// Deletes the WAL files a plan prunes at one destination.
async fn prune_wal(
    wal: &crate::config::address::WalAddress,
    files: &[String],
    config: &Config,
    outcome: &mut Outcome,
) {
    let Some((name, raw)) = config
        .destinations
        .iter()
        .find(|(name, _)| name.as_str() == wal.destination)
    else {
        return;
    };
    let destination = match crate::destinations::open(name.as_str(), raw).await {
        Ok(destination) => destination,
        Err(error) => {
            outcome
                .errors
                .push(format!("destination `{}`: {error}", wal.destination));
            return;
        }
    };
    let entries: Vec<crate::destinations::WalEntry> = files
        .iter()
        .map(|stored| crate::destinations::WalEntry {
            name: crate::pipeline::stored_form(stored).0.to_owned(),
            stored: stored.clone(),
            size: 0,
            modified: None,
        })
        .collect();
    match destination.wal_delete(&wal.job, &entries).await {
        Ok(()) => {
            outcome.pruned += 1;
            outcome.notes.push(format!(
                "pruned {} WAL file{} of job `{}` at `{}`",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                wal.job,
                wal.destination
            ));
        }
        Err(error) => outcome.errors.push(format!(
            "cannot prune the WAL of `wal.{}.{}`: {error}",
            wal.destination, wal.job
        )),
    }
}

/// Runs the jobs, each after the jobs it waits for; returns each job's
/// record (`None` when it was skipped or could not start).
async fn run_jobs<R: JobRunner>(
    jobs: &[&str],
    config: &Config,
    options: &ApplyOptions,
    runner: &R,
    outcome: &mut Outcome,
) -> BTreeMap<String, Option<RunRecord>> {
    let planned: BTreeSet<&str> = jobs.iter().copied().collect();
    // Only jobs this apply runs are waited for.
    let graph = config.dependency_graph();
    let waits_for = |job: &str| -> Vec<String> {
        graph
            .runs_after(job)
            .into_iter()
            .filter(|other| planned.contains(other.as_str()))
            .collect()
    };
    let mut done: BTreeMap<String, Option<RunRecord>> = BTreeMap::new();
    let mut pending: Vec<&str> = jobs.to_vec();
    let mut running = FuturesUnordered::new();
    loop {
        // Start every job whose predecessors are done, up to the parallelism.
        let mut index = 0;
        while index < pending.len() && running.len() < options.parallelism.max(1) {
            let job = pending[index];
            let before = waits_for(job);
            if !before.iter().all(|other| done.contains_key(other)) {
                index += 1;
                continue;
            }
            pending.remove(index);
            let failed: Vec<&String> = before
                .iter()
                .filter(|other| {
                    !done[*other]
                        .as_ref()
                        .is_some_and(|r| r.outcome == RunOutcome::Success)
                })
                .collect();
            if let Some(other) = failed.first() {
                outcome.errors.push(format!(
                    "job `{job}` was not run: job `{other}`, which it runs after, failed"
                ));
                done.insert(job.to_owned(), None);
                continue;
            }
            // The runner notifies in the job's own future: a slow notifier
            // holds up only the jobs that run after this one.
            running.push(async move { (job, runner.run(job).await) });
        }
        let Some((job, result)) = running.next().await else {
            break;
        };
        let record = match result {
            Ok(record) => {
                if record.outcome == RunOutcome::Success {
                    outcome.ran += 1;
                } else {
                    outcome.errors.push(record.failure_summary());
                }
                Some(record)
            }
            Err(error) => {
                outcome
                    .errors
                    .push(format!("job `{job}` could not run: {error}"));
                None
            }
        };
        done.insert(job.to_owned(), record);
    }
    done
}

/// A prune or a cleanup.
struct Deletion<'a> {
    artifact: &'a ArtifactAddress,
    kind: ActionKind,
    /// What the plan saw of the artifact.
    observed: &'a str,
}

/// Prunes and cleanups, each checked against what the plan saw: an artifact
/// that changed since is left alone.
async fn delete_artifacts(deletions: &[Deletion<'_>], config: &Config, outcome: &mut Outcome) {
    // One listing per destination and job.
    let mut groups: BTreeMap<(&str, &str), Vec<&Deletion>> = BTreeMap::new();
    for deletion in deletions {
        let artifact = deletion.artifact;
        groups
            .entry((&artifact.destination, &artifact.job))
            .or_default()
            .push(deletion);
    }
    for ((destination_name, job), deletions) in groups {
        let Some(config_destination) = config
            .destinations
            .iter()
            .find(|(n, _)| n.as_str() == destination_name)
        else {
            continue;
        };
        let destination: Box<dyn Destination> =
            match crate::destinations::open(destination_name, config_destination.1).await {
                Ok(destination) => destination,
                Err(error) => {
                    outcome
                        .errors
                        .push(format!("destination `{destination_name}`: {error}"));
                    continue;
                }
            };
        let listing = match destination.list(Some(job)).await {
            Ok(listing) => listing,
            Err(error) => {
                outcome.errors.push(format!(
                    "destination `{destination_name}` cannot be listed: {error}"
                ));
                continue;
            }
        };
        for deletion in deletions {
            let address = deletion.artifact;
            let id = &address.id;
            let found: Option<&Found> = listing.artifacts.iter().find(|a| &a.id == id);
            match found {
                Some(found) if crate::plan::jobs::artifact_digest(found) != deletion.observed => {
                    outcome.errors.push(format!(
                        "`{address}` changed since the plan was made; it was left alone"
                    ));
                }
                Some(found) => match destination.delete(found).await {
                    Ok(()) => count(deletion.kind, outcome),
                    Err(error) => outcome
                        .errors
                        .push(format!("cannot delete `{address}`: {error}")),
                },
                None => {
                    let uploads: Vec<_> = listing.uploads.iter().filter(|u| &u.id == id).collect();
                    if uploads.is_empty() {
                        outcome.notes.push(format!("`{address}` was already gone"));
                        continue;
                    }
                    let mut ok = true;
                    for upload in uploads {
                        if let Err(error) = destination.abort_upload(upload).await {
                            ok = false;
                            outcome
                                .errors
                                .push(format!("cannot abort the upload of `{address}`: {error}"));
                        }
                    }
                    if ok {
                        count(deletion.kind, outcome);
                    }
                }
            }
        }
    }
}

fn count(kind: ActionKind, outcome: &mut Outcome) {
    match kind {
        ActionKind::Prune => outcome.pruned += 1,
        _ => outcome.cleaned += 1,
    }
}
