//! `cairn status` (SPEC §9) on real artifacts: a directory store backed up
//! with `cairn run` to local destinations under fixed `CAIRN_NOW`s, then
//! status at later times. Exit codes follow the monitoring-plugin
//! convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::common::disk_usage;
use crate::common::status::{job, parse_textfile, row, sample, sandbox, CONFIG};

/// The first backup, and its artifact ID.
const FIRST: &str = "2026-01-01T00:00:00Z";
const FIRST_ID: &str = "20260101T000000Z";

#[test]
fn a_backup_is_ok_then_late_past_its_schedule_then_critical_past_its_rpo() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    sandbox.run_at("2026-01-01T03:00:00Z", "check", 0);

    let fresh = sandbox.status("2026-01-01T03:05:00Z", &[], 0);
    assert_eq!(
        row(&fresh.stdout, "JOB"),
        ["JOB", "STATE", "NEWEST", "NEXT", "RUN", "MESSAGE"]
    );
    assert_eq!(
        row(&fresh.stdout, "files")[..4],
        ["files", "OK", "3h", "2026-01-02T00:00:00Z"]
    );
    assert!(
        fresh.stdout.contains("newest good artifact is 3h old"),
        "{}",
        fresh.stdout
    );
    assert!(
        fresh.stdout.contains(&format!(
            "destination local: newest {FIRST_ID} (3h old); 1 artifact"
        )),
        "{}",
        fresh.stdout
    );
    assert!(
        fresh.stdout.contains("last verify passed 5m ago"),
        "{}",
        fresh.stdout
    );
    assert!(
        fresh.stdout.contains("Status: OK (2 ok)."),
        "{}",
        fresh.stdout
    );

    // The midnight run is missing, but a run may take an hour (no timeout set).
    sandbox.status("2026-01-02T00:59:00Z", &[], 0);
    let late = sandbox.status("2026-01-02T01:30:00Z", &[], 1);
    assert_eq!(row(&late.stdout, "files")[1], "WARNING");
    assert!(
        late.stdout.contains(
            "missed its run scheduled for 2026-01-02 00:00 UTC: newest good artifact is 25h old"
        ),
        "{}",
        late.stdout
    );

    let stale = sandbox.status("2026-01-02T02:01:00Z", &[], 2);
    assert_eq!(row(&stale.stdout, "files")[1], "CRITICAL");
    assert!(
        stale
            .stdout
            .contains("newest good artifact is 26h old, beyond its rpo of 1d2h"),
        "{}",
        stale.stdout
    );
    assert!(
        stale.stdout.contains("Status: CRITICAL"),
        "{}",
        stale.stdout
    );

    // A new backup makes the job fresh again.
    sandbox.run_at("2026-01-02T02:30:00Z", "files", 0);
    sandbox.status("2026-01-02T02:35:00Z", &[], 0);
}

#[test]
fn json_is_versioned_and_describes_every_job_and_destination() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    sandbox.run_at("2026-01-01T00:10:00Z", "files", 0);
    let report = sandbox.status_json("2026-01-01T01:00:00Z", 1);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["now"], "2026-01-01T01:00:00Z");
    assert_eq!(report["timezone"], "UTC");
    // `check` never ran: a warning, the worst state.
    assert_eq!(report["state"], "warning");
    assert_eq!(report["exit_code"], 1);
    let check = job(&report, "check");
    assert_eq!(check["kind"], "verify");
    assert_eq!(check["verifies"], "files");
    assert_eq!(check["message"], "has never run");
    assert_eq!(check["next_run"], "2026-01-01T03:00:00Z");

    let files = job(&report, "files");
    assert_eq!(files["state"], "ok");
    assert_eq!(files["kind"], "backup");
    assert_eq!(files["problems"], Value::Array(Vec::new()));
    assert_eq!(files["schedule"], "0 0 * * *");
    assert_eq!(files["rpo"], "1d2h");
    assert_eq!(files["next_run"], "2026-01-02T00:00:00Z");
    assert_eq!(files["newest"]["id"], "20260101T001000Z");
    assert_eq!(files["newest"]["destination"], "local");
    assert_eq!(files["newest"]["age_seconds"], 50 * 60);
    assert_eq!(files["last_run"]["id"], "20260101T001000Z");
    assert_eq!(files["last_run"]["outcome"], "success");
    assert_eq!(files["last_success"]["id"], "20260101T001000Z");
    assert_eq!(files["last_failure"], Value::Null);
    assert_eq!(files["consecutive_failures"], 0);
    assert_eq!(files["failures_total"], 0);
    assert_eq!(files["last_verify"], Value::Null);
    let local = &files["destinations"][0];
    assert_eq!(local["destination"], "local");
    assert_eq!(local["readable"], true);
    assert_eq!(local["artifacts"], 2);
    assert_eq!(local["last_outcome"], "success");
    // The bytes of both artifacts as they lie on disk.
    let on_disk: u64 = disk_usage(&sandbox.path().join("backups/files"));
    assert_eq!(local["stored_bytes"], on_disk);
}

#[test]
fn a_failed_run_is_critical_until_a_run_succeeds() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    std::fs::rename(
        sandbox.path().join("files"),
        sandbox.path().join("files.away"),
    )
    .unwrap();
    sandbox.run_at("2026-01-01T06:00:00Z", "files", 1);

    let failed = sandbox.status("2026-01-01T06:05:00Z", &[], 2);
    assert_eq!(row(&failed.stdout, "files")[1], "CRITICAL");
    assert!(
        failed
            .stdout
            .contains("last run 20260101T060000Z failed: store `files`: "),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("is not a directory"),
        "{}",
        failed.stdout
    );
    let report = sandbox.status_json("2026-01-01T06:05:00Z", 2);
    let files = job(&report, "files");
    assert_eq!(files["last_run"]["outcome"], "failed");
    assert_eq!(files["last_failure"]["id"], "20260101T060000Z");
    assert_eq!(files["consecutive_failures"], 1);
    // The earlier backup still counts.
    assert_eq!(files["newest"]["id"], FIRST_ID);
    assert_eq!(files["last_success"]["id"], FIRST_ID);

    std::fs::rename(
        sandbox.path().join("files.away"),
        sandbox.path().join("files"),
    )
    .unwrap();
    sandbox.run_at("2026-01-01T07:00:00Z", "files", 0);
    sandbox.run_at("2026-01-01T07:10:00Z", "check", 0);
    let report = sandbox.status_json("2026-01-01T07:15:00Z", 0);
    let files = job(&report, "files");
    assert_eq!(files["consecutive_failures"], 0);
    assert_eq!(files["failures_total"], 1);
    assert_eq!(files["last_failure"]["id"], "20260101T060000Z");
}

#[test]
fn a_failed_verify_is_critical_for_both_jobs() {
    let sandbox = sandbox();
    std::fs::remove_file(sandbox.path().join("files/b.txt")).unwrap();
    sandbox.run_at(FIRST, "files", 0);
    // One file where the check wants two.
    sandbox.run_at("2026-01-01T03:00:00Z", "check", 1);
    let status = sandbox.status("2026-01-01T03:05:00Z", &[], 2);
    assert_eq!(row(&status.stdout, "check")[1], "CRITICAL");
    assert_eq!(row(&status.stdout, "files")[1], "CRITICAL");
    assert!(
        status
            .stdout
            .contains("last verify 20260101T030000Z failed: check failed: files >= 2"),
        "{}",
        status.stdout
    );
    let report = sandbox.status_json("2026-01-01T03:05:00Z", 2);
    let verify = &job(&report, "files")["last_verify"];
    assert_eq!(verify["run_by"], "check");
    assert_eq!(verify["outcome"], "failed");
    assert_eq!(verify["artifact"], FIRST_ID);
    assert_eq!(verify["destination"], "local");
    assert_eq!(verify["failed_checks"][0], "files >= 2 (got 1)");
}

#[test]
fn an_unreadable_destination_is_unknown_unless_something_is_critical() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    sandbox.run_at("2026-01-01T03:00:00Z", "check", 0);
    // A second destination that cannot be listed: its path is a file.
    std::fs::write(sandbox.path().join("not-a-dir"), "").unwrap();
    sandbox.write_config(
        &CONFIG
            .replace(
                "[jobs.files]",
                "[destinations.second]\nkind = \"local\"\npath = \"not-a-dir\"\n\n[jobs.files]",
            )
            .replace("to = [\"local\"]", "to = [\"local\", \"second\"]"),
    );
    let status = sandbox.status("2026-01-01T03:05:00Z", &[], 3);
    assert_eq!(row(&status.stdout, "files")[1], "UNKNOWN");
    assert!(
        status
            .stdout
            .contains("destination `second` cannot be read: cannot list "),
        "{}",
        status.stdout
    );
    let report = sandbox.status_json("2026-01-01T03:05:00Z", 3);
    assert_eq!(report["state"], "unknown");
    let second = &job(&report, "files")["destinations"][1];
    assert_eq!(second["readable"], false);
    assert!(
        second["error"].as_str().unwrap().contains("not-a-dir"),
        "{second}"
    );

    // UNKNOWN outranks a missed schedule, CRITICAL outranks UNKNOWN.
    sandbox.status("2026-01-02T01:30:00Z", &[], 3);
    sandbox.status("2026-01-02T03:00:00Z", &[], 2);
}

#[test]
fn status_that_cannot_tell_is_unknown_not_an_error() {
    let sandbox = sandbox();
    sandbox.write_config("[jobs.files\n");
    let invalid = sandbox.status(FIRST, &[], 3);
    assert!(
        invalid.stderr.contains("TOML syntax error"),
        "{}",
        invalid.stderr
    );
    assert!(
        invalid.stdout.contains("Status: UNKNOWN"),
        "{}",
        invalid.stdout
    );
    let report = sandbox.status_json(FIRST, 3);
    assert_eq!(report["state"], "unknown");
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["jobs"], Value::Array(Vec::new()));
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("backup.toml is invalid"),
        "{report:#}"
    );

    sandbox.write_config(CONFIG);
    let bad_clock = sandbox.status("yesterday", &[], 3);
    assert!(
        bad_clock.stderr.contains("CAIRN_NOW=`yesterday`"),
        "{}",
        bad_clock.stderr
    );
}

#[test]
fn the_prometheus_textfile_parses_and_omits_what_is_unknown() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    std::fs::rename(
        sandbox.path().join("files"),
        sandbox.path().join("files.away"),
    )
    .unwrap();
    sandbox.run_at("2026-01-01T06:00:00Z", "files", 1);
    std::fs::write(sandbox.path().join("not-a-dir"), "").unwrap();
    sandbox.write_config(
        &CONFIG
            .replace(
                "[jobs.files]",
                "[destinations.second]\nkind = \"local\"\npath = \"not-a-dir\"\n\n[jobs.files]",
            )
            .replace("to = [\"local\"]", "to = [\"local\", \"second\"]"),
    );
    let textfile = sandbox.path().join("textfile/cairn.prom");
    std::fs::create_dir(sandbox.path().join("textfile")).unwrap();
    sandbox.status(
        "2026-01-01T06:05:00Z",
        &["--prometheus", textfile.to_str().unwrap()],
        2,
    );
    let mode = std::fs::metadata(&textfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let leftovers: Vec<_> = std::fs::read_dir(textfile.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["cairn.prom"],
        "no temporary file is left behind"
    );

    let samples = parse_textfile(&textfile);
    let files = serde_json::json!({"job": "files"});
    let check = serde_json::json!({"job": "check"});
    let at = |destination: &str| serde_json::json!({"job": "files", "destination": destination});
    assert_eq!(sample(&samples, "cairn_job_status", files.clone()), 2.0);
    assert_eq!(sample(&samples, "cairn_job_status", check.clone()), 1.0);
    assert_eq!(
        sample(&samples, "cairn_job_consecutive_failures", files.clone()),
        1.0
    );
    assert_eq!(
        sample(&samples, "cairn_job_failures_total", files.clone()),
        1.0
    );
    let counter = samples
        .iter()
        .find(|s| s.2 == "cairn_job_failures_total")
        .unwrap();
    assert_eq!(
        (counter.0.as_str(), counter.1.as_str()),
        ("cairn_job_failures", "counter")
    );
    // The last success is the first run, which finished within seconds of its start.
    let first = 1_767_225_600.0;
    let success = sample(
        &samples,
        "cairn_job_last_success_timestamp_seconds",
        files.clone(),
    );
    assert!((first..first + 60.0).contains(&success), "{success}");
    let duration = sample(
        &samples,
        "cairn_job_last_run_duration_seconds",
        files.clone(),
    );
    assert!((0.0..60.0).contains(&duration), "{duration}");
    assert_eq!(
        sample(&samples, "cairn_job_last_run_size_bytes", files.clone()),
        0.0
    );
    assert_eq!(sample(&samples, "cairn_destination_up", at("local")), 1.0);
    assert_eq!(sample(&samples, "cairn_destination_up", at("second")), 0.0);
    assert_eq!(
        sample(&samples, "cairn_destination_artifacts", at("local")),
        1.0
    );
    let bytes = disk_usage(&sandbox.path().join("backups/files")) as f64;
    assert_eq!(
        sample(&samples, "cairn_destination_artifact_bytes", at("local")),
        bytes
    );
    assert_eq!(
        sample(
            &samples,
            "cairn_destination_newest_artifact_timestamp_seconds",
            at("local")
        ),
        first
    );
    // Nothing is made up for what is not known.
    for (name, labels) in [
        ("cairn_destination_artifacts", at("second")),
        (
            "cairn_destination_newest_artifact_timestamp_seconds",
            at("second"),
        ),
        ("cairn_job_last_verify_timestamp_seconds", files.clone()),
        ("cairn_job_last_success_timestamp_seconds", check.clone()),
    ] {
        assert!(
            !samples.iter().any(|s| s.2 == name && s.3 == labels),
            "{name}{labels} has a sample but nothing is known"
        );
    }

    // After a verify, its time and result appear, and the file is replaced.
    std::fs::rename(
        sandbox.path().join("files.away"),
        sandbox.path().join("files"),
    )
    .unwrap();
    sandbox.run_at("2026-01-01T07:00:00Z", "check", 0);
    // Still CRITICAL: the last backup run failed.
    sandbox.status(
        "2026-01-01T07:05:00Z",
        &["--prometheus", textfile.to_str().unwrap()],
        2,
    );
    let samples = parse_textfile(&textfile);
    let verified = 1_767_250_800.0;
    for labels in [files.clone(), check.clone()] {
        assert_eq!(
            sample(
                &samples,
                "cairn_job_last_verify_timestamp_seconds",
                labels.clone()
            ),
            verified
        );
        assert_eq!(
            sample(&samples, "cairn_job_last_verify_success", labels),
            1.0
        );
    }
}

#[test]
fn status_notify_reports_a_stale_job_once_per_episode() {
    let sandbox = sandbox();
    let events = sandbox.path().join("events.log");
    sandbox.write_config(&format!(
        "{CONFIG}\n[notify.log]\nkind = \"command\"\ncommand = \"echo \\\"$CAIRN_EVENT $CAIRN_JOB $CAIRN_MESSAGE\\\" >> {}\"\non = [\"stale\"]\n",
        events.display()
    ));
    sandbox.run_at(FIRST, "files", 0);
    sandbox.run_at("2026-01-01T03:00:00Z", "check", 0);
    let log = || std::fs::read_to_string(&events).unwrap_or_default();

    // Fresh: nothing sent.
    sandbox.status("2026-01-01T06:00:00Z", &["--notify"], 0);
    assert_eq!(log(), "");
    // Beyond the rpo: one notice, however often status runs.
    sandbox.status("2026-01-02T03:00:00Z", &["--notify"], 2);
    sandbox.status("2026-01-02T04:00:00Z", &["--notify"], 2);
    let lines: Vec<String> = log()
        .lines()
        .filter(|l| l.starts_with("stale files "))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("stale files job `files` is stale: newest good artifact is"),
        "{lines:?}"
    );
    sandbox.run_at("2026-01-02T05:00:00Z", "files", 0);
    sandbox.run_at("2026-01-02T05:30:00Z", "check", 0);
    sandbox.status("2026-01-02T06:00:00Z", &["--notify"], 0);
    // Fresh again, then stale again: a new episode, a new notice.
    let before = log();
    // Without --notify: nothing is sent.
    sandbox.status("2026-01-04T06:00:00Z", &[], 2);
    assert_eq!(log(), before);
    sandbox.status("2026-01-04T06:00:00Z", &["--notify"], 2);
    assert_eq!(
        log()
            .lines()
            .filter(|l| l.starts_with("stale files "))
            .count(),
        2,
        "{}",
        log()
    );
}

#[test]
fn a_history_line_cut_by_a_crash_is_skipped_with_a_warning_and_runs_go_on() {
    let sandbox = sandbox();
    sandbox.run_at(FIRST, "files", 0);
    let file = sandbox.path().join("state/history/files.jsonl");
    let good = std::fs::read_to_string(&file).unwrap();
    // A crash while the next record was written: half a line, no newline.
    let cut = &good[..good.len() / 2];
    std::fs::write(&file, format!("{good}{cut}")).unwrap();
    let warning = format!("line 2 of the run history {} is damaged", file.display());

    let history = sandbox.cairn(&["history", "--json"]).run();
    let records: Vec<Value> = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(records.len(), 1, "{}", history.stdout);
    assert!(history.stderr.contains(&warning), "{}", history.stderr);

    // WARNING: `check` has never run.
    let status = sandbox.status("2026-01-01T01:00:00Z", &[], 1);
    assert!(status.stderr.contains(&warning), "{}", status.stderr);
    let plan = sandbox.cairn(&["plan"]).now("2026-01-01T01:00:00Z").run();
    assert!(plan.stdout.contains(&warning), "{}", plan.stdout);

    // The next run's record does not run into the cut line.
    sandbox.run_at("2026-01-02T00:00:00Z", "files", 0);
    let history = sandbox.cairn(&["history", "--json"]).run();
    let records: Vec<Value> = serde_json::from_str(&history.stdout).unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [FIRST_ID, "20260102T000000Z"]);
    assert!(history.stderr.contains(&warning), "{}", history.stderr);
}
