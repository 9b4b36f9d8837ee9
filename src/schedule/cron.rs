//! Cron expressions with Vixie cron semantics (the `cron` that Debian ships).
//!
//! Parsing turns the five text fields into bit sets once; everything after
//! that (matching, searching for the next or previous firing, measuring the
//! longest gap between firings) works on those bit sets and never looks at
//! the text again. Nothing here reads the clock: callers pass the instant
//! they care about.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};

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

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bits 0-6, Sunday = 0 (a 7 in the text is folded onto bit 0).
    days_of_week: u64,
    day_of_month_restricted: bool,
    day_of_week_restricted: bool,
}

/// Why a cron expression was rejected, with enough detail to point at the
/// offending text and tell the operator how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CronError {
    /// What is wrong, e.g. "minute value 61 is out of range 0-59".
    pub message: String,
    /// Byte range inside the expression string of the offending field/part, when known.
    pub span: Option<Range<usize>>,
    /// One line that tells the operator how to fix it.
    pub help: String,
}

impl CronError {
    fn new(message: impl Into<String>, span: Range<usize>, help: impl Into<String>) -> CronError {
        CronError {
            message: message.into(),
            span: Some(span),
            help: help.into(),
        }
    }
}

/// What one of the five fields accepts.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first one standing for `min`.
    names: &'static [&'static str],
    /// What to write instead, for help lines.
    accepted: &'static str,
}

const MINUTE: Field = Field {
    name: "minute",
    accepted: "0-59",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    accepted: "0-23",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    accepted: "1-31",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    accepted: "1-12 or a name jan-dec",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    accepted: "0-7 (0 and 7 are Sunday) or a name sun-sat",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    /// Parses one comma-separated field into a bit set. `offset` is where the
    /// field starts in the original expression, for error spans.
    fn parse(&self, (offset, text): (usize, &str)) -> Result<u64, CronError> {
        let mut bits = 0;
        let mut item_offset = offset;
        for item in text.split(',') {
            if item.is_empty() {
                // Point at the stray comma: the one before this item, or the
                // one after it when the list starts with a comma.
                let comma = if item_offset == offset {
                    item_offset
                } else {
                    item_offset - 1
                };
                return Err(CronError::new(
                    format!("empty entry in the {} list", self.name),
                    comma..comma + 1,
                    "remove the stray comma",
                ));
            }
            bits |= self.parse_item(item, item_offset)?;
            item_offset += item.len() + 1;
        }
        Ok(bits)
    }

    /// `*`, `N`, `N-M`, each optionally followed by `/STEP`.
    fn parse_item(&self, item: &str, offset: usize) -> Result<u64, CronError> {
        let (range_text, step) = match item.split_once('/') {
            None => (item, None),
            Some((range_text, step_text)) => {
                let step_offset = offset + range_text.len() + 1;
                (range_text, Some(self.parse_step(step_text, step_offset)?))
            }
        };

        let (start, end) = if range_text == "*" {
            (self.min, self.max)
        } else if let Some((start_text, end_text)) = range_text.split_once('-') {
            let range_span = offset..offset + range_text.len();
            if start_text.is_empty() || end_text.is_empty() {
                return Err(CronError::new(
                    format!("{} range `{range_text}` is missing a value", self.name),
                    range_span,
                    format!("write ranges as `start-end` with values {}", self.accepted),
                ));
            }
            let start = self.parse_value(start_text, offset)?;
            let end = self.parse_value(end_text, offset + start_text.len() + 1)?;
            if start > end {
                let help = if self.name == DAY_OF_WEEK.name && end == 0 {
                    format!("Sunday is also 7, so a range can end on it: write `{start_text}-7`")
                } else {
                    format!(
                        "write the smaller value first (`{end_text}-{start_text}`); a range cannot \
                         wrap around, list both parts instead (e.g. `22-23,0-2`)"
                    )
                };
                return Err(CronError::new(
                    format!("{} range {range_text} starts after it ends", self.name),
                    range_span,
                    help,
                ));
            }
            (start, end)
        } else {
            let value = self.parse_value(range_text, offset)?;
            // Vixie reads `N/STEP` as `N-max/STEP`.
            let end = if step.is_some() { self.max } else { value };
            (value, end)
        };

        let step = step.unwrap_or(1);
        let mut bits = 0;
        let mut value = start;
        while value <= end {
            bits |= 1 << value;
            value = match value.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(bits)
    }

    fn parse_step(&self, text: &str, offset: usize) -> Result<u32, CronError> {
        // Include the `/` so that an empty step still has something to point at.
        let span = offset - 1..offset + text.len();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CronError::new(
                format!("{} step `{text}` is not a number", self.name),
                span,
                "write the step as a whole number after `/`, e.g. `*/15`",
            ));
        }
        match text.parse::<u32>() {
            Ok(0) => Err(CronError::new(
                format!("{} step must be at least 1, found 0", self.name),
                span,
                "use a step of 1 or more, e.g. `*/5`, or drop the `/0`",
            )),
            Ok(step) => Ok(step),
            // All digits but too large for u32: as good as "every max".
            Err(_) => Ok(u32::MAX),
        }
    }

    fn parse_value(&self, text: &str, offset: usize) -> Result<u32, CronError> {
        let span = offset..offset + text.len();
        if text == "*" {
            return Err(CronError::new(
                format!("`*` cannot be part of a {} range", self.name),
                span,
                format!("use `*` alone or a range of values {}", self.accepted),
            ));
        }
        if is_quartz_syntax(text) {
            return Err(CronError::new(
                format!("{} value `{text}` is Quartz syntax", self.name),
                span,
                format!(
                    "Vixie cron has no `?`, `L`, `W` or `#`; use `*`, values {}, ranges and steps",
                    self.accepted
                ),
            ));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let value = text.parse::<u32>().unwrap_or(u32::MAX);
            if value < self.min || value > self.max {
                return Err(CronError::new(
                    format!(
                        "{} value {text} is out of range {}-{}",
                        self.name, self.min, self.max
                    ),
                    span,
                    format!("the {} field takes {}", self.name, self.accepted),
                ));
            }
            return Ok(value);
        }
        if text.chars().all(|c| c.is_ascii_alphabetic()) {
            if self.names.is_empty() {
                return Err(CronError::new(
                    format!("{} value `{text}` is not a number", self.name),
                    span,
                    format!(
                        "the {} field takes numbers {}; names are only allowed in the month and \
                         day-of-week fields",
                        self.name, self.accepted
                    ),
                ));
            }
            let lower = text.to_ascii_lowercase();
            if let Some(index) = self.names.iter().position(|name| *name == lower) {
                return Ok(self.min + index as u32);
            }
            let help = match self.names.iter().find(|name| lower.starts_with(*name)) {
                Some(short) => format!("cron only knows three-letter names: write `{short}`"),
                None => format!("use {}", self.accepted),
            };
            return Err(CronError::new(
                format!("unknown {} name `{text}`", self.name),
                span,
                help,
            ));
        }
        Err(CronError::new(
            format!("{} value `{text}` is not valid", self.name),
            span,
            format!(
                "write `*`, a value ({}), a range `a-b`, a step `*/n` or a comma list of those",
                self.accepted
            ),
        ))
    }
}

/// Expands an `@shorthand` the way Vixie cron does.
fn expand_shorthand(source: &str, span: Range<usize>) -> Result<&'static str, CronError> {
    match source {
        "@hourly" => Ok("0 * * * *"),
        "@daily" | "@midnight" => Ok("0 0 * * *"),
        "@weekly" => Ok("0 0 * * 0"),
        "@monthly" => Ok("0 0 1 * *"),
        "@yearly" | "@annually" => Ok("0 0 1 1 *"),
        "@reboot" => Err(CronError::new(
            "`@reboot` is not a schedule cairn can use",
            span,
            "cairn schedules need a time, e.g. `@daily`; `cairn apply` runs jobs that never ran anyway",
        )),
        _ => Err(CronError::new(
            format!("unknown cron shorthand `{source}`"),
            span,
            "use one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually \
             (lowercase), or five fields",
        )),
    }
}

fn wrong_field_count(found: usize, span: Range<usize>) -> CronError {
    let needs = "cron needs 5 fields (minute hour day-of-month month day-of-week)";
    if found > 5 {
        CronError::new(
            format!(
                "{needs}, found {found}; seconds and years fields (6 or 7 fields, Quartz style) \
                 are not supported"
            ),
            span,
            "remove the seconds and years fields: Quartz `0 30 2 * * ?` is cron `30 2 * * *`",
        )
    } else {
        CronError::new(
            format!("{needs}, found {found}"),
            span,
            "write all five, e.g. `30 2 * * *` for 02:30 every day",
        )
    }
}

/// Splits on whitespace, keeping each piece's byte offset in `text`.
fn split_fields(text: &str) -> Vec<(usize, &str)> {
    let mut fields = Vec::new();
    let mut start = None;
    for (index, ch) in text.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(field_start)) => {
                fields.push((field_start, &text[field_start..index]));
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(field_start) = start {
        fields.push((field_start, &text[field_start..]));
    }
    fields
}

impl CronExpr {
    /// Parses a five-field cron expression or an `@shorthand`.
    ///
    /// Error spans are byte ranges in `expr` exactly as passed (before trimming).
    pub fn parse(expr: &str) -> Result<CronExpr, CronError> {
        let source = expr.trim();
        let source_start = expr.len() - expr.trim_start().len();
        let source_span = source_start..source_start + source.len();
        if source.is_empty() {
            return Err(CronError {
                message: "cron expression is empty".to_string(),
                span: None,
                help: "write five fields, e.g. `30 2 * * *` for 02:30 every day".to_string(),
            });
        }

        // A shorthand is replaced by its fixed, valid expansion, so no error
        // can point into the expansion's offsets.
        let fields_text = if source.starts_with('@') {
            expand_shorthand(source, source_span.clone())?
        } else {
            expr
        };

        let fields = split_fields(fields_text);
        let &[minute_field, hour_field, day_of_month_field, month_field, day_of_week_field] =
            fields.as_slice()
        else {
            return Err(wrong_field_count(fields.len(), source_span));
        };

        let minutes = MINUTE.parse(minute_field)?;
        let hours = HOUR.parse(hour_field)?;
        let days_of_month = DAY_OF_MONTH.parse(day_of_month_field)?;
        let months = MONTH.parse(month_field)?;
        let mut days_of_week = DAY_OF_WEEK.parse(day_of_week_field)?;
        // 7 is Sunday too; keep one bit per weekday.
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }

        Ok(CronExpr {
            source: source.to_string(),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            day_of_month_restricted: !day_of_month_field.1.starts_with('*'),
            day_of_week_restricted: !day_of_week_field.1.starts_with('*'),
        })
    }

    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

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

    /// Minutes that fire, 0-59, ascending.
    pub fn minutes(&self) -> Vec<u32> {
        bits_in(self.minutes, 0, 59)
    }

    /// Hours that fire, 0-23, ascending.
    pub fn hours(&self) -> Vec<u32> {
        bits_in(self.hours, 0, 23)
    }

    /// Days of the month listed, 1-31, ascending.
    pub fn days_of_month(&self) -> Vec<u32> {
        bits_in(self.days_of_month, 1, 31)
    }

    /// Months that fire, 1-12, ascending.
    pub fn months(&self) -> Vec<u32> {
        bits_in(self.months, 1, 12)
    }

    /// Days of the week listed, 0-6 with 0 = Sunday (a 7 in the text is Sunday), ascending.
    pub fn days_of_week(&self) -> Vec<u32> {
        bits_in(self.days_of_week, 0, 6)
    }

    /// True when the day-of-month field does not start with `*` (Vixie cron's rule).
    ///
    /// When both day fields are restricted, a day fires if either matches;
    /// otherwise it fires only if both match.
    pub fn day_of_month_restricted(&self) -> bool {
        self.day_of_month_restricted
    }

    /// True when the day-of-week field does not start with `*`.
    pub fn day_of_week_restricted(&self) -> bool {
        self.day_of_week_restricted
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

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(expr: &str) -> Result<CronExpr, CronError> {
        CronExpr::parse(expr)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// `?`, `L`, `LW`, `15W`, `5L`, `5#3`: Quartz extensions Vixie cron lacks.
fn is_quartz_syntax(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    let digits_then = |suffix: char| {
        upper
            .strip_suffix(suffix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(upper.as_str(), "?" | "L" | "LW")
        || upper.contains('#')
        || digits_then('L')
        || digits_then('W')
}

fn has_bit(bits: u64, index: u32) -> bool {
    bits & (1 << index) != 0
}

fn bits_in(bits: u64, low: u32, high: u32) -> Vec<u32> {
    (low..=high).filter(|&index| has_bit(bits, index)).collect()
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

    use super::*;

    fn cron(expr: &str) -> CronExpr {
        CronExpr::parse(expr).unwrap_or_else(|error| panic!("`{expr}` should parse: {error}"))
    }

    fn rejection(expr: &str) -> CronError {
        match CronExpr::parse(expr) {
            Ok(parsed) => panic!("`{expr}` should be rejected, parsed as {parsed:?}"),
            Err(rejection) => rejection,
        }
    }

    /// The text an error's span points at.
    fn spanned<'a>(expr: &'a str, error: &CronError) -> &'a str {
        &expr[error.span.clone().expect("error should have a span")]
    }

    fn local(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|date| date.and_hms_opt(hour, minute, 0))
            .expect("valid test date")
    }

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
    fn parses_every_item_form() {
        let expr = cron("5 1-3 */10 2-11/3 3/2");
        assert_eq!(expr.minutes(), vec![5]);
        assert_eq!(expr.hours(), vec![1, 2, 3]);
        assert_eq!(expr.days_of_month(), vec![1, 11, 21, 31]);
        assert_eq!(expr.months(), vec![2, 5, 8, 11]);
        // `3/2` is `3-7/2`, and 7 is Sunday.
        assert_eq!(expr.days_of_week(), vec![0, 3, 5]);

        let expr = cron("0,15,30-32,50-59/5 * * * *");
        assert_eq!(expr.minutes(), vec![0, 15, 30, 31, 32, 50, 55]);
        assert_eq!(cron("* * * * *").minutes(), (0..60).collect::<Vec<_>>());
        assert_eq!(cron("* * * * *").hours(), (0..24).collect::<Vec<_>>());
        assert_eq!(
            cron("* * * * *").days_of_month(),
            (1..32).collect::<Vec<_>>()
        );
        assert_eq!(cron("* * * * *").months(), (1..13).collect::<Vec<_>>());
        assert_eq!(cron("* * * * *").days_of_week(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn lists_are_sorted_and_deduplicated() {
        let expr = cron("30,10,10,0-20/10 23,1 * * *");
        assert_eq!(expr.minutes(), vec![0, 10, 20, 30]);
        assert_eq!(expr.hours(), vec![1, 23]);
    }

    #[test]
    fn steps_larger_than_the_field_keep_only_the_start() {
        assert_eq!(cron("*/90 * * * *").minutes(), vec![0]);
        assert_eq!(cron("10/99999999999 * * * *").minutes(), vec![10]);
    }

    #[test]
    fn month_and_weekday_names_are_case_insensitive_and_work_in_ranges() {
        let expr = cron("0 0 * JAN-mar,Dec mon-FRI");
        assert_eq!(expr.months(), vec![1, 2, 3, 12]);
        assert_eq!(expr.days_of_week(), vec![1, 2, 3, 4, 5]);
        assert_eq!(cron("0 0 * * sat,sun").days_of_week(), vec![0, 6]);
        assert_eq!(cron("0 0 * jun-dec/2 *").months(), vec![6, 8, 10, 12]);
    }

    #[test]
    fn seven_is_sunday() {
        assert_eq!(cron("0 0 * * 7").days_of_week(), vec![0]);
        assert_eq!(cron("0 0 * * 5-7").days_of_week(), vec![0, 5, 6]);
        assert_eq!(cron("0 0 * * fri-7").days_of_week(), vec![0, 5, 6]);
        assert_eq!(cron("0 0 * * */2").days_of_week(), vec![0, 2, 4, 6]);
        // 2024-09-01 was a Sunday.
        assert!(cron("0 0 * * 7").matches(local(2024, 9, 1, 0, 0)));
        assert_eq!(cron("0 0 * * 7"), cron("0 0 * * 7").clone());
    }

    #[test]
    fn shorthands_expand_like_vixie_cron() {
        for (shorthand, expansion) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
        ] {
            let short = cron(shorthand);
            let long = cron(expansion);
            assert_eq!(short.source(), shorthand);
            assert_eq!(short.minutes(), long.minutes(), "{shorthand}");
            assert_eq!(short.hours(), long.hours(), "{shorthand}");
            assert_eq!(short.days_of_month(), long.days_of_month(), "{shorthand}");
            assert_eq!(short.months(), long.months(), "{shorthand}");
            assert_eq!(short.days_of_week(), long.days_of_week(), "{shorthand}");
            assert_eq!(
                short.day_of_month_restricted(),
                long.day_of_month_restricted(),
                "{shorthand}"
            );
            assert_eq!(
                short.day_of_week_restricted(),
                long.day_of_week_restricted(),
                "{shorthand}"
            );
        }
    }

    #[test]
    fn source_is_the_trimmed_text_and_displays_as_written() {
        let expr = cron("  0  3\t* * 1-5 \n");
        assert_eq!(expr.source(), "0  3\t* * 1-5");
        assert_eq!(expr.to_string(), "0  3\t* * 1-5");
        assert_eq!("@daily".parse::<CronExpr>(), Ok(cron("@daily")));
    }

    #[test]
    fn restriction_follows_the_first_character() {
        let expr = cron("0 0 * * *");
        assert!(!expr.day_of_month_restricted() && !expr.day_of_week_restricted());
        let expr = cron("0 0 */2 * 1");
        assert!(!expr.day_of_month_restricted() && expr.day_of_week_restricted());
        let expr = cron("0 0 1,15 * *,1");
        assert!(expr.day_of_month_restricted() && !expr.day_of_week_restricted());
        let expr = cron("0 0 1-31 * 0-7");
        assert!(expr.day_of_month_restricted() && expr.day_of_week_restricted());
    }

    #[test]
    fn empty_and_blank_expressions_are_rejected() {
        for expr in ["", "   "] {
            let error = rejection(expr);
            assert_eq!(error.message, "cron expression is empty");
            assert_eq!(error.span, None);
        }
    }

    #[test]
    fn wrong_field_counts_explain_the_five_fields() {
        let error = rejection("0 3 * *");
        assert_eq!(
            error.message,
            "cron needs 5 fields (minute hour day-of-month month day-of-week), found 4"
        );
        assert_eq!(spanned("0 3 * *", &error), "0 3 * *");

        for expr in [" 0 30 2 * * ?", "0 30 2 * * ? 2030"] {
            let error = rejection(expr);
            assert!(
                error.message.starts_with(
                    "cron needs 5 fields (minute hour day-of-month month day-of-week)"
                ),
                "{}",
                error.message
            );
            assert!(error.message.contains("Quartz style"), "{}", error.message);
            assert!(error.message.contains("not supported"), "{}", error.message);
            assert_eq!(spanned(expr, &error), expr.trim());
        }
    }

    #[test]
    fn out_of_range_values_name_the_field_and_its_range() {
        for (expr, message, offending) in [
            ("61 * * * *", "minute value 61 is out of range 0-59", "61"),
            ("0 24 * * *", "hour value 24 is out of range 0-23", "24"),
            (
                "0 0 0 * *",
                "day-of-month value 0 is out of range 1-31",
                "0",
            ),
            (
                "0 0 32 * *",
                "day-of-month value 32 is out of range 1-31",
                "32",
            ),
            ("0 0 * 13 *", "month value 13 is out of range 1-12", "13"),
            ("0 0 * 0 *", "month value 0 is out of range 1-12", "0"),
            ("0 0 * * 8", "day-of-week value 8 is out of range 0-7", "8"),
            ("0 1-99 * * *", "hour value 99 is out of range 0-23", "99"),
            (
                "0,5,70 * * * *",
                "minute value 70 is out of range 0-59",
                "70",
            ),
            (
                "99999999999 * * * *",
                "minute value 99999999999 is out of range 0-59",
                "99999999999",
            ),
        ] {
            let error = rejection(expr);
            assert_eq!(error.message, message, "{expr}");
            assert_eq!(spanned(expr, &error), offending, "{expr}");
            assert!(!error.help.is_empty());
        }
        assert_eq!(
            rejection("0 0 * * 8").help,
            "the day-of-week field takes 0-7 (0 and 7 are Sunday) or a name sun-sat"
        );
    }

    #[test]
    fn spans_count_from_the_untrimmed_input() {
        let expr = "  0 0 * * 9";
        let error = rejection(expr);
        assert_eq!(error.span, Some(10..11));
    }

    #[test]
    fn backwards_ranges_are_rejected() {
        let error = rejection("0 0 * * 5-2");
        assert_eq!(error.message, "day-of-week range 5-2 starts after it ends");
        assert_eq!(spanned("0 0 * * 5-2", &error), "5-2");
        assert!(error.help.contains("`2-5`"), "{}", error.help);

        let error = rejection("0 22-2 * * *");
        assert_eq!(error.message, "hour range 22-2 starts after it ends");
        assert!(error.help.contains("22-23,0-2"), "{}", error.help);

        let error = rejection("0 0 * * fri-sun");
        assert!(error.help.contains("`fri-7`"), "{}", error.help);
        assert_eq!(
            rejection("0 0 * dec-jan *").message,
            "month range dec-jan starts after it ends"
        );
    }

    #[test]
    fn steps_must_be_positive_numbers() {
        let error = rejection("*/0 * * * *");
        assert_eq!(error.message, "minute step must be at least 1, found 0");
        assert_eq!(spanned("*/0 * * * *", &error), "/0");

        for expr in ["*/x * * * *", "*/ * * * *", "1/2/3 * * * *", "*/-1 * * * *"] {
            let error = rejection(expr);
            assert!(
                error.message.starts_with("minute step `"),
                "{expr}: {}",
                error.message
            );
            assert!(
                error.message.ends_with("` is not a number"),
                "{expr}: {}",
                error.message
            );
        }
    }

    #[test]
    fn names_are_checked() {
        let error = rejection("0 0 * * monday");
        assert_eq!(error.message, "unknown day-of-week name `monday`");
        assert_eq!(
            error.help,
            "cron only knows three-letter names: write `mon`"
        );
        assert_eq!(spanned("0 0 * * monday", &error), "monday");

        let error = rejection("0 0 * foo *");
        assert_eq!(error.message, "unknown month name `foo`");
        assert_eq!(error.help, "use 1-12 or a name jan-dec");

        let error = rejection("0 mon * * *");
        assert_eq!(error.message, "hour value `mon` is not a number");
        assert!(
            error.help.contains("names are only allowed"),
            "{}",
            error.help
        );
        // Month names are not weekday names and the other way round.
        assert_eq!(rejection("0 0 * mon *").message, "unknown month name `mon`");
        assert_eq!(
            rejection("0 0 * * jan").message,
            "unknown day-of-week name `jan`"
        );
    }

    #[test]
    fn malformed_items_are_rejected_with_a_span() {
        for (expr, message, offending) in [
            ("0 0 1,,2 * *", "empty entry in the day-of-month list", ","),
            ("0 0 1, * *", "empty entry in the day-of-month list", ","),
            ("0 0 ,1 * *", "empty entry in the day-of-month list", ","),
            ("*-5 * * * *", "`*` cannot be part of a minute range", "*"),
            ("-5 * * * *", "minute range `-5` is missing a value", "-5"),
            ("5- * * * *", "minute range `5-` is missing a value", "5-"),
            ("1-2-3 * * * *", "minute value `2-3` is not valid", "2-3"),
            ("1.5 * * * *", "minute value `1.5` is not valid", "1.5"),
            (
                "0 0 ? * MON",
                "day-of-month value `?` is Quartz syntax",
                "?",
            ),
            ("0 0 L * *", "day-of-month value `L` is Quartz syntax", "L"),
            (
                "0 0 15W * *",
                "day-of-month value `15W` is Quartz syntax",
                "15W",
            ),
            (
                "0 0 * * 5L",
                "day-of-week value `5L` is Quartz syntax",
                "5L",
            ),
            (
                "0 0 * * 5#3",
                "day-of-week value `5#3` is Quartz syntax",
                "5#3",
            ),
        ] {
            let error = rejection(expr);
            assert_eq!(error.message, message, "{expr}");
            assert_eq!(spanned(expr, &error), offending, "{expr}");
        }
        // Names that contain the Quartz letters are still names.
        assert_eq!(cron("0 0 * JUL WED").months(), vec![7]);
    }

    #[test]
    fn shorthand_errors() {
        let error = rejection(" @reboot");
        assert_eq!(error.message, "`@reboot` is not a schedule cairn can use");
        assert!(error.help.contains("need a time"), "{}", error.help);
        assert!(error.help.contains("apply"), "{}", error.help);
        assert_eq!(spanned(" @reboot", &error), "@reboot");

        assert_eq!(
            rejection("@fortnightly").message,
            "unknown cron shorthand `@fortnightly`"
        );
        assert_eq!(
            rejection("@Daily").message,
            "unknown cron shorthand `@Daily`"
        );
        assert!(rejection("@daily 3")
            .message
            .starts_with("unknown cron shorthand"));
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
