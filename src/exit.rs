//! cairn's exit codes (SPEC §10, §11).

use std::process::ExitCode;

/// How a command ended. Usage errors are ordinary failures (1); 2 is reserved
/// for "changes present" and for status WARNING/CRITICAL semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success, nothing to report.
    Success,
    /// 1: an error (bad config, bad usage, a failed run).
    Failure,
    /// 2: `plan --detailed-exitcode` found changes.
    Changes,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
        })
    }
}
