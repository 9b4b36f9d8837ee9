//! Retention (SPEC §6): which artifacts a policy keeps, with exactly the
//! semantics of `restic forget` (restic 0.14, as Debian 12 ships it). Pure
//! functions over timestamps; the safety rules (never the newest good
//! artifact, never at a destination whose last run failed) are the
//! planner's, on top of this.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::config::raw::RetentionPolicy;

/// Why an artifact is kept: the rule names of the policy keys.
pub type Reason = &'static str;

/// The decision for one timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub keep: bool,
    /// The rules that keep it (empty when pruned), in the order
    /// `within`, `keep_last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`.
    pub reasons: Vec<Reason>,
}

/// Decides, for each of `times` (in any order), whether `policy` keeps it.
/// Periods (hours, days, ISO weeks, months, years) are those of `timezone`.
///
/// Like restic: going from the newest artifact to the oldest, each count
/// tier keeps an artifact when its period differs from the period of the
/// last artifact that tier kept, until the tier's count is used up — so a
/// tier keeps the newest artifact of each of its N most recent periods that
/// have one. `within` keeps every artifact strictly newer than the newest
/// minus the duration. An artifact kept by any rule is kept. Equal times
/// keep their input order.
pub fn apply(policy: &RetentionPolicy, times: &[DateTime<Utc>], timezone: Tz) -> Vec<Decision> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    // Newest first; a stable sort keeps equal times in input order.
    order.sort_by(|a, b| times[*b].cmp(&times[*a]));
    let mut decisions = vec![
        Decision {
            keep: false,
            reasons: Vec::new()
        };
        times.len()
    ];
    let Some(&newest) = order.first() else {
        return decisions;
    };
    let newest = times[newest];
    let within = policy.within.map(|within| within.to_chrono());

    struct Tier {
        reason: Reason,
        remaining: u32,
        last: Option<i64>,
        period: fn(&DateTime<Tz>, usize) -> i64,
    }
    let mut tiers = [
        Tier {
            reason: "keep_last",
            remaining: policy.keep_last.unwrap_or(0),
            last: None,
            period: |_, position| position as i64,
        },
        Tier {
            reason: "hourly",
            remaining: policy.hourly.unwrap_or(0),
            last: None,
            period: |t, _| day_number(t) * 100 + i64::from(t.hour()),
        },
        Tier {
            reason: "daily",
            remaining: policy.daily.unwrap_or(0),
            last: None,
            period: |t, _| day_number(t),
        },
        Tier {
            reason: "weekly",
            remaining: policy.weekly.unwrap_or(0),
            last: None,
            period: |t, _| {
                let week = t.iso_week();
                i64::from(week.year()) * 100 + i64::from(week.week())
            },
        },
        Tier {
            reason: "monthly",
            remaining: policy.monthly.unwrap_or(0),
            last: None,
            period: |t, _| i64::from(t.year()) * 100 + i64::from(t.month()),
        },
        Tier {
            reason: "yearly",
            remaining: policy.yearly.unwrap_or(0),
            last: None,
            period: |t, _| i64::from(t.year()),
        },
    ];

    for (position, &index) in order.iter().enumerate() {
        let local = timezone.from_utc_datetime(&times[index].naive_utc());
        let decision = &mut decisions[index];
        // Its age behind the newest, not the newest minus `within`: no
        // subtraction can leave the calendar.
        if within.is_some_and(|within| newest.signed_duration_since(times[index]) < within) {
            decision.reasons.push("within");
        }
        for tier in &mut tiers {
            if tier.remaining == 0 {
                continue;
            }
            let period = (tier.period)(&local, position);
            if tier.last != Some(period) {
                tier.last = Some(period);
                tier.remaining -= 1;
                decision.reasons.push(tier.reason);
            }
        }
        decision.keep = !decision.reasons.is_empty();
    }
    decisions
}

/// year * 10000 + month * 100 + day, as restic numbers days.
fn day_number(t: &DateTime<Tz>) -> i64 {
    i64::from(t.year()) * 10_000 + i64::from(t.month()) * 100 + i64::from(t.day())
}

/// Why a policy written on the command line does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("`{0}` is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("{0}")]
    Within(#[from] crate::duration::ParseDurationError),
    #[error("`{0}`: the count must be a whole number from 0 up")]
    BadCount(String),
    #[error("unknown rule `{0}`; the rules are keep_last, hourly, daily, weekly, monthly, yearly and within")]
    UnknownRule(String),
    #[error("the policy is empty; give at least one rule, e.g. daily=7")]
    Empty,
}

/// Parses a policy written as `daily=7,weekly=4,monthly=12` (the keys of
/// `[retention.*]`).
pub fn parse_spec(spec: &str) -> Result<RetentionPolicy, SpecError> {
    let mut policy = RetentionPolicy::default();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| SpecError::NotKeyValue(part.to_owned()))?;
        if key == "within" {
            policy.within = Some(value.parse()?);
            continue;
        }
        let count: u32 = value
            .parse()
            .map_err(|_| SpecError::BadCount(part.to_owned()))?;
        let slot = policy
            .count_mut(key)
            .ok_or_else(|| SpecError::UnknownRule(key.to_owned()))?;
        *slot = Some(count);
    }
    if policy == RetentionPolicy::default() {
        return Err(SpecError::Empty);
    }
    Ok(policy)
}

/// The policy in the SPEC form, e.g. `daily=7, weekly=4, monthly=12`, for
/// reasons such as "outside daily=7, weekly=4".
pub fn describe(policy: &RetentionPolicy) -> String {
    let mut parts = Vec::new();
    for (key, value) in [
        ("keep_last", policy.keep_last),
        ("hourly", policy.hourly),
        ("daily", policy.daily),
        ("weekly", policy.weekly),
        ("monthly", policy.monthly),
        ("yearly", policy.yearly),
    ] {
        if let Some(value) = value {
            parts.push(format!("{key}={value}"));
        }
    }
    if let Some(within) = policy.within {
        parts.push(format!("within={within}"));
    }
    parts.join(", ")
}

/// The table `cairn retention` prints: each given timestamp, kept or pruned
/// and why, then the counts (periods in `timezone`).
pub fn table(
    given: &[String],
    decisions: &[Decision],
    policy: &RetentionPolicy,
    timezone: Tz,
) -> String {
    let width = given.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (time, decision) in given.iter().zip(decisions) {
        if decision.keep {
            out.push_str(&format!(
                "keep   {time:width$}  {}\n",
                decision.reasons.join(", ")
            ));
        } else {
            out.push_str(&format!(
                "prune  {time:width$}  outside {}\n",
                describe(policy)
            ));
        }
    }
    let kept = decisions.iter().filter(|d| d.keep).count();
    out.push_str(&format!(
        "\n{kept} kept, {} pruned by {} (periods in {timezone}).\n",
        decisions.len() - kept,
        describe(policy)
    ));
    out
}

/// `cairn retention --against-policy`: each timestamp under both policies,
/// then what the change keeps more and less.
pub fn comparison(
    given: &[String],
    before: &[Decision],
    after: &[Decision],
    before_policy: &RetentionPolicy,
    after_policy: &RetentionPolicy,
    timezone: Tz,
) -> String {
    let width = given.iter().map(String::len).max().unwrap_or(0);
    let word = |d: &Decision| {
        if d.keep {
            format!("keep ({})", d.reasons.join(", "))
        } else {
            "prune".to_owned()
        }
    };
    let column = before
        .iter()
        .map(|d| word(d).len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!("{:width$}  {:column$}  after\n", "", "before");
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    for ((time, b), a) in given.iter().zip(before).zip(after) {
        let mark = match (b.keep, a.keep) {
            (false, true) => {
                gained.push(time.as_str());
                "+"
            }
            (true, false) => {
                lost.push(time.as_str());
                "-"
            }
            _ => " ",
        };
        let line = format!("{time:width$}  {:column$}  {} {mark}", word(b), word(a));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let kept = |decisions: &[Decision]| decisions.iter().filter(|d| d.keep).count();
    out.push_str(&format!(
        "\nbefore ({}): {} kept; after ({}): {} kept (periods in {timezone}).\n",
        describe(before_policy),
        kept(before),
        describe(after_policy),
        kept(after)
    ));
    if !lost.is_empty() {
        out.push_str(&format!(
            "The change prunes {} that the old policy keeps: {}.\n",
            lost.len(),
            lost.join(", ")
        ));
    }
    if !gained.is_empty() {
        out.push_str(&format!(
            "The change keeps {} that the old policy prunes: {}.\n",
            gained.len(),
            gained.join(", ")
        ));
    }
    if lost.is_empty() && gained.is_empty() {
        out.push_str("The change keeps exactly the same.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn kept(policy: &str, times: &[&str]) -> Vec<bool> {
        let times: Vec<_> = times.iter().map(|t| at(t)).collect();
        apply(&parse_spec(policy).unwrap(), &times, chrono_tz::UTC)
            .into_iter()
            .map(|d| d.keep)
            .collect()
    }

    #[test]
    fn daily_keeps_the_newest_of_each_recent_day_with_an_artifact() {
        let times = [
            "2026-11-20T02:00:00Z",
            "2026-11-20T14:00:00Z",
            "2026-11-18T02:00:00Z",
            "2026-11-17T02:00:00Z",
        ];
        // The 19th has nothing: it does not use up a day.
        assert_eq!(kept("daily=2", &times), [false, true, true, false]);
    }

    #[test]
    fn weekly_uses_iso_weeks() {
        // 2026-01-04 is a Sunday (ISO week 1 of 2026), 2026-01-05 a Monday (week 2).
        let times = [
            "2026-01-04T10:00:00Z",
            "2026-01-05T10:00:00Z",
            "2026-01-03T10:00:00Z",
        ];
        assert_eq!(kept("weekly=2", &times), [true, true, false]);
    }

    #[test]
    fn within_is_relative_to_the_newest_artifact_not_now() {
        let times = [
            "2020-01-10T00:00:00Z",
            "2020-01-09T00:00:01Z",
            "2020-01-09T00:00:00Z",
        ];
        assert_eq!(kept("within=1d", &times), [true, true, false]);
    }

    #[test]
    fn rules_combine_and_report_every_reason() {
        let times: Vec<_> = ["2026-11-20T02:00:00Z", "2026-11-19T02:00:00Z"]
            .iter()
            .map(|t| at(t))
            .collect();
        let decisions = apply(
            &parse_spec("keep_last=1,daily=2,monthly=1").unwrap(),
            &times,
            chrono_tz::UTC,
        );
        assert_eq!(decisions[0].reasons, ["keep_last", "daily", "monthly"]);
        assert_eq!(decisions[1].reasons, ["daily"]);
    }

    #[test]
    fn periods_follow_the_time_zone() {
        // 23:30 UTC on the 19th is already the 20th in Berlin.
        let times: Vec<_> = ["2026-11-20T08:00:00Z", "2026-11-19T23:30:00Z"]
            .iter()
            .map(|t| at(t))
            .collect();
        let policy = parse_spec("daily=2").unwrap();
        let berlin: Vec<bool> = apply(&policy, &times, chrono_tz::Europe::Berlin)
            .into_iter()
            .map(|d| d.keep)
            .collect();
        let utc: Vec<bool> = apply(&policy, &times, chrono_tz::UTC)
            .into_iter()
            .map(|d| d.keep)
            .collect();
        assert_eq!(utc, [true, true]);
        assert_eq!(berlin, [true, false]);
    }

    #[test]
    fn specs_parse_and_describe() {
        let policy = parse_spec("daily=7,weekly=4,monthly=12").unwrap();
        assert_eq!(describe(&policy), "daily=7, weekly=4, monthly=12");
        assert!(parse_spec("").is_err());
        assert!(parse_spec("dayly=7")
            .unwrap_err()
            .to_string()
            .contains("unknown rule `dayly`"));
        assert!(parse_spec("daily=-1").is_err());
        assert_eq!(
            parse_spec("within=36h")
                .unwrap()
                .within
                .unwrap()
                .to_string(),
            "1d12h"
        );
    }
}
