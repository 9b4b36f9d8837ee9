//! The run records kept at the destinations (SPEC §13, `settings.state =
//! "destinations"`), so that a machine with an empty state directory (a
//! new pod, an operator's laptop, a monitoring pod) sees the same history.
//!
//! A run writes `PREFIX/JOB/runs/ID.json` at every destination of the job
//! (a verify run: of the job it verifies) twice: a `running` record
//! before anything of the run is written there, then the run's history
//! record (the line the local history gets, with `"state": "finished"`)
//! once it ended, after the manifests. A killed run leaves its `running`
//! record: never a claim of success. Past the record's `deadline` (the
//! job's timeout and jitter and a margin after the start, or a day without
//! a timeout) no live run can still hold it, so readers take it for an
//! interrupted run, and the job's next run records it as one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::{History, RunRecord};
use crate::config::model::{Config, Job, JobKind};
use crate::destinations::{self, Destination, RunObject};
use crate::manifest::Reason;

/// The newest records per job and destination that `plan`, `status` and
/// the runs read (`cairn history` reads them all).
pub const RECENT: usize = 100;

/// How long after its timeout and jitter a run may still be finishing:
/// removing a failed copy (30 s at most), `after` hooks, the records.
const MARGIN_MINUTES: i64 = 15;

/// How long a run without a timeout may take before its `running` record
/// is taken for an interrupted run: the cleanup grace, after which its
/// leftovers go anyway.
const UNBOUNDED_HOURS: i64 = 24;

/// Records fetched at once from one destination.
const CONCURRENT_GETS: usize = 16;

/// What `PREFIX/JOB/runs/ID.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Stored {
    /// The run started and has not recorded its outcome (yet).
    Running(Running),
    /// The run's history record.
    Finished(RunRecord),
}

impl Stored {
    fn job_and_id(&self) -> (&str, &str) {
        match self {
            Stored::Running(running) => (&running.job, &running.id),
            Stored::Finished(record) => (&record.job, &record.id),
        }
    }

    /// The JSON object written at the destinations.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("records serialize");
        json.push(b'\n');
        json
    }
}

/// A run that has started: who runs it, and until when it may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub job: String,
    pub id: String,
    pub reason: Reason,
    pub started_at: DateTime<Utc>,
    /// The host (or pod) that runs it, as gethostname(2) says.
    pub host: String,
    pub pid: u32,
    /// After this time no live run can still be running: the record is
    /// taken for an interrupted run.
    pub deadline: DateTime<Utc>,
}

impl Running {
    /// The record a run of `job` writes before anything else, started at
    /// `started_at` by process `pid` on `host`.
    pub fn new(
        job: &Job,
        id: &str,
        reason: Reason,
        started_at: DateTime<Utc>,
        host: &str,
        pid: u32,
    ) -> Self {
        let deadline = match job.timeout {
            Some(timeout) => {
                started_at
                    + timeout.to_chrono()
                    + job.schedule.jitter.to_chrono()
                    + chrono::Duration::minutes(MARGIN_MINUTES)
            }
            None => started_at + chrono::Duration::hours(UNBOUNDED_HOURS),
        };
        Running {
            job: job.name.to_string(),
            id: id.to_owned(),
            reason,
            started_at,
            host: host.to_owned(),
            pid,
            deadline,
        }
    }

    /// Whether at `now` no live run can hold this record any more.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now > self.deadline
    }

    /// Who ran it: "PID on host HOST".
    pub fn holder(&self) -> String {
        format!("{} on host {}", self.pid, self.host)
    }

    /// The record of this run as interrupted, noticed at `now`.
    pub fn interrupted(&self, now: DateTime<Utc>) -> RunRecord {
        RunRecord::interrupted(
            &self.job,
            &self.id,
            &self.holder(),
            self.reason,
            self.started_at,
            now,
        )
    }
}

/// The destinations that keep the records of `job`: a backup job's own, a
/// verify job's verified job's. Empty for a job the configuration lacks.
pub fn destinations_of<'c>(config: &'c Config, job: &str) -> Vec<&'c str> {
    let Ok(found) = config.job(job) else {
        return Vec::new();
    };
    let backup = match &found.kind {
        JobKind::Backup(backup) => Some(backup),
        JobKind::Verify(verify) => config
            .job(verify.verifies.as_str())
            .ok()
            .and_then(Job::backup),
    };
    backup
        .map(|backup| backup.to.iter().map(|d| d.as_str()).collect())
        .unwrap_or_default()
}

/// Writes `stored` at every destination of its job, all at once; returns
/// the destinations that did not take it, with why.
pub async fn publish(config: &Config, stored: &Stored) -> BTreeMap<String, String> {
    let (job, id) = stored.job_and_id();
    let body = bytes::Bytes::from(stored.to_json());
    let writes = destinations_of(config, job).into_iter().map(|name| {
        let body = body.clone();
        async move {
            let written = match destinations::open(name, &config.destinations[name]).await {
                Ok(destination) => destination.run_put(job, id, body).await,
                Err(error) => Err(error),
            };
            (name.to_owned(), written)
        }
    });
    futures::future::join_all(writes)
        .await
        .into_iter()
        .filter_map(|(name, written)| Some((name, written.err()?.to_string())))
        .collect()
}

/// Whether a destination of `job` holds anything of run `id` (its record,
/// or an artifact of that ID). A destination that cannot be asked does not
/// count (a record cannot be written there either).
pub async fn id_taken(config: &Config, job: &str, id: &str) -> bool {
    let asks = destinations_of(config, job)
        .into_iter()
        .map(|name| async move {
            match destinations::open(name, &config.destinations[name]).await {
                Ok(destination) => destination.exists(job, id).await.unwrap_or(false),
                Err(_) => false,
            }
        });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .any(|taken| taken)
}

/// What the destinations say about some jobs' runs.
#[derive(Debug, Default)]
pub struct Remote {
    /// Finished runs, one per (job, run ID): the most complete copy.
    pub records: Vec<RunRecord>,
    /// Runs marked running that no finished record replaced.
    pub running: Vec<Running>,
    /// The destinations whose records cannot be read, with why.
    pub unreadable: BTreeMap<String, String>,
    /// Objects under `runs/` that were not taken for records, with why.
    pub ignored: Vec<String>,
}

impl Remote {
    /// Turns the `running` records past their deadline at `now` into
    /// interrupted runs' records; returns those still running.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        let (expired, live): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|running| running.expired(now));
        self.records
            .extend(expired.iter().map(|running| running.interrupted(now)));
        self.running = live;
    }
}

/// Reads the records of `jobs` at their destinations: of each job at each
/// destination the newest `limit` (all without one).
pub async fn read(config: &Config, jobs: &[&str], limit: Option<usize>) -> Remote {
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for job in jobs {
        for destination in destinations_of(config, job) {
            wanted.entry(destination).or_default().push(job);
        }
    }
    let reads = wanted.into_iter().map(|(name, jobs)| async move {
        let read = match destinations::open(name, &config.destinations[name]).await {
            Ok(destination) => read_destination(destination.as_ref(), &jobs, limit).await,
            Err(error) => Err(error.to_string()),
        };
        (name.to_owned(), read)
    });
    let mut remote = Remote::default();
    let mut finished: BTreeMap<(String, String), RunRecord> = BTreeMap::new();
    let mut running: BTreeMap<(String, String), Running> = BTreeMap::new();
    for (name, read) in futures::future::join_all(reads).await {
        let found = match read {
            Ok(found) => found,
            Err(error) => {
                remote.unreadable.insert(name, error);
                continue;
            }
        };
        for (key, object) in found {
            let stored = match object {
                RunObject::Record(bytes) => serde_json::from_slice::<Stored>(&bytes)
                    .map_err(|e| format!("not a run record ({e})")),
                RunObject::Gone => continue,
                RunObject::Foreign(why) => Err(why),
            };
            let stored = stored.and_then(|stored| {
                let (job, id) = stored.job_and_id();
                if (job, id) == (key.0.as_str(), key.1.as_str()) {
                    Ok(stored)
                } else {
                    Err(format!(
                        "it says job {job:?}, run {id:?}, not the place it lies at"
                    ))
                }
            });
            match stored {
                Ok(Stored::Finished(record)) => {
                    let better = finished
                        .get(&key)
                        .is_none_or(|kept| record.destinations.len() > kept.destinations.len());
                    if better {
                        finished.insert(key, record);
                    }
                }
                Ok(Stored::Running(record)) => {
                    running.insert(key, record);
                }
                Err(why) => remote.ignored.push(format!(
                    "destination `{name}`: ignored the run record of job `{}`, run {}: {why}",
                    key.0, key.1
                )),
            }
        }
    }
    remote.running = running
        .into_iter()
        .filter(|(key, _)| !finished.contains_key(key))
        .map(|(_, running)| running)
        .collect();
    remote.records = finished.into_values().collect();
    remote
}

/// The newest `limit` records of each of `jobs` at one destination, by
/// (job, run ID).
async fn read_destination(
    destination: &dyn Destination,
    jobs: &[&str],
    limit: Option<usize>,
) -> Result<Vec<((String, String), RunObject)>, String> {
    let mut keys = Vec::new();
    for job in jobs {
        let mut ids = destination.run_list(job).await.map_err(|e| e.to_string())?;
        ids.sort_by_key(|id| std::cmp::Reverse(id_order(id)));
        ids.truncate(limit.unwrap_or(usize::MAX));
        keys.extend(ids.into_iter().map(|id| (job.to_string(), id)));
    }
    stream::iter(keys)
        .map(|(job, id)| async move {
            let object = destination.run_get(&job, &id).await;
            object.map(|object| ((job, id), object))
        })
        .buffer_unordered(CONCURRENT_GETS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|read| read.map_err(|e| e.to_string()))
        .collect()
}

/// Run IDs in the order the runs started: the time, then the `-N` counter.
fn id_order(id: &str) -> (Option<DateTime<Utc>>, u64) {
    let counter = id
        .split_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1);
    (destinations::id_time(id), counter)
}

/// Adds the destinations' records to the local history: one record per
/// (job, run ID), the local one unless a destination holds a more complete
/// one (a run another machine took for interrupted that ended after all).
pub fn merge(history: &mut History, remote: &Remote) {
    let mut local: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (index, record) in history.records.iter().enumerate() {
        local.insert((&record.job, &record.id), index);
    }
    let mut replace = Vec::new();
    let mut add = Vec::new();
    for record in &remote.records {
        match local.get(&(record.job.as_str(), record.id.as_str())) {
            Some(&index) => {
                if record.destinations.len() > history.records[index].destinations.len() {
                    replace.push((index, record.clone()));
                }
            }
            None => add.push(record.clone()),
        }
    }
    for (index, record) in replace {
        history.records[index] = record;
    }
    history.records.extend(add);
    history
        .records
        .sort_by(|a, b| (a.started_at, &a.job).cmp(&(b.started_at, &b.job)));
}

/// The history as one machine sees it: its own, and with `settings.state
/// = "destinations"` the records at the destinations.
#[derive(Debug, Default)]
pub struct Shared {
    /// Oldest first; expired `running` records are here as interrupted runs.
    pub history: History,
    /// Runs marked running at a destination, not past their deadline.
    pub running: Vec<Running>,
    /// Destinations whose records cannot be read, with why: what they hold
    /// is unknown, never taken for "no runs".
    pub unreadable: BTreeMap<String, String>,
    /// Warnings about objects that were not taken for records.
    pub ignored: Vec<String>,
}

/// The local history of `jobs` (`None`: every job in the local history,
/// and at the destinations the jobs of the host the configuration is
/// scoped to, or every job) merged, with `settings.state =
/// "destinations"`, with the records of those jobs at their destinations,
/// as of `now`.
pub async fn read_shared(
    config: &Config,
    state: &crate::state::StateDir,
    jobs: Option<&[&str]>,
    limit: Option<usize>,
    now: DateTime<Utc>,
) -> std::io::Result<Shared> {
    let mut history = match jobs {
        Some([job]) => super::read(state, Some(job))?,
        _ => super::read(state, None)?,
    };
    if let Some(jobs) = jobs {
        let wanted: BTreeSet<&str> = jobs.iter().copied().collect();
        history.records.retain(|r| wanted.contains(r.job.as_str()));
    }
    if config.settings.state != crate::config::raw::StateKeeping::Destinations {
        return Ok(Shared {
            history,
            ..Shared::default()
        });
    }
    let all: Vec<&str>;
    let jobs = match jobs {
        Some(jobs) => jobs,
        None => {
            all = config.host_jobs().map(|job| job.name.as_str()).collect();
            &all
        }
    };
    let mut remote = read(config, jobs, limit).await;
    remote.settle(now);
    merge(&mut history, &remote);
    Ok(Shared {
        history,
        running: remote.running,
        unreadable: remote.unreadable,
        ignored: remote.ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: &str, id: &str, destinations: &[&str]) -> RunRecord {
        let time = destinations::id_time(id).unwrap();
        RunRecord {
            job: job.to_owned(),
            id: id.to_owned(),
            reason: Reason::Scheduled,
            started_at: time,
            finished_at: time,
            outcome: super::super::Outcome::Success,
            error: None,
            raw_size: 1,
            stored_size: 1,
            destinations: destinations
                .iter()
                .map(|d| {
                    (
                        d.to_string(),
                        super::super::DestinationRecord {
                            outcome: super::super::Outcome::Success,
                            error: None,
                        },
                    )
                })
                .collect(),
            verify: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_finished_record_is_the_history_line_with_its_state() {
        let finished = record("app", "20261121T021500Z", &["local"]);
        let json = Stored::Finished(finished.clone()).to_json();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["state"], "finished");
        assert_eq!(value["job"], "app");
        // The local history reads it as the same record.
        let line: RunRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(line, finished);
        let back: Stored = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, Stored::Finished(finished));
    }

    #[test]
    fn a_running_record_expires_at_its_deadline_into_an_interrupted_run() {
        let started = destinations::id_time("20261121T021500Z").unwrap();
        let running = Running {
            job: "app".to_owned(),
            id: "20261121T021500Z".to_owned(),
            reason: Reason::Scheduled,
            started_at: started,
            host: "pod-1".to_owned(),
            pid: 7,
            deadline: started + chrono::Duration::hours(1),
        };
        let json = Stored::Running(running.clone()).to_json();
        assert!(serde_json::from_slice::<RunRecord>(&json).is_err());
        let mut remote = Remote {
            running: vec![running.clone()],
            ..Remote::default()
        };
        remote.settle(started + chrono::Duration::minutes(59));
        assert_eq!(remote.running, vec![running.clone()]);
        assert!(remote.records.is_empty());
        remote.settle(started + chrono::Duration::minutes(61));
        assert!(remote.running.is_empty());
        let interrupted = &remote.records[0];
        assert_eq!(interrupted.outcome, super::super::Outcome::Failed);
        assert!(interrupted
            .error
            .as_ref()
            .unwrap()
            .contains("7 on host pod-1"));
    }

    #[test]
    fn merging_keeps_one_record_per_run_the_most_complete() {
        let mut history = History {
            records: vec![
                record("app", "20261121T021500Z", &["local"]),
                RunRecord {
                    destinations: BTreeMap::new(),
                    ..record("app", "20261122T021500Z", &[])
                },
            ],
            damaged: Vec::new(),
        };
        let remote = Remote {
            records: vec![
                record("app", "20261121T021500Z", &["local"]),
                record("app", "20261122T021500Z", &["local", "offsite"]),
                record("app", "20261120T021500Z", &["offsite"]),
            ],
            ..Remote::default()
        };
        merge(&mut history, &remote);
        let ids: Vec<(&str, usize)> = history
            .records
            .iter()
            .map(|r| (r.id.as_str(), r.destinations.len()))
            .collect();
        assert_eq!(
            ids,
            [
                ("20261120T021500Z", 1),
                ("20261121T021500Z", 1),
                ("20261122T021500Z", 2)
            ]
        );
    }

    #[test]
    fn ids_order_by_time_then_counter() {
        let mut ids = vec![
            "20261121T021500Z-10",
            "20261121T021500Z-2",
            "20261121T021500Z",
            "20261120T021500Z",
        ];
        ids.sort_by_key(|id| id_order(id));
        assert_eq!(
            ids,
            [
                "20261120T021500Z",
                "20261121T021500Z",
                "20261121T021500Z-2",
                "20261121T021500Z-10"
            ]
        );
    }
}
