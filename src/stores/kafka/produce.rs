//! One partition of a restore being produced: records encoded one per
//! batch and sent a megabyte at a time, the new offset of each noted so
//! that the consumer groups' committed offsets can be translated.

use bytes::{Bytes, BytesMut};

use super::format::Content;
use super::groups::Committed;
use super::records::{self, Record};

/// How much one produce request carries, at most.
const PRODUCE_BYTES: usize = 1024 * 1024;

/// What was written to one partition.
#[derive(Debug, Clone)]
pub(super) struct Written {
    pub topic: String,
    pub partition: i32,
    pub records: u64,
    /// The first new offset and the one after the last.
    pub first: i64,
    pub end: i64,
    pub sha256: [u8; 32],
}

/// One partition being produced: records encoded, not yet sent.
pub(super) struct Producing {
    pub partition: i32,
    pub leader: i32,
    buffer: BytesMut,
    /// The old offsets of the records in `buffer`.
    old_offsets: Vec<i64>,
    /// The groups' committed (old) offsets not yet translated, in order.
    targets: Vec<(String, Committed)>,
    content: Content,
    records: u64,
    first: i64,
    end: i64,
}

impl Producing {
    /// Partition `partition` (led by `leader`), whose next offset is
    /// `start`, with the committed offsets `targets` to translate.
    pub fn new(
        partition: i32,
        leader: i32,
        start: i64,
        mut targets: Vec<(String, Committed)>,
    ) -> Self {
        targets.sort_by_key(|(_, c)| c.offset);
        Self {
            partition,
            leader,
            buffer: BytesMut::new(),
            old_offsets: Vec::new(),
            targets,
            content: Content::default(),
            records: 0,
            first: start,
            end: start,
        }
    }

    pub fn add(&mut self, record: &Record) {
        records::encode_one(&mut self.buffer, record);
        self.old_offsets.push(record.offset);
        self.content.add(record);
    }

    /// Enough for one produce request.
    pub fn is_full(&self) -> bool {
        self.buffer.len() >= PRODUCE_BYTES
    }

    /// The batches to send, if any.
    pub fn take_batches(&mut self) -> Option<Bytes> {
        (!self.old_offsets.is_empty()).then(|| self.buffer.split().freeze())
    }

    /// The batches sent got offsets from `base` on: the committed offsets
    /// they settle, translated (an old offset maps to the new offset of the
    /// first record at or after it) and moved to topic `target`.
    pub fn settle(&mut self, base: i64, target: &str) -> Vec<(String, Committed)> {
        if self.records == 0 {
            self.first = base;
        }
        let mut settled = Vec::new();
        for (i, old) in self.old_offsets.drain(..).enumerate() {
            let new = base + i as i64;
            let reached = self.targets.partition_point(|(_, c)| c.offset <= old);
            for (group, mut committed) in self.targets.drain(..reached) {
                committed.offset = new;
                committed.topic = target.to_owned();
                settled.push((group, committed));
            }
            self.records += 1;
            self.end = new + 1;
        }
        settled
    }

    /// The partition is complete: offsets past its last record point past
    /// the new last one.
    pub fn finish(mut self, target: &str) -> (Vec<(String, Committed)>, Written) {
        let settled = self
            .targets
            .drain(..)
            .map(|(group, mut committed)| {
                committed.offset = self.end;
                committed.topic = target.to_owned();
                (group, committed)
            })
            .collect();
        let written = Written {
            topic: target.to_owned(),
            partition: self.partition,
            records: self.records,
            first: self.first,
            end: self.end,
            sha256: self.content.sha256(),
        };
        (settled, written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(group: &str, offset: i64) -> (String, Committed) {
        (
            group.to_owned(),
            Committed {
                topic: "old".to_owned(),
                partition: 0,
                offset,
                metadata: None,
            },
        )
    }

    fn record(offset: i64) -> Record {
        Record {
            offset,
            timestamp: 0,
            log_append_time: false,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn committed_offsets_move_to_the_first_record_at_or_after_them() {
        let targets = vec![
            committed("c", 10),
            committed("a", 0),
            committed("b", 7),
            committed("d", 9),
        ];
        let mut producing = Producing::new(0, 1, 100, targets);
        // Old offsets 5, 6 and 9: a compacted partition with gaps.
        for offset in [5, 6, 9] {
            producing.add(&record(offset));
        }
        assert!(producing.take_batches().is_some());
        let settled = producing.settle(100, "new");
        let (rest, written) = producing.finish("new");
        let offsets: Vec<(String, i64)> = settled
            .into_iter()
            .chain(rest)
            .map(|(group, c)| {
                assert_eq!(c.topic, "new");
                (group, c.offset)
            })
            .collect();
        assert_eq!(
            offsets,
            [
                ("a".to_owned(), 100),
                ("b".to_owned(), 102),
                ("d".to_owned(), 102),
                ("c".to_owned(), 103)
            ]
        );
        assert_eq!((written.records, written.first, written.end), (3, 100, 103));
    }

    #[test]
    fn an_empty_partition_keeps_its_start() {
        let mut producing = Producing::new(0, 1, 42, vec![committed("a", 3)]);
        assert!(producing.take_batches().is_none());
        let (rest, written) = producing.finish("new");
        assert_eq!(rest[0].1.offset, 42);
        assert_eq!((written.records, written.first, written.end), (0, 42, 42));
    }
}
