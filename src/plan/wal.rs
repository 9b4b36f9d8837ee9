//! Retention of a basebackup job's WAL archive (SPEC §12): WAL is kept
//! from the first segment of the oldest base backup retention keeps at a
//! destination, and pruned before it, never sooner. `.history` files are
//! always kept (timelines are followed through them). The plan shows the
//! prune as one range per destination: `wal.DEST.JOB FIRST..LAST`.

use crate::config::address::WalAddress;
use crate::destinations::{Found, WalEntry};
use crate::stores::postgres::walfile::{SegmentSize, WalFile};

use super::action::{Action, Operation};
use crate::duration::Duration;
use crate::stores::postgres::ArchiveSettings;

/// What the plan notes about a basebackup job's server: archiving off, an
/// `archive_command` that does not push into this job, an `archive_timeout`
/// that lets an idle server look stale (SPEC §12).
pub(super) fn settings_notes(
    job: &str,
    settings: &Result<ArchiveSettings, String>,
    rpo: Option<Duration>,
) -> Vec<String> {
    let settings = match settings {
        Ok(settings) => settings,
        Err(error) => {
            return vec![format!(
                "job `{job}`: the server's archiving settings cannot be read: {error}"
            )]
        }
    };
    let mut notes = Vec::new();
    if settings.mode == "off" {
        notes.push(format!(
            "job `{job}`: the server has archive_mode = off, so no WAL is archived and recovery ends at the last base backup; set archive_mode = on (a restart)"
        ));
    }
    let pushes = settings.command.contains("wal push")
        && settings
            .command
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|pair| pair[0] == "--job" && pair[1] == job);
    if !pushes {
        notes.push(format!(
            "job `{job}`: the server's archive_command is `{}`, which does not call `cairn wal push %p --job {job}`",
            settings.command
        ));
    }
    let limit = rpo.map(|rpo| rpo.as_seconds());
    match (settings.timeout_seconds, limit) {
        (0, _) => notes.push(format!(
            "job `{job}`: the server has no archive_timeout: an idle server archives nothing and the job looks stale; set archive_timeout to at most the rpo"
        )),
        (timeout, Some(limit)) if timeout > limit => notes.push(format!(
            "job `{job}`: the server's archive_timeout ({timeout}s) is longer than the job's rpo ({limit}s): an idle server would miss it"
        )),
        _ => {}
    }
    notes
}

/// The prune of the WAL archive of `job` at `destination` that keeping
/// `kept` allows, or a note saying why nothing is pruned there; `None`
/// when there is nothing to prune.
pub(super) fn prune(
    job: &str,
    destination: &str,
    kept: &[&Found],
    archive: &[WalEntry],
) -> Result<Option<Action>, String> {
    let mut oldest: Option<(&str, SegmentSize, &str)> = None;
    for found in kept {
        let Some(wal) = found.manifest().and_then(|m| m.wal.as_ref()) else {
            return Err(format!(
                "the WAL archive of job `{job}` at `{destination}` is not pruned: artifact {} has no WAL range in its manifest",
                found.id
            ));
        };
        let size = SegmentSize::new(wal.segment_size).unwrap_or(SegmentSize::DEFAULT);
        if oldest.is_none_or(|(start, _, _)| wal.start_segment.as_str() < start) {
            oldest = Some((wal.start_segment.as_str(), size, found.id.as_str()));
        }
    }
    // Without a kept base backup, WAL serves nothing cairn knows of, and
    // cairn deletes nothing it cannot account for.
    let Some((start, size, backup)) = oldest else {
        return Ok(None);
    };
    let Some(WalFile::Segment(start_name)) = WalFile::parse(start) else {
        return Err(format!(
            "the WAL archive of job `{job}` at `{destination}` is not pruned: artifact {backup} starts at `{start}`, which is not a segment"
        ));
    };
    let Some(start) = start_name.segment(size) else {
        return Ok(None);
    };
    let mut files: Vec<&WalEntry> = archive
        .iter()
        .filter(|entry| {
            let segment = match WalFile::parse(&entry.name) {
                Some(WalFile::Segment(name) | WalFile::Partial(name)) => name,
                Some(WalFile::Backup { segment, .. }) => segment,
                // Timeline histories stay; names that are not WAL are not ours.
                Some(WalFile::History(_)) | None => return false,
            };
            segment
                .segment(size)
                .is_some_and(|segment| segment.number < start.number)
        })
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let first = &files[0].name;
    let last = &files[files.len() - 1].name;
    let stored: Vec<String> = files.iter().map(|entry| entry.stored.clone()).collect();
    Ok(Some(Action {
        reason: format!(
            "{first}..{last} ({} file{}), before {start_name}, where the oldest kept base backup {backup} starts",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ),
        observed: super::digest(&stored.join("\n")),
        operation: Operation::PruneWal {
            wal: WalAddress {
                destination: destination.to_owned(),
                job: job.to_owned(),
            },
            files: stored,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::FoundState;
    use crate::manifest::WalRecord;

    fn backup(id: &str, start: &str) -> Found {
        let mut manifest: crate::manifest::Manifest = serde_json::from_value(serde_json::json!({
            "format_version": 1, "cairn_version": "test", "job": "pg", "id": id,
            "reason": "scheduled",
            "store": {"name": "pg", "kind": "postgres", "source": "db"},
            "tools": {}, "started_at": "2026-12-01T00:00:00Z", "finished_at": "2026-12-01T00:01:00Z",
            "compression": {"algorithm": "zstd", "level": 3}, "encryption": null, "streams": []
        }))
        .unwrap();
        manifest.wal = Some(WalRecord {
            system_identifier: "1".into(),
            server_version: 150008,
            timeline: 1,
            start_lsn: "0/0".into(),
            stop_lsn: "0/0".into(),
            start_segment: start.into(),
            stop_segment: start.into(),
            segment_size: 16 << 20,
        });
        Found {
            job: "pg".into(),
            id: id.into(),
            time: chrono::Utc::now(),
            state: FoundState::Complete(Box::new(manifest)),
            objects: Vec::new(),
            stored_size: 0,
        }
    }

    fn archive(names: &[&str]) -> Vec<WalEntry> {
        names
            .iter()
            .map(|name| WalEntry {
                name: (*name).into(),
                stored: format!("{name}.zst"),
                size: 1,
                modified: None,
            })
            .collect()
    }

    #[test]
    fn wal_before_the_oldest_kept_backup_goes_and_histories_stay() {
        let kept = [
            backup("20261202T000000Z", "000000010000000000000009"),
            backup("20261201T000000Z", "000000010000000000000005"),
        ];
        let kept: Vec<&Found> = kept.iter().collect();
        let entries = archive(&[
            "000000010000000000000003",
            "000000010000000000000004",
            "000000010000000000000004.00000028.backup",
            "00000002.history",
            "000000010000000000000005",
            "000000010000000000000005.00000060.backup",
            "000000010000000000000006",
        ]);
        let action = prune("pg", "local", &kept, &entries).unwrap().unwrap();
        let Operation::PruneWal { wal, files } = &action.operation else {
            panic!("{action:?}")
        };
        assert_eq!(
            (wal.destination.as_str(), wal.job.as_str()),
            ("local", "pg")
        );
        assert_eq!(
            files,
            &[
                "000000010000000000000003.zst",
                "000000010000000000000004.zst",
                "000000010000000000000004.00000028.backup.zst",
            ]
        );
        assert!(action.reason.starts_with("000000010000000000000003..000000010000000000000004.00000028.backup (3 files), before 000000010000000000000005"), "{}", action.reason);
    }

    #[test]
    fn the_servers_archiving_settings_are_noted_when_they_miss_the_job() {
        let good = ArchiveSettings {
            mode: "on".into(),
            command: "/usr/local/bin/cairn wal push %p --job pg --config /etc/cairn/backup.toml"
                .into(),
            timeout_seconds: 300,
        };
        let rpo: Option<Duration> = Some("1h".parse().unwrap());
        assert!(settings_notes("pg", &Ok(good.clone()), rpo).is_empty());
        let other_job = ArchiveSettings {
            command: "cairn wal push %p --job pg_old".into(),
            ..good.clone()
        };
        let notes = settings_notes("pg", &Ok(other_job), rpo);
        assert!(
            notes[0].contains("does not call `cairn wal push %p --job pg`"),
            "{notes:?}"
        );
        let off = ArchiveSettings {
            mode: "off".into(),
            timeout_seconds: 0,
            ..good.clone()
        };
        let notes = settings_notes("pg", &Ok(off), rpo);
        assert!(notes[0].contains("archive_mode = off"), "{notes:?}");
        assert!(notes[1].contains("no archive_timeout"), "{notes:?}");
        let slow = ArchiveSettings {
            timeout_seconds: 7200,
            ..good
        };
        let notes = settings_notes("pg", &Ok(slow), rpo);
        assert!(
            notes[0].contains("archive_timeout (7200s) is longer than the job's rpo (3600s)"),
            "{notes:?}"
        );
        let unread = settings_notes("pg", &Err("connection refused".into()), rpo);
        assert!(
            unread[0].contains("cannot be read: connection refused"),
            "{unread:?}"
        );
    }

    #[test]
    fn nothing_goes_without_a_kept_backup_or_when_one_has_no_wal_range() {
        let entries = archive(&["000000010000000000000003"]);
        assert_eq!(prune("pg", "local", &[], &entries).unwrap(), None);
        let mut odd = backup("20261201T000000Z", "000000010000000000000005");
        if let FoundState::Complete(manifest) = &mut odd.state {
            manifest.wal = None;
        }
        let error = prune("pg", "local", &[&odd], &entries).unwrap_err();
        assert!(
            error.contains("artifact 20261201T000000Z has no WAL range"),
            "{error}"
        );
    }
}
