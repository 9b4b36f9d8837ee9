//! Durations as operators write them: `90d`, `6h`, `10m`, `1d12h`.
//!
//! Units have a fixed length (`s`, `m` = minutes, `h`, `d`, `w`); months and
//! years are not durations because their length varies — retention has
//! `monthly` and `yearly` tiers for those.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A length of time with one-second resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    seconds: u64,
}

const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// The longest duration cairn accepts, 100 years: anything longer is a
/// typo, and every time computed from a duration (a cutoff, a deadline,
/// `now` minus an rpo) then stays well inside the calendar's range.
const MAX_SECONDS: u64 = 36_525 * 86_400;

/// The regular expression the JSON Schema uses for durations.
pub const PATTERN: &str = "^([0-9]+[smhdw])+$";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}`: {reason}")]
pub struct ParseDurationError {
    text: String,
    reason: &'static str,
}

impl Duration {
    pub const fn from_seconds(seconds: u64) -> Self {
        Self { seconds }
    }

    pub const fn as_seconds(self) -> u64 {
        self.seconds
    }

    pub fn is_zero(self) -> bool {
        self.seconds == 0
    }

    /// As a chrono duration; a duration built with `from_seconds` longer
    /// than parsing accepts counts as the longest one parsing accepts.
    pub fn to_chrono(self) -> chrono::Duration {
        // At most 100 years of seconds: far inside chrono's range.
        chrono::Duration::seconds(self.seconds.min(MAX_SECONDS) as i64)
    }

    /// The help line shown with every duration error.
    pub fn help() -> &'static str {
        "write a number followed by s, m (minutes), h, d or w, combinable as in \"1d12h\"; \
         months and years are not durations, use the monthly and yearly retention tiers"
    }
}

const TOO_LONG: &str = "it is longer than 100 years (36525d)";

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| ParseDurationError {
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(error("it is empty"));
        }
        let mut seconds: u64 = 0;
        let mut number: Option<u64> = None;
        let mut seen = String::new();
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number.unwrap_or(0);
                number = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(digit)))
                        .ok_or_else(|| error(TOO_LONG))?,
                );
                continue;
            }
            let Some(&(_, unit)) = UNITS.iter().find(|(u, _)| *u == c) else {
                return Err(match c {
                    'y' | 'M' => error("months and years are not durations"),
                    c if c.is_whitespace() => error("it contains a space"),
                    _ => error("units are s, m, h, d and w"),
                });
            };
            let n = number
                .take()
                .ok_or_else(|| error("a unit must follow a number"))?;
            if seen.contains(c) {
                return Err(error("a unit appears twice"));
            }
            seen.push(c);
            seconds = n
                .checked_mul(unit)
                .and_then(|s| s.checked_add(seconds))
                .filter(|s| *s <= MAX_SECONDS)
                .ok_or_else(|| error(TOO_LONG))?;
        }
        if number.is_some() {
            return Err(error("the last number has no unit"));
        }
        Ok(Self { seconds })
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form, largest unit first (`36h` prints as `1d12h`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.seconds;
        for (unit, size) in UNITS {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A duration: a number followed by s, m (minutes), h, d or w, combinable, e.g. \"90d\", \"6h\", \"1d12h\".",
            "examples": ["90d", "6h", "10m", "1d12h"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_combined_units() {
        assert_eq!("90d".parse::<Duration>().unwrap().as_seconds(), 90 * 86_400);
        assert_eq!("10m".parse::<Duration>().unwrap().as_seconds(), 600);
        assert_eq!(
            "1d12h".parse::<Duration>().unwrap().as_seconds(),
            36 * 3_600
        );
        assert_eq!("2w".parse::<Duration>().unwrap().as_seconds(), 14 * 86_400);
        assert_eq!("0s".parse::<Duration>().unwrap().as_seconds(), 0);
    }

    #[test]
    fn rejects_what_is_not_a_fixed_length() {
        for bad in ["", "90", "d", "1y", "1M", "90 days", "1d1d", "1.5h", "-1d"] {
            assert!(
                bad.parse::<Duration>().is_err(),
                "{bad:?} should be rejected"
            );
        }
        let error = "1y".parse::<Duration>().unwrap_err().to_string();
        assert!(error.contains("months and years"), "{error}");
    }

    #[test]
    fn refuses_more_than_a_hundred_years() {
        assert_eq!(
            "36525d".parse::<Duration>().unwrap().as_seconds(),
            MAX_SECONDS
        );
        for bad in [
            "36525d1s",
            "99999999999w",
            "18446744073709551615s",
            "18446744073709551616s",
        ] {
            let error = bad.parse::<Duration>().unwrap_err().to_string();
            assert!(error.contains("longer than 100 years"), "{bad}: {error}");
        }
        // Never beyond what chrono holds, whatever was built.
        assert_eq!(
            Duration::from_seconds(u64::MAX).to_chrono(),
            chrono::Duration::seconds(MAX_SECONDS as i64)
        );
    }

    #[test]
    fn displays_largest_unit_first() {
        assert_eq!(Duration::from_seconds(36 * 3_600).to_string(), "1d12h");
        assert_eq!(Duration::from_seconds(90 * 86_400).to_string(), "12w6d");
        assert_eq!(Duration::from_seconds(0).to_string(), "0s");
        let round_trip: Duration = "3w2d5h4m1s".parse().unwrap();
        assert_eq!(round_trip.to_string(), "3w2d5h4m1s");
    }
}
