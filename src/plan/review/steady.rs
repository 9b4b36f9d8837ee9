//! What a schedule and a retention policy keep in the steady state: one
//! artifact per scheduled fire over the longest tier plus one period, then
//! the policy applied as `cairn retention` applies it.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::config::raw::RetentionPolicy;
use crate::retention;
use crate::schedule::cron::CronExpr;

/// More fires than this (a schedule every minute kept for years) are not
/// simulated: the count is then of the newest ones.
const MOST_FIRES: usize = 200_000;

/// What a destination holds once the schedule has run long enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steady {
    /// Artifacts kept; `None` without a policy (every artifact is kept).
    pub kept: Option<usize>,
    /// The age of the oldest kept artifact.
    pub oldest: Option<Duration>,
}

/// The next `n` fires after `now`, in the schedule's zone, as RFC 3339.
pub fn next_fires(cron: &CronExpr, timezone: Tz, now: DateTime<Utc>, n: usize) -> Vec<String> {
    let mut fires = Vec::new();
    let mut at = now.with_timezone(&timezone);
    while fires.len() < n {
        let Some(next) = cron.next_after(&at) else {
            break;
        };
        fires.push(next.to_rfc3339());
        at = next;
    }
    fires
}

/// The simulated horizon: the longest tier plus one of its periods (for
/// `keep_last` and `within`, plus one interval of the schedule).
pub fn horizon(policy: &RetentionPolicy, interval: Duration) -> Duration {
    let tiers = [
        (policy.keep_last, interval),
        (policy.hourly, Duration::hours(1)),
        (policy.daily, Duration::days(1)),
        (policy.weekly, Duration::days(7)),
        (policy.monthly, Duration::days(31)),
        (policy.yearly, Duration::days(366)),
    ];
    let mut longest = policy
        .within
        .map(|within| within.to_chrono() + interval)
        .unwrap_or_else(Duration::zero);
    for (count, period) in tiers {
        if let Some(count) = count {
            longest = longest.max(period * (count as i32).saturating_add(1));
        }
    }
    longest
}

/// The fires of `cron` in (`now` - `span`, `now`], oldest first, at most
/// [`MOST_FIRES`] (the newest).
pub fn fires_within(
    cron: &CronExpr,
    timezone: Tz,
    now: DateTime<Utc>,
    span: Duration,
) -> Vec<DateTime<Utc>> {
    let mut fires = std::collections::VecDeque::new();
    let mut at = (now - span).with_timezone(&timezone);
    while let Some(next) = cron.next_after(&at) {
        if next.with_timezone(&Utc) > now {
            break;
        }
        fires.push_back(next.with_timezone(&Utc));
        if fires.len() > MOST_FIRES {
            fires.pop_front();
        }
        at = next;
    }
    fires.into()
}

/// What `policy` keeps of one artifact per fire of `cron` up to `now`.
pub fn steady(
    cron: &CronExpr,
    policy: Option<&RetentionPolicy>,
    timezone: Tz,
    now: DateTime<Utc>,
) -> Steady {
    let Some(policy) = policy else {
        return Steady {
            kept: None,
            oldest: None,
        };
    };
    let interval = cron.max_interval().unwrap_or_else(|| Duration::days(1));
    let fires = fires_within(cron, timezone, now, horizon(policy, interval));
    let decisions = retention::apply(policy, &fires, timezone);
    let kept: Vec<&DateTime<Utc>> = fires
        .iter()
        .zip(&decisions)
        .filter(|(_, decision)| decision.keep)
        .map(|(time, _)| time)
        .collect();
    Steady {
        kept: Some(kept.len()),
        oldest: kept.iter().min().map(|oldest| now - **oldest),
    }
}

/// An age as people say it: "36 hours", "12 days", "~ 6 months", "~ 2 years".
pub fn age(age: Duration) -> String {
    let days = age.num_days();
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if days < 2 {
        plural(age.num_hours(), "hour")
    } else if days < 60 {
        plural(days, "day")
    } else if days < 730 {
        format!(
            "~ {}",
            plural((days as f64 / 30.44).round() as i64, "month")
        )
    } else {
        format!(
            "~ {}",
            plural((days as f64 / 365.25).round() as i64, "year")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_daily_schedule_keeps_what_its_tiers_say() {
        let cron = CronExpr::parse("0 2 * * *").unwrap();
        let policy = retention::parse_spec("daily=7, weekly=4, monthly=12").unwrap();
        let steady = steady(
            &cron,
            Some(&policy),
            chrono_tz::UTC,
            at("2026-12-06T12:00:00Z"),
        );
        // 7 daily (Nov 30 - Dec 6, a Sunday), 3 more weekly (Nov 15, 22,
        // 29), 10 more monthly (Jan 31 - Oct 31): 20, the oldest Jan 31.
        assert_eq!(steady.kept, Some(20));
        assert_eq!(age(steady.oldest.unwrap()), "~ 10 months");
    }

    #[test]
    fn next_fires_are_in_the_schedule_zone() {
        let cron = CronExpr::parse("30 3 * * *").unwrap();
        let fires = next_fires(
            &cron,
            chrono_tz::Europe::Berlin,
            at("2026-12-06T12:00:00Z"),
            3,
        );
        assert_eq!(
            fires,
            [
                "2026-12-07T03:30:00+01:00",
                "2026-12-08T03:30:00+01:00",
                "2026-12-09T03:30:00+01:00"
            ]
        );
    }

    #[test]
    fn no_policy_keeps_everything() {
        let cron = CronExpr::parse("0 2 * * *").unwrap();
        let steady = steady(&cron, None, chrono_tz::UTC, at("2026-12-06T12:00:00Z"));
        assert_eq!(steady.kept, None);
    }
}
