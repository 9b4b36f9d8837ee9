//! `cairn retention` (SPEC §6, §11): its interface, and its policy checked
//! against the reference the SPEC names, `restic forget` as Debian 12 ships
//! it (restic 0.14), on random sets of timestamps for every combination of
//! tiers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::common::{cairn, root, Run};

/// Runs `command` with `input` on stdin.
fn run_with_stdin(command: &mut Command, input: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn runs");
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes());
    // cairn need not read what it rejects, e.g. after a bad --policy.
    if let Err(error) = written {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    let output = child.wait_with_output().expect("cairn runs");
    Run {
        code: output
            .status
            .code()
            .expect("cairn exits with a code, not a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `cairn retention` in `dir` with `times` on stdin; with no `backup.toml`
/// in `dir`, periods are those of UTC.
fn retention(dir: &Path, args: &[&str], times: &str) -> Run {
    run_with_stdin(cairn(dir).arg("retention").args(args), times)
}

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

/// A small, seeded xorshift generator: the same timestamps on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number from `low` to `high`, both included.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `within` durations (2d12h, 7d) for which every set has an artifact
/// exactly at the cutoff, which `within` does not keep (restic keeps those
/// strictly newer), and one a second after it.
const EXACT_WITHIN_HOURS: [i64; 2] = [60, 168];

fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .unwrap()
}

/// Distinct timestamps, whole seconds, going back two years from `newest`:
/// bursts within an hour, hours and days apart, and gaps of weeks to months,
/// so that every tier decides something; plus the boundaries tiers disagree
/// on: hours, months, years and the ISO weeks around New Year (Dec 28 -
/// Jan 4).
fn timestamps(seed: u64, newest: DateTime<Utc>) -> BTreeSet<DateTime<Utc>> {
    let mut random = Random(seed);
    let mut times = BTreeSet::from([newest]);
    let mut time = newest;
    while newest - time < Duration::days(2 * 365) {
        time -= match random.between(0, 99) {
            0..=29 => Duration::seconds(random.between(1, 3599)),
            30..=44 => Duration::seconds(random.between(3600, 86_399)),
            45..=59 => Duration::seconds(random.between(86_400, 6 * 86_400)),
            _ => Duration::seconds(random.between(7 * 86_400, 120 * 86_400)),
        };
        times.insert(time);
    }
    let oldest = time;
    let mut boundaries = Vec::new();
    for year in oldest.year()..=newest.year() + 1 {
        let december_28 = utc(year - 1, 12, 28, 0, 0, 0);
        for _ in 0..2 {
            boundaries.push(
                december_28
                    + Duration::days(random.between(0, 7))
                    + Duration::seconds(random.between(0, 86_399)),
            );
        }
        let month = random.between(1, 12) as u32;
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
        let first = Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap());
        boundaries.extend([first - Duration::seconds(1), first]);
    }
    let hour = newest - Duration::hours(random.between(2, 30));
    let hour = hour - Duration::seconds(hour.timestamp() % 3600);
    boundaries.extend([hour - Duration::seconds(1), hour]);
    for hours in EXACT_WITHIN_HOURS {
        let cutoff = newest - Duration::hours(hours);
        boundaries.extend([cutoff, cutoff + Duration::seconds(1)]);
    }
    times.extend(
        boundaries
            .into_iter()
            .filter(|time| (oldest..newest).contains(time)),
    );
    times
}

/// One policy: the tiers of one combination, with counts that bite.
struct Policy {
    /// (cairn's key, restic's flag, value)
    rules: Vec<(&'static str, &'static str, String)>,
}

impl Policy {
    /// The tiers whose bits are set in `mask`, with counts drawn from
    /// `random`.
    fn new(mask: u32, random: &mut Random) -> Self {
        let tiers: [(&str, &str, i64); 6] = [
            ("keep_last", "--keep-last", 8),
            ("hourly", "--keep-hourly", 10),
            ("daily", "--keep-daily", 10),
            ("weekly", "--keep-weekly", 8),
            ("monthly", "--keep-monthly", 12),
            ("yearly", "--keep-yearly", 3),
        ];
        let mut rules = Vec::new();
        for (bit, (key, flag, most)) in tiers.into_iter().enumerate() {
            if mask & (1 << bit) != 0 {
                rules.push((key, flag, random.between(1, most).to_string()));
            }
        }
        if mask & (1 << 6) != 0 {
            let hours = if random.chance(50) {
                EXACT_WITHIN_HOURS[random.between(0, 1) as usize]
            } else {
                random.between(1, 40 * 24)
            };
            // restic's durations have years and months of varying length;
            // days and hours mean the same to both.
            let within = match (hours / 24, hours % 24) {
                (0, hours) => format!("{hours}h"),
                (days, 0) => format!("{days}d"),
                (days, hours) => format!("{days}d{hours}h"),
            };
            rules.push(("within", "--keep-within", within));
        }
        Policy { rules }
    }

    fn spec(&self) -> String {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(key, _, value)| format!("{key}={value}"))
            .collect();
        rules.join(",")
    }

    fn restic_args(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|(_, flag, value)| [flag.to_string(), value.clone()])
            .collect()
    }
}

/// A `restic` command on `repository`, with times read and written in UTC.
fn restic(repository: &Path) -> Command {
    let mut command = Command::new("restic");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // restic parses `backup --time` in the local time zone.
        .env("TZ", "UTC")
        .env("RESTIC_PASSWORD", "cairn")
        .arg("--no-cache")
        .arg("--repo")
        .arg(repository);
    command
}

fn output(command: &mut Command) -> String {
    let output = command.output().expect("restic runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("restic writes UTF-8")
}

/// Runs `work` for each of `items` on a few threads.
fn in_parallel<T: Sync>(items: &[T], work: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(8) {
            scope.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    work(item);
                }
            });
        }
    });
}

/// cairn's reason for restic's `matches` entry.
fn reason_of(restic_match: &str) -> &'static str {
    match restic_match {
        "last snapshot" => "keep_last",
        "hourly snapshot" => "hourly",
        "daily snapshot" => "daily",
        "weekly snapshot" => "weekly",
        "monthly snapshot" => "monthly",
        "yearly snapshot" => "yearly",
        within if within.starts_with("within ") => "within",
        other => panic!("restic keeps a snapshot for an unexpected reason: {other}"),
    }
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// What a policy keeps of one set, and why: time -> reasons (empty when pruned).
type Kept = BTreeMap<DateTime<Utc>, Vec<String>>;

/// Describes a disagreement between restic and cairn on one set.
fn disagreement(policy: &str, host: &str, restic: &Kept, cairn: &Kept) -> String {
    let kept = |decisions: &Kept| -> BTreeSet<DateTime<Utc>> {
        decisions
            .iter()
            .filter(|(_, reasons)| !reasons.is_empty())
            .map(|(time, _)| *time)
            .collect()
    };
    let list = |times: Vec<&DateTime<Utc>>| -> String {
        let times: Vec<String> = times.iter().map(|t| t.to_rfc3339()).collect();
        format!("[{}]", times.join(", "))
    };
    let (by_restic, by_cairn) = (kept(restic), kept(cairn));
    let mut text = format!(
        "policy {policy}, set {host}:\n  kept by restic, not by cairn: {}\n  kept by cairn, not by restic: {}\n  newest first (restic's reasons | cairn's):\n",
        list(by_restic.difference(&by_cairn).collect()),
        list(by_cairn.difference(&by_restic).collect()),
    );
    for (time, reasons) in restic.iter().rev() {
        let mark = if *reasons == cairn[time] { " " } else { "!" };
        text.push_str(&format!(
            "  {mark} {}  {} | {}\n",
            time.to_rfc3339(),
            reasons.join(","),
            cairn[time].join(",")
        ));
    }
    text
}

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
