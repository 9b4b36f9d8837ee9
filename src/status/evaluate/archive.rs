//! The WAL archive of a basebackup job in `cairn status` (SPEC §12): the
//! newest archived file's age against the job's rpo (the archive, not the
//! base backups' schedule, meets it), and the continuity of the chain from
//! the oldest base backup at each destination to the newest segment. A gap
//! is CRITICAL: a restore past it fails.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{critical, stale};
use crate::config::model::Job;
use crate::destinations::{Listing, WalEntry};
use crate::format::age;
use crate::status::{Problem, State, WalStatus};
use crate::stores::postgres::SegmentSize;
use crate::wal::chain;

/// The archive's status over the job's destinations, and its problems.
pub(super) fn evaluate(
    job: &Job,
    archive: &BTreeMap<String, Result<Vec<WalEntry>, String>>,
    listings: &BTreeMap<String, Result<Listing, String>>,
    now: DateTime<Utc>,
    problems: &mut Vec<Problem>,
) -> WalStatus {
    let mut status = WalStatus::default();
    for (destination, listed) in archive {
        let entries = match listed {
            Ok(entries) => entries,
            Err(error) => {
                problems.push(Problem {
                    state: State::Unknown,
                    message: format!("the WAL archive at `{destination}` cannot be read: {error}"),
                    stale: false,
                });
                continue;
            }
        };
        // The oldest base backup there: recovery from it walks the chain.
        let oldest = listings
            .get(destination)
            .and_then(|listing| listing.as_ref().ok())
            .into_iter()
            .flat_map(|listing| &listing.artifacts)
            .filter(|found| found.job == job.name.as_str())
            .filter_map(|found| found.manifest()?.wal.as_ref())
            .min_by(|a, b| a.start_segment.cmp(&b.start_segment));
        let size = oldest
            .and_then(|wal| SegmentSize::new(wal.segment_size))
            .unwrap_or(SegmentSize::DEFAULT);
        let found = chain::check(entries, oldest.map(|wal| wal.start_segment.as_str()), size);
        if let Some((missing, after)) = &found.gap {
            problems.push(critical(format!(
                "the WAL archive at `{destination}` misses {missing} ({after} is archived after it): a restore past it fails"
            )));
        }
        status.segments = status.segments.max(found.segments);
        if let Some((name, time)) = found.newest {
            if status
                .newest
                .as_ref()
                .is_none_or(|(_, newest)| time > *newest)
            {
                status.newest = Some((name, time));
            }
        }
    }
    match &status.newest {
        Some((_, time)) => {
            let old = now - *time;
            if let Some(rpo) = job.rpo.filter(|rpo| old > rpo.to_chrono()) {
                problems.push(stale(critical(format!(
                    "newest archived WAL is {} old, beyond its rpo of {rpo}: check the server's archive_command and archive_timeout",
                    age(old)
                ))));
            }
        }
        None if archive.values().any(Result::is_ok) => problems.push(stale(critical(
            "no WAL is archived: set archive_command to this job's `cairn wal push` (see README)"
                .to_owned(),
        ))),
        None => {}
    }
    status
}
