//! Support of the `calendar` test: the fire times of a cron expression by
//! three evaluators — cairn's own (`CronExpr::next_after`), systemd
//! (`systemd-analyze calendar` on the values `on_calendar` produces) and
//! Python's croniter — and how they disagree.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use cairn::schedule::calendar::on_calendar;
use cairn::schedule::cron::CronExpr;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde_json::{json, Value};

/// How many fire times each expression is compared on.
pub const FIRINGS: usize = 200;

/// systemd's calendar events stop at the end of 2199 (`MAX_YEAR` in
/// systemd's calendarspec.c), so rare schedules (`0 0 29 2 *` fires 42
/// times before then) are compared on their firings before 2200.
pub const SYSTEMD_LAST_YEAR: i32 = 2199;

/// One expression with the fire times cairn and systemd give from `start`.
pub struct Case {
    expr: &'static str,
    lines: Vec<String>,
    start: DateTime<Utc>,
    cairn: Vec<String>,
    systemd: Result<Vec<String>, String>,
}

impl Case {
    /// Runs systemd-analyze on the translation. It has no `--base-time` and
    /// starts from its own clock, so the same instant is read just before; if
    /// a minute boundary passed while it ran (every-minute schedules would
    /// then be one firing apart), it is run again.
    pub fn from_systemd(expr: &'static str, until: DateTime<Utc>) -> Case {
        let cron = CronExpr::parse(expr).unwrap_or_else(|error| panic!("`{expr}`: {error}"));
        let lines = on_calendar(&cron, "UTC");
        let mut attempt = 0;
        let (start, systemd) = loop {
            attempt += 1;
            let start = Utc::now();
            let systemd = systemd_fire_times(&lines, until);
            let minute_passed = truncate_to_minute(Utc::now()) != truncate_to_minute(start);
            if !minute_passed || attempt == 2 {
                break (start, systemd);
            }
        };
        let cairn = cairn_fire_times(&cron, start, until);
        assert!(
            !cairn.is_empty(),
            "`{expr}` does not fire before {until}: the corpus is for schedules that fire"
        );
        Case {
            expr,
            lines,
            start,
            cairn,
            systemd,
        }
    }

    /// Says where the three evaluators first part ways, if they do.
    pub fn disagreement(&self, croniter: Result<Vec<String>, String>) -> Option<String> {
        let systemd = match &self.systemd {
            Ok(times) => times,
            Err(error) => return Some(self.describe(&format!("systemd-analyze: {error}"))),
        };
        let croniter = match croniter {
            Ok(times) => times,
            Err(error) => return Some(self.describe(&format!("croniter: {error}"))),
        };
        if self.cairn == *systemd && self.cairn == croniter {
            return None;
        }
        let longest = self.cairn.len().max(systemd.len()).max(croniter.len());
        let index = (0..longest)
            .find(|&index| {
                let cairn = self.cairn.get(index);
                cairn != systemd.get(index) || cairn != croniter.get(index)
            })
            .expect("the lists differ somewhere");
        let show = |times: &[String]| {
            times
                .get(index)
                .map_or_else(|| "(no more firings)".to_string(), String::clone)
        };
        Some(self.describe(&format!(
            "fire time #{} differs\n    cairn:           {}\n    systemd-analyze: {}\n    croniter:        {}\n  \
             (firings compared: cairn {}, systemd-analyze {}, croniter {})",
            index + 1,
            show(&self.cairn),
            show(systemd),
            show(&croniter),
            self.cairn.len(),
            systemd.len(),
            croniter.len(),
        )))
    }

    pub fn describe(&self, problem: &str) -> String {
        format!(
            "cron `{}` from {}\n  OnCalendar={}\n  {problem}",
            self.expr,
            self.start.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.lines.join("\n  OnCalendar="),
        )
    }
}

/// The first [`FIRINGS`] firings before `until`, by cairn's evaluator.
pub fn cairn_fire_times(
    cron: &CronExpr,
    start: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    std::iter::successors(cron.next_after(&start), |previous| {
        cron.next_after(previous)
    })
    .take_while(|instant| *instant < until)
    .take(FIRINGS)
    .map(|instant| instant.format("%a %Y-%m-%d %H:%M:%S UTC").to_string())
    .collect()
}

/// The first [`FIRINGS`] firings of the union of `lines`, as systemd
/// computes them from the current time.
///
/// systemd-analyze prints each value's own sequence; the expression fires
/// at their sorted union, and the first [`FIRINGS`] of the union are among
/// the first [`FIRINGS`] of each value.
pub fn systemd_fire_times(lines: &[String], until: DateTime<Utc>) -> Result<Vec<String>, String> {
    let output = Command::new("systemd-analyze")
        .arg("calendar")
        .arg(format!("--iterations={FIRINGS}"))
        .args(lines)
        // Times in UTC and English, whatever the machine's settings.
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|error| {
            if error.kind() == ErrorKind::NotFound {
                panic!(
                    "systemd-analyze is not installed; scripts/test installs it (Debian package \
                     `systemd`)"
                );
            }
            panic!("cannot run systemd-analyze: {error}");
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "exited with {}: {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let specs = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("Normalized form:"))
        .count();
    if specs != lines.len() {
        return Err(format!(
            "printed {specs} calendar events for {} values:\n{stdout}",
            lines.len()
        ));
    }

    let mut times = Vec::new();
    for line in stdout.lines() {
        let Some((label, value)) = line.trim().split_once(": ") else {
            continue;
        };
        if label != "Next elapse" && !label.starts_with("Iter. #") {
            continue;
        }
        if value == "never" {
            continue;
        }
        let instant = value
            .strip_suffix(" UTC")
            .and_then(|local| NaiveDateTime::parse_from_str(local, "%a %Y-%m-%d %H:%M:%S").ok())
            .ok_or_else(|| format!("cannot read the time in `{}`", line.trim()))?
            .and_utc();
        times.push(instant);
    }
    times.sort();
    times.dedup();
    Ok(times
        .into_iter()
        .take_while(|instant| *instant < until)
        .take(FIRINGS)
        .map(|instant| instant.format("%a %Y-%m-%d %H:%M:%S UTC").to_string())
        .collect())
}

/// The first [`FIRINGS`] firings before `until` of every case, by croniter,
/// from each case's own start: one Python process for the whole corpus.
pub fn croniter_fire_times(
    cases: &[Case],
    until: DateTime<Utc>,
) -> Vec<Result<Vec<String>, String>> {
    let requests: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "expr": case.expr,
                "start": case.start.to_rfc3339_opts(SecondsFormat::Micros, true),
                "day_or": vixie_day_or(case.expr),
                "count": FIRINGS,
                "until": until.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
        })
        .collect();
    let script = super::root().join("tests/it/croniter_next.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run python3 for croniter ({error}); scripts/test installs croniter")
        });
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(Value::Array(requests).to_string().as_bytes())
        .expect("python3 reads the corpus");
    let output = child.wait_with_output().expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "croniter is not installed ({}); scripts/test installs it (pip install croniter)",
            stderr.trim()
        ),
        _ => panic!(
            "{} failed with {}:\n{stderr}",
            script.display(),
            output.status
        ),
    }

    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("croniter_next.py prints a JSON list");
    assert_eq!(results.len(), cases.len(), "one croniter result per case");
    results
        .into_iter()
        .map(|result| match (&result["times"], &result["error"]) {
            (Value::Array(times), _) => Ok(times
                .iter()
                .map(|time| time.as_str().expect("times are strings").to_string())
                .collect()),
            (_, Value::String(error)) => Err(error.clone()),
            _ => Err(format!("unexpected result {result}")),
        })
        .collect()
}

/// Whether the day fields of `expr` combine with OR, by Vixie cron's rule:
/// only when neither field starts with `*`.
///
/// croniter departs from Vixie here: it ORs the day fields whenever both are
/// something other than a bare `*`, so it would read `30 2 */2 * 1` as "odd
/// days or Mondays" where Vixie cron (and cairn, and SPEC.md §7) read "odd
/// Mondays". Passing `day_or=False` when either field starts with `*` makes
/// croniter AND them, as Vixie does; with `day_or=True` croniter ORs exactly
/// the pairs Vixie ORs. (croniter's `implement_cron_bug=True` would do the
/// same; `day_or` is the older, documented switch.)
pub fn vixie_day_or(expr: &str) -> bool {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.as_slice() {
        [_, _, day_of_month, _, day_of_week] => {
            !day_of_month.starts_with('*') && !day_of_week.starts_with('*')
        }
        // The shorthands all have a `*` day field.
        _ => false,
    }
}

pub fn truncate_to_minute(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
        .with_second(0)
        .and_then(|instant| instant.with_nanosecond(0))
        .expect("every minute has a second 0")
}
