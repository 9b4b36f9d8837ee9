//! The artifact record, `manifest.json`, written last at every destination.
//! Its format is documented in docs/artifacts.md.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::raw::CompressionAlgorithm;

/// The version of the manifest format.
pub const FORMAT_VERSION: u32 = 1;

/// Why an artifact was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// By a timer, a cron entry or `cairn apply`.
    Scheduled,
    /// By an operator's `cairn run`.
    Manual,
    /// Before a `restore --force` overwrote the target; outside retention.
    Safety,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub cairn_version: String,
    pub job: String,
    /// The run ID, which is also the artifact's directory name.
    pub id: String,
    pub reason: Reason,
    pub store: StoreRecord,
    /// Versions of the dump tools, e.g. {"pg_dump": "pg_dump (PostgreSQL) 15.8"}.
    pub tools: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub compression: CompressionRecord,
    /// Present when the streams are age-encrypted.
    pub encryption: Option<EncryptionRecord>,
    /// The data objects, in the order they were written.
    pub streams: Vec<StreamRecord>,
    /// A PostgreSQL base backup's place in the WAL (SPEC §12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalRecord>,
}

/// Where a base backup starts and ends in the WAL, and which cluster it is
/// of: what a point-in-time restore needs from the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalRecord {
    /// The cluster's system identifier (IDENTIFY_SYSTEM): WAL of another
    /// cluster cannot be replayed onto this backup.
    pub system_identifier: String,
    /// `server_version_num`, e.g. 150008.
    pub server_version: u32,
    /// The timeline the backup was taken on.
    pub timeline: u32,
    /// The WAL position the backup starts from (its checkpoint's redo).
    pub start_lsn: String,
    /// The WAL position recovery must reach before the copy is consistent.
    pub stop_lsn: String,
    /// The first WAL file a restore needs, e.g. 000000010000000000000002.
    pub start_segment: String,
    /// The last one.
    pub stop_segment: String,
    /// `wal_segment_size` in bytes.
    pub segment_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRecord {
    /// The store's name in the configuration.
    pub name: String,
    pub kind: String,
    /// Where the data came from (host and port, path, URL without password).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressionRecord {
    pub algorithm: CompressionAlgorithm,
    pub level: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRecord {
    /// Always "age".
    pub kind: String,
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// The object's name inside the artifact, e.g. `db-app.pgdump.zst`.
    pub name: String,
    /// Bytes the dump produced.
    pub raw_size: u64,
    /// Bytes stored (after compression and encryption).
    pub stored_size: u64,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("manifests serialize");
        json.push(b'\n');
        json
    }
}
