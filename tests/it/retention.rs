//! `cairn retention` (SPEC §6, §11): its interface, and its policy checked
//! against the reference the SPEC names, `restic forget` as Debian 12 ships
//! it (restic 0.14), on random sets of timestamps for every combination of
//! tiers.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::common::retention::{
    disagreement, in_parallel, output, parse_time, reason_of, restic, retention, timestamps, utc,
    Kept, Policy, Random,
};
use crate::common::{root, Cairn};

// The interface (SPEC §11).

/// Timestamps with offsets, out of order and with a blank line, for
/// `daily=7,weekly=4,monthly=12`. Periods are UTC's, whatever the offset a
/// timestamp is written with.
const TIMES: &str = "\
2026-11-19T23:30:00-01:00
2026-11-20T08:00:00+02:00

2026-11-20T01:00:00Z
2026-11-15T12:00:00Z
2026-11-16T12:00:00Z
2026-09-01T00:00:00+03:00
2026-10-31T23:59:59Z
2026-08-31T10:00:00Z
2026-01-01T00:00:00Z
";

#[test]
fn retention_json_has_one_object_per_timestamp_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let run = retention(
        dir.path(),
        &["--policy", "daily=7,weekly=4,monthly=12", "--json"],
        TIMES,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // 23:30 at -01:00 is 00:30 UTC on the 20th, older than 01:00Z that day;
    // 2026-09-01T00:00+03:00 is still August in UTC; 2026-11-15 is the Sunday
    // of ISO week 46, 2026-11-16 the Monday of week 47.
    assert_eq!(
        value,
        serde_json::json!([
            {"time": "2026-11-19T23:30:00-01:00", "keep": false, "reasons": []},
            {"time": "2026-11-20T08:00:00+02:00", "keep": true, "reasons": ["daily", "weekly", "monthly"]},
            {"time": "2026-11-20T01:00:00Z", "keep": false, "reasons": []},
            {"time": "2026-11-15T12:00:00Z", "keep": true, "reasons": ["daily", "weekly"]},
            {"time": "2026-11-16T12:00:00Z", "keep": true, "reasons": ["daily"]},
            {"time": "2026-09-01T00:00:00+03:00", "keep": true, "reasons": ["daily", "weekly", "monthly"]},
            {"time": "2026-10-31T23:59:59Z", "keep": true, "reasons": ["daily", "weekly", "monthly"]},
            {"time": "2026-08-31T10:00:00Z", "keep": false, "reasons": []},
            {"time": "2026-01-01T00:00:00Z", "keep": true, "reasons": ["daily", "monthly"]},
        ])
    );
}

#[test]
fn retention_text_shows_what_is_kept_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let run = retention(
        dir.path(),
        &["--policy", "daily=7,weekly=4,monthly=12"],
        TIMES,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "\
prune  2026-11-19T23:30:00-01:00  outside daily=7, weekly=4, monthly=12
keep   2026-11-20T08:00:00+02:00  daily, weekly, monthly
prune  2026-11-20T01:00:00Z       outside daily=7, weekly=4, monthly=12
keep   2026-11-15T12:00:00Z       daily, weekly
keep   2026-11-16T12:00:00Z       daily
keep   2026-09-01T00:00:00+03:00  daily, weekly, monthly
keep   2026-10-31T23:59:59Z       daily, weekly, monthly
prune  2026-08-31T10:00:00Z       outside daily=7, weekly=4, monthly=12
keep   2026-01-01T00:00:00Z       daily, monthly

6 kept, 3 pruned by daily=7, weekly=4, monthly=12 (periods in UTC).
"
    );
}

#[test]
fn retention_periods_follow_the_configured_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(root().join("examples/quickstart/backup.toml")).unwrap();
    assert!(config.contains("timezone = \"UTC\""));
    std::fs::write(
        dir.path().join("backup.toml"),
        config.replacen("timezone = \"UTC\"", "timezone = \"Pacific/Kiritimati\"", 1),
    )
    .unwrap();
    // One UTC day, but 01:00 on the 21st and 23:00 on the 20th at UTC+14.
    let times = "2026-11-20T11:00:00Z\n2026-11-20T09:00:00Z\n";
    let run = retention(dir.path(), &["--policy", "daily=2"], times);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "\
keep   2026-11-20T11:00:00Z  daily
keep   2026-11-20T09:00:00Z  daily

2 kept, 0 pruned by daily=2 (periods in Pacific/Kiritimati).
"
    );
    let utc = retention(
        dir.path(),
        &["--config", "missing.toml", "--policy", "daily=2", "--json"],
        times,
    );
    assert_eq!(utc.code, 0, "{}", utc.stderr);
    let keep: Vec<serde_json::Value> = serde_json::from_str::<Vec<serde_json::Value>>(&utc.stdout)
        .unwrap()
        .into_iter()
        .map(|item| item["keep"].clone())
        .collect();
    assert_eq!(keep, [true, false], "without a config, periods are UTC's");
}

#[test]
fn retention_rejects_a_bad_timestamp_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = retention(
        dir.path(),
        &["--policy", "daily=7", "--json"],
        "2026-11-20T02:00:00Z\n\n2026-11-20 02:00\n",
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("line 3: `2026-11-20 02:00` is not an RFC 3339 timestamp"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "nothing is printed for partial input");
}

#[test]
fn retention_rejects_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    for (policy, message) in [
        ("dayly=7", "--policy: unknown rule `dayly`"),
        ("daily=seven", "--policy: `daily=seven`"),
        ("within=1y", "--policy: invalid duration `1y`"),
        ("", "--policy: the policy is empty"),
    ] {
        let run = retention(
            dir.path(),
            &["--policy", policy, "--json"],
            "2026-11-20T02:00:00Z\n",
        );
        assert_eq!(run.code, 1, "{policy}: {}", run.stdout);
        assert!(run.stderr.contains(message), "{policy}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
}

// The reference: restic 0.14's `forget`.

/// For random sets of timestamps and every combination of tiers, cairn keeps
/// what `restic forget --dry-run --json` keeps of snapshots with the same
/// times, for the same reasons.
#[test]
fn retention_keeps_what_restic_forget_keeps() {
    let version = Command::new("restic").arg("version").output();
    let version = match version {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => panic!(
            "restic is not installed: retention is checked against restic 0.14's `forget` \
             (Debian 12's restic); run the suite with scripts/test, which installs it \
             (scripts/servers install)"
        ),
    };

    // Three sets, each a host of its own in one repository, so that one
    // `forget` per policy decides for every set: each restic command spends
    // about 0.3 s of CPU deriving the repository key, and there are 127
    // policies.
    let sets: BTreeMap<String, BTreeSet<DateTime<Utc>>> = [
        // Ends on Friday 2025-01-03: 2024-12-30 is in ISO week 1 of 2025.
        (0x9e37_79b9_7f4a_7c15, utc(2025, 1, 3, 9, 17, 23)),
        // Ends on 2024-03-01, the day after a leap day.
        (0xd1b5_4a32_d192_ed03, utc(2024, 3, 1, 0, 30, 0)),
        // Ends on Monday 2021-01-04, after week 53 of 2020.
        (0x2545_f491_4f6c_dd1d, utc(2021, 1, 4, 8, 0, 0)),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, (seed, newest))| (format!("set{index}"), timestamps(seed, newest)))
    .collect();

    let scratch = tempfile::tempdir().unwrap();
    let repository = scratch.path().join("repository");
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("file"), "cairn").unwrap();
    output(restic(&repository).args(["init", "--quiet"]));

    let snapshots: Vec<(&String, &DateTime<Utc>)> = sets
        .iter()
        .flat_map(|(host, times)| times.iter().map(move |time| (host, time)))
        .collect();
    in_parallel(&snapshots, |(host, time)| {
        output(
            restic(&repository)
                .args(["backup", "--quiet", "--tag", "cairn", "--host", host])
                .arg("--time")
                .arg(time.format("%Y-%m-%d %H:%M:%S").to_string())
                .arg(&data),
        );
    });

    // Snapshot IDs -> (host, time), checking that restic took the times as UTC.
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&output(restic(&repository).args(["snapshots", "--json"]))).unwrap();
    let mut by_id: BTreeMap<String, (String, DateTime<Utc>)> = BTreeMap::new();
    for snapshot in listed {
        by_id.insert(
            snapshot["id"].as_str().unwrap().to_owned(),
            (
                snapshot["hostname"].as_str().unwrap().to_owned(),
                parse_time(snapshot["time"].as_str().unwrap()),
            ),
        );
    }
    for (host, times) in &sets {
        let restic_times: BTreeSet<DateTime<Utc>> = by_id
            .values()
            .filter(|(h, _)| h == host)
            .map(|(_, time)| *time)
            .collect();
        assert_eq!(&restic_times, times, "restic's snapshots of {host}");
    }

    // Every non-empty combination of the seven tiers, counts drawn per combination.
    let mut random = Random(0x5851_f42d_4c95_7f2d);
    let policies: Vec<Policy> = (1..(1 << 7))
        .map(|mask| Policy::new(mask, &mut random))
        .collect();
    // cairn reads the timestamps in an order of their own, not sorted.
    let inputs: BTreeMap<String, String> = sets
        .iter()
        .map(|(host, times)| {
            let mut times: Vec<&DateTime<Utc>> = times.iter().collect();
            for i in (1..times.len()).rev() {
                times.swap(i, random.between(0, i as i64) as usize);
            }
            let lines: Vec<String> = times
                .iter()
                .map(|t| format!("{}\n", t.to_rfc3339()))
                .collect();
            (host.clone(), lines.concat())
        })
        .collect();
    let cwd = scratch.path();

    let failures = Mutex::new(Vec::new());
    in_parallel(&policies, |policy| {
        let spec = policy.spec();
        // Even a dry run of `forget` locks the repository exclusively, and
        // these run in parallel.
        let forget = output(
            restic(&repository)
                .args([
                    "--no-lock",
                    "forget",
                    "--dry-run",
                    "--json",
                    "--group-by",
                    "host",
                ])
                .args(policy.restic_args()),
        );
        let groups: Vec<serde_json::Value> = serde_json::from_str(&forget).unwrap();
        assert_eq!(groups.len(), sets.len(), "one group per set: {forget}");
        for group in groups {
            let host = group["host"].as_str().unwrap();
            let mut restic_kept: Kept = sets[host].iter().map(|time| (*time, Vec::new())).collect();
            let snapshots = |key: &str| group[key].as_array().cloned().unwrap_or_default();
            let decided: Vec<serde_json::Value> = [snapshots("keep"), snapshots("remove")].concat();
            assert_eq!(
                decided.len(),
                sets[host].len(),
                "restic decides on each of {host}"
            );
            let kept_times: BTreeSet<DateTime<Utc>> = snapshots("keep")
                .iter()
                .map(|snapshot| by_id[snapshot["id"].as_str().unwrap()].1)
                .collect();
            for reason in snapshots("reasons") {
                let time = parse_time(reason["snapshot"]["time"].as_str().unwrap());
                let reasons = restic_kept.get_mut(&time).unwrap();
                for matched in reason["matches"].as_array().unwrap() {
                    reasons.push(reason_of(matched.as_str().unwrap()).to_owned());
                }
            }
            let with_reasons: BTreeSet<DateTime<Utc>> = restic_kept
                .iter()
                .filter(|(_, reasons)| !reasons.is_empty())
                .map(|(time, _)| *time)
                .collect();
            assert_eq!(
                kept_times, with_reasons,
                "restic gives a reason for each kept snapshot"
            );

            let run = retention(
                cwd,
                &["--config", "missing.toml", "--policy", &spec, "--json"],
                &inputs[host],
            );
            assert_eq!(
                run.code, 0,
                "cairn retention --policy {spec}: {}",
                run.stderr
            );
            let items: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(
                items.len(),
                sets[host].len(),
                "one decision per timestamp: {}",
                run.stdout
            );
            let cairn_kept: Kept = items
                .iter()
                .map(|item| {
                    let reasons: Vec<String> = item["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|reason| reason.as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(
                        item["keep"].as_bool().unwrap(),
                        !reasons.is_empty(),
                        "{item}"
                    );
                    (parse_time(item["time"].as_str().unwrap()), reasons)
                })
                .collect();
            if cairn_kept != restic_kept {
                failures
                    .lock()
                    .unwrap()
                    .push(disagreement(&spec, host, &restic_kept, &cairn_kept));
            }
        }
    });

    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "cairn and {version} disagree on {} of {} policies x sets (periods in UTC); the first:\n{}",
        failures.len(),
        policies.len() * sets.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

#[test]
fn a_policy_change_is_reviewed_timestamp_by_timestamp() {
    let input =
        "2026-11-20T02:00:00Z\n2026-11-19T02:00:00Z\n2026-11-18T02:00:00Z\n2026-11-12T02:00:00Z\n";
    let text = Cairn::new(&root())
        .args(["--config", "/nonexistent/backup.toml", "retention"])
        .args(["--policy", "daily=2", "--against-policy", "daily=7"])
        .stdin(input)
        .status(0)
        .run();
    assert!(
        text.stdout
            .contains("2026-11-18T02:00:00Z  keep (daily)  prune -"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("before (daily=7): 4 kept; after (daily=2): 2 kept (periods in UTC)."),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "The change prunes 2 that the old policy keeps: 2026-11-18T02:00:00Z, 2026-11-12T02:00:00Z."
        ),
        "{}",
        text.stdout
    );
    let json = Cairn::new(&root())
        .args(["--config", "/nonexistent/backup.toml", "retention"])
        .args([
            "--policy",
            "daily=2",
            "--against-policy",
            "daily=7",
            "--json",
        ])
        .stdin(input)
        .status(0)
        .run();
    let items: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(items[2]["time"], "2026-11-18T02:00:00Z");
    assert_eq!(items[2]["before"]["keep"], true);
    assert_eq!(items[2]["after"]["keep"], false);
    assert_eq!(items[0]["after"]["reasons"], serde_json::json!(["daily"]));
}

#[test]
fn a_policy_change_is_reviewed_against_the_jobs_artifacts() {
    let sandbox = crate::common::status::sandbox();
    for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        sandbox.run_at(&format!("{day}T00:00:00Z"), "files", 0);
    }
    let json = sandbox
        .cairn(&[
            "retention",
            "--policy",
            "keep_last=1",
            "--against-policy",
            "keep_last=10",
        ])
        .args(["--from-inventory", "files", "--json"])
        .status(0)
        .run();
    let items: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    let times: Vec<&str> = items.iter().map(|i| i["time"].as_str().unwrap()).collect();
    assert_eq!(
        times,
        [
            "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-03T00:00:00Z"
        ]
    );
    let kept_after: Vec<bool> = items.iter().map(|i| i["after"]["keep"] == true).collect();
    assert_eq!(kept_after, [false, false, true]);
    assert!(items.iter().all(|i| i["before"]["keep"] == true));
}
