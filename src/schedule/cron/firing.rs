//! When an expression fires: matching a local minute, the next firing after
//! and the latest at or before an instant (with DST rules), and the longest
//! gap between firings. Works on the parsed bit sets only.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};

use super::{has_bit, CronExpr};

/// How far `next_after` and `latest_at_or_before` look before giving up.
/// Ten years would do for `0 0 29 2 *` (eight years apart around 2100), but
/// a day-of-month step combined with a weekday can be rarer: `0 0 */28 2 fri`
/// (a Friday that is the 1st or 29th of February) once waits eleven years.
/// The calendar repeats every 28 years, so 30 years finds every firing that
/// exists, and the day-skipping search keeps even a fruitless look cheap.
const SEARCH_HORIZON: Days = Days::new(30 * 366);

/// `max_interval` measures gaps over the calendar of 2000-01-01..2060-01-01.
/// Between 1901 and 2099 the Gregorian calendar repeats every 28 years
/// (weekdays and leap years together), and no satisfiable expression is
/// silent for more than 28 years, so this window sees every gap a schedule
/// can have in practice.
const INTERVAL_WINDOW_YEARS: (i32, i32) = (2000, 2060);

const MINUTES_PER_DAY: i64 = 24 * 60;

impl CronExpr {
    /// Does this local wall-clock minute match? (seconds ignored)
    pub fn matches(&self, local: NaiveDateTime) -> bool {
        has_bit(self.minutes, local.minute())
            && has_bit(self.hours, local.hour())
            && self.day_matches(local.date())
    }

    /// First firing strictly after `after`, evaluated in `after`'s time zone
    /// (minute resolution, seconds = 0).
    ///
    /// The schedule is read as local wall-clock time in that zone. A local
    /// time that does not exist (the hour skipped when DST starts) is skipped,
    /// not moved. A local time that happens twice (the hour repeated when DST
    /// ends) fires once, at the earlier instant. Returns `None` when nothing
    /// fires within 30 years, which in practice means it never fires.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let zone = after.timezone();
        let mut start =
            truncate_to_minute(after.naive_local()).checked_add_signed(Duration::minutes(1))?;
        let limit = start
            .date()
            .checked_add_days(SEARCH_HORIZON)
            .unwrap_or(NaiveDate::MAX);
        loop {
            let candidate = self.first_match_at_or_after(start, limit)?;
            match zone.from_local_datetime(&candidate).earliest() {
                Some(instant) if instant > *after => return Some(instant),
                // Skipped by DST, or the second pass of a repeated hour
                // whose firing already happened at the earlier instant.
                _ => start = candidate.checked_add_signed(Duration::minutes(1))?,
            }
        }
    }

    /// Most recent firing at or before `at` (minute resolution), with the
    /// same time-zone rules as [`CronExpr::next_after`].
    pub fn latest_at_or_before<Tz: TimeZone>(&self, at: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let zone = at.timezone();
        let mut start = truncate_to_minute(at.naive_local());
        let limit = start
            .date()
            .checked_sub_days(SEARCH_HORIZON)
            .unwrap_or(NaiveDate::MIN);
        let mut latest = loop {
            let candidate = self.last_match_at_or_before(start, limit)?;
            match zone.from_local_datetime(&candidate).earliest() {
                Some(instant) if instant <= *at => break instant,
                _ => start = candidate.checked_sub_signed(Duration::minutes(1))?,
            }
        };
        // During a repeated hour `at`'s wall clock has gone back, so firings
        // from the first pass with a later wall-clock time are still in the
        // past; walk forward to pick them up.
        while let Some(next) = self.next_after(&latest) {
            if next > *at {
                break;
            }
            latest = next;
        }
        Some(latest)
    }

    /// The longest time between two consecutive firings, in wall-clock terms
    /// (DST shifts are ignored), over the whole repeating pattern, leap years
    /// included: `0 0 29 2 *` gives 1461 days, `@yearly` 366 days.
    ///
    /// The pattern is measured over the calendar of 2000-2059, which repeats
    /// every 28 years until 2100, so the skipped leap day of 2100 is not
    /// considered. Returns `None` if the expression never fires (`0 0 30 2 *`).
    pub fn max_interval(&self) -> Option<Duration> {
        let times = self.times_of_day();
        let (&first_time, &last_time) = (times.first()?, times.last()?);
        let mut longest = times
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .max()
            .unwrap_or(0);

        // Walk the window month by month with plain day numbers: this runs
        // for every schedule cairn validates, so it avoids per-day date math.
        let (first_year, end_year) = INTERVAL_WINDOW_YEARS;
        let mut previous_day: Option<i64> = None;
        let mut matching_days = 0;
        for year in first_year..end_year {
            for month in (1..=12).filter(|&month| has_bit(self.months, month)) {
                let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                let length = (first_of_next_month(first)? - first).num_days() as u32;
                let first_weekday = first.weekday().num_days_from_sunday();
                let first_number = i64::from(first.num_days_from_ce());
                for day in 1..=length {
                    if !self.day_fields_match(day, (first_weekday + day - 1) % 7) {
                        continue;
                    }
                    let day_number = first_number + i64::from(day - 1);
                    if let Some(previous) = previous_day {
                        let gap =
                            (day_number - previous) * MINUTES_PER_DAY + first_time - last_time;
                        longest = longest.max(gap);
                    }
                    previous_day = Some(day_number);
                    matching_days += 1;
                }
            }
        }
        (matching_days >= 2).then(|| Duration::minutes(longest))
    }

    /// Whether the job runs at some time on `date` (month and the Vixie
    /// day-of-month/day-of-week rule).
    fn day_matches(&self, date: NaiveDate) -> bool {
        has_bit(self.months, date.month())
            && self.day_fields_match(date.day(), date.weekday().num_days_from_sunday())
    }

    /// Vixie cron's rule: when both day fields are restricted either may
    /// match, otherwise both must (an unrestricted field matches every day
    /// unless it is a step such as `*/2`).
    fn day_fields_match(&self, day_of_month: u32, day_of_week: u32) -> bool {
        let day_of_month = has_bit(self.days_of_month, day_of_month);
        let day_of_week = has_bit(self.days_of_week, day_of_week);
        if self.day_of_month_restricted && self.day_of_week_restricted {
            day_of_month || day_of_week
        } else {
            day_of_month && day_of_week
        }
    }

    /// Firing times within a day as minutes since midnight, ascending.
    fn times_of_day(&self) -> Vec<i64> {
        let minutes = self.minutes();
        self.hours()
            .into_iter()
            .flat_map(|hour| {
                minutes
                    .iter()
                    .map(move |&minute| i64::from(hour * 60 + minute))
            })
            .collect()
    }

    /// First matching wall-clock minute at or after `start`, on or before `limit`.
    fn first_match_at_or_after(
        &self,
        start: NaiveDateTime,
        limit: NaiveDate,
    ) -> Option<NaiveDateTime> {
        let mut date = start.date();
        let mut from = (start.hour(), start.minute());
        while date <= limit {
            if !has_bit(self.months, date.month()) {
                date = first_of_next_month(date)?;
                from = (0, 0);
                continue;
            }
            if self.day_matches(date) {
                if let Some((hour, minute)) = self.first_time_at_or_after(from) {
                    return date.and_hms_opt(hour, minute, 0);
                }
            }
            date = date.succ_opt()?;
            from = (0, 0);
        }
        None
    }

    /// Last matching wall-clock minute at or before `start`, on or after `limit`.
    fn last_match_at_or_before(
        &self,
        start: NaiveDateTime,
        limit: NaiveDate,
    ) -> Option<NaiveDateTime> {
        let mut date = start.date();
        let mut until = (start.hour(), start.minute());
        while date >= limit {
            if !has_bit(self.months, date.month()) {
                date = date.with_day(1)?.pred_opt()?;
                until = (23, 59);
                continue;
            }
            if self.day_matches(date) {
                if let Some((hour, minute)) = self.last_time_at_or_before(until) {
                    return date.and_hms_opt(hour, minute, 0);
                }
            }
            date = date.pred_opt()?;
            until = (23, 59);
        }
        None
    }

    fn first_time_at_or_after(&self, (from_hour, from_minute): (u32, u32)) -> Option<(u32, u32)> {
        (from_hour..24)
            .filter(|&hour| has_bit(self.hours, hour))
            .find_map(|hour| {
                let from = if hour == from_hour { from_minute } else { 0 };
                first_bit_at_or_after(self.minutes, from).map(|minute| (hour, minute))
            })
    }

    fn last_time_at_or_before(&self, (until_hour, until_minute): (u32, u32)) -> Option<(u32, u32)> {
        (0..=until_hour)
            .rev()
            .filter(|&hour| has_bit(self.hours, hour))
            .find_map(|hour| {
                let until = if hour == until_hour { until_minute } else { 59 };
                last_bit_at_or_before(self.minutes, until).map(|minute| (hour, minute))
            })
    }
}

fn first_bit_at_or_after(bits: u64, from: u32) -> Option<u32> {
    let remaining = bits >> from;
    (remaining != 0).then(|| from + remaining.trailing_zeros())
}

fn last_bit_at_or_before(bits: u64, until: u32) -> Option<u32> {
    let remaining = bits & (u64::MAX >> (63 - until));
    (remaining != 0).then(|| remaining.ilog2())
}

fn truncate_to_minute(time: NaiveDateTime) -> NaiveDateTime {
    time.date()
        .and_hms_opt(time.hour(), time.minute(), 0)
        .expect("hour and minute come from a valid time")
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use chrono_tz::Europe::Berlin;

    use super::super::test_support::{cron, local};
    use super::*;

    fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(&local(year, month, day, hour, minute))
    }

    fn utc_seconds(year: i32, month: u32, day: u32, hms: (u32, u32, u32)) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hms.0, hms.1, hms.2)
            .unwrap()
    }

    /// The next `count` firings after `start`.
    fn firings<Tz: TimeZone>(
        expr: &CronExpr,
        start: DateTime<Tz>,
        count: usize,
    ) -> Vec<DateTime<Tz>> {
        let mut found = Vec::new();
        let mut cursor = start;
        for _ in 0..count {
            cursor = expr.next_after(&cursor).expect("should fire again");
            found.push(cursor.clone());
        }
        found
    }
    #[test]
    fn matches_ignores_seconds() {
        let expr = cron("30 2 * * *");
        assert!(expr.matches(local(2024, 5, 1, 2, 30)));
        assert!(expr.matches(
            NaiveDate::from_ymd_opt(2024, 5, 1)
                .unwrap()
                .and_hms_opt(2, 30, 59)
                .unwrap()
        ));
        assert!(!expr.matches(local(2024, 5, 1, 2, 31)));
        assert!(!expr.matches(local(2024, 5, 1, 3, 30)));
    }

    #[test]
    fn both_day_fields_restricted_means_either_day_matches() {
        let expr = cron("0 0 13 * 5");
        assert!(expr.matches(local(2024, 9, 13, 0, 0)), "Friday the 13th");
        assert!(expr.matches(local(2024, 10, 13, 0, 0)), "Sunday the 13th");
        assert!(expr.matches(local(2024, 10, 4, 0, 0)), "Friday the 4th");
        assert!(!expr.matches(local(2024, 10, 5, 0, 0)), "Saturday the 5th");

        let days: Vec<u32> = firings(&expr, utc(2024, 10, 1, 0, 0), 6)
            .iter()
            .map(|firing| firing.day())
            .collect();
        assert_eq!(days, vec![4, 11, 13, 18, 25, 1]);
    }

    #[test]
    fn a_star_day_field_means_both_must_match() {
        // `*/2` starts with `*`, so it only narrows the Fridays to odd days.
        let expr = cron("0 0 */2 * 5");
        assert!(expr.matches(local(2024, 10, 11, 0, 0)), "Friday the 11th");
        assert!(!expr.matches(local(2024, 10, 4, 0, 0)), "Friday the 4th");
        assert!(!expr.matches(local(2024, 10, 13, 0, 0)), "Sunday the 13th");

        let dates: Vec<(u32, u32)> = firings(&expr, utc(2024, 10, 1, 0, 0), 4)
            .iter()
            .map(|firing| (firing.month(), firing.day()))
            .collect();
        assert_eq!(dates, vec![(10, 11), (10, 25), (11, 1), (11, 15)]);

        // `*` in day-of-week with a restricted day-of-month: just the days.
        let expr = cron("0 0 13 * *");
        assert!(!expr.matches(local(2024, 10, 4, 0, 0)));
        // `*,5` starts with `*` too, so it is not restricted.
        let expr = cron("0 0 13 * *,5");
        assert!(!expr.matches(local(2024, 10, 4, 0, 0)));
    }

    #[test]
    fn next_after_is_strictly_after_at_minute_resolution() {
        let expr = cron("* * * * *");
        assert_eq!(
            expr.next_after(&utc(2024, 5, 1, 10, 0)),
            Some(utc(2024, 5, 1, 10, 1))
        );
        assert_eq!(
            expr.next_after(&utc_seconds(2024, 5, 1, (10, 0, 59))),
            Some(utc(2024, 5, 1, 10, 1))
        );
        let expr = cron("0 * * * *");
        assert_eq!(
            expr.next_after(&utc(2024, 5, 1, 10, 0)),
            Some(utc(2024, 5, 1, 11, 0))
        );
        assert_eq!(
            expr.next_after(&utc(2024, 5, 1, 23, 30)),
            Some(utc(2024, 5, 2, 0, 0))
        );
    }

    #[test]
    fn next_after_crosses_month_and_year_boundaries() {
        assert_eq!(
            cron("0 0 1 1 *").next_after(&utc_seconds(2024, 12, 31, (23, 59, 30))),
            Some(utc(2025, 1, 1, 0, 0))
        );
        assert_eq!(
            cron("@yearly").next_after(&utc(2025, 1, 1, 0, 0)),
            Some(utc(2026, 1, 1, 0, 0))
        );
        assert_eq!(
            cron("15 4 1 * *").next_after(&utc(2024, 1, 31, 12, 0)),
            Some(utc(2024, 2, 1, 4, 15))
        );
        assert_eq!(
            cron("0 9 * * mon").next_after(&utc(2024, 12, 31, 12, 0)),
            Some(utc(2025, 1, 6, 9, 0))
        );
    }

    #[test]
    fn the_31st_skips_short_months() {
        let expr = cron("0 12 31 * *");
        let months: Vec<u32> = firings(&expr, utc(2024, 1, 1, 0, 0), 7)
            .iter()
            .map(|firing| firing.month())
            .collect();
        assert_eq!(months, vec![1, 3, 5, 7, 8, 10, 12]);
        assert_eq!(
            expr.latest_at_or_before(&utc(2024, 7, 15, 0, 0)),
            Some(utc(2024, 5, 31, 12, 0))
        );
    }

    #[test]
    fn february_29th_waits_for_leap_years() {
        let expr = cron("0 0 29 2 *");
        assert_eq!(
            expr.next_after(&utc(2024, 3, 1, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0))
        );
        // 2100 is not a leap year.
        assert_eq!(
            expr.next_after(&utc(2097, 1, 1, 0, 0)),
            Some(utc(2104, 2, 29, 0, 0))
        );
        assert_eq!(
            expr.latest_at_or_before(&utc(2028, 2, 28, 23, 59)),
            Some(utc(2024, 2, 29, 0, 0))
        );
    }

    #[test]
    fn impossible_dates_never_fire() {
        for expr in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"] {
            let expr = cron(expr);
            assert_eq!(expr.next_after(&utc(2024, 1, 1, 0, 0)), None);
            assert_eq!(expr.latest_at_or_before(&utc(2024, 1, 1, 0, 0)), None);
            assert_eq!(expr.max_interval(), None);
        }
    }

    #[test]
    fn latest_at_or_before_includes_the_instant_itself() {
        let expr = cron("30 2 * * *");
        assert_eq!(
            expr.latest_at_or_before(&utc(2024, 5, 1, 2, 30)),
            Some(utc(2024, 5, 1, 2, 30))
        );
        assert_eq!(
            expr.latest_at_or_before(&utc_seconds(2024, 5, 1, (2, 30, 45))),
            Some(utc(2024, 5, 1, 2, 30))
        );
        assert_eq!(
            expr.latest_at_or_before(&utc(2024, 5, 1, 2, 29)),
            Some(utc(2024, 4, 30, 2, 30))
        );
        assert_eq!(
            expr.latest_at_or_before(&utc(2025, 1, 1, 1, 0)),
            Some(utc(2024, 12, 31, 2, 30))
        );
        assert_eq!(
            cron("0 0 1 * *").latest_at_or_before(&utc(2024, 3, 15, 0, 0)),
            Some(utc(2024, 3, 1, 0, 0))
        );
    }

    #[test]
    fn local_times_skipped_by_dst_do_not_fire() {
        // Berlin jumps from 02:00 CET to 03:00 CEST on 2024-03-31.
        let expr = cron("30 2 * * *");
        let after = Berlin.with_ymd_and_hms(2024, 3, 30, 12, 0, 0).unwrap();
        let next = expr.next_after(&after).unwrap();
        assert_eq!(next, Berlin.with_ymd_and_hms(2024, 4, 1, 2, 30, 0).unwrap());
        assert_eq!(next.with_timezone(&Utc), utc(2024, 4, 1, 0, 30));

        let expr = cron("*/15 * * * *");
        let after = Berlin.with_ymd_and_hms(2024, 3, 31, 1, 50, 0).unwrap();
        let hours: Vec<(u32, u32)> = firings(&expr, after, 3)
            .iter()
            .map(|firing| (firing.hour(), firing.minute()))
            .collect();
        assert_eq!(hours, vec![(3, 0), (3, 15), (3, 30)]);

        let at = Berlin.with_ymd_and_hms(2024, 3, 31, 3, 5, 0).unwrap();
        assert_eq!(
            cron("30 2 * * *")
                .latest_at_or_before(&at)
                .unwrap()
                .with_timezone(&Utc),
            utc(2024, 3, 30, 1, 30)
        );
    }

    #[test]
    fn local_times_repeated_by_dst_fire_once_at_the_earlier_instant() {
        // Berlin goes back from 03:00 CEST to 02:00 CET on 2024-10-27.
        let expr = cron("30 2 * * *");
        let after = Berlin.with_ymd_and_hms(2024, 10, 26, 12, 0, 0).unwrap();
        let utc_firings: Vec<DateTime<Utc>> = firings(&expr, after, 2)
            .iter()
            .map(|firing| firing.with_timezone(&Utc))
            .collect();
        assert_eq!(
            utc_firings,
            vec![utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
        );

        let expr = cron("*/30 * * * *");
        let after = Berlin.with_ymd_and_hms(2024, 10, 27, 1, 45, 0).unwrap();
        let utc_firings: Vec<DateTime<Utc>> = firings(&expr, after, 4)
            .iter()
            .map(|firing| firing.with_timezone(&Utc))
            .collect();
        assert_eq!(
            utc_firings,
            vec![
                utc(2024, 10, 27, 0, 0),
                utc(2024, 10, 27, 0, 30),
                utc(2024, 10, 27, 2, 0),
                utc(2024, 10, 27, 2, 30)
            ]
        );

        // From inside the second 02:xx, the first pass's firings are the past.
        let second_pass = utc(2024, 10, 27, 1, 10).with_timezone(&Berlin);
        assert_eq!((second_pass.hour(), second_pass.minute()), (2, 10));
        let latest = cron("*/15 * * * *")
            .latest_at_or_before(&second_pass)
            .unwrap();
        assert_eq!(latest.with_timezone(&Utc), utc(2024, 10, 27, 0, 45));
        let next = cron("*/15 * * * *").next_after(&second_pass).unwrap();
        assert_eq!(next.with_timezone(&Utc), utc(2024, 10, 27, 2, 0));
    }

    #[test]
    fn max_interval_covers_the_whole_pattern() {
        let days = Duration::days;
        let minutes = Duration::minutes;
        for (expr, expected) in [
            ("0 0 29 2 *", days(1461)),
            ("@yearly", days(366)),
            ("*/15 * * * *", minutes(15)),
            ("0 3 * * 1-5", days(3)),
            ("* * 1 1 *", days(366) - minutes(23 * 60 + 59)),
            ("* * * * *", minutes(1)),
            ("@hourly", minutes(60)),
            ("@daily", days(1)),
            ("@weekly", days(7)),
            ("@monthly", days(31)),
            ("0 0 31 * *", days(61)),
            ("0 0 13 * 5", days(7)),
            ("30 2,14 * * *", Duration::hours(12)),
            ("0 1,2 * * *", Duration::hours(23)),
        ] {
            assert_eq!(cron(expr).max_interval(), Some(expected), "{expr}");
        }
    }

    #[test]
    fn max_interval_agrees_with_walking_the_firings() {
        // Friday the 1st or 29th of February: years apart, in uneven steps.
        for expr in [
            "0 0 */28 2 fri",
            "0 0 13 * 5",
            "0 6,18 */2 * 5",
            "0 0 1-7 * mon",
        ] {
            let expr = cron(expr);
            let mut longest = Duration::zero();
            let mut cursor = utc(2000, 1, 1, 0, 0);
            while let Some(next) = expr.next_after(&cursor).filter(|next| next.year() < 2060) {
                if cursor > utc(2000, 1, 1, 0, 0) {
                    longest = longest.max(next - cursor);
                }
                cursor = next;
            }
            assert_eq!(expr.max_interval(), Some(longest), "{}", expr.source());
        }
        assert!(cron("0 0 */28 2 fri").max_interval().unwrap() > Duration::days(365 * 5));
    }
}
