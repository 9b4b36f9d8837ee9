//! `cairn status --prometheus FILE`: the report as a node_exporter textfile
//! (Prometheus text format 0.0.4), written atomically — a temporary file in
//! the same directory, fsynced, renamed over FILE, mode 0644 — so the
//! collector never reads half a file. Point FILE into the collector's
//! `--collector.textfile.directory`, with a `.prom` name.
//!
//! Per job (label `job`):
//!
//! | metric | type | value |
//! | --- | --- | --- |
//! | `cairn_job_status` | gauge | the job's state as status exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN |
//! | `cairn_job_last_success_timestamp_seconds` | gauge | when the newest successful run finished (Unix time) |
//! | `cairn_job_last_run_duration_seconds` | gauge | how long the last run took |
//! | `cairn_job_last_run_size_bytes` | gauge | bytes the last backup run stored per destination |
//! | `cairn_job_consecutive_failures` | gauge | failed runs since the last one that did not fail |
//! | `cairn_job_failures_total` | counter | failed runs in the history |
//! | `cairn_job_last_verify_timestamp_seconds` | gauge | when the last verify of (or by) the job started |
//! | `cairn_job_last_verify_success` | gauge | 1 when that verify passed, 0 when it failed |
//! | `cairn_wal_newest_timestamp_seconds` | gauge | a basebackup job's newest archived WAL file, when it was stored (Unix time) |
//!
//! Per destination of a backup job (labels `job`, `destination`):
//!
//! | metric | type | value |
//! | --- | --- | --- |
//! | `cairn_destination_up` | gauge | 1 when the destination could be listed, 0 when not |
//! | `cairn_destination_artifacts` | gauge | good artifacts of the job there |
//! | `cairn_destination_artifact_bytes` | gauge | bytes they store |
//! | `cairn_destination_newest_artifact_timestamp_seconds` | gauge | the newest one's start (Unix time) |
//!
//! A value that is not known (no run yet, a destination that cannot be
//! read) has no sample, rather than a made-up 0.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Report;

/// One metric family: its samples, as (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn job(&mut self, job: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.samples.push((vec![("job", job.to_owned())], value));
        }
    }

    fn destination(&mut self, job: &str, destination: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.samples.push((
                vec![
                    ("job", job.to_owned()),
                    ("destination", destination.to_owned()),
                ],
                value,
            ));
        }
    }
}

/// The textfile for `report`.
pub fn render(report: &Report) -> String {
    let mut status = Family::new(
        "cairn_job_status",
        "gauge",
        "State of the job as cairn status exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    );
    let mut last_success = Family::new(
        "cairn_job_last_success_timestamp_seconds",
        "gauge",
        "When the job's newest successful run finished, in Unix time.",
    );
    let mut duration = Family::new(
        "cairn_job_last_run_duration_seconds",
        "gauge",
        "How long the job's last run took.",
    );
    let mut size = Family::new(
        "cairn_job_last_run_size_bytes",
        "gauge",
        "Bytes the job's last run stored at each destination.",
    );
    let mut consecutive = Family::new(
        "cairn_job_consecutive_failures",
        "gauge",
        "Failed runs of the job since the last one that did not fail.",
    );
    let mut failures = Family::new(
        "cairn_job_failures_total",
        "counter",
        "Failed runs of the job in the run history.",
    );
    let mut verify_time = Family::new(
        "cairn_job_last_verify_timestamp_seconds",
        "gauge",
        "When the last verify of (or by) the job started, in Unix time.",
    );
    let mut verify_success = Family::new(
        "cairn_job_last_verify_success",
        "gauge",
        "1 when the last verify of (or by) the job passed, 0 when it failed.",
    );
    let mut wal_newest = Family::new(
        "cairn_wal_newest_timestamp_seconds",
        "gauge",
        "When a basebackup job's newest archived WAL file was stored, in Unix time.",
    );
    let mut up = Family::new(
        "cairn_destination_up",
        "gauge",
        "1 when cairn could list the destination, 0 when not.",
    );
    let mut artifacts = Family::new(
        "cairn_destination_artifacts",
        "gauge",
        "Good artifacts (complete, not safety backups) of the job at the destination.",
    );
    let mut bytes = Family::new(
        "cairn_destination_artifact_bytes",
        "gauge",
        "Bytes stored by the job's good artifacts at the destination.",
    );
    let mut newest = Family::new(
        "cairn_destination_newest_artifact_timestamp_seconds",
        "gauge",
        "Start of the run that made the job's newest good artifact at the destination, in Unix time.",
    );
    for job in &report.jobs {
        let name = job.job.as_str();
        status.job(name, Some(f64::from(job.state.code())));
        last_success.job(
            name,
            job.last_success.as_ref().map(|s| seconds(s.finished_at)),
        );
        duration.job(
            name,
            job.last_run
                .as_ref()
                .map(|r| (r.finished_at - r.started_at).num_milliseconds().max(0) as f64 / 1000.0),
        );
        if job.verifies.is_none() {
            size.job(name, job.last_run.as_ref().map(|r| r.stored_bytes as f64));
        }
        consecutive.job(name, Some(job.consecutive_failures as f64));
        failures.job(name, Some(job.failures_total as f64));
        verify_time.job(
            name,
            job.last_verify.as_ref().map(|v| seconds(v.started_at)),
        );
        verify_success.job(
            name,
            job.last_verify
                .as_ref()
                .map(|v| f64::from(u8::from(v.outcome == crate::history::Outcome::Success))),
        );
        if let Some(wal) = &job.wal {
            wal_newest.job(name, wal.newest.as_ref().map(|(_, time)| seconds(*time)));
        }
        for destination in &job.destinations {
            let at = destination.destination.as_str();
            let readable = destination.readable();
            up.destination(name, at, Some(f64::from(u8::from(readable))));
            if readable {
                artifacts.destination(name, at, Some(destination.artifacts as f64));
                bytes.destination(name, at, Some(destination.stored_bytes as f64));
                newest.destination(
                    name,
                    at,
                    destination.newest.as_ref().map(|n| seconds(n.time)),
                );
            }
        }
    }
    let mut out = String::new();
    for family in [
        status,
        last_success,
        duration,
        size,
        consecutive,
        failures,
        verify_time,
        verify_success,
        wal_newest,
        up,
        artifacts,
        bytes,
        newest,
    ] {
        if family.samples.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "# HELP {} {}\n",
            family.name,
            escape_help(family.help)
        ));
        out.push_str(&format!("# TYPE {} {}\n", family.name, family.kind));
        for (labels, value) in &family.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            out.push_str(&format!(
                "{}{{{}}} {value}\n",
                family.name,
                labels.join(",")
            ));
        }
    }
    out
}

/// Writes the textfile for `report` to `path`, atomically, mode 0644.
pub fn write(path: &Path, report: &Report) -> std::io::Result<()> {
    crate::atomic::write_file(path, render(report).as_bytes(), 0o644)
}

fn seconds(time: DateTime<Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), r"two\nlines");
        assert_eq!(escape_help("a\\b\nc"), r"a\\b\nc");
    }

    #[test]
    fn whole_seconds_print_without_a_fraction() {
        let time = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format!("{}", seconds(time)), "1767225600");
        let later = time + chrono::Duration::milliseconds(1500);
        assert_eq!(format!("{}", seconds(later)), "1767225601.5");
    }
}
