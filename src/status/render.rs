//! The human and JSON views of a status [`Report`] (the JSON is documented
//! in the module above).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use super::{
    DestinationStatus, JobStatus, LastFailure, LastRun, LastVerify, Newest, Report, State,
};
use crate::format::{age, human_bytes};
use crate::history::Outcome;

/// The version of the `--json` format.
pub const FORMAT_VERSION: u32 = 1;

/// A table with one line per job, then each job's details.
pub fn text(report: &Report) -> String {
    if report.jobs.is_empty() {
        return "No jobs are configured. Status: OK.\n".to_owned();
    }
    // A file for several hosts: which host each job runs on.
    let with_hosts = report.jobs.iter().any(|job| job.hosts.is_some());
    let rows: Vec<Vec<String>> = report
        .jobs
        .iter()
        .map(|job| {
            let mut row = vec![job.job.clone()];
            if with_hosts {
                row.push(hosts_of(job));
            }
            row.extend([
                label(job.state).to_owned(),
                job.newest
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |n| age(report.now - n.time)),
                job.next_run.as_ref().map_or_else(|| "-".to_owned(), time),
                job.message.clone(),
            ]);
            row
        })
        .collect();
    let mut header = vec!["JOB".to_owned()];
    if with_hosts {
        header.push("HOST".to_owned());
    }
    header.extend(["STATE", "NEWEST", "NEXT RUN", "MESSAGE"].map(str::to_owned));
    let mut widths = vec![0; header.len() - 1];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        line.push_str(row.last().map_or("", String::as_str));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for job in &report.jobs {
        out.push('\n');
        details(&mut out, job, report.now);
    }
    out.push_str(&format!("\nStatus: {}", label(report.state)));
    let counts: Vec<String> = [State::Critical, State::Unknown, State::Warning, State::Ok]
        .into_iter()
        .filter_map(|state| {
            let n = report.jobs.iter().filter(|j| j.state == state).count();
            (n > 0).then(|| format!("{n} {}", state.name()))
        })
        .collect();
    out.push_str(&format!(" ({}).\n", counts.join(", ")));
    out
}

/// The hosts a job runs on, for the table: `*` for every host.
fn hosts_of(job: &JobStatus) -> String {
    job.hosts
        .as_ref()
        .map_or_else(|| "*".to_owned(), |hosts| hosts.join(","))
}

fn details(out: &mut String, job: &JobStatus, now: DateTime<Utc>) {
    let mut about = match &job.verifies {
        Some(verifies) => format!("verifies `{verifies}`, schedule `{}`", job.schedule),
        None => format!("schedule `{}`", job.schedule),
    };
    if let Some(rpo) = job.rpo {
        about.push_str(&format!(", rpo {rpo}"));
    }
    out.push_str(&format!("{}: {} ({about})\n", job.job, label(job.state)));
    for problem in &job.problems {
        out.push_str(&format!(
            "  {:<8}  {}\n",
            label(problem.state),
            problem.message
        ));
    }
    for destination in &job.destinations {
        out.push_str(&format!(
            "  destination {}: {}\n",
            destination.destination,
            destination_line(destination, now)
        ));
    }
    if let Some(wal) = &job.wal {
        out.push_str(&match &wal.newest {
            Some((name, time)) => format!(
                "  WAL archive: newest {name} ({} old), {} segments\n",
                age(now - *time),
                wal.segments
            ),
            None => "  WAL archive: empty\n".to_owned(),
        });
    }
    // A verify job's runs are its verifies: the last one is shown below.
    if job.verifies.is_none() {
        let last_run = job.last_run.as_ref().map_or_else(
            || "none recorded".to_owned(),
            |run| {
                let took = span(run.finished_at - run.started_at);
                match run.outcome {
                    Outcome::Success => format!("{} succeeded in {took}", run.id),
                    Outcome::Failed => format!("{} failed after {took}", run.id),
                }
            },
        );
        out.push_str(&format!("  last run: {last_run}\n"));
    }
    if let Some(failure) = &job.last_failure {
        out.push_str(&format!(
            "  last failure: {}{}\n",
            failure.id,
            failure
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    let verify = job.last_verify.as_ref().map_or_else(
        || "none recorded".to_owned(),
        |verify| {
            let from = match (&verify.artifact, &verify.destination) {
                (Some(artifact), Some(destination)) => {
                    format!(" (artifact {artifact} from {destination})")
                }
                (Some(artifact), None) => format!(" (artifact {artifact})"),
                _ => String::new(),
            };
            let outcome = match verify.outcome {
                Outcome::Success => "passed",
                Outcome::Failed => "failed",
            };
            format!("{}{from} {outcome}", verify.id)
        },
    );
    out.push_str(&format!("  last verify: {verify}\n"));
}

/// "12s" under a minute, else as [`age`].
fn span(elapsed: chrono::Duration) -> String {
    match elapsed.num_seconds() {
        seconds @ ..=59 => format!("{}s", seconds.max(0)),
        _ => age(elapsed),
    }
}

fn destination_line(destination: &DestinationStatus, now: DateTime<Utc>) -> String {
    if let Some(error) = &destination.error {
        return format!("cannot be read: {error}");
    }
    let newest = destination.newest.as_ref().map_or_else(
        || "no good artifact".to_owned(),
        |n| format!("newest {} ({} old)", n.id, age(now - n.time)),
    );
    let plural = if destination.artifacts == 1 { "" } else { "s" };
    let last = match destination.last_outcome {
        Some(Outcome::Success) => "; last run succeeded here",
        Some(Outcome::Failed) => "; last run failed here",
        None => "",
    };
    format!(
        "{newest}; {} artifact{plural}, {}{last}",
        destination.artifacts,
        human_bytes(destination.stored_bytes)
    )
}

fn label(state: State) -> &'static str {
    match state {
        State::Ok => "OK",
        State::Warning => "WARNING",
        State::Critical => "CRITICAL",
        State::Unknown => "UNKNOWN",
    }
}

/// RFC 3339 to the second, `Z` for UTC.
fn time<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `--json` object.
pub fn json(report: &Report) -> String {
    let jobs: Vec<Value> = report
        .jobs
        .iter()
        .map(|job| job_json(job, report.now))
        .collect();
    pretty(&json!({
        "format_version": FORMAT_VERSION,
        "now": time(&report.now),
        "timezone": report.timezone.name(),
        "state": report.state.name(),
        "exit_code": report.state.code(),
        "jobs": jobs,
    }))
}

/// The `--json` object when status cannot tell anything: UNKNOWN, no jobs,
/// and why.
pub fn json_unknown(now: Option<DateTime<Utc>>, error: &str) -> String {
    pretty(&json!({
        "format_version": FORMAT_VERSION,
        "now": now.as_ref().map(time),
        "timezone": null,
        "state": State::Unknown.name(),
        "exit_code": State::Unknown.code(),
        "error": error,
        "jobs": [],
    }))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

fn job_json(job: &JobStatus, now: DateTime<Utc>) -> Value {
    json!({
        "job": job.job,
        "kind": if job.verifies.is_some() { "verify" } else { "backup" },
        "verifies": job.verifies,
        "state": job.state.name(),
        "message": job.message,
        "problems": job.problems.iter().map(|p| json!({"state": p.state.name(), "message": p.message})).collect::<Vec<_>>(),
        "schedule": job.schedule,
        "next_run": job.next_run.as_ref().map(time),
        "rpo": job.rpo.map(|rpo| rpo.to_string()),
        "newest": job.newest.as_ref().map(|n| newest_json(n, now, true)),
        "last_success": job.last_success.as_ref().map(|s| json!({
            "id": s.id,
            "started_at": time(&s.started_at),
            "finished_at": time(&s.finished_at),
        })),
        "last_run": job.last_run.as_ref().map(last_run_json),
        "last_failure": job.last_failure.as_ref().map(|f: &LastFailure| json!({
            "id": f.id,
            "started_at": time(&f.started_at),
            "error": f.error,
        })),
        "consecutive_failures": job.consecutive_failures,
        "failures_total": job.failures_total,
        "last_verify": job.last_verify.as_ref().map(last_verify_json),
        "hosts": job.hosts,
        "wal": job.wal.as_ref().map(|wal| json!({
            "newest": wal.newest.as_ref().map(|(name, stored)| json!({
                "file": name,
                "stored_at": time(stored),
                "age_seconds": (now - *stored).num_seconds(),
            })),
            "segments": wal.segments,
        })),
        "destinations": job.destinations.iter().map(|d| json!({
            "destination": d.destination,
            "readable": d.readable(),
            "error": d.error,
            "artifacts": d.artifacts,
            "stored_bytes": d.stored_bytes,
            "newest": d.newest.as_ref().map(|n| newest_json(n, now, false)),
            "last_outcome": d.last_outcome.map(outcome),
        })).collect::<Vec<_>>(),
    })
}

fn newest_json(newest: &Newest, now: DateTime<Utc>, with_destination: bool) -> Value {
    let mut value = json!({
        "id": newest.id,
        "time": time(&newest.time),
        "age_seconds": (now - newest.time).num_seconds(),
    });
    if with_destination {
        value["destination"] = json!(newest.destination);
    }
    value
}

fn last_run_json(run: &LastRun) -> Value {
    json!({
        "id": run.id,
        "started_at": time(&run.started_at),
        "finished_at": time(&run.finished_at),
        "duration_seconds": (run.finished_at - run.started_at).num_milliseconds() as f64 / 1000.0,
        "outcome": outcome(run.outcome),
        "error": run.error,
        "failed_destinations": run.failed_destinations,
        "stored_bytes": run.stored_bytes,
    })
}

fn last_verify_json(verify: &LastVerify) -> Value {
    json!({
        "run_by": verify.run_by,
        "id": verify.id,
        "started_at": time(&verify.started_at),
        "outcome": outcome(verify.outcome),
        "destination": verify.destination,
        "artifact": verify.artifact,
        "failed_checks": verify.failed_checks,
        "error": verify.error,
    })
}

fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failed => "failed",
    }
}
