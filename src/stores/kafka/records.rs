//! Kafka record batches (message format v2): decoded from what a Fetch
//! returns (uncompressed, gzip, snappy as Java's xerial stream or raw,
//! lz4 frames, zstd), encoded for a Produce. Written here rather than taken from the
//! protocol crate so that headers keep their order and duplicates, header
//! keys stay bytes, and no count or length a broker sends is trusted before
//! the bytes behind it are there.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The most a compressed batch may expand to: far above Kafka's own batch
/// limits (`message.max.bytes`, 1 MiB by default), and a bound on what a
/// hostile batch can make cairn hold.
const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;

/// The smallest batch: its header with no records.
const BATCH_HEADER: usize = 61;

/// One record, as a backup keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    /// The broker set the timestamp when it appended the record
    /// (`LogAppendTime`), rather than the producer (`CreateTime`).
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In their order, duplicates kept.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// What one fetch response's records held.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The data records, in offset order (control records and aborted
    /// transactions left out).
    pub records: Vec<Record>,
    /// The offset after the last whole batch: where the next fetch starts.
    /// `None` when not one whole batch was there.
    pub next_offset: Option<i64>,
}

/// Decodes the record batches in `data`, skipping control batches
/// (transaction markers) and the batches of `aborted` transactions
/// (`(producer id, first offset)`, as the fetch response lists them). A
/// batch cut off at the end (a fetch may return one) is left for the next
/// fetch.
pub fn decode(mut data: Bytes, aborted: &[(i64, i64)]) -> Result<Decoded, String> {
    let mut decoded = Decoded::default();
    let mut aborting: Vec<i64> = Vec::new();
    let mut pending = aborted.to_vec();
    pending.sort_by_key(|(_, first)| *first);
    let mut next_aborted = 0;
    while data.remaining() >= 12 {
        let base_offset = i64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
        let length = usize::try_from(length)
            .map_err(|_| format!("a batch at offset {base_offset} has a negative length"))?;
        if data.remaining() < 12 + length {
            break; // cut off: the next fetch starts at it
        }
        data.advance(12);
        let mut batch = data.split_to(length);
        if length < BATCH_HEADER - 12 {
            return Err(format!("the batch at offset {base_offset} is too short"));
        }
        let _leader_epoch = batch.get_i32();
        let magic = batch.get_i8();
        if magic != 2 {
            return Err(format!(
                "the batch at offset {base_offset} uses message format v{magic}; only v2 (Kafka 0.11 and later) is supported"
            ));
        }
        let crc = batch.get_u32();
        if crc32c::crc32c(&batch) != crc {
            return Err(format!("the batch at offset {base_offset} fails its CRC"));
        }
        let attributes = batch.get_i16();
        let last_offset_delta = batch.get_i32();
        let base_timestamp = batch.get_i64();
        let max_timestamp = batch.get_i64();
        let producer_id = batch.get_i64();
        let _producer_epoch = batch.get_i16();
        let _base_sequence = batch.get_i32();
        let count = batch.get_i32();
        let log_append_time = attributes & 0x08 != 0;
        let transactional = attributes & 0x10 != 0;
        let control = attributes & 0x20 != 0;
        decoded.next_offset = Some(base_offset + i64::from(last_offset_delta) + 1);

        // Each aborted transaction starts to count at its first offset, once.
        let last_offset = base_offset + i64::from(last_offset_delta);
        while let Some(&(producer, _)) = pending
            .get(next_aborted)
            .filter(|(_, first)| *first <= last_offset)
        {
            aborting.push(producer);
            next_aborted += 1;
        }
        if control {
            // A transaction marker: after an ABORT, that producer's later
            // batches are its next transaction's.
            let mut record = inflate(attributes, batch, base_offset)?;
            if let Ok(first) = read_record(&mut record, base_offset, 0, false) {
                let is_abort = first
                    .key
                    .as_ref()
                    .is_some_and(|k| k.len() >= 4 && k[2..4] == [0, 0]);
                if is_abort {
                    aborting.retain(|p| *p != producer_id);
                }
            }
            continue;
        }
        if transactional && aborting.contains(&producer_id) {
            continue;
        }
        let mut records = inflate(attributes, batch, base_offset)?;
        let count = usize::try_from(count)
            .map_err(|_| format!("the batch at offset {base_offset} has a negative count"))?;
        for _ in 0..count {
            let timestamp_base = if log_append_time {
                max_timestamp
            } else {
                base_timestamp
            };
            let mut record =
                read_record(&mut records, base_offset, timestamp_base, log_append_time)?;
            if log_append_time {
                record.timestamp = max_timestamp;
            }
            decoded.records.push(record);
        }
    }
    Ok(decoded)
}

/// The records of a batch, decompressed as its attributes say.
fn inflate(attributes: i16, records: Bytes, base_offset: i64) -> Result<Bytes, String> {
    use std::io::Read;
    let codec = attributes & 0x07;
    let mut out = Vec::new();
    let result = match codec {
        0 => return Ok(records),
        1 => flate2::read::GzDecoder::new(&records[..])
            .take(MAX_DECOMPRESSED)
            .read_to_end(&mut out),
        2 => snappy(&records, &mut out),
        3 => lz4_flex::frame::FrameDecoder::new(&records[..])
            .take(MAX_DECOMPRESSED)
            .read_to_end(&mut out),
        4 => zstd::stream::read::Decoder::new(&records[..])
            .and_then(|decoder| decoder.take(MAX_DECOMPRESSED).read_to_end(&mut out)),
        other => {
            return Err(format!(
                "the batch at offset {base_offset} names an unknown compression ({other})"
            ))
        }
    };
    result.map_err(|e| format!("the batch at offset {base_offset} does not decompress: {e}"))?;
    if out.len() as u64 >= MAX_DECOMPRESSED {
        return Err(format!(
            "the batch at offset {base_offset} expands to more than {} MiB",
            MAX_DECOMPRESSED >> 20
        ));
    }
    Ok(Bytes::from(out))
}

/// The header Java's snappy stream (xerial) starts with, before its
/// blocks (each a big-endian u32 length and a raw snappy block).
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";

/// Snappy as Kafka producers write it: xerial's block stream, or one raw
/// block. Each block's size is read from its header and bounded before it
/// is expanded.
fn snappy(data: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let block = |raw: &[u8], out: &mut Vec<u8>| -> std::io::Result<()> {
        let size = snap::raw::decompress_len(raw).map_err(|e| bad(e.to_string()))?;
        if (out.len() + size) as u64 > MAX_DECOMPRESSED {
            return Err(bad(format!(
                "expands to more than {} MiB",
                MAX_DECOMPRESSED >> 20
            )));
        }
        let start = out.len();
        out.resize(start + size, 0);
        snap::raw::Decoder::new()
            .decompress(raw, &mut out[start..])
            .map_err(|e| bad(e.to_string()))?;
        Ok(())
    };
    if !data.starts_with(XERIAL_MAGIC) {
        block(data, out)?;
        return Ok(out.len());
    }
    let mut rest = data
        .get(16..)
        .ok_or_else(|| bad("a truncated snappy header".into()))?;
    while !rest.is_empty() {
        let length = rest
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| bad("a truncated snappy block".into()))?;
        let raw = rest
            .get(4..4 + length)
            .ok_or_else(|| bad("a truncated snappy block".into()))?;
        block(raw, out)?;
        rest = &rest[4 + length..];
    }
    Ok(out.len())
}

fn read_record(
    buf: &mut Bytes,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: bool,
) -> Result<Record, String> {
    let bad = || format!("a record in the batch at offset {base_offset} is malformed");
    let length = usize::try_from(varint(buf).ok_or_else(bad)?).map_err(|_| bad())?;
    if buf.remaining() < length {
        return Err(bad());
    }
    let mut record = buf.split_to(length);
    let inner = (|| {
        let _attributes = take_i8(&mut record)?;
        let timestamp_delta = varlong(&mut record)?;
        let offset_delta = varint(&mut record)?;
        let key = bytes_field(&mut record)?;
        let value = bytes_field(&mut record)?;
        let count = usize::try_from(varint(&mut record)?).ok()?;
        // Each header takes at least two bytes: a bound before reserving.
        if count > record.remaining() / 2 {
            return None;
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let name = bytes_field(&mut record)??;
            let value = bytes_field(&mut record)?;
            headers.push((name, value));
        }
        Some(Record {
            offset: base_offset.checked_add(i64::from(offset_delta))?,
            timestamp: base_timestamp.wrapping_add(timestamp_delta),
            log_append_time,
            key,
            value,
            headers,
        })
    })();
    inner.ok_or_else(bad)
}

fn take_i8(buf: &mut Bytes) -> Option<i8> {
    buf.has_remaining().then(|| buf.get_i8())
}

/// A varint-length byte string; `Some(None)` for length -1 (null).
fn bytes_field(buf: &mut Bytes) -> Option<Option<Bytes>> {
    let length = varint(buf)?;
    if length < 0 {
        return Some(None);
    }
    let length = usize::try_from(length).ok()?;
    (buf.remaining() >= length).then(|| Some(buf.split_to(length)))
}

fn varint(buf: &mut Bytes) -> Option<i32> {
    let value = varlong(buf)?;
    i32::try_from(value).ok()
}

/// A zigzag-encoded variable-length integer.
fn varlong(buf: &mut Bytes) -> Option<i64> {
    let mut raw = 0u64;
    for shift in (0..70).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let byte = buf.get_u8();
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

fn put_varlong(buf: &mut BytesMut, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        buf.put_u8((raw as u8) | 0x80);
        raw >>= 7;
    }
    buf.put_u8(raw as u8);
}

fn put_bytes_field(buf: &mut BytesMut, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            put_varlong(buf, bytes.len() as i64);
            buf.put_slice(bytes);
        }
        None => put_varlong(buf, -1),
    }
}

/// Appends one uncompressed batch holding `record` alone, with its own
/// timestamp as `CreateTime`, to `out`. One record per batch: every broker
/// then reports end offsets right (tansu 0.6 computes a partition's end
/// from a batch's first offset), and a batch never mixes timestamps.
pub fn encode_one(out: &mut BytesMut, record: &Record) {
    let mut body = BytesMut::new();
    body.put_i8(0); // attributes
    put_varlong(&mut body, 0); // timestamp delta
    put_varlong(&mut body, 0); // offset delta
    put_bytes_field(&mut body, record.key.as_deref());
    put_bytes_field(&mut body, record.value.as_deref());
    put_varlong(&mut body, record.headers.len() as i64);
    for (name, value) in &record.headers {
        put_bytes_field(&mut body, Some(name));
        put_bytes_field(&mut body, value.as_deref());
    }
    let mut signed = BytesMut::new();
    signed.put_i16(0); // attributes: no compression, CreateTime
    signed.put_i32(0); // last offset delta
    signed.put_i64(record.timestamp);
    signed.put_i64(record.timestamp);
    signed.put_i64(-1); // producer id
    signed.put_i16(-1); // producer epoch
    signed.put_i32(-1); // base sequence
    signed.put_i32(1); // record count
    put_varlong(&mut signed, body.len() as i64);
    signed.put_slice(&body);
    out.put_i64(0); // base offset: the broker assigns it
    out.put_i32((4 + 1 + 4 + signed.len()) as i32);
    out.put_i32(-1); // partition leader epoch
    out.put_i8(2); // magic
    out.put_u32(crc32c::crc32c(&signed));
    out.put_slice(&signed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Record {
        Record {
            offset,
            timestamp: 1_700_000_000_000 + offset,
            log_append_time: false,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: (offset % 2 == 0).then(|| Bytes::from(vec![7u8; 300])),
            headers: vec![
                (Bytes::from_static(b"h"), Some(Bytes::from_static(b"1"))),
                (Bytes::from_static(b"h"), None),
            ],
        }
    }

    /// Gives an encoded batch its base offset, as a broker would.
    fn at_offset(batch: &mut BytesMut, start: usize, offset: i64) {
        batch[start..start + 8].copy_from_slice(&offset.to_be_bytes());
    }

    #[test]
    fn records_round_trip_and_a_cut_off_batch_waits() {
        let mut data = BytesMut::new();
        for offset in [5, 6, 9] {
            let start = data.len();
            encode_one(&mut data, &record(offset));
            at_offset(&mut data, start, offset);
        }
        let whole = data.len();
        encode_one(&mut data, &record(10));
        let cut = data.freeze().slice(..whole + 20);
        let decoded = decode(cut, &[]).unwrap();
        assert_eq!(decoded.records, vec![record(5), record(6), record(9)]);
        assert_eq!(decoded.next_offset, Some(10));
    }

    /// Sets a batch's attributes (e.g. transactional, control) and its CRC.
    fn with_attributes(batch: &mut BytesMut, start: usize, attributes: i16, producer: i64) {
        batch[start + 21..start + 23].copy_from_slice(&attributes.to_be_bytes());
        batch[start + 43..start + 51].copy_from_slice(&producer.to_be_bytes());
        let crc = crc32c::crc32c(&batch[start + 21..]);
        batch[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn markers_and_aborted_transactions_take_offsets_but_are_no_records() {
        let mut data = BytesMut::new();
        let mut batch =
            |offset: i64, attributes: i16, producer: i64, key: Option<&'static [u8]>| {
                let mut one = BytesMut::new();
                let mut r = record(offset);
                if attributes & 0x20 != 0 {
                    r.key = key.map(Bytes::from_static);
                }
                encode_one(&mut one, &r);
                at_offset(&mut one, 0, offset);
                with_attributes(&mut one, 0, attributes, producer);
                data.extend_from_slice(&one);
            };
        batch(0, 0, -1, None); // plain
        batch(1, 0x10, 7, None); // producer 7's transaction, aborted below
        batch(2, 0x30, 7, Some(&[0, 0, 0, 0])); // its ABORT marker
        batch(3, 0x10, 8, None); // producer 8's transaction, committed
        batch(4, 0x30, 8, Some(&[0, 0, 0, 1])); // its COMMIT marker
        batch(5, 0x10, 7, None); // producer 7's next transaction: kept
        let decoded = decode(data.freeze(), &[(7, 1)]).unwrap();
        let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 3, 5]);
        assert_eq!(decoded.next_offset, Some(6));
    }

    /// Batches whose CRC holds but whose records are noise: every count
    /// and length inside is untrusted.
    #[test]
    fn noise_behind_a_valid_crc_is_an_error_not_a_panic() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..20_000 {
            let mut noise = vec![0u8; 8 + round % 120];
            for byte in &mut noise {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            let mut batch = BytesMut::new();
            encode_one(&mut batch, &record(1));
            batch.truncate(61);
            // A huge record count, then the noise as records.
            batch[57..61].copy_from_slice(&(i32::MAX - round as i32).to_be_bytes());
            batch.extend_from_slice(&noise);
            let length = (batch.len() - 12) as i32;
            batch[8..12].copy_from_slice(&length.to_be_bytes());
            let crc = crc32c::crc32c(&batch[21..]);
            batch[17..21].copy_from_slice(&crc.to_be_bytes());
            let _ = decode(batch.freeze(), &[]);
        }
    }

    /// `record` alone in a batch compressed with `codec` by `compress`.
    fn compressed(record: &Record, codec: i16, compress: impl Fn(&[u8]) -> Vec<u8>) -> Bytes {
        let mut plain = BytesMut::new();
        encode_one(&mut plain, record);
        let body = compress(&plain[61..]);
        let mut batch = BytesMut::from(&plain[..61]);
        batch.extend_from_slice(&body);
        let length = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        with_attributes(&mut batch, 0, codec, -1);
        batch.freeze()
    }

    #[test]
    fn batches_compressed_four_ways_read_back() {
        use std::io::Write;
        let record = record(0);
        let gzip = |data: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        };
        let zstd = |data: &[u8]| zstd::encode_all(data, 3).unwrap();
        let lz4 = |data: &[u8]| {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        };
        let xerial = |data: &[u8]| {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            for chunk in data.chunks(100) {
                let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            out
        };
        let raw_snappy = |data: &[u8]| snap::raw::Encoder::new().compress_vec(data).unwrap();
        type Compress<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
        let ways: [(i16, Compress); 5] = [
            (1, &gzip),
            (2, &xerial),
            (2, &raw_snappy),
            (3, &lz4),
            (4, &zstd),
        ];
        for (codec, compress) in ways {
            let decoded = decode(compressed(&record, codec, compress), &[]).unwrap();
            assert_eq!(decoded.records, vec![record.clone()], "codec {codec}");
        }
        // A snappy block that claims more than the bound is refused unread.
        let mut bomb = XERIAL_MAGIC.to_vec();
        bomb.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        assert!(decode(compressed(&record, 2, |_| bomb.clone()), &[]).is_err());
    }

    #[test]
    fn damaged_batches_are_errors_not_panics() {
        let mut data = BytesMut::new();
        encode_one(&mut data, &record(1));
        let data = data.freeze();
        for i in 12..data.len() {
            let mut copy = data.to_vec();
            copy[i] ^= 0x55;
            let _ = decode(Bytes::from(copy), &[]);
        }
        let mut flipped = data.to_vec();
        flipped[30] ^= 1;
        assert!(decode(Bytes::from(flipped), &[])
            .unwrap_err()
            .contains("CRC"));
        let mut negative = data.to_vec();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode(Bytes::from(negative), &[]).is_err());
    }
}
