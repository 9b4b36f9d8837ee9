//! The five fields of a cron expression: their ranges and names, and the
//! parsing of one field's comma-separated items into a bit set.

use super::CronError;

/// What one of the five fields accepts.
pub(super) struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names, the first one standing for `min`.
    names: &'static [&'static str],
    /// What to write instead, for help lines.
    accepted: &'static str,
}

pub(super) const MINUTE: Field = Field {
    name: "minute",
    accepted: "0-59",
    min: 0,
    max: 59,
    names: &[],
};
pub(super) const HOUR: Field = Field {
    name: "hour",
    accepted: "0-23",
    min: 0,
    max: 23,
    names: &[],
};
pub(super) const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    accepted: "1-31",
    min: 1,
    max: 31,
    names: &[],
};
pub(super) const MONTH: Field = Field {
    name: "month",
    accepted: "1-12 or a name jan-dec",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
pub(super) const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    accepted: "0-7 (0 and 7 are Sunday) or a name sun-sat",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    /// Parses one comma-separated field into a bit set. `offset` is where the
    /// field starts in the original expression, for error spans.
    pub(super) fn parse(&self, (offset, text): (usize, &str)) -> Result<u64, CronError> {
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
