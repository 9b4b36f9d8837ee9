//! Cron expressions as systemd calendar events (`OnCalendar=` values).
//!
//! Every field is written out as the explicit set of values the cron field
//! stands for, so the translation is exact by construction. systemd's own
//! `a/b` repetition is never used: it repeats from `a` to the end of the
//! field, so it cannot stop where a cron range with a step stops (`10/15`
//! also fires at :55, cron's `10-50/15` stops at :40), and a list leaves
//! nothing to interpret. Consecutive values are compacted into `a..b`
//! ranges, which systemd accepts in every component.

use super::cron::CronExpr;

/// Weekday names in systemd's order, indexed by cron's numbering (0 = Sunday).
const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The shortest run of consecutive values written as a range: `1..3` reads
/// better than `1,2,3`, but `1,2` reads better than `1..2`.
const SHORTEST_RANGE: usize = 3;

/// The `OnCalendar=` values (without the `OnCalendar=` prefix) that together
/// fire at exactly the times `cron` fires, each ending in `timezone`
/// (e.g. `Mon..Fri *-*-* 03:00:00 Europe/Berlin`); an empty `timezone` adds
/// nothing, leaving the machine's local time.
///
/// One value when at least one day field is unrestricted (systemd ANDs the
/// weekday and the date, as cron does then); two when both day fields are
/// restricted, because cron then fires when either matches: one value with
/// the days of the month and no weekday, one with the weekdays and any day
/// of the month.
///
/// Infallible: a parsed [`CronExpr`] is a set of values per field, and
/// systemd can express any such set as an explicit list, so every cron
/// expression has an exact translation. An expression that never fires
/// (`0 0 30 2 *`) translates to a calendar event that never elapses.
pub fn on_calendar(cron: &CronExpr, timezone: &str) -> Vec<String> {
    let months = numbers(&cron.months(), 1..=12);
    let days_of_month = numbers(&cron.days_of_month(), 1..=31);
    let weekdays = weekdays(&cron.days_of_week());
    let time = format!(
        "{}:{}:00",
        numbers(&cron.hours(), 0..=23),
        numbers(&cron.minutes(), 0..=59)
    );
    let event = |weekdays: Option<&str>, days_of_month: &str| {
        let mut event = String::new();
        if let Some(weekdays) = weekdays {
            event.push_str(weekdays);
            event.push(' ');
        }
        event.push_str(&format!("*-{months}-{days_of_month} {time}"));
        if !timezone.is_empty() {
            event.push(' ');
            event.push_str(timezone);
        }
        event
    };

    if cron.day_of_month_restricted() && cron.day_of_week_restricted() {
        // With every weekday listed (`0 0 13 * 0-6`) the second value is
        // simply every day of those months.
        vec![event(None, &days_of_month), event(weekdays.as_deref(), "*")]
    } else {
        vec![event(weekdays.as_deref(), &days_of_month)]
    }
}

/// One date or time component: `*` when `values` is the whole `full` range,
/// otherwise the values, two-digit, with runs compacted into ranges.
fn numbers(values: &[u32], full: std::ops::RangeInclusive<u32>) -> String {
    if values.iter().copied().eq(full) {
        return "*".to_string();
    }
    compact(values, |value| format!("{value:02}"))
}

/// The weekday part, or `None` when every weekday is listed.
fn weekdays(days_of_week: &[u32]) -> Option<String> {
    if days_of_week.len() == WEEKDAY_NAMES.len() {
        return None;
    }
    // systemd's week, and so its ranges, run Monday to Sunday: Sunday (cron's
    // 0) goes last so that `Sat..Sun` and `Mon..Sun` stay ranges.
    let monday_first: Vec<u32> = (1..=7)
        .filter(|day| days_of_week.contains(&(day % 7)))
        .collect();
    Some(compact(&monday_first, |day| {
        WEEKDAY_NAMES[(day % 7) as usize].to_string()
    }))
}

/// `values` (ascending) as a comma list, runs of at least
/// [`SHORTEST_RANGE`] consecutive values written `first..last`.
fn compact(values: &[u32], show: impl Fn(u32) -> String) -> String {
    let mut parts = Vec::new();
    let mut rest = values;
    while let Some(&first) = rest.first() {
        let run = rest
            .windows(2)
            .take_while(|pair| pair[1] == pair[0] + 1)
            .count()
            + 1;
        if run >= SHORTEST_RANGE {
            parts.push(format!("{}..{}", show(first), show(rest[run - 1])));
        } else {
            parts.extend(rest[..run].iter().map(|&value| show(value)));
        }
        rest = &rest[run..];
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(expr: &str) -> Vec<String> {
        on_calendar(&CronExpr::parse(expr).unwrap(), "UTC")
    }

    #[test]
    fn shorthands() {
        assert_eq!(calendar("@daily"), ["*-*-* 00:00:00 UTC"]);
        assert_eq!(calendar("@hourly"), ["*-*-* *:00:00 UTC"]);
        assert_eq!(calendar("@weekly"), ["Sun *-*-* 00:00:00 UTC"]);
        assert_eq!(calendar("@monthly"), ["*-*-01 00:00:00 UTC"]);
        assert_eq!(calendar("@yearly"), ["*-01-01 00:00:00 UTC"]);
        assert_eq!(calendar("* * * * *"), ["*-*-* *:*:00 UTC"]);
    }

    #[test]
    fn steps_are_written_as_explicit_lists() {
        assert_eq!(calendar("*/15 * * * *"), ["*-*-* *:00,15,30,45:00 UTC"]);
        // systemd's `10/15` would also fire at :55; cron's `10-50/15` stops at :40.
        assert_eq!(
            calendar("10-50/15 */6 * * *"),
            ["*-*-* 00,06,12,18:10,25,40:00 UTC"]
        );
        assert_eq!(calendar("0 0 */7 * *"), ["*-*-01,08,15,22,29 00:00:00 UTC"]);
    }

    #[test]
    fn runs_become_ranges() {
        assert_eq!(calendar("0 3 * * 1-5"), ["Mon..Fri *-*-* 03:00:00 UTC"]);
        assert_eq!(
            calendar("0-4,30 8-17 1-3,5 1-6 *"),
            ["*-01..06-01..03,05 08..17:00..04,30:00 UTC"]
        );
        // Pairs stay lists.
        assert_eq!(calendar("0 1,2 * * *"), ["*-*-* 01,02:00:00 UTC"]);
    }

    #[test]
    fn weekdays_run_monday_to_sunday() {
        assert_eq!(calendar("0 9 * * 0,6"), ["Sat,Sun *-*-* 09:00:00 UTC"]);
        assert_eq!(calendar("0 9 * * 5-7"), ["Fri..Sun *-*-* 09:00:00 UTC"]);
        assert_eq!(calendar("0 9 * * 0-6"), ["*-*-* 09:00:00 UTC"]);
        assert_eq!(calendar("0 9 * * 1-7"), ["*-*-* 09:00:00 UTC"]);
        assert_eq!(calendar("0 9 * * 0,3"), ["Wed,Sun *-*-* 09:00:00 UTC"]);
    }

    #[test]
    fn names() {
        assert_eq!(
            calendar("30 4 * jan,mar-may mon,wed-fri"),
            ["Mon,Wed..Fri *-01,03..05-* 04:30:00 UTC"]
        );
        assert_eq!(calendar("0 0 * DEC SUN"), ["Sun *-12-* 00:00:00 UTC"]);
    }

    #[test]
    fn both_day_fields_restricted_give_two_values() {
        assert_eq!(
            calendar("0 0 13 * 5"),
            ["*-*-13 00:00:00 UTC", "Fri *-*-* 00:00:00 UTC"]
        );
        assert_eq!(
            calendar("15 6 1,15 2 mon-fri"),
            ["*-02-01,15 06:15:00 UTC", "Mon..Fri *-02-* 06:15:00 UTC"]
        );
        // Every weekday: the second value is every day of those months.
        assert_eq!(
            calendar("0 0 13 6 0-6"),
            ["*-06-13 00:00:00 UTC", "*-06-* 00:00:00 UTC"]
        );
    }

    #[test]
    fn a_day_field_starting_with_a_star_gives_one_value() {
        // `*/2` is unrestricted under Vixie's rule: odd Mondays only.
        assert_eq!(
            calendar("30 2 */2 * 1"),
            ["Mon *-*-01,03,05,07,09,11,13,15,17,19,21,23,25,27,29,31 02:30:00 UTC"]
        );
        assert_eq!(
            calendar("0 0 13 * */2"),
            ["Tue,Thu,Sat,Sun *-*-13 00:00:00 UTC"]
        );
    }

    #[test]
    fn february_29th() {
        assert_eq!(calendar("0 0 29 2 *"), ["*-02-29 00:00:00 UTC"]);
    }

    #[test]
    fn time_zone_is_appended_as_given() {
        let cron = CronExpr::parse("0 3 * * 1-5").unwrap();
        assert_eq!(
            on_calendar(&cron, "Europe/Berlin"),
            ["Mon..Fri *-*-* 03:00:00 Europe/Berlin"]
        );
        assert_eq!(on_calendar(&cron, ""), ["Mon..Fri *-*-* 03:00:00"]);
    }
}
