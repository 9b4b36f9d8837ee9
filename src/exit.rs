//! cairn's exit codes (SPEC §10, §11).

use std::process::ExitCode;

/// How a command ended. Usage errors are ordinary failures (1); 2 is reserved
/// for "changes present" and for status WARNING/CRITICAL semantics; `status`
/// exits in the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
/// 3 UNKNOWN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success, nothing to report.
    Success,
    /// 1: an error (bad config, bad usage, a failed run).
    Failure,
    /// 2: `plan --detailed-exitcode` found changes.
    Changes,
    /// 1: `status` WARNING: a job missed its schedule but is within its rpo.
    Warning,
    /// 2: `status` CRITICAL: a job is beyond its rpo, or its last run or verify failed.
    Critical,
    /// 3: `status` UNKNOWN: cairn could not tell (config or destination unreadable).
    Unknown,
    /// 1: `wal fetch`: the file is not archived, the end of the archive.
    NotArchived,
    /// 255: `wal fetch` failed otherwise; PostgreSQL stops recovery.
    FetchFailed,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Warning => 1,
            ExitStatus::Critical => 2,
            ExitStatus::Unknown => 3,
            ExitStatus::NotArchived => 1,
            ExitStatus::FetchFailed => 255,
        })
    }
}
