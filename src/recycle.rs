//! Reuse of stream buffers. A run moves every stored byte through buffers of
//! a few fixed sizes (1 MiB chunks, 8 MiB S3 parts); allocating each one
//! afresh costs a page fault per 4 KiB and zeroed pages from the kernel,
//! because the allocator hands buffers that large out through mmap. A
//! `Recycler` remembers the buffers it handed out and takes one back once
//! every holder (the destinations, the HTTP client) has dropped its copy.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Hands out buffers as `Bytes` and gets them back when nobody holds them.
pub struct Recycler {
    /// Buffers handed out, oldest first; they are released in about the
    /// order they were handed out.
    out: VecDeque<Bytes>,
    /// How many handed-out buffers to follow. Beyond this the oldest is
    /// forgotten (and freed by its last holder), so a recycler never keeps
    /// more than `limit` idle buffers alive.
    limit: usize,
}

impl Recycler {
    pub fn new(limit: usize) -> Self {
        Self {
            out: VecDeque::with_capacity(limit + 1),
            limit,
        }
    }

    /// An empty buffer with room for `capacity` bytes: the oldest handed-out
    /// buffer when every holder has let go of it and it is large enough,
    /// otherwise a new one.
    pub fn take(&mut self, capacity: usize) -> BytesMut {
        if let Some(oldest) = self.out.pop_front() {
            match oldest.try_into_mut() {
                Ok(mut buffer) if buffer.capacity() >= capacity => {
                    buffer.clear();
                    return buffer;
                }
                // Too small (parts grow): let it go.
                Ok(_) => {}
                Err(held) => self.out.push_front(held),
            }
        }
        BytesMut::with_capacity(capacity)
    }

    /// Whether `take` would allocate beyond the buffers it follows because
    /// the oldest is still held: the HTTP client lets go of a part's body a
    /// moment after its upload ends, and a caller that can wait for that
    /// keeps memory at `limit` buffers.
    pub fn oldest_held(&self) -> bool {
        self.out.len() >= self.limit && self.out.front().is_some_and(|oldest| !oldest.is_unique())
    }

    /// Freezes `buffer` for sending and remembers it for `take`.
    pub fn hand_out(&mut self, buffer: BytesMut) -> Bytes {
        let bytes = buffer.freeze();
        self.out.push_back(bytes.clone());
        while self.out.len() > self.limit {
            self.out.pop_front();
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(recycler: &mut Recycler, capacity: usize) -> (BytesMut, *const u8) {
        let mut buffer = recycler.take(capacity);
        let address = buffer.as_ptr();
        buffer.extend_from_slice(&vec![7u8; capacity]);
        (buffer, address)
    }

    #[test]
    fn a_released_buffer_is_reused_empty() {
        let mut recycler = Recycler::new(2);
        let (buffer, address) = filled(&mut recycler, 1024);
        let sent = recycler.hand_out(buffer);
        drop(sent);
        let again = recycler.take(1024);
        assert_eq!(again.as_ptr(), address, "the same allocation comes back");
        assert!(again.is_empty());
        assert!(again.capacity() >= 1024);
    }

    #[test]
    fn a_buffer_still_held_is_never_reused() {
        let mut recycler = Recycler::new(2);
        let (buffer, address) = filled(&mut recycler, 1024);
        let held = recycler.hand_out(buffer);
        let mut other = recycler.take(1024);
        assert_ne!(other.as_ptr(), address);
        other.extend_from_slice(b"new");
        assert!(held.iter().all(|&b| b == 7), "the held bytes are untouched");
        // Released later, it comes back on a later take.
        let _second = recycler.hand_out(other);
        drop(held);
        assert_eq!(recycler.take(1024).as_ptr(), address);
    }

    #[test]
    fn a_part_of_a_buffer_still_held_keeps_it() {
        let mut recycler = Recycler::new(2);
        let (buffer, address) = filled(&mut recycler, 1024);
        let mut sent = recycler.hand_out(buffer);
        let tail = sent.split_off(512);
        drop(sent);
        assert_ne!(recycler.take(1024).as_ptr(), address);
        drop(tail);
    }

    #[test]
    fn buffers_too_small_for_the_next_size_are_dropped() {
        let mut recycler = Recycler::new(2);
        let (buffer, _) = filled(&mut recycler, 1024);
        drop(recycler.hand_out(buffer));
        let larger = recycler.take(4096);
        assert!(larger.capacity() >= 4096);
        assert!(recycler.out.is_empty());
    }

    #[test]
    fn the_oldest_is_waited_for_only_when_the_limit_is_reached() {
        let mut recycler = Recycler::new(2);
        let (buffer, _) = filled(&mut recycler, 64);
        let first = recycler.hand_out(buffer);
        assert!(
            !recycler.oldest_held(),
            "below the limit a new buffer is due"
        );
        let (buffer, _) = filled(&mut recycler, 64);
        let second = recycler.hand_out(buffer);
        assert!(recycler.oldest_held(), "the first is still held");
        drop(first);
        assert!(!recycler.oldest_held());
        drop(second);
    }

    #[test]
    fn it_follows_at_most_limit_buffers() {
        let mut recycler = Recycler::new(2);
        let held: Vec<Bytes> = (0..5)
            .map(|_| {
                let (buffer, _) = filled(&mut recycler, 64);
                recycler.hand_out(buffer)
            })
            .collect();
        assert_eq!(recycler.out.len(), 2);
        drop(held);
    }
}
