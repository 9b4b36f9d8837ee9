//! The `topic-NAME.kafka` stream: one topic's records, partition after
//! partition, in a framed format documented in docs/artifacts.md.
//!
//! ```text
//! header     "CAIRNKFK" u16 version=1, u16 name length, name, u32 partitions
//! frame      u8 kind, then by kind:
//!   1 record      u32 body length, body:
//!                   i32 partition, i64 offset, i64 timestamp,
//!                   u8 timestamp type (0 CreateTime, 1 LogAppendTime),
//!                   i32 key length (-1 null), key, i32 value length (-1 null), value,
//!                   u32 header count, per header: u32 name length, name,
//!                   i32 value length (-1 null), value
//!   2 partition   i32 partition, i64 first offset, i64 end offset (as seen at the start),
//!                 u64 records, 32-byte SHA-256 of the partition's content
//!   3 end         u32 partitions written
//! ```
//!
//! Integers are big-endian. The content checksum covers each record's
//! timestamp, key, value and headers (not its offset, which a restore
//! cannot keep), so a copy restored elsewhere can be compared with it.

use std::io::{Read, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::records::Record;

const MAGIC: &[u8; 8] = b"CAIRNKFK";
const VERSION: u16 = 1;
const RECORD: u8 = 1;
const PARTITION: u8 = 2;
const END: u8 = 3;

/// The largest record frame a reader accepts (Kafka's own limits are far
/// below it).
const MAX_FRAME: u32 = 512 * 1024 * 1024;

/// What a partition's trailer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionEnd {
    pub partition: i32,
    pub first_offset: i64,
    pub end_offset: i64,
    pub records: u64,
    pub sha256: [u8; 32],
}

/// Sums up a partition's content the way the trailer does.
#[derive(Default, Clone)]
pub struct Content {
    hash: Sha256,
    pub records: u64,
}

impl Content {
    pub fn add(&mut self, record: &Record) {
        self.records += 1;
        self.hash.update(record.timestamp.to_be_bytes());
        hash_nullable(&mut self.hash, record.key.as_deref());
        hash_nullable(&mut self.hash, record.value.as_deref());
        self.hash
            .update((record.headers.len() as u32).to_be_bytes());
        for (name, value) in &record.headers {
            hash_nullable(&mut self.hash, Some(name));
            hash_nullable(&mut self.hash, value.as_deref());
        }
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }
}

fn hash_nullable(hash: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            hash.update((bytes.len() as i32).to_be_bytes());
            hash.update(bytes);
        }
        None => hash.update((-1i32).to_be_bytes()),
    }
}

/// Writes the stream's header.
pub fn write_header(out: &mut dyn Write, topic: &str, partitions: u32) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&VERSION.to_be_bytes())?;
    out.write_all(&(topic.len() as u16).to_be_bytes())?;
    out.write_all(topic.as_bytes())?;
    out.write_all(&partitions.to_be_bytes())
}

/// Appends one record frame to `buf`.
pub fn put_record(buf: &mut Vec<u8>, partition: i32, record: &Record) {
    let start = buf.len();
    buf.push(RECORD);
    buf.extend_from_slice(&0u32.to_be_bytes());
    buf.extend_from_slice(&partition.to_be_bytes());
    buf.extend_from_slice(&record.offset.to_be_bytes());
    buf.extend_from_slice(&record.timestamp.to_be_bytes());
    buf.push(u8::from(record.log_append_time));
    put_nullable(buf, record.key.as_deref());
    put_nullable(buf, record.value.as_deref());
    buf.extend_from_slice(&(record.headers.len() as u32).to_be_bytes());
    for (name, value) in &record.headers {
        buf.extend_from_slice(&(name.len() as u32).to_be_bytes());
        buf.extend_from_slice(name);
        put_nullable(buf, value.as_deref());
    }
    let body = (buf.len() - start - 5) as u32;
    buf[start + 1..start + 5].copy_from_slice(&body.to_be_bytes());
}

fn put_nullable(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            buf.extend_from_slice(bytes);
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// Writes a partition's trailer.
pub fn write_partition_end(out: &mut dyn Write, end: &PartitionEnd) -> std::io::Result<()> {
    let mut buf = vec![PARTITION];
    buf.extend_from_slice(&end.partition.to_be_bytes());
    buf.extend_from_slice(&end.first_offset.to_be_bytes());
    buf.extend_from_slice(&end.end_offset.to_be_bytes());
    buf.extend_from_slice(&end.records.to_be_bytes());
    buf.extend_from_slice(&end.sha256);
    out.write_all(&buf)
}

/// Writes the end of the stream.
pub fn write_end(out: &mut dyn Write, partitions: u32) -> std::io::Result<()> {
    out.write_all(&[END])?;
    out.write_all(&partitions.to_be_bytes())
}

/// One item of a stream, as read.
#[derive(Debug)]
pub enum Item {
    Record { partition: i32, record: Record },
    PartitionEnd(PartitionEnd),
}

/// Reads a `.kafka` stream, checking its framing, each partition's count
/// and checksum, and its end.
pub struct Reader<R> {
    input: R,
    pub topic: String,
    pub partitions: u32,
    current: Option<(i32, Content)>,
    ended: u32,
    finished: bool,
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.into())
}

impl<R: Read> Reader<R> {
    pub fn new(mut input: R) -> std::io::Result<Self> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(invalid("not a cairn Kafka stream (bad magic)"));
        }
        let version = read_u16(&mut input)?;
        if version != VERSION {
            return Err(invalid(format!(
                "Kafka stream format version {version}; this cairn reads version {VERSION}"
            )));
        }
        let length = read_u16(&mut input)?;
        let topic = String::from_utf8(read_exact_vec(&mut input, u32::from(length))?)
            .map_err(|_| invalid("the topic name is not UTF-8"))?;
        let partitions = read_u32(&mut input)?;
        Ok(Self {
            input,
            topic,
            partitions,
            current: None,
            ended: 0,
            finished: false,
        })
    }

    /// The next record or partition end; `None` after the end frame.
    pub fn next_item(&mut self) -> std::io::Result<Option<Item>> {
        if self.finished {
            return Ok(None);
        }
        let mut kind = [0u8; 1];
        self.input.read_exact(&mut kind).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                invalid("the stream ends without its end frame (truncated)")
            } else {
                e
            }
        })?;
        match kind[0] {
            RECORD => {
                let length = read_u32(&mut self.input)?;
                if length > MAX_FRAME {
                    return Err(invalid(format!("a record frame of {length} bytes")));
                }
                let body = Bytes::from(read_exact_vec(&mut self.input, length)?);
                let (partition, record) =
                    parse_record(body).ok_or_else(|| invalid("a malformed record frame"))?;
                match &mut self.current {
                    Some((current, content)) if *current == partition => content.add(&record),
                    _ => {
                        let mut content = Content::default();
                        content.add(&record);
                        if self.current.is_some() {
                            return Err(invalid(format!(
                                "partition {partition} starts before the previous one ended"
                            )));
                        }
                        self.current = Some((partition, content));
                    }
                }
                Ok(Some(Item::Record { partition, record }))
            }
            PARTITION => {
                let partition = read_u32(&mut self.input)? as i32;
                let first_offset = read_u64(&mut self.input)? as i64;
                let end_offset = read_u64(&mut self.input)? as i64;
                let records = read_u64(&mut self.input)?;
                let mut sha256 = [0u8; 32];
                self.input.read_exact(&mut sha256)?;
                let (seen, content) = self
                    .current
                    .take()
                    .unwrap_or((partition, Content::default()));
                if seen != partition || content.records != records || content.sha256() != sha256 {
                    return Err(invalid(format!(
                        "partition {partition}: {} records read, the trailer says {records}, or their checksum differs",
                        content.records
                    )));
                }
                self.ended += 1;
                Ok(Some(Item::PartitionEnd(PartitionEnd {
                    partition,
                    first_offset,
                    end_offset,
                    records,
                    sha256,
                })))
            }
            END => {
                let partitions = read_u32(&mut self.input)?;
                if partitions != self.ended || self.current.is_some() {
                    return Err(invalid(format!(
                        "the stream ends after {} partitions but says {partitions}",
                        self.ended
                    )));
                }
                self.finished = true;
                Ok(None)
            }
            other => Err(invalid(format!("unknown frame kind {other}"))),
        }
    }

    /// The input, for reading it to its end.
    pub fn into_inner(self) -> R {
        self.input
    }
}

fn parse_record(mut body: Bytes) -> Option<(i32, Record)> {
    use bytes::Buf;
    if body.remaining() < 4 + 8 + 8 + 1 {
        return None;
    }
    let partition = body.get_i32();
    let offset = body.get_i64();
    let timestamp = body.get_i64();
    let log_append_time = match body.get_u8() {
        0 => false,
        1 => true,
        _ => return None,
    };
    let key = nullable(&mut body)?;
    let value = nullable(&mut body)?;
    if body.remaining() < 4 {
        return None;
    }
    let count = body.get_u32() as usize;
    if count > body.remaining() / 8 {
        return None;
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        if body.remaining() < 4 {
            return None;
        }
        let length = body.get_u32() as usize;
        if body.remaining() < length {
            return None;
        }
        let name = body.split_to(length);
        headers.push((name, nullable(&mut body)?));
    }
    if body.has_remaining() {
        return None;
    }
    Some((
        partition,
        Record {
            offset,
            timestamp,
            log_append_time,
            key,
            value,
            headers,
        },
    ))
}

fn nullable(body: &mut Bytes) -> Option<Option<Bytes>> {
    use bytes::Buf;
    if body.remaining() < 4 {
        return None;
    }
    let length = body.get_i32();
    if length < 0 {
        return Some(None);
    }
    let length = length as usize;
    (body.remaining() >= length).then(|| Some(body.split_to(length)))
}

fn read_exact_vec(input: &mut impl Read, length: u32) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input.take(u64::from(length)).read_to_end(&mut buf)?;
    if buf.len() != length as usize {
        return Err(invalid("the stream ends inside a frame (truncated)"));
    }
    Ok(buf)
}

fn read_u16(input: &mut impl Read) -> std::io::Result<u16> {
    let mut buf = [0u8; 2];
    input.read_exact(&mut buf)?;
    Ok(u16::from_be_bytes(buf))
}

fn read_u32(input: &mut impl Read) -> std::io::Result<u32> {
    let mut buf = [0u8; 4];
    input.read_exact(&mut buf)?;
    Ok(u32::from_be_bytes(buf))
}

fn read_u64(input: &mut impl Read) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    input.read_exact(&mut buf)?;
    Ok(u64::from_be_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, "orders", 2).unwrap();
        for partition in 0..2 {
            let mut content = Content::default();
            for offset in 0..3 {
                let record = Record {
                    offset,
                    timestamp: 1000 + offset,
                    log_append_time: false,
                    key: (offset != 1).then(|| Bytes::from_static(b"k")),
                    value: Some(Bytes::from(vec![partition as u8; 10])),
                    headers: vec![(Bytes::from_static(b"a"), None)],
                };
                content.add(&record);
                let mut frame = Vec::new();
                put_record(&mut frame, partition, &record);
                out.extend_from_slice(&frame);
            }
            write_partition_end(
                &mut out,
                &PartitionEnd {
                    partition,
                    first_offset: 0,
                    end_offset: 3,
                    records: content.records,
                    sha256: content.sha256(),
                },
            )
            .unwrap();
        }
        write_end(&mut out, 2).unwrap();
        out
    }

    fn read_all(bytes: &[u8]) -> std::io::Result<usize> {
        let mut reader = Reader::new(bytes)?;
        let mut items = 0;
        while reader.next_item()?.is_some() {
            items += 1;
        }
        Ok(items)
    }

    #[test]
    fn a_stream_reads_back_and_any_damage_is_an_error() {
        let stream = sample();
        assert_eq!(read_all(&stream).unwrap(), 8);
        for cut in 0..stream.len() {
            assert!(read_all(&stream[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..stream.len() {
            let mut copy = stream.clone();
            copy[i] ^= 0x40;
            let _ = read_all(&copy); // never panics, never allocates wildly
        }
        let mut changed = stream.clone();
        let value_at = stream.windows(10).position(|w| w == [1u8; 10]).unwrap();
        changed[value_at] = 9;
        assert!(read_all(&changed)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
    }
}
