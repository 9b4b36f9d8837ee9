//! Parsing: `@shorthand` expansion, splitting into five fields and building
//! a [`CronExpr`], with errors that point at the offending text.

use std::ops::Range;

use super::fields::{DAY_OF_MONTH, DAY_OF_WEEK, HOUR, MINUTE, MONTH};
use super::{CronError, CronExpr};

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

#[cfg(test)]
mod tests {
    use super::super::test_support::{cron, local};
    use super::*;

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
}
