//! `cairn apply` converges over time: once per simulated day for 400 days
//! (`CAIRN_NOW`), on the quickstart with its local destination. Every plan
//! lists exactly what the apply after it does, and what is left at the end
//! is exactly what the retention policy keeps.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::common::{copy_dir, local_artifacts, root, Cairn, Run};

#[test]
fn four_hundred_days_of_apply_leave_what_the_policy_predicts() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/quickstart"), dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join("backups"));
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 3, 0, 0).unwrap();
    let mut run_times = Vec::new();
    for day in 0..400 {
        let now = start + Duration::days(day);
        let now_text = now.to_rfc3339();
        let cairn_at = |args: &[&str]| {
            Cairn::new(dir.path())
                .env("CAIRN_NOW", &now_text)
                .args(["--root", "root"])
                .args(args)
                .run()
        };

        let plan = cairn_at(&["plan", "--json"]);
        assert_eq!(plan.code, 0, "day {day}: {}", plan.stderr);
        let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        let actions = plan["actions"].as_array().unwrap();
        let planned_runs: BTreeSet<String> = actions
            .iter()
            .filter(|a| a["action"] == "run")
            .map(|a| a["job"].as_str().unwrap().to_owned())
            .collect();
        let planned_prunes: BTreeSet<(String, String)> = actions
            .iter()
            .filter(|a| a["action"] == "prune")
            .map(|a| {
                (
                    a["job"].as_str().unwrap().to_owned(),
                    a["artifact"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // Every day at 03:00 both nightly jobs (02:30 + up to 10m jitter) are due.
        assert_eq!(
            planned_runs,
            BTreeSet::from(["app_db".to_owned(), "files".to_owned()]),
            "day {day}"
        );

        let before = local_artifacts(dir.path());
        let apply = cairn_at(&["apply", "--auto-approve"]);
        assert_eq!(
            apply.code, 0,
            "day {day}: {}\n{}",
            apply.stdout, apply.stderr
        );
        let after = local_artifacts(dir.path());

        let id = now.format("%Y%m%dT%H%M%SZ").to_string();
        let created: BTreeSet<_> = after.difference(&before).cloned().collect();
        let expected_created: BTreeSet<_> = planned_runs
            .iter()
            .map(|job| (job.clone(), id.clone()))
            .collect();
        assert_eq!(
            created, expected_created,
            "day {day}: the runs the plan listed, and only those, landed"
        );
        let deleted: BTreeSet<_> = before.difference(&after).cloned().collect();
        assert_eq!(
            deleted, planned_prunes,
            "day {day}: the prunes the plan listed, and only those, happened"
        );
        run_times.push(now);
    }

    // What the policy keeps of all those runs (daily=7, weekly=4, monthly=6), computed once.
    let policy = cairn::retention::parse_spec("daily=7,weekly=4,monthly=6").unwrap();
    let decisions = cairn::retention::apply(&policy, &run_times, chrono_tz::UTC);
    let kept: BTreeSet<String> = run_times
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.keep)
        .map(|(t, _)| t.format("%Y%m%dT%H%M%SZ").to_string())
        .collect();
    for job in ["app_db", "files"] {
        let left: BTreeSet<String> = local_artifacts(dir.path())
            .into_iter()
            .filter(|(j, _)| j == job)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(
            left, kept,
            "job {job}: what is left is what the policy keeps"
        );
    }
}

#[test]
fn a_failing_job_keeps_its_artifacts_and_does_not_stop_the_others() {
    let (dir, start) = twenty_days_of_quickstart();
    let cairn_at = |day: i64, args: &[&str]| quickstart_at(dir.path(), start, day, args);
    let files_before: BTreeSet<_> = local_artifacts(dir.path())
        .into_iter()
        .filter(|(j, _)| j == "files")
        .collect();
    assert!(
        files_before.len() > 7,
        "retention has kept several: {files_before:?}"
    );

    // The directory the `files` job backs up goes away: its runs fail.
    std::fs::rename(
        dir.path().join("data/files"),
        dir.path().join("data/files.moved"),
    )
    .unwrap();
    let apply = cairn_at(20, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        apply.stderr.contains("job `files` failed"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stderr.contains("is not a directory"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stdout.contains("did not land at `local`"),
        "the prunes say why they were skipped:\n{}",
        apply.stdout
    );
    // The other job ran and pruned as usual.
    let left = local_artifacts(dir.path());
    assert!(left.contains(&(
        "app_db".to_owned(),
        start
            .checked_add_signed(Duration::days(20))
            .unwrap()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    )));
    let files_after: BTreeSet<_> = left.into_iter().filter(|(j, _)| j == "files").collect();
    assert_eq!(
        files_after, files_before,
        "nothing of the failing job was pruned"
    );

    // The next plan says why its artifacts stay until a run lands.
    let plan = cairn_at(21, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("job `files`'s latest run failed at `local`"),
        "{}",
        plan.stdout
    );
    // It runs and fails again: still nothing of it is pruned.
    let apply = cairn_at(21, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1);
    assert_eq!(
        local_artifacts(dir.path())
            .into_iter()
            .filter(|(j, _)| j == "files")
            .collect::<BTreeSet<_>>(),
        files_before
    );
}

#[test]
fn a_clock_gone_backwards_prunes_nothing_and_the_plan_says_why() {
    let (dir, start) = twenty_days_of_quickstart();
    let cairn_at = |day: i64, args: &[&str]| quickstart_at(dir.path(), start, day, args);
    let before = local_artifacts(dir.path());

    // The clock jumps back ten days: every artifact from the last ten days
    // is "in the future", and the runs that are due would sort oldest.
    let plan = cairn_at(10, &["plan", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let prunes: Vec<&serde_json::Value> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "prune")
        .collect();
    assert!(prunes.is_empty(), "{prunes:?}");
    let newest_files = format!(
        "artifact {} is dated after now",
        (start + Duration::days(19)).format("%Y%m%dT%H%M%SZ")
    );
    let notes = plan["notes"].to_string();
    assert!(
        notes.contains("nothing of job `files` is pruned at `local`")
            && notes.contains(&newest_files),
        "{notes}"
    );
    // A run at the backward time (its artifact sorts oldest) lands, and
    // neither it nor anything else is pruned after it.
    let run = cairn_at(10, &["run", "files"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let apply = cairn_at(10, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let after = local_artifacts(dir.path());
    let landed = (
        "files".to_owned(),
        (start + Duration::days(10))
            .format("%Y%m%dT%H%M%SZ")
            .to_string(),
    );
    assert!(after.contains(&landed), "{after:?}");
    assert!(
        after.is_superset(&before),
        "something was pruned: {:?}",
        before.difference(&after)
    );

    // Once the clock is past the newest artifact again, retention resumes.
    let apply = cairn_at(21, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(
        local_artifacts(dir.path()).len() < after.len(),
        "retention resumed"
    );
}

/// The quickstart applied once a day for 20 days from 2026-03-01 03:00 UTC;
/// its directory and that start.
fn twenty_days_of_quickstart() -> (tempfile::TempDir, DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/quickstart"), dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join("backups"));
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap();
    for day in 0..20 {
        let apply = quickstart_at(dir.path(), start, day, &["apply", "--auto-approve"]);
        assert_eq!(apply.code, 0, "day {day}: {}", apply.stderr);
    }
    (dir, start)
}

/// `cairn --root root ARGS` in the quickstart `dir`, `day` days after `start`.
fn quickstart_at(dir: &std::path::Path, start: DateTime<Utc>, day: i64, args: &[&str]) -> Run {
    Cairn::new(dir)
        .env("CAIRN_NOW", (start + Duration::days(day)).to_rfc3339())
        .args(["--root", "root"])
        .args(args)
        .run()
}
