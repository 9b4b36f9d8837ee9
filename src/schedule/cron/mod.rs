//! Cron expressions with Vixie cron semantics (the `cron` that Debian ships).
//!
//! Parsing turns the five text fields into bit sets once; everything after
//! that (matching, searching for the next or previous firing, measuring the
//! longest gap between firings) works on those bit sets and never looks at
//! the text again. Nothing here reads the clock: callers pass the instant
//! they care about.
//!
//! The type and its accessors live here; `fields` holds what each of the
//! five fields accepts, `parse` turns text into a [`CronExpr`], and `firing`
//! answers when it fires.

mod fields;
mod firing;
mod parse;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

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

impl CronExpr {
    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
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

fn has_bit(bits: u64, index: u32) -> bool {
    bits & (1 << index) != 0
}

fn bits_in(bits: u64, low: u32, high: u32) -> Vec<u32> {
    (low..=high).filter(|&index| has_bit(bits, index)).collect()
}

/// Helpers shared by the parsing and firing tests.
#[cfg(test)]
mod test_support {
    use chrono::{NaiveDate, NaiveDateTime};

    use super::CronExpr;

    pub(super) fn cron(expr: &str) -> CronExpr {
        CronExpr::parse(expr).unwrap_or_else(|error| panic!("`{expr}` should parse: {error}"))
    }

    pub(super) fn local(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|date| date.and_hms_opt(hour, minute, 0))
            .expect("valid test date")
    }
}
