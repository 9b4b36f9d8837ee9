//! `cairn apply` converges over time: once per simulated day for 400 days
//! (`CAIRN_NOW`), on the quickstart with its local destination. Every plan
//! lists exactly what the apply after it does, and what is left at the end
//! is exactly what the retention policy keeps.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::common::{cairn, copy_dir, root, run};

/// Artifact IDs per job at the quickstart's local destination.
fn artifacts(dir: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let backups = dir.join("backups");
    for job in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
        for id in std::fs::read_dir(job.path()).unwrap().flatten() {
            assert!(
                id.path().join("manifest.json").exists(),
                "{} has no manifest",
                id.path().display()
            );
            found.insert((
                job.file_name().to_string_lossy().into_owned(),
                id.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    found
}

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
            run(cairn(dir.path())
                .env("CAIRN_NOW", &now_text)
                .args(["--root", "root"])
                .args(args))
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

        let before = artifacts(dir.path());
        let apply = cairn_at(&["apply", "--auto-approve"]);
        assert_eq!(
            apply.code, 0,
            "day {day}: {}\n{}",
            apply.stdout, apply.stderr
        );
        let after = artifacts(dir.path());

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
        let left: BTreeSet<String> = artifacts(dir.path())
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
