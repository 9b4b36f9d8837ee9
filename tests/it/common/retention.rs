//! Support of the `retention` tests: cairn's `retention` command, and
//! restic 0.14's `forget`, the reference the SPEC names, with random sets
//! of timestamps and policies to give both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::{Cairn, Run};

/// `cairn retention` in `dir` with `times` on stdin; with no `backup.toml`
/// in `dir`, periods are those of UTC.
pub fn retention(dir: &Path, args: &[&str], times: &str) -> Run {
    Cairn::new(dir)
        .arg("retention")
        .args(args)
        .stdin(times)
        .run()
}

/// A small, seeded xorshift generator: the same timestamps on every run.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number from `low` to `high`, both included.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `within` durations (2d12h, 7d) for which every set has an artifact
/// exactly at the cutoff, which `within` does not keep (restic keeps those
/// strictly newer), and one a second after it.
pub const EXACT_WITHIN_HOURS: [i64; 2] = [60, 168];

pub fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .unwrap()
}

/// Distinct timestamps, whole seconds, going back two years from `newest`:
/// bursts within an hour, hours and days apart, and gaps of weeks to months,
/// so that every tier decides something; plus the boundaries tiers disagree
/// on: hours, months, years and the ISO weeks around New Year (Dec 28 -
/// Jan 4).
pub fn timestamps(seed: u64, newest: DateTime<Utc>) -> BTreeSet<DateTime<Utc>> {
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
pub struct Policy {
    /// (cairn's key, restic's flag, value)
    rules: Vec<(&'static str, &'static str, String)>,
}

impl Policy {
    /// The tiers whose bits are set in `mask`, with counts drawn from
    /// `random`.
    pub fn new(mask: u32, random: &mut Random) -> Self {
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

    pub fn spec(&self) -> String {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(key, _, value)| format!("{key}={value}"))
            .collect();
        rules.join(",")
    }

    pub fn restic_args(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|(_, flag, value)| [flag.to_string(), value.clone()])
            .collect()
    }
}

/// A `restic` command on `repository`, with times read and written in UTC.
pub fn restic(repository: &Path) -> Command {
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

pub fn output(command: &mut Command) -> String {
    let output = command.output().expect("restic runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("restic writes UTF-8")
}

/// Runs `work` for each of `items` on a few threads.
pub fn in_parallel<T: Sync>(items: &[T], work: impl Fn(&T) + Sync) {
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
pub fn reason_of(restic_match: &str) -> &'static str {
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

pub fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// What a policy keeps of one set, and why: time -> reasons (empty when pruned).
pub type Kept = BTreeMap<DateTime<Utc>, Vec<String>>;

/// Describes a disagreement between restic and cairn on one set.
pub fn disagreement(policy: &str, host: &str, restic: &Kept, cairn: &Kept) -> String {
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
