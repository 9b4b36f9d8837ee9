//! The streaming stages of a run (SPEC §5): the dump writes into a chain of
//! writers — compression, optional age encryption, SHA-256 of the stored
//! bytes — whose end fans the stored bytes out to every destination at once
//! through bounded channels, so a slow destination slows the dump down
//! instead of filling memory.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::cancel::Cancel;
use crate::config::model::Compression;
use crate::config::raw::CompressionAlgorithm;
use crate::destinations::Message;

use crate::recycle::Recycler;

/// Bytes per chunk sent to destinations.
pub const CHUNK_SIZE: usize = 1 << 20;
/// Chunks a destination may lag behind before the dump waits for it.
pub const CHANNEL_CAPACITY: usize = 2;
/// Chunks in flight that the fanout follows for reuse: those queued for a
/// destination plus the one each destination is working on.
const CHUNKS_FOLLOWED: usize = CHANNEL_CAPACITY + 2;
/// Input each zstd worker compresses at a time. zstd's default for level 3
/// is 8 MiB, and it keeps several jobs' input and output per worker; 2 MiB
/// keeps compression memory to a few MiB with little loss of ratio.
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// The suffix encryption gives a stored object's name.
const ENCRYPTED_SUFFIX: &str = ".age";

/// The suffix compression gives a stored object's name.
fn compression_suffix(algorithm: CompressionAlgorithm) -> &'static str {
    match algorithm {
        CompressionAlgorithm::Zstd => ".zst",
        CompressionAlgorithm::Gzip => ".gz",
        CompressionAlgorithm::None => "",
    }
}

/// The suffix stored objects get: `.zst`, `.gz`, then `.age` when encrypted.
pub fn stored_name(stream: &str, compression: &Compression, encrypted: bool) -> String {
    let mut name = stream.to_owned();
    name.push_str(compression_suffix(compression.algorithm));
    if encrypted {
        name.push_str(ENCRYPTED_SUFFIX);
    }
    name
}

/// The stream's name as its dump named it, from the name it is stored
/// under: [`stored_name`] undone (`db-app.pgdump.zst.age` → `db-app.pgdump`).
/// A suffix that is missing is left alone.
pub fn plain_name(stored: &str, algorithm: CompressionAlgorithm, encrypted: bool) -> &str {
    let mut name = stored;
    if encrypted {
        name = name.strip_suffix(ENCRYPTED_SUFFIX).unwrap_or(name);
    }
    name.strip_suffix(compression_suffix(algorithm))
        .unwrap_or(name)
}

/// How a stored object was written, read back from its name alone: the
/// plain name, the compression and whether it is encrypted
/// (`000000010000000000000003.zst.age` → the segment, zstd, encrypted).
/// For objects whose plain names never end in a suffix of ours, such as
/// WAL files.
pub fn stored_form(stored: &str) -> (&str, CompressionAlgorithm, bool) {
    let (name, encrypted) = match stored.strip_suffix(ENCRYPTED_SUFFIX) {
        Some(name) => (name, true),
        None => (stored, false),
    };
    for algorithm in [CompressionAlgorithm::Zstd, CompressionAlgorithm::Gzip] {
        if let Some(plain) = name.strip_suffix(compression_suffix(algorithm)) {
            return (plain, algorithm, encrypted);
        }
    }
    (name, CompressionAlgorithm::None, encrypted)
}

/// Every name [`stored_name`] gives `plain` under some compression and
/// encryption, zstd (the default) first.
pub fn stored_names(plain: &str) -> Vec<String> {
    let mut names = Vec::with_capacity(6);
    for algorithm in [
        CompressionAlgorithm::Zstd,
        CompressionAlgorithm::None,
        CompressionAlgorithm::Gzip,
    ] {
        for encrypted in [false, true] {
            let mut name = format!("{plain}{}", compression_suffix(algorithm));
            if encrypted {
                name.push_str(ENCRYPTED_SUFFIX);
            }
            names.push(name);
        }
    }
    names
}

/// The end of the chain: hashes the stored bytes and sends them to every
/// destination that is still listening.
pub struct Fanout {
    senders: Vec<Option<mpsc::Sender<Message>>>,
    /// The chunk being filled; taken from `chunks` when its first byte
    /// arrives, so that a destination has as long as possible to let go
    /// of an older one.
    buffer: BytesMut,
    chunks: Recycler,
    hasher: Sha256,
    stored: u64,
}

impl Fanout {
    pub fn new(senders: Vec<mpsc::Sender<Message>>) -> Self {
        Self {
            senders: senders.into_iter().map(Some).collect(),
            buffer: BytesMut::new(),
            chunks: Recycler::new(CHUNKS_FOLLOWED),
            hasher: Sha256::new(),
            stored: 0,
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.chunks.hand_out(std::mem::take(&mut self.buffer));
        for slot in &mut self.senders {
            if let Some(sender) = slot {
                if sender.blocking_send(Message::Chunk(chunk.clone())).is_err() {
                    // That destination gave up; the others carry on.
                    *slot = None;
                }
            }
        }
        if self.senders.iter().all(Option::is_none) {
            return Err(io::Error::other("every destination failed"));
        }
        Ok(())
    }

    /// Sends what is left and tells every destination the stream ended well.
    fn finish(mut self) -> io::Result<(u64, String)> {
        self.send_buffer()?;
        let sha256 = format!("{:x}", self.hasher.finalize_reset());
        for sender in self.senders.iter().flatten() {
            let _ = sender.blocking_send(Message::Finish {
                stored_size: self.stored,
                sha256: sha256.clone(),
            });
        }
        Ok((self.stored, sha256))
    }
}

impl Write for Fanout {
    /// Cuts the stored bytes into chunks of exactly `CHUNK_SIZE` (the last
    /// one shorter), so a chunk never outgrows its buffer.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.stored += data.len() as u64;
        let mut rest = data;
        while !rest.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = self.chunks.take(CHUNK_SIZE);
            }
            let room = CHUNK_SIZE - self.buffer.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buffer.extend_from_slice(now);
            rest = later;
            if self.buffer.len() == CHUNK_SIZE {
                self.send_buffer()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Encrypt<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Encrypt<W> {
    /// Encryption to `recipients` (none: the bytes pass as they are),
    /// writing into `sink`.
    fn new(recipients: &[age::x25519::Recipient], sink: W) -> io::Result<Self> {
        if recipients.is_empty() {
            return Ok(Encrypt::Plain(sink));
        }
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        Ok(Encrypt::Age(encryptor.wrap_output(sink)?))
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encrypt::Plain(fanout) => Ok(fanout),
            Encrypt::Age(writer) => writer.finish(),
        }
    }
}

impl<W: Write> Write for Encrypt<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encrypt::Plain(w) => w.write(data),
            Encrypt::Age(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encrypt::Plain(w) => w.flush(),
            Encrypt::Age(w) => w.flush(),
        }
    }
}

enum Compress<W: Write> {
    None(Encrypt<W>),
    Zstd(zstd::stream::write::Encoder<'static, Encrypt<W>>),
    Gzip(flate2::write::GzEncoder<Encrypt<W>>),
}

impl<W: Write> Compress<W> {
    /// Compression, then encryption to `recipients` (none: no encryption),
    /// writing the stored bytes into `sink`.
    fn new(
        compression: &Compression,
        recipients: &[age::x25519::Recipient],
        sink: W,
    ) -> io::Result<Self> {
        let encrypt = Encrypt::new(recipients, sink)?;
        Ok(match compression.algorithm {
            CompressionAlgorithm::None => Compress::None(encrypt),
            CompressionAlgorithm::Zstd => {
                let mut encoder =
                    zstd::stream::write::Encoder::new(encrypt, compression.level.unwrap_or(3))?;
                // One worker compresses while this thread reads the dump.
                encoder.multithread(compression_workers())?;
                encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                Compress::Zstd(encoder)
            }
            CompressionAlgorithm::Gzip => {
                let level = compression.level.unwrap_or(6).clamp(1, 9) as u32;
                Compress::Gzip(flate2::write::GzEncoder::new(
                    encrypt,
                    flate2::Compression::new(level),
                ))
            }
        })
    }

    fn finish(self) -> io::Result<Encrypt<W>> {
        match self {
            Compress::None(w) => Ok(w),
            Compress::Zstd(w) => w.finish(),
            Compress::Gzip(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Compress<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Compress::None(w) => w.write(data),
            Compress::Zstd(w) => w.write(data),
            Compress::Gzip(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compress::None(w) => w.flush(),
            Compress::Zstd(w) => w.flush(),
            Compress::Gzip(w) => w.flush(),
        }
    }
}

/// Sizes and checksum of one finished stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub raw_size: u64,
    pub stored_size: u64,
    pub sha256: String,
}

/// What a dump writes into: counts raw bytes, stops on cancel, and passes
/// the bytes down the chain.
pub struct Chain {
    inner: Compress<Fanout>,
    raw: u64,
    progress: Arc<AtomicU64>,
    cancel: Cancel,
}

impl Chain {
    /// Builds the chain for one stream. `recipients` are validated age
    /// recipients; none means no encryption.
    pub fn new(
        compression: &Compression,
        recipients: &[age::x25519::Recipient],
        senders: Vec<mpsc::Sender<Message>>,
        progress: Arc<AtomicU64>,
        cancel: Cancel,
    ) -> io::Result<Self> {
        Ok(Self {
            inner: Compress::new(compression, recipients, Fanout::new(senders))?,
            raw: 0,
            progress,
            cancel,
        })
    }

    /// Ends the stream: flushes every stage and sends `Finish` to the
    /// destinations. Dropping a chain without finishing aborts the stream.
    pub fn finish(self) -> io::Result<StreamSummary> {
        self.cancel.check()?;
        let fanout = self.inner.finish()?.finish()?;
        let (stored_size, sha256) = fanout.finish()?;
        Ok(StreamSummary {
            raw_size: self.raw,
            stored_size,
            sha256,
        })
    }
}

/// `raw`, held whole (a file small enough to hold, such as a WAL segment),
/// compressed and encrypted as [`Chain`] stores a stream. zstd compresses
/// pieces of it on [`compression_workers`] threads at once, each piece one
/// frame: zstd's own workers would first copy the input into buffers of
/// their own, which costs a WAL push about as much as hashing it.
/// Frames one after another decode as one stream ([`decode`], `zstd -d`).
pub fn encode(
    compression: &Compression,
    recipients: &[age::x25519::Recipient],
    raw: &[u8],
) -> io::Result<Vec<u8>> {
    let compressed = match compression.algorithm {
        CompressionAlgorithm::Zstd => zstd_frames(
            raw,
            compression.level.unwrap_or(3),
            compression_workers() as usize,
        )?,
        CompressionAlgorithm::Gzip | CompressionAlgorithm::None => {
            let mut stages = Compress::new(compression, &[], Vec::new())?;
            stages.write_all(raw)?;
            stages.finish()?.finish()?
        }
    };
    if recipients.is_empty() {
        return Ok(compressed);
    }
    let mut encrypt = Encrypt::new(recipients, Vec::with_capacity(compressed.len() + 4096))?;
    encrypt.write_all(&compressed)?;
    encrypt.finish()
}

/// `raw` as zstd frames of about `raw.len() / workers` bytes each, one per
/// thread, in order.
fn zstd_frames(raw: &[u8], level: i32, workers: usize) -> io::Result<Vec<u8>> {
    let piece_size = raw.len().div_ceil(workers.max(1)).max(1);
    let mut pieces = raw.chunks(piece_size);
    let first = pieces.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = pieces
            .map(|piece| scope.spawn(move || zstd_frame(piece, level)))
            .collect();
        // Usually without reallocating: the first frame's buffer is sized
        // for its piece's worst case, and WAL compresses.
        let mut frames = zstd_frame(first, level)?;
        for other in others {
            let frame = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            frames.extend_from_slice(&frame);
        }
        Ok(frames)
    })
}

/// `piece` as one zstd frame, into a buffer sized for zstd's worst case
/// (never touched beyond what the frame takes).
fn zstd_frame(piece: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(piece.len()));
    zstd::bulk::Compressor::new(level)?.compress_to_buffer(piece, &mut frame)?;
    Ok(frame)
}

/// The reverse of the chain: decrypts `stored` with `identities` when it
/// is encrypted, then decompresses it.
pub fn decode<'a>(
    stored: impl Read + Send + 'a,
    algorithm: CompressionAlgorithm,
    encrypted: bool,
    identities: &[Box<dyn age::Identity>],
) -> Result<Box<dyn Read + 'a>, String> {
    let decrypted: Box<dyn Read + 'a> = if encrypted {
        let decryptor = age::Decryptor::new_buffered(io::BufReader::new(stored))
            .map_err(|e| format!("not an age file: {e}"))?;
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| format!("cannot decrypt with the given age identity: {e}"))?;
        Box::new(reader)
    } else {
        Box::new(stored)
    };
    Ok(match algorithm {
        CompressionAlgorithm::Zstd => Box::new(
            zstd::stream::read::Decoder::new(decrypted)
                .map_err(|e| format!("cannot start zstd: {e}"))?,
        ),
        CompressionAlgorithm::Gzip => Box::new(flate2::read::MultiGzDecoder::new(decrypted)),
        CompressionAlgorithm::None => decrypted,
    })
}

/// The age identities in `path` (`AGE-SECRET-KEY-1…` lines, as
/// `age-keygen` writes them).
pub fn read_identities(path: &std::path::Path) -> Result<Vec<Box<dyn age::Identity>>, String> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| format!("cannot read the age identity file {}: {e}", path.display()))?;
    let identities = file.into_identities().map_err(|e| {
        format!(
            "the age identity file {} cannot be used: {e}",
            path.display()
        )
    })?;
    Ok(identities
        .into_iter()
        .map(|identity| identity as Box<dyn age::Identity>)
        .collect())
}

/// The warning for an age identity file that group or others may read.
pub fn exposed_identity_warning(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the age identity file {path} is open to group or others (mode {mode:03o}); \
             it holds secret keys: run `chmod 600 {path}`",
            path = path.display()
        )
    })
}

/// zstd worker threads: two (or one on a single core). Where data
/// compresses well they idle; where it does not (random text) compression
/// is the bottleneck and the second worker keeps cairn level with
/// `zstd -T2`. `CAIRN_ZSTD_WORKERS` overrides it, for benchmarks.
#[allow(clippy::disallowed_methods)] // A benchmark knob, not configuration.
fn compression_workers() -> u32 {
    std::env::var("CAIRN_ZSTD_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(2) as u32)
        })
}

impl Write for Chain {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.cancel.check()?;
        let written = self.inner.write(data)?;
        self.raw += written as u64;
        self.progress.fetch_add(written as u64, Ordering::Relaxed);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn run_chain(
        compression: Compression,
        recipients: &[age::x25519::Recipient],
        data: &[u8],
    ) -> (StreamSummary, Vec<u8>) {
        let (sender, mut receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let collector = std::thread::spawn(move || {
            let mut stored = Vec::new();
            let mut finished = None;
            while let Some(message) = receiver.blocking_recv() {
                match message {
                    Message::Chunk(bytes) => stored.extend_from_slice(&bytes),
                    Message::Finish {
                        stored_size,
                        sha256,
                    } => finished = Some((stored_size, sha256)),
                }
            }
            (stored, finished)
        });
        let mut chain = Chain::new(
            &compression,
            recipients,
            vec![sender],
            Arc::default(),
            Cancel::default(),
        )
        .unwrap();
        chain.write_all(data).unwrap();
        let summary = chain.finish().unwrap();
        let (stored, finished) = collector.join().unwrap();
        assert_eq!(
            finished,
            Some((summary.stored_size, summary.sha256.clone()))
        );
        assert_eq!(
            format!("{:x}", Sha256::digest(&stored)),
            summary.sha256,
            "the hash is of the stored bytes"
        );
        (summary, stored)
    }

    fn sample() -> Vec<u8> {
        (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn zstd_streams_decompress_to_the_input() {
        let data = sample();
        let (summary, stored) = run_chain(Compression::default(), &[], &data);
        assert_eq!(summary.raw_size, data.len() as u64);
        assert!(summary.stored_size < summary.raw_size);
        assert_eq!(zstd::decode_all(&stored[..]).unwrap(), data);
    }

    #[test]
    fn gzip_and_none_round_trip() {
        let data = sample();
        let gzip = Compression {
            algorithm: CompressionAlgorithm::Gzip,
            level: Some(1),
        };
        let (_, stored) = run_chain(gzip, &[], &data);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&stored[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, data);
        let none = Compression {
            algorithm: CompressionAlgorithm::None,
            level: None,
        };
        let (summary, stored) = run_chain(none, &[], &data);
        assert_eq!(stored, data);
        assert_eq!(summary.stored_size, summary.raw_size);
    }

    #[test]
    fn age_encrypted_streams_decrypt_with_the_identity() {
        let identity = age::x25519::Identity::generate();
        let data = sample();
        let (_, stored) = run_chain(Compression::default(), &[identity.to_public()], &data);
        let decryptor = age::Decryptor::new(&stored[..]).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut compressed = Vec::new();
        reader.read_to_end(&mut compressed).unwrap();
        assert_eq!(zstd::decode_all(&compressed[..]).unwrap(), data);
    }

    #[test]
    fn whole_files_encode_to_what_decode_reads_back() {
        let data = sample();
        let identity = age::x25519::Identity::generate();
        let identities: Vec<Box<dyn age::Identity>> = vec![Box::new(identity.clone())];
        let gzip = Compression {
            algorithm: CompressionAlgorithm::Gzip,
            level: None,
        };
        for (compression, recipients) in [
            (Compression::default(), vec![]),
            (Compression::default(), vec![identity.to_public()]),
            (gzip, vec![identity.to_public()]),
        ] {
            let stored = encode(&compression, &recipients, &data).unwrap();
            let mut decoded = Vec::new();
            decode(
                &stored[..],
                compression.algorithm,
                !recipients.is_empty(),
                &identities,
            )
            .unwrap()
            .read_to_end(&mut decoded)
            .unwrap();
            assert_eq!(
                decoded,
                data,
                "{compression:?}, {} recipients",
                recipients.len()
            );
        }
    }

    #[test]
    fn zstd_frames_cover_the_input_in_order_whatever_the_workers() {
        let data = sample();
        for workers in [1, 2, 3] {
            let frames = zstd_frames(&data, 3, workers).unwrap();
            // What `zstd -d` gives back, frame after frame.
            assert_eq!(zstd::decode_all(&frames[..]).unwrap(), data, "{workers}");
        }
        let empty = zstd_frames(&[], 3, 2).unwrap();
        assert!(zstd::decode_all(&empty[..]).unwrap().is_empty());
    }

    #[test]
    fn chunks_are_exactly_chunk_size_but_the_last() {
        let (sender, mut receiver) = mpsc::channel(64);
        let mut fanout = Fanout::new(vec![sender]);
        // Writes of an odd size, as compressors make them.
        let data: Vec<u8> = (0..(3 * CHUNK_SIZE + 12_345))
            .map(|i| (i % 253) as u8)
            .collect();
        for piece in data.chunks(131_591) {
            fanout.write_all(piece).unwrap();
        }
        let (stored, _) = fanout.finish().unwrap();
        assert_eq!(stored, data.len() as u64);
        let mut sizes = Vec::new();
        let mut received = Vec::new();
        while let Ok(message) = receiver.try_recv() {
            if let Message::Chunk(bytes) = message {
                sizes.push(bytes.len());
                received.extend_from_slice(&bytes);
            }
        }
        assert_eq!(sizes, [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 12_345]);
        assert_eq!(received, data);
    }

    #[test]
    fn a_dropped_chain_never_sends_finish() {
        let (sender, mut receiver) = mpsc::channel(64);
        let mut chain = Chain::new(
            &Compression::default(),
            &[],
            vec![sender],
            Arc::default(),
            Cancel::default(),
        )
        .unwrap();
        chain.write_all(&sample()).unwrap();
        drop(chain);
        while let Some(message) = receiver.blocking_recv() {
            assert!(
                matches!(message, Message::Chunk(_)),
                "no Finish after an abort"
            );
        }
    }

    #[test]
    fn cancel_stops_writes() {
        let (sender, _receiver) = mpsc::channel(64);
        let cancel = Cancel::default();
        let mut chain = Chain::new(
            &Compression::default(),
            &[],
            vec![sender],
            Arc::default(),
            cancel.clone(),
        )
        .unwrap();
        cancel.trigger("timed out after 1s");
        let error = chain.write_all(b"data").unwrap_err();
        assert_eq!(error.to_string(), "timed out after 1s");
    }

    #[test]
    fn stored_names_carry_their_encodings() {
        let zstd = Compression::default();
        assert_eq!(
            stored_name("db-app.pgdump", &zstd, false),
            "db-app.pgdump.zst"
        );
        assert_eq!(stored_name("dump.rdb", &zstd, true), "dump.rdb.zst.age");
        let none = Compression {
            algorithm: CompressionAlgorithm::None,
            level: None,
        };
        assert_eq!(stored_name("files.tar", &none, false), "files.tar");
    }

    #[test]
    fn every_stored_form_reads_back_from_its_name() {
        let names = stored_names("000000010000000000000003");
        assert_eq!(names.len(), 6);
        assert_eq!(names[0], "000000010000000000000003.zst");
        let forms: Vec<_> = names.iter().map(|name| stored_form(name)).collect();
        for (algorithm, encrypted) in [
            (CompressionAlgorithm::Zstd, false),
            (CompressionAlgorithm::Zstd, true),
            (CompressionAlgorithm::None, false),
            (CompressionAlgorithm::None, true),
            (CompressionAlgorithm::Gzip, false),
            (CompressionAlgorithm::Gzip, true),
        ] {
            assert!(
                forms.contains(&("000000010000000000000003", algorithm, encrypted)),
                "{algorithm:?} {encrypted}"
            );
        }
    }

    #[test]
    fn plain_names_undo_stored_names() {
        let gzip = Compression {
            algorithm: CompressionAlgorithm::Gzip,
            level: None,
        };
        for (compression, encrypted) in [
            (Compression::default(), false),
            (Compression::default(), true),
            (gzip, true),
        ] {
            let stored = stored_name("db-app.pgdump", &compression, encrypted);
            assert_eq!(
                plain_name(&stored, compression.algorithm, encrypted),
                "db-app.pgdump"
            );
        }
        assert_eq!(
            plain_name("dump.rdb", CompressionAlgorithm::Zstd, false),
            "dump.rdb",
            "a missing suffix is left alone"
        );
    }
}
