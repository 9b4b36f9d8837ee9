//! The state rules, on hand-made jobs, listings and histories.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::config::model::{Backup, Compression, Hooks, Job, JobKind, Schedule, Verify};
use crate::config::name::Name;
use crate::destinations::{Found, FoundState, Listing};
use crate::duration::Duration;
use crate::history::{CheckRecord, DestinationRecord, Outcome, RunRecord, VerifyRecord};
use crate::manifest::{CompressionRecord, Manifest, Reason, StoreRecord};
use crate::schedule::cron::CronExpr;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn id(time: &str) -> String {
    at(time).format("%Y%m%dT%H%M%SZ").to_string()
}

fn job(name: &str, cron: &str, to: &[&str]) -> Job {
    Job {
        name: Name::new(name).unwrap(),
        schedule: Schedule {
            name: None,
            cron: CronExpr::parse(cron).unwrap(),
            jitter: Duration::default(),
            persistent: true,
        },
        after: Vec::new(),
        rpo: None,
        timeout: None,
        hooks: Hooks::default(),
        hosts: None,
        kind: JobKind::Backup(Backup {
            store: Name::new("db").unwrap(),
            to: to.iter().map(|d| Name::new(d).unwrap()).collect(),
            retention: BTreeMap::new(),
            compression: Compression::default(),
            encrypt_to: Vec::new(),
        }),
    }
}

fn verify_job(name: &str, verifies: &str, cron: &str) -> Job {
    Job {
        kind: JobKind::Verify(Verify {
            verifies: Name::new(verifies).unwrap(),
            checks: Vec::new(),
        }),
        ..job(name, cron, &[])
    }
}

fn duration(text: &str) -> Duration {
    text.parse().unwrap()
}

fn artifact(job: &str, started: &str, reason: Reason) -> Found {
    let started_at = at(started);
    let id = id(started);
    Found {
        job: job.to_owned(),
        id: id.clone(),
        time: started_at,
        state: FoundState::Complete(Box::new(Manifest {
            format_version: 1,
            cairn_version: "test".to_owned(),
            job: job.to_owned(),
            id,
            reason,
            store: StoreRecord {
                name: "db".to_owned(),
                kind: "sqlite".to_owned(),
                source: "app.db".to_owned(),
            },
            tools: BTreeMap::new(),
            started_at,
            finished_at: started_at + chrono::Duration::seconds(90),
            compression: CompressionRecord {
                algorithm: crate::config::model::CompressionAlgorithm::None,
                level: None,
            },
            encryption: None,
            streams: Vec::new(),
            wal: None,
        })),
        objects: vec!["manifest.json".to_owned()],
        stored_size: 1000,
    }
}

fn incomplete(job: &str, started: &str) -> Found {
    Found {
        state: FoundState::Incomplete,
        ..artifact(job, started, Reason::Scheduled)
    }
}

type Listings = BTreeMap<String, Result<Listing, String>>;

fn listings(destinations: &[(&str, Vec<Found>)]) -> Listings {
    destinations
        .iter()
        .map(|(name, artifacts)| {
            let listing = Listing {
                artifacts: artifacts.clone(),
                uploads: Vec::new(),
                ignored: Vec::new(),
            };
            (name.to_string(), Ok(listing))
        })
        .collect()
}

fn run(job: &str, started: &str, destinations: &[(&str, Option<&str>)]) -> RunRecord {
    let destinations: BTreeMap<String, DestinationRecord> = destinations
        .iter()
        .map(|(name, error)| {
            let outcome = if error.is_some() {
                Outcome::Failed
            } else {
                Outcome::Success
            };
            let error = error.map(str::to_owned);
            (name.to_string(), DestinationRecord { outcome, error })
        })
        .collect();
    let failed = destinations.values().any(|d| d.outcome == Outcome::Failed);
    RunRecord {
        job: job.to_owned(),
        id: id(started),
        reason: Reason::Scheduled,
        started_at: at(started),
        finished_at: at(started) + chrono::Duration::seconds(90),
        outcome: if failed {
            Outcome::Failed
        } else {
            Outcome::Success
        },
        error: None,
        raw_size: 2000,
        stored_size: 1000,
        destinations,
        verify: None,
        warnings: Vec::new(),
    }
}

fn failed_run(job: &str, started: &str, error: &str) -> RunRecord {
    RunRecord {
        outcome: Outcome::Failed,
        error: Some(error.to_owned()),
        stored_size: 0,
        ..run(job, started, &[])
    }
}

fn verify_run(by: &str, of: &str, started: &str, passed: bool) -> RunRecord {
    RunRecord {
        outcome: if passed {
            Outcome::Success
        } else {
            Outcome::Failed
        },
        verify: Some(VerifyRecord {
            job: of.to_owned(),
            destination: Some("local".to_owned()),
            artifact: Some(id("2026-01-01T00:00:00Z")),
            checks: vec![CheckRecord {
                check: "select count(*) from users >= 1".to_owned(),
                passed,
                value: Some(if passed { "12" } else { "0" }.to_owned()),
            }],
        }),
        ..run(by, started, &[])
    }
}

fn status<'a>(
    jobs: impl IntoIterator<Item = &'a Job>,
    listings: &Listings,
    records: &[RunRecord],
    now: &str,
) -> Report {
    evaluate_jobs(
        jobs,
        chrono_tz::UTC,
        listings,
        &Archives::new(),
        records,
        at(now),
    )
}

/// A daily job with rpo 26h, backed up to `local` at midnight on January 1st.
fn daily() -> (Job, Listings, Vec<RunRecord>) {
    let job = Job {
        rpo: Some(duration("26h")),
        ..job("app", "0 0 * * *", &["local"])
    };
    let listings = listings(&[(
        "local",
        vec![artifact("app", "2026-01-01T00:00:00Z", Reason::Scheduled)],
    )]);
    let records = vec![run("app", "2026-01-01T00:00:00Z", &[("local", None)])];
    (job, listings, records)
}

#[test]
fn a_fresh_backup_is_ok() {
    let (job, listings, records) = daily();
    let report = status([&job], &listings, &records, "2026-01-01T00:05:00Z");
    assert_eq!(report.state, State::Ok);
    let app = &report.jobs[0];
    assert_eq!(app.message, "newest good artifact is 5m old");
    assert_eq!(app.newest.as_ref().unwrap().id, "20260101T000000Z");
    assert_eq!(
        app.next_run.unwrap().with_timezone(&Utc),
        at("2026-01-02T00:00:00Z")
    );
    assert_eq!(app.destinations[0].artifacts, 1);
    assert_eq!(app.destinations[0].stored_bytes, 1000);
    assert_eq!(app.destinations[0].last_outcome, Some(Outcome::Success));
    assert_eq!(app.last_success.as_ref().unwrap().id, "20260101T000000Z");
}

#[test]
fn a_missed_schedule_warns_only_after_the_grace() {
    let (job, listings, records) = daily();
    // The run due at 00:00 on January 2nd may still be writing until 01:00.
    let within_grace = status([&job], &listings, &records, "2026-01-02T00:59:00Z");
    assert_eq!(within_grace.state, State::Ok);
    let report = status([&job], &listings, &records, "2026-01-02T01:00:00Z");
    assert_eq!(report.state, State::Warning);
    assert_eq!(
        report.jobs[0].message,
        "missed its run scheduled for 2026-01-02 00:00 UTC: newest good artifact is 25h old"
    );
    // Jitter and a timeout widen the grace (no rpo here: 26h would end it first).
    let patient = Job {
        rpo: None,
        timeout: Some(duration("2h")),
        schedule: Schedule {
            jitter: duration("30m"),
            ..job.schedule.clone()
        },
        ..job
    };
    let report = status([&patient], &listings, &records, "2026-01-02T02:29:00Z");
    assert_eq!(report.state, State::Ok);
    let report = status([&patient], &listings, &records, "2026-01-02T02:30:00Z");
    assert_eq!(report.state, State::Warning);
}

#[test]
fn beyond_the_rpo_is_critical() {
    let (job, listings, records) = daily();
    let report = status([&job], &listings, &records, "2026-01-02T06:00:00Z");
    assert_eq!(report.state, State::Critical);
    assert_eq!(
        report.jobs[0].message,
        "newest good artifact is 30h old, beyond its rpo of 1d2h"
    );
    // The missed schedule is listed too, after the critical problem.
    assert_eq!(report.jobs[0].problems.len(), 2);
    assert_eq!(report.jobs[0].problems[1].state, State::Warning);
}

#[test]
fn no_good_artifact_is_critical_and_safety_or_incomplete_ones_do_not_count() {
    let job = job("app", "0 0 * * *", &["local"]);
    let listings = listings(&[(
        "local",
        vec![
            artifact("app", "2026-01-01T00:00:00Z", Reason::Safety),
            incomplete("app", "2026-01-01T01:00:00Z"),
            artifact("other", "2026-01-01T02:00:00Z", Reason::Scheduled),
        ],
    )]);
    let report = status([&job], &listings, &[], "2026-01-01T03:00:00Z");
    assert_eq!(report.state, State::Critical);
    assert_eq!(report.jobs[0].message, "no good artifact at `local`");
    assert_eq!(report.jobs[0].destinations[0].artifacts, 0);
    assert!(report.jobs[0].last_success.is_none());
}

#[test]
fn safety_artifacts_never_make_a_job_fresh() {
    let (job, mut listings, records) = daily();
    let local = listings.get_mut("local").unwrap().as_mut().unwrap();
    local
        .artifacts
        .push(artifact("app", "2026-01-02T05:00:00Z", Reason::Safety));
    let report = status([&job], &listings, &records, "2026-01-02T06:00:00Z");
    assert_eq!(report.state, State::Critical);
    assert_eq!(
        report.jobs[0].newest.as_ref().unwrap().id,
        "20260101T000000Z"
    );
    assert_eq!(report.jobs[0].destinations[0].artifacts, 1);
}

#[test]
fn a_failed_last_run_is_critical_until_a_run_succeeds() {
    let (job, listings, mut records) = daily();
    records.push(run(
        "app",
        "2026-01-01T06:00:00Z",
        &[(
            "local",
            Some("cannot create /backups/app: permission denied"),
        )],
    ));
    // A safety backup later than the failure does not hide it.
    records.push(RunRecord {
        reason: Reason::Safety,
        ..run("app", "2026-01-01T07:00:00Z", &[("local", None)])
    });
    let report = status([&job], &listings, &records, "2026-01-01T08:00:00Z");
    assert_eq!(report.state, State::Critical);
    let app = &report.jobs[0];
    assert_eq!(
        app.message,
        "last run 20260101T060000Z failed at `local`: cannot create /backups/app: permission denied"
    );
    assert_eq!(app.destinations[0].last_outcome, Some(Outcome::Failed));
    assert_eq!(app.consecutive_failures, 1);
    assert_eq!(app.failures_total, 1);
    assert_eq!(app.last_success.as_ref().unwrap().id, "20260101T000000Z");

    records.push(failed_run(
        "app",
        "2026-01-01T09:00:00Z",
        "store `db`: no such file",
    ));
    let report = status([&job], &listings, &records, "2026-01-01T10:00:00Z");
    assert_eq!(report.jobs[0].consecutive_failures, 2);
    assert_eq!(
        report.jobs[0]
            .last_failure
            .as_ref()
            .unwrap()
            .error
            .as_deref(),
        Some("store `db`: no such file")
    );
    assert_eq!(
        report.jobs[0].message,
        "last run 20260101T090000Z failed: store `db`: no such file"
    );

    records.push(run("app", "2026-01-01T11:00:00Z", &[("local", None)]));
    let report = status([&job], &listings, &records, "2026-01-01T12:00:00Z");
    assert_eq!(report.state, State::Ok);
    assert_eq!(report.jobs[0].consecutive_failures, 0);
    assert_eq!(report.jobs[0].failures_total, 2);
}

#[test]
fn an_unreadable_destination_is_unknown_unless_something_is_critical() {
    let (mut job, mut listings, records) = daily();
    if let JobKind::Backup(backup) = &mut job.kind {
        backup.to.push(Name::new("offsite").unwrap());
    }
    listings.insert(
        "offsite".to_owned(),
        Err("cannot list s3://b/p: connection refused".to_owned()),
    );
    let report = status([&job], &listings, &records, "2026-01-01T01:00:00Z");
    assert_eq!(report.state, State::Unknown);
    assert_eq!(
        report.jobs[0].message,
        "destination `offsite` cannot be read: cannot list s3://b/p: connection refused"
    );
    assert!(!report.jobs[0].destinations[1].readable());
    // UNKNOWN is worse than a missed schedule...
    let report = status([&job], &listings, &records, "2026-01-02T01:00:00Z");
    assert_eq!(report.state, State::Unknown);
    // ...and CRITICAL worse than UNKNOWN.
    let report = status([&job], &listings, &records, "2026-01-02T06:00:00Z");
    assert_eq!(report.state, State::Critical);
    // With no destination readable nothing is known about freshness.
    listings.insert("local".to_owned(), Err("permission denied".to_owned()));
    let report = status([&job], &listings, &records, "2026-01-05T00:00:00Z");
    assert_eq!(report.state, State::Unknown);
    assert!(report.jobs[0].newest.is_none());
}

#[test]
fn a_failed_verify_of_a_backup_job_is_critical() {
    let (job, listings, mut records) = daily();
    records.push(verify_run("check", "app", "2026-01-01T01:00:00Z", false));
    let report = status([&job], &listings, &records, "2026-01-01T02:00:00Z");
    assert_eq!(report.state, State::Critical);
    assert_eq!(
        report.jobs[0].message,
        "last verify 20260101T010000Z failed: check failed: select count(*) from users >= 1 (got 0)"
    );
    let verify = report.jobs[0].last_verify.as_ref().unwrap();
    assert_eq!(verify.run_by, "check");
    // A verify run is not a run of the backup job.
    assert_eq!(
        report.jobs[0].last_run.as_ref().unwrap().id,
        "20260101T000000Z"
    );

    records.push(verify_run("check", "app", "2026-01-01T03:00:00Z", true));
    let report = status([&job], &listings, &records, "2026-01-01T04:00:00Z");
    assert_eq!(report.state, State::Ok);
}

#[test]
fn verify_jobs_warn_until_they_run_and_fail_with_their_checks() {
    let (app, listings, mut records) = daily();
    let check = verify_job("check", "app", "0 3 * * *");
    let jobs = [app, check];
    let report = status(&jobs, &listings, &records, "2026-01-01T01:00:00Z");
    assert_eq!(report.state, State::Warning);
    assert_eq!(report.jobs[1].message, "has never run");
    assert_eq!(report.jobs[1].verifies.as_deref(), Some("app"));

    records.push(verify_run("check", "app", "2026-01-01T03:00:00Z", true));
    let report = status(&jobs, &listings, &records, "2026-01-01T04:00:00Z");
    assert_eq!(report.state, State::Ok);
    assert_eq!(report.jobs[1].message, "last verify passed 1h ago");

    // The next day's verify did not happen (grace: 1 hour).
    let report = status(&jobs, &listings, &records, "2026-01-02T04:00:00Z");
    assert_eq!(report.jobs[1].state, State::Warning);
    assert_eq!(
        report.jobs[1].message,
        "missed its run scheduled for 2026-01-02 03:00 UTC: last verify is 25h old"
    );

    records.push(verify_run("check", "app", "2026-01-02T03:00:00Z", false));
    let report = status(&jobs, &listings, &records, "2026-01-02T04:00:00Z");
    assert_eq!(report.jobs[1].state, State::Critical);
    assert_eq!(report.jobs[1].failures_total, 1);
    // The backup job it verifies is critical too.
    assert_eq!(report.jobs[0].state, State::Critical);
}

#[test]
fn the_overall_state_is_the_worst_job_with_critical_before_unknown() {
    let (ok, listings, records) = daily();
    let mut all = listings.clone();
    all.insert("broken".to_owned(), Err("not a directory".to_owned()));
    let unknown = job("blind", "0 0 * * *", &["broken"]);
    let never = job("never", "0 0 * * *", &["local"]);
    let now = "2026-01-01T01:00:00Z";
    assert_eq!(status([], &all, &records, now).state, State::Ok);
    assert_eq!(status([&ok], &all, &records, now).state, State::Ok);
    let report = status([&ok, &unknown], &all, &records, now);
    assert_eq!(report.state, State::Unknown);
    assert_eq!(report.state.exit_status(), crate::ExitStatus::Unknown);
    let report = status([&ok, &unknown, &never], &all, &records, now);
    assert_eq!(report.state, State::Critical);
    assert_eq!(report.state.code(), 2);
    assert_eq!(
        report
            .jobs
            .iter()
            .map(|j| j.job.as_str())
            .collect::<Vec<_>>(),
        ["app", "blind", "never"]
    );
}

#[test]
fn without_history_the_newest_artifact_is_the_last_success() {
    let (job, listings, _) = daily();
    let report = status([&job], &listings, &[], "2026-01-01T01:00:00Z");
    let success = report.jobs[0].last_success.as_ref().unwrap();
    assert_eq!(success.finished_at, at("2026-01-01T00:01:30Z"));
    assert!(report.jobs[0].last_run.is_none());
}

#[test]
fn schedules_fire_in_the_configured_time_zone() {
    let (job, listings, records) = daily();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    // Midnight in Berlin is 23:00 UTC; the 00:00 UTC artifact is older.
    let report = evaluate_jobs(
        [&job],
        berlin,
        &listings,
        &Archives::new(),
        &records,
        at("2026-01-02T00:00:00Z"),
    );
    assert_eq!(report.state, State::Warning);
    assert_eq!(
        report.jobs[0].next_run.unwrap().to_rfc3339(),
        "2026-01-03T00:00:00+01:00"
    );
}

/// A basebackup job `pg` (rpo 1h, base backups nightly) with a base backup
/// at midnight starting at segment 2, and an archive of `segments`, the
/// last stored at `newest`.
fn archived(segments: &[&str], newest: &str) -> (Job, Listings, Archives) {
    let job = Job {
        rpo: Some(duration("1h")),
        ..job("pg", "0 0 * * *", &["local"])
    };
    let mut backup = artifact("pg", "2026-01-01T00:00:00Z", Reason::Scheduled);
    if let FoundState::Complete(manifest) = &mut backup.state {
        manifest.wal = Some(crate::manifest::WalRecord {
            system_identifier: "7000000000000000001".to_owned(),
            server_version: 150008,
            timeline: 1,
            start_lsn: "0/2000028".to_owned(),
            stop_lsn: "0/2000100".to_owned(),
            start_segment: "000000010000000000000002".to_owned(),
            stop_segment: "000000010000000000000002".to_owned(),
            segment_size: 16 << 20,
        });
    }
    let listings = listings(&[("local", vec![backup])]);
    let entries = segments
        .iter()
        .map(|name| crate::destinations::WalEntry {
            name: (*name).to_owned(),
            stored: format!("{name}.zst"),
            size: 1,
            modified: Some(at(newest)),
        })
        .collect();
    let archives = Archives::from([(
        "pg".to_owned(),
        BTreeMap::from([("local".to_owned(), Ok(entries))]),
    )]);
    (job, listings, archives)
}

fn archived_status(segments: &[&str], newest: &str, now: &str) -> Report {
    let (job, listings, archives) = archived(segments, newest);
    evaluate_jobs([&job], chrono_tz::UTC, &listings, &archives, &[], at(now))
}

#[test]
fn the_wal_archive_meets_the_rpo_of_a_basebackup_job() {
    let segments = ["000000010000000000000002", "000000010000000000000003"];
    // The base backup is 20h old, beyond the 1h rpo; the archive is fresh.
    let report = archived_status(&segments, "2026-01-01T19:50:00Z", "2026-01-01T20:00:00Z");
    assert_eq!(report.state, State::Ok, "{:?}", report.jobs[0].problems);
    assert!(
        report.jobs[0]
            .message
            .contains("newest archived WAL is 10m old"),
        "{}",
        report.jobs[0].message
    );
    assert_eq!(report.jobs[0].wal.as_ref().unwrap().segments, 2);
    // The archive stopped two hours ago: beyond the rpo.
    let stale = archived_status(&segments, "2026-01-01T18:00:00Z", "2026-01-01T20:00:00Z");
    assert_eq!(stale.state, State::Critical);
    assert!(
        stale.jobs[0]
            .message
            .contains("newest archived WAL is 2h old, beyond its rpo of 1h"),
        "{}",
        stale.jobs[0].message
    );
}

#[test]
fn a_hole_in_the_wal_archive_is_critical_and_named() {
    let report = archived_status(
        &["000000010000000000000002", "000000010000000000000004"],
        "2026-01-01T19:50:00Z",
        "2026-01-01T20:00:00Z",
    );
    assert_eq!(report.state, State::Critical);
    assert_eq!(
        report.jobs[0].message,
        "the WAL archive at `local` misses 000000010000000000000003 (000000010000000000000004 is archived after it): a restore past it fails"
    );
    // An empty archive says what to set up.
    let empty = archived_status(&[], "2026-01-01T19:50:00Z", "2026-01-01T20:00:00Z");
    assert!(
        empty.jobs[0].message.starts_with("no WAL is archived"),
        "{}",
        empty.jobs[0].message
    );
}
