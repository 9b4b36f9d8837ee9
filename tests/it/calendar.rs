//! The OnCalendar translation fires exactly when the cron expression does.
//!
//! For every expression in the corpus, three evaluators must agree, in UTC,
//! on the next `FIRINGS` fire times from the current time:
//!
//! - cairn's own evaluator (`CronExpr::next_after`),
//! - systemd itself, through `systemd-analyze calendar` on the values that
//!   `on_calendar` produces (the SPEC names it the reference),
//! - Python's croniter, an implementation that shares no code with cairn.
//!
//! systemd-analyze and croniter are installed by `scripts/test`; without
//! them this test fails rather than skipping.

use chrono::NaiveDate;

use crate::common::calendar::{croniter_fire_times, Case, SYSTEMD_LAST_YEAR};

/// Steps, ranges, lists, names, both day rules, the short months and leap
/// days, and every shorthand.
const CORPUS: &[&str] = &[
    // Every minute, and the shorthands.
    "* * * * *",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    // Steps, including ones that do not divide the field and `N/n`.
    "*/15 * * * *",
    "*/7 * * * *",
    "10-50/15 * * * *",
    "5/20 * * * *",
    "1-59/2 * * * *",
    "23 0-20/2 * * *",
    "0 */6 * * *",
    "*/5 1-3 * * *",
    "0 8-17/2 * * 1-5",
    "0 0,12 1 */2 *",
    "0 0 31 */2 *",
    // Plain times, ranges and lists.
    "30 2 * * *",
    "0,30 9-17 * * *",
    "15 14 1 * *",
    "0 22 * * 1-5",
    "59 23 31 12 *",
    "0 4 8-14 * *",
    "0 0 1 1,4,7,10 *",
    // Weekdays: numbers, names, 7 as Sunday, Sunday at both ends of the week.
    "0 3 * * 1-5",
    "0 0 * * 0",
    "0 0 * * 7",
    "0 0 * * 5-7",
    "0 0 * * 6,0",
    "0 0 * * 1,3,5",
    "0 12 * * sat,sun",
    "0 9 * * MON-FRI",
    "5 4 * * sun",
    "0 0 * * 0-6",
    // Month names, with a range and a step.
    "0 0 * jan,jul *",
    "0 0 1 JAN-MAR *",
    "0 12 15 feb-oct/3 *",
    // Both day fields restricted: either one matching fires (OR).
    "0 0 13 * 5",
    "0 0 1,15 * 1",
    "0 0 1-7 * mon",
    "0 0 1 * sun",
    "30 */2 1,15 * 3-4",
    "0 0 29 2 1",
    "0 0 1-31 * 1",
    // A day field starting with `*` is unrestricted: both must match (AND).
    "30 2 */2 * 1",
    "0 0 */2 * 5",
    "0 0 13 * */2",
    "0 0 13 * *,5",
    "0 0 */28 2 fri",
    // The 29th to the 31st, and February 29th.
    "0 0 29 * *",
    "0 0 30 * *",
    "0 0 31 * *",
    "0 0 29 2 *",
];

#[test]
fn on_calendar_fires_when_cron_does() {
    assert!(
        CORPUS.len() >= 45,
        "the corpus has {} expressions",
        CORPUS.len()
    );
    let until = NaiveDate::from_ymd_opt(SYSTEMD_LAST_YEAR + 1, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();

    let cases: Vec<Case> = CORPUS
        .iter()
        .map(|&expr| Case::from_systemd(expr, until))
        .collect();
    let croniter = croniter_fire_times(&cases, until);

    let disagreements: Vec<String> = cases
        .iter()
        .zip(croniter)
        .filter_map(|(case, croniter)| case.disagreement(croniter))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} cron expressions disagree:\n\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n\n")
    );
}
