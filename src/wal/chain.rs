//! What an archive listing says about recoverability (SPEC §12): the newest
//! archived file and its time, and the first segment missing from the
//! chain that recovery from the oldest base backup would walk. Pure.
//!
//! Within a timeline, segments follow each other without a hole: from the
//! oldest base backup's start segment on its timeline, and from the first
//! archived segment on every later timeline (a timeline starts with a copy
//! of the segment it branched in), up to the timeline's newest segment.
//! A `.partial` file stands for its segment (the last, unfinished segment
//! of a timeline that was left by a promotion).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::destinations::WalEntry;
use crate::stores::postgres::walfile::{Segment, SegmentSize, WalFile};

/// The newest archived file, and the first hole in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// The newest archived WAL file by time, and when it was stored.
    pub newest: Option<(String, DateTime<Utc>)>,
    /// The first missing segment, and the archived one after it.
    pub gap: Option<(String, String)>,
    /// Archived segments (and partial segments) counted.
    pub segments: usize,
}

/// Reads `entries` (one destination's archive of a job, plain names) for
/// a chain that starts at `start` (the oldest base backup's first segment;
/// `None`: from each timeline's first segment) with segments of `size`.
pub fn check(entries: &[WalEntry], start: Option<&str>, size: SegmentSize) -> Chain {
    let newest = entries
        .iter()
        .filter_map(|entry| entry.modified.map(|time| (entry.name.clone(), time)))
        .max_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut timelines: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for entry in entries {
        let name = match WalFile::parse(&entry.name) {
            Some(WalFile::Segment(name) | WalFile::Partial(name)) => name,
            _ => continue,
        };
        if let Some(segment) = name.segment(size) {
            timelines
                .entry(segment.timeline)
                .or_default()
                .insert(segment.number);
        }
    }
    let start = start.and_then(|name| match WalFile::parse(name) {
        Some(WalFile::Segment(name)) => name.segment(size),
        _ => None,
    });
    let segments = timelines.values().map(BTreeSet::len).sum();
    let mut gap = None;
    for (&timeline, numbers) in &timelines {
        // Timelines older than the base backup's are not walked.
        if start.is_some_and(|start| timeline < start.timeline) {
            continue;
        }
        let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) else {
            continue;
        };
        let from = match start {
            Some(start) if start.timeline == timeline => start.number,
            _ => first,
        };
        if let Some(missing) = (from..=last).find(|n| !numbers.contains(n)) {
            let next = numbers.range(missing..).next().copied().unwrap_or(last);
            let name = |number| Segment { timeline, number }.name(size).to_string();
            gap = Some((name(missing), name(next)));
            break;
        }
    }
    Chain {
        newest,
        gap,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, second: i64) -> WalEntry {
        WalEntry {
            name: name.to_owned(),
            stored: format!("{name}.zst"),
            size: 1,
            modified: DateTime::from_timestamp(1_800_000_000 + second, 0),
        }
    }

    fn names(list: &[&str]) -> Vec<WalEntry> {
        list.iter()
            .enumerate()
            .map(|(i, name)| entry(name, i as i64))
            .collect()
    }

    const SIZE: SegmentSize = SegmentSize::DEFAULT;

    #[test]
    fn a_continuous_archive_has_no_gap_and_its_newest_file() {
        let entries = names(&[
            "000000010000000000000002",
            "000000010000000000000002.00000028.backup",
            "000000010000000000000003",
            "000000010000000000000004",
        ]);
        let chain = check(&entries, Some("000000010000000000000002"), SIZE);
        assert_eq!(chain.gap, None);
        assert_eq!(chain.segments, 3);
        assert_eq!(chain.newest.unwrap().0, "000000010000000000000004");
    }

    #[test]
    fn a_missing_segment_is_named_with_the_one_after_it() {
        let entries = names(&[
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000005",
        ]);
        let chain = check(&entries, Some("000000010000000000000002"), SIZE);
        assert_eq!(
            chain.gap,
            Some((
                "000000010000000000000004".to_owned(),
                "000000010000000000000005".to_owned()
            ))
        );
    }

    #[test]
    fn the_base_backups_first_segment_must_be_there() {
        let entries = names(&["000000010000000000000003"]);
        let chain = check(&entries, Some("000000010000000000000002"), SIZE);
        assert_eq!(chain.gap.unwrap().0, "000000010000000000000002");
    }

    #[test]
    fn a_new_timeline_starts_where_it_branched_and_crosses_logs() {
        let entries = names(&[
            "000000010000000000000002",
            "000000010000000000000003.partial",
            "00000002.history",
            "0000000200000000000000FF",
            "000000020000000100000000",
        ]);
        let chain = check(&entries, Some("000000010000000000000002"), SIZE);
        assert_eq!(chain.gap, None);
        assert_eq!(chain.segments, 4);
        // Older timelines than the backup's are not walked.
        let entries = names(&[
            "000000010000000000000001",
            "000000010000000000000009",
            "000000020000000000000009",
        ]);
        assert_eq!(
            check(&entries, Some("000000020000000000000009"), SIZE).gap,
            None
        );
    }
}
