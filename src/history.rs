//! The run history: one JSON line per run in `STATE_DIR/history/JOB.jsonl`,
//! and with `settings.state = "destinations"` the same records at the
//! destinations ([`remote`]).

pub mod remote;

use std::collections::BTreeMap;
use std::io::Write;

use fs_err::os::unix::fs::OpenOptionsExt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::format::human_bytes;
use crate::manifest::Reason;
use crate::state::StateDir;

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
    /// What went wrong without failing the run: e.g. a dump tool that
    /// exited 0 but wrote to stderr (what it wrote, bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
    /// The record of run `id` of `job`, started at `started_at` by process
    /// `pid`, which stopped before it recorded its outcome (killed, or the
    /// host went down). The next run of the job writes it when it finds the
    /// run's ID in the job's lock, `noticed_at`.
    pub fn interrupted(
        job: &str,
        id: &str,
        pid: &str,
        reason: Reason,
        started_at: DateTime<Utc>,
        noticed_at: DateTime<Utc>,
    ) -> Self {
        RunRecord {
            job: job.to_owned(),
            id: id.to_owned(),
            reason,
            started_at,
            finished_at: noticed_at.max(started_at),
            outcome: Outcome::Failed,
            error: Some(format!(
                "interrupted: the run (pid {pid}) stopped before it recorded its outcome \
                 (killed, or the host went down); what it left without a manifest is cleaned up"
            )),
            raw_size: 0,
            stored_size: 0,
            destinations: BTreeMap::new(),
            verify: None,
            warnings: Vec::new(),
        }
    }

    /// Why the run failed, one part per cause: the run's own error, then
    /// each destination's that does not merely repeat it ("aborted: <the
    /// run's error>" says nothing new). Empty for a successful run.
    pub fn failure_reasons(&self) -> Vec<String> {
        let mut parts: Vec<String> = self.error.iter().cloned().collect();
        for (destination, outcome) in &self.destinations {
            let Some(error) = &outcome.error else {
                continue;
            };
            if !self
                .error
                .as_ref()
                .is_some_and(|e| error.contains(e.as_str()))
            {
                parts.push(format!("destination `{destination}`: {error}"));
            }
        }
        parts
    }

    /// One line for a failed run: "job `app` failed (run ID): why; why".
    pub fn failure_summary(&self) -> String {
        let reasons = self.failure_reasons();
        if reasons.is_empty() {
            format!("job `{}` failed (run {})", self.job, self.id)
        } else {
            format!(
                "job `{}` failed (run {}): {}",
                self.job,
                self.id,
                reasons.join("; ")
            )
        }
    }

    /// What the run stored: "1.2 GiB read, 340 MiB stored at local, offsite".
    pub fn stored_summary(&self) -> String {
        format!(
            "{} read, {} stored at {}",
            human_bytes(self.raw_size),
            human_bytes(self.stored_size),
            self.destinations
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The runs as the table `cairn history` prints, oldest first.
pub fn table(records: &[RunRecord]) -> String {
    if records.is_empty() {
        return "No runs recorded yet.\n".to_owned();
    }
    let mut out = format!(
        "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
        "JOB", "RUN", "REASON", "OUTCOME", "DURATION", "STORED", "ERROR"
    );
    for record in records {
        let duration = (record.finished_at - record.started_at)
            .num_seconds()
            .max(0) as u64;
        let error = record
            .error
            .clone()
            .or_else(|| {
                record
                    .destinations
                    .iter()
                    .find_map(|(d, o)| o.error.as_ref().map(|e| format!("{d}: {e}")))
            })
            .or_else(|| {
                let warning = record.warnings.first()?;
                Some(format!("warning: {}", warning.lines().next().unwrap_or("")))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
            record.job,
            record.id,
            format!("{:?}", record.reason).to_lowercase(),
            format!("{:?}", record.outcome).to_lowercase(),
            crate::duration::Duration::from_seconds(duration).to_string(),
            human_bytes(record.stored_size),
            error
        ));
    }
    out
}

/// Appends a record to the job's history file and fsyncs it. A last line
/// that a crash cut short is ended first, so that it stays one damaged line
/// and does not swallow this record.
pub fn append(state: &StateDir, record: &RunRecord) -> std::io::Result<()> {
    crate::atomic::create_private_dir(&state.history())?;
    let path = state.history_file(&record.job);
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    let mut file = fs_err::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .read(true)
        .append(true)
        .open(&path)?;
    if !ends_a_line(file.file_mut())? {
        line.insert(0, b'\n');
    }
    file.write_all(&line)?;
    file.sync_all()
}

/// Whether `file` is empty or its last byte ends a line.
fn ends_a_line(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.seek(SeekFrom::End(0))? == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// The records read from the history, and the lines that were not records.
#[derive(Debug, Default)]
pub struct History {
    /// Oldest first.
    pub records: Vec<RunRecord>,
    pub damaged: Vec<Damaged>,
}

/// A history line that does not parse: a run cut off while its record was
/// written, or a hand edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub path: std::path::PathBuf,
    /// Counted from 1.
    pub line: usize,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} of the run history {} is damaged (a run cut off while writing it?) and was skipped; delete that line to silence this warning",
            self.line,
            self.path.display()
        )
    }
}

/// Every record of `job` (or of all jobs), oldest first, and the lines that
/// do not parse, which are skipped.
pub fn read(state: &StateDir, job: Option<&str>) -> std::io::Result<History> {
    let dir = state.history();
    let mut files = Vec::new();
    match job {
        Some(job) => files.push(state.history_file(job)),
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
    let mut history = History::default();
    for path in files {
        let bytes = match fs_err::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<RunRecord>(line) {
                Ok(record) => history.records.push(record),
                Err(_) => history.damaged.push(Damaged {
                    path: path.clone(),
                    line: index + 1,
                }),
            }
        }
    }
    history
        .records
        .sort_by(|a, b| (a.started_at, &a.job).cmp(&(b.started_at, &b.job)));
    Ok(history)
}
