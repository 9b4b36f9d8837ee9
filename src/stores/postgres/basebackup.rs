//! PostgreSQL base backups (`method = "basebackup"`, SPEC §12): one stream,
//! `base.tar`, from `pg_basebackup -D - -Ft -X none --checkpoint=fast`. With
//! `-X none` the backup holds no WAL: the server waits until the last
//! segment it needs is archived (by `cairn wal push`) before it ends the
//! backup, and restores fetch the WAL from the archive.
//!
//! The manifest records where the backup starts and stops in the WAL. Both
//! come out of the tar stream as it passes: `backup_label` has the start,
//! and `backup_manifest` (PostgreSQL 13 and later put it at the end of the
//! tar) has the WAL range. The cluster's identity comes from
//! IDENTIFY_SYSTEM on a replication connection.

use std::collections::BTreeMap;
use std::io::Write;

use super::dump::Postgres;
use crate::cancel::Cancel;
use crate::config::raw::PostgresStore;
use crate::manifest::WalRecord;
use crate::stores::{Dumped, Dumper, StoreError, ToolCommand};

/// The one stream of a base backup.
pub const BASE_TAR: &str = "base.tar";

/// How much of the end of `backup_manifest` is kept: its WAL range is in
/// the last few hundred bytes, whatever the number of files it lists.
const MANIFEST_TAIL: usize = 64 << 10;

pub struct Basebackup {
    pg: Postgres,
    record: Option<WalRecord>,
}

/// What IDENTIFY_SYSTEM and SHOW say about the server.
struct Identity {
    system_identifier: String,
    server_version: u32,
    segment_size: u64,
}

impl Basebackup {
    pub fn new(name: &str, store: &PostgresStore) -> Result<Self, StoreError> {
        Ok(Self {
            pg: Postgres::new(name, store)?,
            record: None,
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::new(self.pg.name(), message)
    }

    /// `psql` on a replication connection, running `command`.
    fn replication_query(&self, command: &str) -> Result<String, StoreError> {
        self.pg
            .tool("psql")
            .args(["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(self.pg.replication_args())
            .arg(format!("--command={command}"))
            .env("LC_MESSAGES", "C")
            .output()
            .map_err(|e| self.error(e))
    }

    fn identify(&self) -> Result<Identity, StoreError> {
        let identify = self.replication_query("IDENTIFY_SYSTEM")?;
        // systemid|timeline|xlogpos|dbname
        let system_identifier = identify
            .trim()
            .split('|')
            .next()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| self.error(format!("IDENTIFY_SYSTEM answered `{}`", identify.trim())))?
            .to_owned();
        let number = |setting: &str| -> Result<u64, StoreError> {
            let shown = self.replication_query(&format!("SHOW {setting}"))?;
            parse_setting(shown.trim())
                .ok_or_else(|| self.error(format!("SHOW {setting} answered `{}`", shown.trim())))
        };
        let server_version = number("server_version_num")?;
        Ok(Identity {
            system_identifier,
            server_version: u32::try_from(server_version).unwrap_or(u32::MAX),
            segment_size: number("wal_segment_size")?,
        })
    }

    /// What the server's archiver says: its last archived and last failed
    /// file, when it can be asked.
    fn archiver_status(&self) -> Option<String> {
        let row = self
            .pg
            .tool("psql")
            .args(["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(self.pg.connection_args(None))
            .arg("--command=select coalesce(last_archived_wal, 'none'), coalesce(last_failed_wal, 'none'), failed_count from pg_stat_archiver")
            .output()
            .ok()?;
        let mut fields = row.trim().split('|');
        let (archived, failed, count) = (fields.next()?, fields.next()?, fields.next()?);
        Some(format!(
            "the server's archiver last archived {archived}, last failed on {failed} ({count} failures)"
        ))
    }

    /// The server's archiving settings, for the plan's notes.
    pub fn archive_settings(&self) -> Result<ArchiveSettings, StoreError> {
        let show = |setting: &str| -> Result<String, StoreError> {
            Ok(self
                .replication_query(&format!("SHOW {setting}"))?
                .trim()
                .to_owned())
        };
        let timeout = show("archive_timeout")?;
        Ok(ArchiveSettings {
            mode: show("archive_mode")?,
            command: show("archive_command")?,
            timeout_seconds: parse_seconds(&timeout)
                .ok_or_else(|| self.error(format!("SHOW archive_timeout answered `{timeout}`")))?,
        })
    }

    fn command(&self) -> ToolCommand {
        self.pg
            .tool("pg_basebackup")
            .args(["-D", "-", "-Ft", "-X", "none", "--checkpoint=fast"])
            .args(self.pg.connection_args(None))
    }
}

/// What a server does with its WAL: `archive_mode`, `archive_command` and
/// `archive_timeout` (0: never forces a switch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSettings {
    pub mode: String,
    pub command: String,
    pub timeout_seconds: u64,
}

/// A time setting as SHOW prints it: `0`, `300ms`, `30s`, `5min`, `1h`, `1d`.
fn parse_seconds(shown: &str) -> Option<u64> {
    let digits = shown.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits.parse().ok()?;
    Some(match &shown[digits.len()..] {
        "" | "s" => number,
        "ms" => number.div_ceil(1000),
        "min" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return None,
    })
}

/// A setting as SHOW prints it: `150008`, or a size such as `16MB`.
fn parse_setting(shown: &str) -> Option<u64> {
    let digits = shown.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits.parse().ok()?;
    let unit = match &shown[digits.len()..] {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

impl Dumper for Basebackup {
    fn streams(&self) -> Vec<String> {
        vec![BASE_TAR.to_owned()]
    }

    fn dump(
        &mut self,
        _index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        let identity = self.identify().map_err(|error| self.pg.explain(error))?;
        let mut tap = TarTap::new(out);
        let stderr = self.command().stream_to(&mut tap, cancel).map_err(|e| {
            // With -X none the backup ends only once its last WAL segment is
            // archived: a backup stopped while it waits needs the archiver's
            // side of the story.
            let error = self.pg.explain(self.error(e));
            match self.archiver_status() {
                Some(status) if error.help.is_none() => error.with_help(format!(
                    "the base backup waits until the server archived its last WAL segment; {status}: check archive_command (`cairn wal push %p --job …`) and the server log"
                )),
                _ => error,
            }
        })?;
        // The server's word that -X none's wait is over is no warning.
        let stderr: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.contains("all required WAL segments have been archived"))
            .collect();
        let label = String::from_utf8_lossy(&tap.label).into_owned();
        let manifest = String::from_utf8_lossy(&tap.manifest_tail).into_owned();
        let (start_lsn, start_segment, timeline) = parse_label(&label).ok_or_else(|| {
            self.error(
                "the base backup has no readable backup_label: is this PostgreSQL 13 or later?",
            )
        })?;
        let stop_lsn = parse_end_lsn(&manifest).ok_or_else(|| {
            self.error("the base backup has no WAL range in its backup_manifest: is this PostgreSQL 13 or later, without --no-manifest?")
        })?;
        let stop_segment = segment_of(&stop_lsn, timeline, identity.segment_size)
            .ok_or_else(|| self.error(format!("cannot read the end position `{stop_lsn}`")))?;
        self.record = Some(WalRecord {
            system_identifier: identity.system_identifier,
            server_version: identity.server_version,
            timeline,
            start_lsn,
            stop_lsn,
            start_segment,
            stop_segment,
            segment_size: identity.segment_size,
        });
        Ok(Dumped {
            stderr: stderr.join("\n"),
        })
    }

    fn source(&self) -> String {
        self.pg.source()
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("pg_basebackup".to_owned(), self.command().version())])
    }

    fn wal(&self) -> Option<WalRecord> {
        self.record.clone()
    }
}

/// `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)` and
/// `START TIMELINE: 1` of a backup_label.
fn parse_label(label: &str) -> Option<(String, String, u32)> {
    let mut start = None;
    let mut timeline = None;
    for line in label.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
            let (lsn, file) = rest.split_once(" (file ")?;
            start = Some((lsn.to_owned(), file.trim_end_matches(')').to_owned()));
        } else if let Some(rest) = line.strip_prefix("START TIMELINE: ") {
            timeline = rest.trim().parse().ok();
        }
    }
    let (lsn, file) = start?;
    Some((lsn, file, timeline?))
}

/// The `End-LSN` of the last entry of a backup_manifest's `WAL-Ranges`.
fn parse_end_lsn(manifest_tail: &str) -> Option<String> {
    let ranges = &manifest_tail[manifest_tail.rfind("\"WAL-Ranges\"")?..];
    let at = ranges.rfind("\"End-LSN\"")?;
    let value = ranges[at + "\"End-LSN\"".len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(value.split('"').next()?.to_owned())
}

/// The WAL file holding position `lsn` (`X/Y`) on `timeline`.
fn segment_of(lsn: &str, timeline: u32, segment_size: u64) -> Option<String> {
    let (high, low) = lsn.split_once('/')?;
    let position =
        (u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?;
    let size = super::SegmentSize::new(segment_size)?;
    let segment = super::Segment::of_lsn(timeline, position, size);
    Some(segment.name(size).to_string())
}

/// Passes a tar stream through unchanged, keeping `backup_label` and the
/// end of `backup_manifest` as they go by.
struct TarTap<'a> {
    inner: &'a mut dyn Write,
    /// The header being read, or the data left of the current entry.
    header: Vec<u8>,
    /// Bytes of the current entry's data (padding included) still to come.
    remaining: u64,
    /// Of those, bytes that are data rather than padding.
    data: u64,
    capturing: Option<Capture>,
    label: Vec<u8>,
    manifest_tail: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Capture {
    Label,
    Manifest,
}

impl<'a> TarTap<'a> {
    fn new(inner: &'a mut dyn Write) -> Self {
        Self {
            inner,
            header: Vec::with_capacity(512),
            remaining: 0,
            data: 0,
            capturing: None,
            label: Vec::new(),
            manifest_tail: Vec::new(),
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let take = (self.remaining.min(bytes.len() as u64)) as usize;
                let data = (self.data.min(take as u64)) as usize;
                match self.capturing {
                    Some(Capture::Label) => self.label.extend_from_slice(&bytes[..data]),
                    Some(Capture::Manifest) => {
                        self.manifest_tail.extend_from_slice(&bytes[..data]);
                        if self.manifest_tail.len() > 2 * MANIFEST_TAIL {
                            let cut = self.manifest_tail.len() - MANIFEST_TAIL;
                            self.manifest_tail.drain(..cut);
                        }
                    }
                    None => {}
                }
                self.remaining -= take as u64;
                self.data -= data as u64;
                bytes = &bytes[take..];
                continue;
            }
            let take = (512 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == 512 {
                self.start_entry();
                self.header.clear();
            }
        }
    }

    /// Reads a full header block: the entry's name and size.
    fn start_entry(&mut self) {
        let header = &self.header;
        if header.iter().all(|&b| b == 0) {
            self.capturing = None;
            return;
        }
        let name_end = header[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = &header[..name_end];
        let size = tar_size(&header[124..136]).unwrap_or(0);
        self.capturing = match name {
            b"backup_label" => Some(Capture::Label),
            b"backup_manifest" => Some(Capture::Manifest),
            _ => None,
        };
        if matches!(self.capturing, Some(Capture::Label)) {
            self.label.clear();
        }
        self.data = size;
        self.remaining = size.div_ceil(512) * 512;
    }
}

/// A tar header's size field: octal digits, or base-256 when the first
/// byte has its high bit set.
fn tar_size(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut size: u64 = u64::from(field[0] & 0x7f);
        for &byte in &field[1..] {
            size = size.checked_mul(256)?.checked_add(u64::from(byte))?;
        }
        return Some(size);
    }
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

impl Write for TarTap<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.feed(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
        CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n\
        START TIME: 2026-12-06 03:00:00 UTC\nLABEL: pg_basebackup base backup\n\
        START TIMELINE: 1\n";

    fn manifest(files: usize) -> String {
        let mut text = String::from("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n");
        for i in 0..files {
            text.push_str(&format!(
                "{{ \"Path\": \"base/1/{i}\", \"Size\": 8192, \"Last-Modified\": \"2026-12-06 03:00:00 GMT\" }},\n"
            ));
        }
        text.push_str("],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/3000100\" }\n],\n\"Manifest-Checksum\": \"abc\"}\n");
        text
    }

    #[test]
    fn the_label_and_the_wal_range_are_read_as_the_tar_goes_by() {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("PG_VERSION", b"15\n".to_vec()),
            ("backup_label", LABEL.as_bytes().to_vec()),
            ("base/1/1259", vec![7u8; 100_000]),
            ("backup_manifest", manifest(5_000).into_bytes()),
        ] {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append_data(&mut header, name, &data[..]).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut out = Vec::new();
        let mut tap = TarTap::new(&mut out);
        // In odd pieces, as a pipe delivers it.
        for piece in tar.chunks(777) {
            tap.write_all(piece).unwrap();
        }
        let (label, tail) = (tap.label.clone(), tap.manifest_tail.clone());
        assert_eq!(out, tar, "the stream passes unchanged");
        assert!(tail.len() <= 2 * MANIFEST_TAIL);
        let (start, file, timeline) = parse_label(&String::from_utf8(label).unwrap()).unwrap();
        assert_eq!(
            (start.as_str(), file.as_str(), timeline),
            ("0/2000028", "000000010000000000000002", 1)
        );
        let end = parse_end_lsn(&String::from_utf8(tail).unwrap()).unwrap();
        assert_eq!(end, "0/3000100");
        assert_eq!(
            segment_of(&end, 1, 16 << 20).as_deref(),
            Some("000000010000000000000003")
        );
    }

    #[test]
    fn times_read_with_their_units() {
        assert_eq!(parse_seconds("0"), Some(0));
        assert_eq!(parse_seconds("5min"), Some(300));
        assert_eq!(parse_seconds("1h"), Some(3600));
        assert_eq!(parse_seconds("500ms"), Some(1));
        assert_eq!(parse_seconds("5 min"), None);
    }

    #[test]
    fn settings_read_with_their_units() {
        assert_eq!(parse_setting("150008"), Some(150008));
        assert_eq!(parse_setting("16MB"), Some(16 << 20));
        assert_eq!(parse_setting("1GB"), Some(1 << 30));
        assert_eq!(parse_setting("16 MB"), None);
        assert_eq!(parse_setting(""), None);
    }
}
