//! Notifications (`[notify.NAME]`, SPEC §9): after a run, each notifier
//! whose `on` lists the run's event is sent a notice, all at once. A failed
//! delivery is a warning and never changes how the run ended.
//!
//! Events: `failure` (the run, or its copy at any destination, failed),
//! `success`, `recovery` (a success after a failed run of the same job;
//! backup runs are compared with backup runs, verify runs with verify runs,
//! and safety backups are left out) and `stale` (from `cairn status`).
//!
//! A `webhook` is sent an HTTP POST (`Content-Type: application/json`,
//! `User-Agent: cairn/VERSION`) to `urls.EVENT`, or to `url` when the event
//! has none, with this body (docs/notifications.md):
//!
//! ```json
//! {"format_version": 1, "event": "failure", "job": "db", "status": "failed",
//!  "message": "job `db` failed: store `db`: ...", "artifact": "20260101T021500Z",
//!  "started_at": "...", "finished_at": "...", "duration_seconds": 12.5,
//!  "destinations": {"local": {"outcome": "failed", "error": "..."}},
//!  "verify": null, "cairn_version": "0.1.0", "host": "db1"}
//! ```
//!
//! Each attempt has 10 s; a connection error or a 5xx answer is retried
//! once. A `command` runs through `sh -c` with `CAIRN_EVENT`, `CAIRN_JOB`,
//! `CAIRN_MESSAGE`, `CAIRN_STATUS` and `CAIRN_ARTIFACT` set, stdin empty, and
//! is killed (its whole process group) after 30 s. Warnings name the
//! notifier and at most a URL's scheme and host: webhook URLs often carry a
//! secret token, and command lines may too.

mod command;
mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;

use crate::config::model::{Config, Event, Notify};
use crate::history::{self, DestinationRecord, Outcome, RunRecord, VerifyRecord};
use crate::manifest::Reason;
use crate::output::Log;
use crate::state::StateDir;

pub use webhook::FORMAT_VERSION;

/// What happened, as sent to every notifier subscribed to `event`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub event: Event,
    pub job: String,
    /// One line for people, e.g. "job `db` failed: store `db`: ...".
    pub message: String,
    pub status: Status,
    /// The artifact the run wrote (or tried to), or for `stale` none.
    pub artifact: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// Each destination's outcome and error.
    pub destinations: BTreeMap<String, DestinationRecord>,
    /// For verify runs: what was restored from where, and every check.
    pub verify: Option<VerifyRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failed,
    Stale,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Stale => "stale",
        }
    }
}

/// The events a run produces: `failure` or `success`, and `recovery` when
/// it succeeded after `previous`, the job's last comparable run, failed.
/// Safety backups produce none.
pub fn events_for(previous: Option<&RunRecord>, record: &RunRecord) -> Vec<Event> {
    if record.reason == Reason::Safety {
        return Vec::new();
    }
    match record.outcome {
        Outcome::Failed => vec![Event::Failure],
        Outcome::Success => {
            let mut events = vec![Event::Success];
            if previous.is_some_and(|p| comparable(p, record) && p.outcome == Outcome::Failed) {
                events.push(Event::Recovery);
            }
            events
        }
    }
}

/// The run of `record`'s job before `record` that it is compared with: not
/// a safety backup, and a verify run for a verify run, a backup run for a
/// backup run. `history` is oldest first and may already hold `record`
/// (as written here or as a destination's copy of it).
pub fn previous_comparable<'a>(
    history: &'a [RunRecord],
    record: &RunRecord,
) -> Option<&'a RunRecord> {
    history
        .iter()
        .rev()
        .filter(|r| r.job == record.job && r.id != record.id && r.started_at <= record.started_at)
        .find(|r| comparable(r, record))
}

fn comparable(earlier: &RunRecord, record: &RunRecord) -> bool {
    earlier.reason != Reason::Safety && earlier.verify.is_some() == record.verify.is_some()
}

/// Sends the notices `record` calls for, after it was appended to the
/// history in `state`; logs a warning per failed delivery.
pub async fn after_run(config: &Config, state: &StateDir, record: &RunRecord, log: &Log) {
    if config.notify.is_empty() || record.reason == Reason::Safety {
        return;
    }
    // Damaged lines were reported by whoever read the history first. With
    // settings.state = "destinations" the previous run may have been
    // another machine's (a pod's): its record is at the destinations.
    let jobs = [record.job.as_str()];
    let shared = history::remote::read_shared(
        config,
        state,
        Some(&jobs),
        Some(history::remote::RECENT),
        record.finished_at,
    )
    .await;
    let history = match shared {
        Ok(shared) => shared.history.records,
        Err(error) => {
            log.warn(&format!(
                "cannot read the run history of job `{}` ({error}); a recovery is notified as a plain success",
                record.job
            ));
            Vec::new()
        }
    };
    let previous = previous_comparable(&history, record);
    let notices: Vec<Notice> = events_for(previous, record)
        .into_iter()
        .map(|event| Notice::for_run(event, record))
        .collect();
    let warnings = join_all(notices.iter().map(|notice| send(config, notice))).await;
    for warning in warnings.into_iter().flatten() {
        log.warn(&warning);
    }
}

/// Sends a `stale` notice for `job` (from `cairn status`); logs a warning
/// per failed delivery.
pub async fn stale(config: &Config, job: &str, message: &str, log: &Log) {
    let notice = Notice {
        event: Event::Stale,
        job: job.to_owned(),
        message: message.to_owned(),
        status: Status::Stale,
        artifact: None,
        started_at: None,
        finished_at: None,
        duration_seconds: None,
        destinations: BTreeMap::new(),
        verify: None,
    };
    for warning in send(config, &notice).await {
        log.warn(&warning);
    }
}

/// Why a notice was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("its command could not start: {0}")]
    CommandStart(std::io::Error),
    #[error("its command could not be waited for: {0}")]
    CommandWait(std::io::Error),
    #[error("its command did not finish within {0} s and was killed")]
    CommandTimeout(u64),
    #[error("its command {ending}{}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    CommandFailed { ending: String, stderr: String },
    #[error("its URL cannot be parsed ({0}); check `url` and `urls`")]
    BadUrl(hyper::http::uri::InvalidUri),
    #[error("its URL has no scheme or host; check `url` and `urls`")]
    NoHost,
    #[error("the URL for {0} holds credentials (user:password@), which cairn does not send; put the token in the URL's path or query")]
    Credentials(String),
    #[error("cannot load this system's trusted root certificates ({0}); install the ca-certificates package")]
    Roots(std::io::Error),
    /// What the receiver did, with the URL's path and query scrubbed.
    #[error("{0}")]
    Http(String),
}

/// Delivers `notice` to every notifier subscribed to its event, all at
/// once; returns one warning per failed delivery.
pub async fn send(config: &Config, notice: &Notice) -> Vec<String> {
    let deliveries = config
        .notify
        .iter()
        .filter(|(_, notifier)| notifier.events.contains(&notice.event))
        .map(|(name, notifier)| async move {
            let delivered = match &notifier.channel {
                Notify::Webhook(webhook) => webhook::post(webhook, notice).await,
                Notify::Command(command) => command::run(command, notice).await,
            };
            delivered.err().map(|error| {
                format!(
                    "notifier `{name}`: the `{}` notice of job `{}` was not delivered: {error}",
                    notice.event.name(),
                    notice.job
                )
            })
        });
    join_all(deliveries).await.into_iter().flatten().collect()
}

impl Notice {
    /// The notice of `event` for the run `record`.
    pub fn for_run(event: Event, record: &RunRecord) -> Self {
        let duration = (record.finished_at - record.started_at).as_seconds_f64();
        Notice {
            event,
            job: record.job.clone(),
            message: run_message(event, record),
            status: match record.outcome {
                Outcome::Success => Status::Success,
                Outcome::Failed => Status::Failed,
            },
            artifact: Some(record.id.clone()),
            started_at: Some(record.started_at),
            finished_at: Some(record.finished_at),
            duration_seconds: Some(duration.max(0.0)),
            destinations: record.destinations.clone(),
            verify: record.verify.clone(),
        }
    }
}

fn run_message(event: Event, record: &RunRecord) -> String {
    let job = &record.job;
    if record.outcome == Outcome::Failed {
        let reasons = record.failure_reasons();
        return if reasons.is_empty() {
            format!("job `{job}` failed (run {})", record.id)
        } else {
            format!("job `{job}` failed: {}", reasons.join("; "))
        };
    }
    let done = match &record.verify {
        Some(verify) => format!(
            "artifact {} of job `{}` restored and {} checks passed",
            verify.artifact.as_deref().unwrap_or("?"),
            verify.job,
            verify.checks.len()
        ),
        None => format!("backup {} complete, {}", record.id, record.stored_summary()),
    };
    match event {
        Event::Recovery => format!("job `{job}` recovered: {done}"),
        _ => format!("job `{job}` succeeded: {done}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: &str, day: u32, outcome: Outcome) -> RunRecord {
        let started_at = format!("2026-01-{day:02}T02:00:00Z").parse().unwrap();
        RunRecord {
            job: job.to_owned(),
            id: format!("202601{day:02}T020000Z"),
            reason: Reason::Scheduled,
            started_at,
            finished_at: started_at + chrono::Duration::seconds(90),
            outcome,
            error: (outcome == Outcome::Failed)
                .then(|| "store `db`: `pg_dump` exited 1".to_owned()),
            raw_size: 2048,
            stored_size: 1024,
            destinations: BTreeMap::from([(
                "local".to_owned(),
                DestinationRecord {
                    outcome,
                    error: (outcome == Outcome::Failed)
                        .then(|| "aborted: store `db`: `pg_dump` exited 1".to_owned()),
                },
            )]),
            verify: None,
            warnings: Vec::new(),
        }
    }

    fn verify_of(mut record: RunRecord) -> RunRecord {
        record.verify = Some(VerifyRecord {
            job: "db".to_owned(),
            destination: Some("local".to_owned()),
            artifact: Some("20260101T020000Z".to_owned()),
            checks: Vec::new(),
        });
        record
    }

    #[test]
    fn a_failed_run_is_a_failure_whatever_came_before() {
        let failed = record("db", 2, Outcome::Failed);
        for previous in [
            None,
            Some(record("db", 1, Outcome::Success)),
            Some(record("db", 1, Outcome::Failed)),
        ] {
            assert_eq!(events_for(previous.as_ref(), &failed), [Event::Failure]);
        }
    }

    #[test]
    fn a_success_after_a_failure_is_also_a_recovery() {
        let good = record("db", 2, Outcome::Success);
        assert_eq!(events_for(None, &good), [Event::Success]);
        assert_eq!(
            events_for(Some(&record("db", 1, Outcome::Success)), &good),
            [Event::Success]
        );
        assert_eq!(
            events_for(Some(&record("db", 1, Outcome::Failed)), &good),
            [Event::Success, Event::Recovery]
        );
    }

    #[test]
    fn safety_backups_notify_nothing_and_do_not_count_as_the_previous_run() {
        let mut safety = record("db", 2, Outcome::Failed);
        safety.reason = Reason::Safety;
        assert_eq!(events_for(None, &safety), []);
        let history = [
            record("db", 1, Outcome::Success),
            safety.clone(),
            record("db", 3, Outcome::Success),
        ];
        let previous = previous_comparable(&history, &history[2]);
        assert_eq!(previous, Some(&history[0]));
        assert_eq!(events_for(previous, &history[2]), [Event::Success]);
        assert_eq!(events_for(Some(&safety), &history[2]), [Event::Success]);
    }

    #[test]
    fn verify_runs_are_compared_only_with_verify_runs() {
        let history = [
            verify_of(record("db", 1, Outcome::Failed)),
            record("db", 2, Outcome::Failed),
            record("db", 3, Outcome::Success),
            verify_of(record("db", 4, Outcome::Success)),
        ];
        assert_eq!(
            previous_comparable(&history, &history[2]),
            Some(&history[1])
        );
        assert_eq!(
            previous_comparable(&history, &history[3]),
            Some(&history[0])
        );
        assert_eq!(
            events_for(previous_comparable(&history, &history[3]), &history[3]),
            [Event::Success, Event::Recovery]
        );
        // A failed backup run before a good verify run is no recovery.
        assert_eq!(events_for(Some(&history[1]), &history[3]), [Event::Success]);
    }

    #[test]
    fn the_previous_run_is_the_one_before_the_record_even_when_not_yet_recorded() {
        let first = record("db", 1, Outcome::Failed);
        let other_job = record("web", 2, Outcome::Success);
        let good = record("db", 3, Outcome::Success);
        let appended = [first.clone(), other_job.clone(), good.clone()];
        assert_eq!(previous_comparable(&appended, &good), Some(&first));
        let not_appended = [first.clone(), other_job];
        assert_eq!(previous_comparable(&not_appended, &good), Some(&first));
        assert_eq!(
            previous_comparable(std::slice::from_ref(&good), &good),
            None
        );
    }

    #[test]
    fn messages_say_what_failed_once_and_what_succeeded() {
        let failed = Notice::for_run(Event::Failure, &record("db", 2, Outcome::Failed));
        assert_eq!(
            failed.message,
            "job `db` failed: store `db`: `pg_dump` exited 1"
        );
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.duration_seconds, Some(90.0));
        let recovered = Notice::for_run(Event::Recovery, &record("db", 3, Outcome::Success));
        assert_eq!(
            recovered.message,
            "job `db` recovered: backup 20260103T020000Z complete, 2.0 KiB read, 1.0 KiB stored at local"
        );
    }
}
