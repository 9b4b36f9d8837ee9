//! Restoring artifacts (`cairn restore`, SPEC §8): pick an artifact, check
//! its checksums before the target changes, and load it through the
//! store kind's [`Target`], re-hashing as it goes.
//!
//! The order is what makes a restore safe: (1) every stream of the artifact
//! is read once and its SHA-256 compared with the manifest, so a damaged
//! artifact is refused before anything happens to the target; (2) the
//! target is asked what it holds, and a non-empty one is only replaced with
//! `--force`, after a safety backup of it (manifest `reason = "safety"`);
//! (3) the streams are read again, hashed again, decrypted, decompressed and
//! loaded; a mismatch on this second read stops the load before the tool
//! sees the end of its input.

mod artifact;
pub mod verify;

use std::io::Read;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use artifact::{Chosen, Selection};

use crate::cancel::Cancel;
use crate::config::model::{Config, Store};
use crate::output::Log;
use crate::stores::{StoreError, Target};

/// Why a restore did not happen or did not complete.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RestoreError {
    #[error("{message}")]
    #[diagnostic(help("{help}"))]
    Refused { message: String, help: String },
    #[error("{}", .0.with_hint_inline())]
    Store(StoreError),
    #[error("cannot read {stream} of artifact {artifact} at `{destination}`: {source}")]
    Read {
        stream: String,
        artifact: String,
        destination: String,
        source: crate::destinations::DestinationError,
    },
    #[error("{stream}: {reason}")]
    Decode { stream: String, reason: String },
    #[error("{stream} was not read to its end, so its checksum is unconfirmed; check {target} before relying on it")]
    Unconfirmed { stream: String, target: String },
    #[error("the safety backup could not start: {0}")]
    SafetyBackupStart(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownJob(#[from] crate::config::model::UnknownJob),
    /// A run or another restore of the job holds its lock.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Locked(#[from] crate::lock::LockError),
}

impl RestoreError {
    pub fn refused(message: impl Into<String>, help: impl Into<String>) -> Self {
        RestoreError::Refused {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl From<StoreError> for RestoreError {
    fn from(error: StoreError) -> Self {
        RestoreError::Store(error)
    }
}

/// What `cairn restore JOB` was asked to do.
#[derive(Clone)]
pub struct RestoreOptions<'a> {
    pub selection: Selection<'a>,
    /// `--to`: another target than the job's own store.
    pub to: Option<&'a str>,
    /// `--topic-prefix`: Kafka topics are restored as this plus their name.
    pub topic_prefix: Option<&'a str>,
    /// `--force`: replace a non-empty target after a safety backup.
    pub force: bool,
    /// `--identity`: the age identity file (else `settings.age_identity_file`).
    pub identity: Option<&'a std::path::Path>,
    pub now: DateTime<Utc>,
    /// Where each step is reported.
    pub log: Log,
    /// How a restored base backup recovers (`--at`, `--timeline`,
    /// `--target-action`, `--start`); other stores ignore it.
    pub recovery: crate::stores::postgres::Recovery,
}

/// Restores one job's artifact into its store or `--to`. Reports each step
/// to `options.log`; returns the notes of the target. A non-empty target is only
/// replaced with `--force`, and only after `safety_backup` (given the
/// target as a store to dump) succeeded.
pub fn restore(
    runtime: &tokio::runtime::Handle,
    config: &Config,
    job: &str,
    options: &RestoreOptions<'_>,
    safety_backup: &mut dyn FnMut(Store) -> Result<(), RestoreError>,
) -> Result<Vec<String>, RestoreError> {
    let (job, backup) = artifact::backup_job(config, job)?;
    let log = &options.log;
    let chosen = runtime.block_on(artifact::choose(
        config,
        job,
        backup,
        &options.selection,
        log,
    ))?;
    let manifest = chosen.manifest().clone();
    log.progress(&format!(
        "restoring artifact {} of job `{}` from `{}` ({} stream{}, {} stored, made {})",
        manifest.id,
        job.name,
        chosen.destination.name(),
        manifest.streams.len(),
        if manifest.streams.len() == 1 { "" } else { "s" },
        crate::format::human_bytes(manifest.streams.iter().map(|s| s.stored_size).sum()),
        manifest
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    let identities = artifact::identities(config, &manifest, options.identity, log)?;
    // SIGINT and SIGTERM stop the loading tool.
    let cancel = Cancel::default();
    let _watcher = AbortOnDrop(cancel.watch(runtime, None));
    check_checksums(runtime, &chosen, &cancel, log)?;

    let store = &config.stores[&backup.store];
    let recovery = crate::stores::postgres::Recovery {
        server_version: manifest.wal.as_ref().map_or(0, |wal| wal.server_version),
        ..options.recovery.clone()
    };
    let mut target = crate::stores::target_for(
        backup.store.as_str(),
        store,
        options.to,
        options.topic_prefix,
        &recovery,
    )?;
    let streams = artifact::plain_names(&manifest);
    log.progress(&format!("target: {}", target.describe()));
    if let Some(existing) = target.existing(&streams)? {
        if !options.force {
            return Err(RestoreError::refused(
                format!("{} is not empty: {existing}; nothing was changed", target.describe()),
                "rerun with --force to take a safety backup of the target and then replace it, or restore elsewhere with --to",
            ));
        }
        log.progress(&format!(
            "{existing}: taking a safety backup of it first (--force)"
        ));
        safety_backup(target.as_store())?;
        log.progress(&format!("clearing {}", target.describe()));
        target.clear(&streams)?;
    }
    load(runtime, &chosen, &identities, target.as_mut(), &cancel, log)?;
    let notes = target.finish()?;
    log.progress(&format!(
        "restored artifact {} of job `{}` into {}",
        manifest.id,
        job.name,
        target.describe()
    ));
    Ok(notes)
}

/// Reads every stream of the artifact and compares its size and SHA-256
/// with the manifest, before anything happens to a target.
pub fn check_checksums(
    runtime: &tokio::runtime::Handle,
    chosen: &Chosen,
    cancel: &Cancel,
    log: &Log,
) -> Result<(), RestoreError> {
    for stream in &chosen.manifest().streams {
        let mut reader = chosen.open(runtime, stream)?;
        let mut sink = CancellableSink(cancel);
        std::io::copy(&mut reader, &mut sink).map_err(|e| {
            RestoreError::refused(
                format!(
                    "artifact {} at `{}`: {e}; nothing was restored and the target was not touched",
                    chosen.manifest().id,
                    chosen.destination.name()
                ),
                "restore another copy with --from DEST, or an earlier artifact with --at TIME or --artifact ID (`cairn inventory JOB` lists them)",
            )
        })?;
        log.progress(&format!(
            "checked {} ({}): sha256 matches the manifest",
            stream.name,
            crate::format::human_bytes(stream.stored_size)
        ));
    }
    Ok(())
}

/// A writer that discards, stopping when the restore is cancelled.
struct CancellableSink<'a>(&'a Cancel);

impl std::io::Write for CancellableSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.check()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The second pass: every stream, hashed again, decrypted, decompressed and
/// loaded into `target`.
pub fn load(
    runtime: &tokio::runtime::Handle,
    chosen: &Chosen,
    identities: &[Box<dyn age::Identity>],
    target: &mut dyn Target,
    cancel: &Cancel,
    log: &Log,
) -> Result<(), RestoreError> {
    let manifest = chosen.manifest();
    for (stream, plain) in manifest.streams.iter().zip(artifact::plain_names(manifest)) {
        log.progress(&format!(
            "loading {} into {}",
            stream.name,
            target.describe()
        ));
        let reader = chosen.open(runtime, stream)?;
        let whole = reader.whole();
        let mut input = artifact::decode(reader, manifest, identities).map_err(|reason| {
            RestoreError::Decode {
                stream: stream.name.clone(),
                reason,
            }
        })?;
        target.load(&plain, &mut *input, cancel)?;
        if !whole.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RestoreError::Unconfirmed {
                stream: stream.name.clone(),
                target: target.describe(),
            });
        }
    }
    Ok(())
}

/// Wraps an artifact's object reader: counts and hashes the bytes, and at
/// the end fails with an error when size or SHA-256 differ from the
/// manifest, so the consumer never mistakes a damaged object for a whole one.
pub struct Verified<R> {
    inner: R,
    /// Set once the whole object was read and matched the manifest.
    whole: Arc<std::sync::atomic::AtomicBool>,
    hasher: sha2::Sha256,
    read: u64,
    expected_size: u64,
    expected_sha256: String,
    name: String,
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R, name: &str, expected_size: u64, expected_sha256: &str) -> Self {
        use sha2::Digest;
        Self {
            inner,
            whole: Arc::default(),
            hasher: sha2::Sha256::new(),
            read: 0,
            expected_size,
            expected_sha256: expected_sha256.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A flag set once the whole object was read and matched the manifest.
    pub fn whole(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.whole.clone()
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(std::io::Error::other(format!(
                "{} is longer than the {} bytes its manifest records",
                self.name, self.expected_size
            )));
        }
        if n == 0 {
            let sha256 = format!("{:x}", self.hasher.clone().finalize());
            if self.read != self.expected_size {
                return Err(std::io::Error::other(format!(
                    "{} has {} bytes, its manifest records {}",
                    self.name, self.read, self.expected_size
                )));
            }
            if sha256 != self.expected_sha256 {
                return Err(std::io::Error::other(format!(
                    "checksum mismatch in {}: sha256 {sha256}, the manifest records {}",
                    self.name, self.expected_sha256
                )));
            }
            self.whole.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(n)
    }
}

/// Stops a watcher task when the restore is over.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
