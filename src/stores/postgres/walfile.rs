//! The names of the files in a PostgreSQL WAL archive, as the server hands
//! them to `archive_command` (`%f`):
//!
//! ```text
//! 000000010000000A000000FF            a segment: timeline, log, segment in log
//! 000000010000000A000000FF.partial    the last, incomplete segment of a timeline
//! 000000010000000A000000FF.00000028.backup   a base backup's label (offset in segment)
//! 00000002.history                    the history of timeline 2
//! ```
//!
//! Segments are numbered across logs: with a segment size of S bytes there
//! are 2^32 / S segments per log (256 with the default 16 MiB), so the
//! segment after `…0A000000FF` is `…0B00000000`. Pure: no I/O.

use std::fmt;

/// The largest segment size PostgreSQL allows (`initdb --wal-segsize`).
const MAX_SEGMENT_SIZE: u64 = 1 << 30;
/// The smallest.
const MIN_SEGMENT_SIZE: u64 = 1 << 20;

/// One segment's place in the WAL: its timeline and its number, counted
/// from the start of the WAL in units of the segment size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    pub timeline: u32,
    /// `log * segments_per_log + segment in log`.
    pub number: u64,
}

/// A file of the archive, by what its name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WalFile {
    Segment(SegmentName),
    Partial(SegmentName),
    Backup { segment: SegmentName, offset: u32 },
    History(u32),
}

/// A segment's name as written: the three 8-digit hex fields. Its number
/// needs the segment size (see [`SegmentName::segment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    pub timeline: u32,
    pub log: u32,
    pub seg: u32,
}

/// A segment size PostgreSQL accepts: a power of two from 1 MiB to 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSize(u64);

impl SegmentSize {
    pub const DEFAULT: SegmentSize = SegmentSize(16 << 20);

    pub fn new(bytes: u64) -> Option<Self> {
        (bytes.is_power_of_two() && (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&bytes))
            .then_some(SegmentSize(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }

    fn per_log(self) -> u64 {
        (1u64 << 32) / self.0
    }
}

fn hex8(text: &str) -> Option<u32> {
    (text.len() == 8 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(text, 16).ok())
        .flatten()
}

impl SegmentName {
    fn parse(text: &str) -> Option<Self> {
        if text.len() != 24 || !text.is_ascii() {
            return None;
        }
        Some(SegmentName {
            timeline: hex8(&text[..8])?,
            log: hex8(&text[8..16])?,
            seg: hex8(&text[16..])?,
        })
    }

    /// The segment this name stands for, or `None` when `seg` is beyond the
    /// last segment of a log at this size (no server writes such a name).
    pub fn segment(self, size: SegmentSize) -> Option<Segment> {
        let seg = u64::from(self.seg);
        (seg < size.per_log()).then(|| Segment {
            timeline: self.timeline,
            number: u64::from(self.log) * size.per_log() + seg,
        })
    }
}

impl Segment {
    pub fn name(self, size: SegmentSize) -> SegmentName {
        SegmentName {
            timeline: self.timeline,
            // A u64 number of segments of at least 1 MiB fits: the log is
            // the high 32 bits of a 64-bit WAL position.
            log: u32::try_from(self.number / size.per_log()).unwrap_or(u32::MAX),
            seg: u32::try_from(self.number % size.per_log()).unwrap_or(u32::MAX),
        }
    }

    /// The segment after this one on the same timeline.
    pub fn next(self) -> Segment {
        Segment {
            timeline: self.timeline,
            number: self.number.saturating_add(1),
        }
    }

    /// The segment holding WAL position `lsn` (as `pg_walfile_name` does for
    /// a position that does not end a segment).
    pub fn of_lsn(timeline: u32, lsn: u64, size: SegmentSize) -> Segment {
        Segment {
            timeline,
            number: lsn / size.bytes(),
        }
    }
}

impl WalFile {
    /// What `name` is, or `None` for a name no server archives (cairn
    /// refuses to push or fetch those: they could be paths).
    pub fn parse(name: &str) -> Option<WalFile> {
        if let Some(timeline) = name.strip_suffix(".history") {
            return hex8(timeline).map(WalFile::History);
        }
        if let Some(segment) = name.strip_suffix(".partial") {
            return SegmentName::parse(segment).map(WalFile::Partial);
        }
        if let Some(rest) = name.strip_suffix(".backup") {
            let (segment, offset) = rest.split_once('.')?;
            return Some(WalFile::Backup {
                segment: SegmentName::parse(segment)?,
                offset: hex8(offset)?,
            });
        }
        SegmentName::parse(name).map(WalFile::Segment)
    }

    /// The timeline the file belongs to.
    pub fn timeline(&self) -> u32 {
        match self {
            WalFile::Segment(name) | WalFile::Partial(name) => name.timeline,
            WalFile::Backup { segment, .. } => segment.timeline,
            WalFile::History(timeline) => *timeline,
        }
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}{:08X}{:08X}", self.timeline, self.log, self.seg)
    }
}

impl fmt::Display for WalFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalFile::Segment(name) => write!(f, "{name}"),
            WalFile::Partial(name) => write!(f, "{name}.partial"),
            WalFile::Backup { segment, offset } => write!(f, "{segment}.{offset:08X}.backup"),
            WalFile::History(timeline) => write!(f, "{timeline:08X}.history"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_name_parses_and_prints_back() {
        for name in [
            "000000010000000A000000FF",
            "000000010000000A000000FF.partial",
            "000000010000000000000002.00000028.backup",
            "00000002.history",
        ] {
            let file = WalFile::parse(name).unwrap();
            assert_eq!(file.to_string(), name);
        }
        assert_eq!(WalFile::parse("00000002.history").unwrap().timeline(), 2);
    }

    #[test]
    fn names_that_no_server_writes_are_refused() {
        for name in [
            "",
            "../000000010000000000000001",
            "00000001000000000000000",
            "0000000100000000000000001",
            "00000001000000000000000g",
            "0000000100000000000000０1",
            "2.history",
            "00000001000000000000000A.backup",
            "000000010000000000000002.28.backup",
            "000000010000000000000002.partial.partial",
            "RECOVERYHISTORY",
        ] {
            assert_eq!(WalFile::parse(name), None, "{name}");
        }
    }

    #[test]
    fn segments_count_across_logs_at_the_segment_size() {
        let size = SegmentSize::DEFAULT;
        let last = SegmentName::parse("000000010000000A000000FF").unwrap();
        let segment = last.segment(size).unwrap();
        assert_eq!(segment.number, 0x0A * 256 + 0xFF);
        assert_eq!(
            segment.next().name(size).to_string(),
            "000000010000000B00000000"
        );
        // 1 GiB segments: four per log.
        let big = SegmentSize::new(1 << 30).unwrap();
        let name = SegmentName::parse("000000030000000100000003").unwrap();
        assert_eq!(
            name.segment(big).unwrap().next().name(big).to_string(),
            "000000030000000200000000"
        );
        assert_eq!(
            SegmentName::parse("000000030000000100000004")
                .unwrap()
                .segment(big),
            None
        );
    }

    #[test]
    fn a_position_falls_in_its_segment() {
        let size = SegmentSize::DEFAULT;
        let segment = Segment::of_lsn(1, 0x0A_FF00_0028, size);
        assert_eq!(segment.name(size).to_string(), "000000010000000A000000FF");
    }

    #[test]
    fn only_powers_of_two_from_one_mebibyte_to_one_gibibyte_are_sizes() {
        assert!(SegmentSize::new(16 << 20).is_some());
        assert!(SegmentSize::new(1 << 20).is_some());
        assert!(SegmentSize::new(1 << 30).is_some());
        assert!(SegmentSize::new(1 << 19).is_none());
        assert!(SegmentSize::new(2 << 30).is_none());
        assert!(SegmentSize::new(3 << 20).is_none());
    }
}
