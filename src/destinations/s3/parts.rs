//! Part sizes and the cutting of a stream into parts: 8 MiB first, doubling
//! every 1,000 parts, with buffers reused as parts finish uploading.

use bytes::{Bytes, BytesMut};

use crate::recycle::Recycler;

/// The size of the first parts, and the largest object sent with PutObject.
const FIRST_PART_SIZE: u64 = 8 << 20;
/// The part size doubles after every this many parts.
const PARTS_PER_SIZE: u32 = 1_000;
/// The largest part cairn sends (S3 accepts up to 5 GiB).
const MAX_PART_SIZE: u64 = 4 << 30;
/// S3's limit on the parts of one multipart upload.
pub(super) const MAX_PARTS: u32 = 10_000;
/// Parts uploaded at once; with the part being filled, memory holds at most
/// this many plus one parts.
pub(super) const PARTS_IN_FLIGHT: usize = 2;

/// The size of part `number` (1-based): 8 MiB, doubling every 1,000 parts up
/// to 4 GiB, so 10,000 parts hold about 11.7 TiB, more than S3's 5 TiB
/// object limit, while small streams keep small buffers.
fn part_size(number: u32) -> u64 {
    let doublings = (number.saturating_sub(1) / PARTS_PER_SIZE).min(16);
    (FIRST_PART_SIZE << doublings).min(MAX_PART_SIZE)
}

/// Cuts a stream into parts that follow `part_size`. A part is handed out
/// only once it is full and more data follow, so the last part is never
/// empty and a stream of at most `FIRST_PART_SIZE` bytes stays one part.
pub(super) struct Parts {
    /// The part being filled; taken from `buffers` when its first byte
    /// arrives.
    current: BytesMut,
    /// Parts handed out so far.
    handed_out: u32,
    /// The buffers of uploaded parts come back for the next ones.
    buffers: Recycler,
}

impl Default for Parts {
    fn default() -> Self {
        Self {
            current: BytesMut::new(),
            handed_out: 0,
            buffers: Recycler::new(PARTS_IN_FLIGHT + 1),
        }
    }
}

impl Parts {
    fn current_size(&self) -> usize {
        usize::try_from(part_size(self.handed_out + 1)).unwrap_or(usize::MAX)
    }

    /// Moves as much of `bytes` as fits into the current part; returns the
    /// current part, with its number, when it is full and `bytes` has more.
    pub(super) fn fill(&mut self, bytes: &mut Bytes) -> Option<(u32, Bytes)> {
        let size = self.current_size();
        if self.current.len() == size && !bytes.is_empty() {
            self.handed_out += 1;
            let full = self.buffers.hand_out(std::mem::take(&mut self.current));
            return Some((self.handed_out, full));
        }
        if self.current.capacity() == 0 {
            self.current = self.buffers.take(size);
        }
        let take = bytes.len().min(size - self.current.len());
        self.current.extend_from_slice(&bytes.split_to(take));
        None
    }

    /// Whether the next byte needs a buffer that the HTTP client still
    /// holds (see [`Recycler::oldest_held`]).
    pub(super) fn waiting_for_buffer(&self) -> bool {
        self.current.capacity() == 0 && self.buffers.oldest_held()
    }

    /// The last part and its number.
    pub(super) fn finish(&mut self) -> (u32, Bytes) {
        self.handed_out += 1;
        (self.handed_out, std::mem::take(&mut self.current).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;

    #[test]
    fn part_sizes_start_at_8_mib_and_double_every_1000_parts() {
        assert_eq!(part_size(1), 8 * MIB);
        assert_eq!(part_size(1_000), 8 * MIB);
        assert_eq!(part_size(1_001), 16 * MIB);
        assert_eq!(part_size(2_001), 32 * MIB);
        assert_eq!(part_size(9_001), 4 * GIB);
        assert_eq!(part_size(MAX_PARTS), 4 * GIB);
    }

    #[test]
    fn ten_thousand_parts_hold_more_than_5_tib_and_no_part_exceeds_5_gib() {
        let total: u64 = (1..=MAX_PARTS).map(part_size).sum();
        assert!(total > 5 * TIB, "10,000 parts hold only {total} bytes");
        assert!((1..=MAX_PARTS).all(|number| part_size(number) <= 5 * GIB));
        // S3's minimum for every part but the last.
        assert!((1..=MAX_PARTS).all(|number| part_size(number) >= 5 * MIB));
    }

    /// Feeds `total` bytes in chunks of `chunk` bytes; returns the parts.
    fn cut(total: usize, chunk: usize) -> Vec<(u32, usize)> {
        let data = Bytes::from(vec![7u8; chunk]);
        let mut parts = Parts::default();
        let mut out = Vec::new();
        let mut left = total;
        while left > 0 {
            let mut bytes = data.slice(..chunk.min(left));
            left -= bytes.len();
            while !bytes.is_empty() {
                if let Some((number, part)) = parts.fill(&mut bytes) {
                    assert!(
                        parts.current.capacity() == 0,
                        "no buffer waits beside a full part"
                    );
                    out.push((number, part.len()));
                }
            }
        }
        let (number, last) = parts.finish();
        out.push((number, last.len()));
        out
    }

    #[test]
    fn a_1_gib_stream_uses_128_parts_of_8_mib() {
        let parts = cut(GIB as usize, 3 * MIB as usize + 17);
        assert!(parts.len() <= 128, "{} parts", parts.len());
        assert!(parts.iter().all(|&(_, size)| size as u64 == 8 * MIB));
        let numbers: Vec<u32> = parts.iter().map(|&(number, _)| number).collect();
        assert_eq!(numbers, (1..=128).collect::<Vec<_>>());
    }

    #[test]
    fn a_stream_that_fits_the_first_part_stays_one_part() {
        assert_eq!(
            cut(8 * MIB as usize, MIB as usize),
            vec![(1, 8 * MIB as usize)]
        );
        assert_eq!(cut(1000, 64), vec![(1, 1000)]);
        assert_eq!(cut(0, 64), vec![(1, 0)]);
        assert_eq!(
            cut(8 * MIB as usize + 1, MIB as usize),
            vec![(1, 8 * MIB as usize), (2, 1)]
        );
    }
}
