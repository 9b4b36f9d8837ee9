//! What the run history says about a job's runs: whether each failed, and
//! how to say why.

use std::collections::BTreeMap;

use super::LastVerify;
use crate::history::{Outcome, RunRecord};

/// A run failed when it failed as a whole or at any destination; a verify
/// run also when one of its checks did not pass.
pub(super) fn failed(record: &RunRecord) -> bool {
    record.outcome == Outcome::Failed
        || record
            .destinations
            .values()
            .any(|d| d.outcome == Outcome::Failed)
        || record
            .verify
            .as_ref()
            .is_some_and(|v| v.checks.iter().any(|c| !c.passed))
}

pub(super) fn outcome(record: &RunRecord) -> Outcome {
    if failed(record) {
        Outcome::Failed
    } else {
        Outcome::Success
    }
}

pub(super) fn newest<'a>(records: &[&'a RunRecord]) -> Option<&'a RunRecord> {
    records.iter().copied().max_by_key(|r| r.started_at)
}

pub(super) fn destination_errors(record: &RunRecord) -> BTreeMap<String, String> {
    record
        .destinations
        .iter()
        .filter(|(_, d)| d.outcome == Outcome::Failed)
        .map(|(name, d)| {
            let error = d.error.clone().unwrap_or_else(|| "failed".to_owned());
            (name.clone(), error)
        })
        .collect()
}

/// `: ERROR` or ` at `DEST`: ERROR`, for a failed run.
pub(super) fn failure_detail(record: &RunRecord) -> String {
    if let Some(error) = &record.error {
        return format!(": {error}");
    }
    let errors = destination_errors(record);
    if errors.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = errors
        .iter()
        .map(|(d, e)| format!("at `{d}`: {e}"))
        .collect();
    format!(" {}", listed.join("; "))
}

fn failed_checks(record: &RunRecord) -> Vec<String> {
    let Some(verify) = &record.verify else {
        return Vec::new();
    };
    verify
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| match &c.value {
            Some(value) => format!("{} (got {value})", c.check),
            None => c.check.clone(),
        })
        .collect()
}

/// `: ERROR` or `: check failed: CHECK`, for a failed verify run.
pub(super) fn verify_detail(record: &RunRecord) -> String {
    let checks = failed_checks(record);
    match (&record.error, checks.is_empty()) {
        (Some(error), _) => format!(": {error}"),
        (None, false) => format!(
            ": {} failed: {}",
            if checks.len() == 1 { "check" } else { "checks" },
            checks.join("; ")
        ),
        (None, true) => failure_detail(record),
    }
}

pub(super) fn last_verify(record: &RunRecord) -> LastVerify {
    let verify = record.verify.as_ref();
    LastVerify {
        run_by: record.job.clone(),
        id: record.id.clone(),
        started_at: record.started_at,
        outcome: outcome(record),
        destination: verify.and_then(|v| v.destination.clone()),
        artifact: verify.and_then(|v| v.artifact.clone()),
        failed_checks: failed_checks(record),
        error: record.error.clone(),
    }
}
