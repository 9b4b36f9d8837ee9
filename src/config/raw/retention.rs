//! `[retention.NAME]`: how many artifacts a policy keeps, and its tiers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// How many artifacts to keep, with the semantics of `restic forget`: an
/// artifact kept by any tier is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the newest N artifacts.
    pub keep_last: Option<u32>,
    /// Keep the newest artifact of each of the N most recent hours that have one.
    pub hourly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent days that have one.
    pub daily: Option<u32>,
    /// Keep the newest artifact of each of the N most recent ISO weeks that have one.
    pub weekly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent months that have one.
    pub monthly: Option<u32>,
    /// Keep the newest artifact of each of the N most recent years that have one.
    pub yearly: Option<u32>,
    /// Keep every artifact newer than the newest one minus this duration.
    pub within: Option<Duration>,
}

impl RetentionPolicy {
    /// The count of tier `tier` (`keep_last`, `hourly`, ... `yearly`), for
    /// the parsers of the inline and `--policy` forms; `None` for any other name.
    pub fn count_mut(&mut self, tier: &str) -> Option<&mut Option<u32>> {
        Some(match tier {
            "keep_last" => &mut self.keep_last,
            "hourly" => &mut self.hourly,
            "daily" => &mut self.daily,
            "weekly" => &mut self.weekly,
            "monthly" => &mut self.monthly,
            "yearly" => &mut self.yearly,
            _ => return None,
        })
    }
}

/// The tier keys of a retention policy.
pub const RETENTION_TIERS: [&str; 7] = [
    "keep_last",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "yearly",
    "within",
];
