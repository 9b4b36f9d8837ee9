//! `topics.json` and `groups.json`: what a backup saved about the topics
//! and the consumer groups, as a restore reads it back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cluster::ConfigEntry;
use super::groups::Committed;

/// The version of both files' layout.
pub const FORMAT_VERSION: u32 = 1;

/// `topics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topics {
    pub format_version: u32,
    pub topics: Vec<Topic>,
}

/// One topic as the backup saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Every config the broker reported, by name.
    pub configs: BTreeMap<String, ConfigEntry>,
    /// Each partition's earliest offset and the end offset the backup
    /// stopped at (seen when the run started).
    pub offsets: Vec<PartitionOffsets>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub earliest: i64,
    pub end: i64,
}

/// `groups.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Groups {
    pub format_version: u32,
    /// Each group's committed offsets on the saved topics.
    pub groups: BTreeMap<String, Vec<Committed>>,
}
