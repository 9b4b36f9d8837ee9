//! The run history: one JSON line per run in `STATE_DIR/history/JOB.jsonl`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::manifest::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failed,
}

/// One run of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    /// The artifact ID the run wrote (or tried to).
    pub id: String,
    pub reason: Reason,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Success only when every destination got a complete artifact.
    pub outcome: Outcome,
    /// Why the run failed, when it failed as a whole (dump, hook, timeout).
    pub error: Option<String>,
    /// Bytes the dump produced, over all streams.
    pub raw_size: u64,
    /// Bytes stored at each destination, over all streams.
    pub stored_size: u64,
    pub destinations: BTreeMap<String, DestinationRecord>,
    /// Present on the records of verify runs (`cairn verify`, verify jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyRecord>,
}

/// What a verify run restored and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// The backup job whose artifact was restored.
    pub job: String,
    /// Where the artifact was read from.
    pub destination: Option<String>,
    /// The artifact restored, when one was found.
    pub artifact: Option<String>,
    /// Every check, built-in (e.g. `PRAGMA integrity_check`) and declared.
    pub checks: Vec<CheckRecord>,
}

/// One check of a verify run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// What was checked, e.g. `select count(*) from users >= 1`.
    pub check: String,
    pub passed: bool,
    /// What was measured, e.g. `1250`.
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationRecord {
    pub outcome: Outcome,
    pub error: Option<String>,
}

impl RunRecord {
    /// What the run stored: "1.2 GiB read, 340 MiB stored at local, offsite".
    pub fn stored_summary(&self) -> String {
        format!(
            "{} read, {} stored at {}",
            crate::run::human_bytes(self.raw_size),
            crate::run::human_bytes(self.stored_size),
            self.destinations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Appends a record to the job's history file and fsyncs it.
pub fn append(state_dir: &Path, record: &RunRecord) -> std::io::Result<()> {
    let dir = state_dir.join("history");
    fs_err::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.jsonl", record.job));
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.write_all(&line)?;
    file.sync_all()
}

/// Every record of `job` (or of all jobs), oldest first. Lines that do not
/// parse (a crash mid-write) are skipped.
pub fn read(state_dir: &Path, job: Option<&str>) -> std::io::Result<Vec<RunRecord>> {
    let dir = state_dir.join("history");
    let mut files = Vec::new();
    match job {
        Some(job) => files.push(dir.join(format!("{job}.jsonl"))),
        None => match fs_err::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry?.path();
                    if path.extension().is_some_and(|e| e == "jsonl") {
                        files.push(path);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        },
    }
    let mut records = Vec::new();
    for path in files {
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        records.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<RunRecord>(line).ok()),
        );
    }
    records.sort_by(|a, b| (a.started_at, &a.job).cmp(&(b.started_at, &b.job)));
    Ok(records)
}
