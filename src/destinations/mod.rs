//! Where artifacts go: one file per destination kind behind one trait.
//!
//! An artifact is `PREFIX/JOB/ID/` at a destination: one data object per
//! stream and `manifest.json`, written last. Data without a manifest is not
//! a backup.

mod local;
pub mod runs;
mod s3;
pub mod wal;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::config::raw;
use crate::manifest::Manifest;

pub use local::LocalDestination;
pub use runs::RunObject;
pub use s3::S3Destination;
pub use wal::{Naming, WalEntry, WalObject};

/// The name of the record every complete artifact ends with.
pub const MANIFEST: &str = "manifest.json";

/// What flows from the pipeline to a destination for one stream. A channel
/// that closes without `Finish` means the stream was aborted.
#[derive(Debug)]
pub enum Message {
    Chunk(Bytes),
    /// The stream ended well: its stored size and SHA-256.
    Finish {
        stored_size: u64,
        sha256: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{0}")]
    Io(String),
    #[error("aborted: the stream stopped before it ended")]
    Aborted,
    #[error("{0}")]
    S3(String),
}

impl DestinationError {
    pub fn io(context: impl std::fmt::Display, error: std::io::Error) -> Self {
        DestinationError::Io(format!("{context}: {error}"))
    }
}

/// An artifact found at a destination, complete or not.
#[derive(Debug, Clone)]
pub struct Found {
    pub job: String,
    pub id: String,
    /// When the run started, from the ID.
    pub time: DateTime<Utc>,
    pub state: FoundState,
    /// The artifact's objects (data and manifest), by name inside `JOB/ID/`.
    pub objects: Vec<String>,
    /// Bytes stored, over all objects.
    pub stored_size: u64,
}

#[derive(Debug, Clone)]
pub enum FoundState {
    /// Has a manifest: a backup.
    Complete(Box<Manifest>),
    /// Data without a manifest (a run in progress, or one that died).
    Incomplete,
    /// A manifest that cannot be read: never counted, never cleaned up.
    Unreadable(String),
}

impl Found {
    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.state {
            FoundState::Complete(manifest) => Some(manifest),
            _ => None,
        }
    }
}

/// A multipart upload that was never completed or aborted.
#[derive(Debug, Clone)]
pub struct OpenUpload {
    pub job: String,
    pub id: String,
    pub key: String,
    pub upload_id: String,
}

/// Everything cairn finds at a destination.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub artifacts: Vec<Found>,
    pub uploads: Vec<OpenUpload>,
    /// What looked like cairn's but was not taken for it: each is warned
    /// about, and never read, counted or deleted.
    pub ignored: Vec<Ignored>,
}

/// A key (or path) at a destination that cairn ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug quoting: a crafted name cannot carry terminal escapes.
        write!(f, "ignored {:?}: {}", self.key, self.reason)
    }
}

/// Whether a part of a key read from a listing could step out of the place
/// cairn joins it to: `.`, `..`, a backslash or a control character.
pub(crate) fn escapes(part: &str) -> bool {
    part == "." || part == ".." || part.contains('\\') || part.chars().any(char::is_control)
}

/// Why the manifest found at `JOB/ID/` cannot be trusted, if it cannot: it
/// names another job or run than where it lies, or a stream whose name is
/// not a plain object name of the artifact (restore and verify read the
/// streams by these names).
pub(crate) fn check_manifest(manifest: &Manifest, job: &str, id: &str) -> Result<(), String> {
    if manifest.job != job || manifest.id != id {
        return Err(format!(
            "its manifest says job {:?}, run {:?}, not the place it lies at",
            manifest.job, manifest.id
        ));
    }
    match manifest.streams.iter().find(|s| {
        s.name.is_empty() || s.name.contains('/') || escapes(&s.name) || s.name == MANIFEST
    }) {
        Some(stream) => Err(format!(
            "its manifest names a stream {:?}, which is not an object name inside the artifact",
            stream.name
        )),
        None => Ok(()),
    }
}

/// The artifact ID of a run started at `time`: `YYYYMMDDTHHMMSSZ` (a run
/// that finds it taken adds `-2`, `-3`…).
pub fn artifact_id(time: DateTime<Utc>) -> String {
    time.format(ID_FORMAT).to_string()
}

const ID_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Parses an artifact ID (`YYYYMMDDTHHMMSSZ`, optionally `-N`) into its time.
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let base = match id.split_once('-') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        Some(_) => return None,
        None => id,
    };
    if base.len() != 16 {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(base, ID_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// One kind of destination.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The destination's name in the configuration.
    fn name(&self) -> &str;

    /// Every artifact of `job` (or of every job) and every open upload.
    /// Only what carries cairn's layout and mark is listed.
    async fn list(&self, job: Option<&str>) -> Result<Listing, DestinationError>;

    /// Deletes an artifact: its objects that carry cairn's mark, and its
    /// open uploads. Deletes the manifest first, so that a deletion cut
    /// short leaves an incomplete artifact, never a damaged backup.
    async fn delete(&self, artifact: &Found) -> Result<(), DestinationError>;

    /// Aborts an open multipart upload.
    async fn abort_upload(&self, upload: &OpenUpload) -> Result<(), DestinationError>;

    /// Whether anything exists under `JOB/ID/`, or a run record of run `ID`
    /// (used to pick a free run ID, so that no run replaces another's record).
    async fn exists(&self, job: &str, id: &str) -> Result<bool, DestinationError>;

    /// Starts an artifact.
    async fn begin(&self, job: &str, id: &str)
        -> Result<Box<dyn ArtifactWriter>, DestinationError>;

    /// Opens one object of an artifact for reading, as stored.
    async fn read(&self, job: &str, id: &str, name: &str) -> Result<Reader, DestinationError>;

    /// The archived WAL file `name` of `job` (SPEC §12), when it is
    /// completely there: data and raw checksum.
    async fn wal_find(
        &self,
        job: &str,
        name: &str,
        naming: Naming,
    ) -> Result<Option<WalObject>, DestinationError>;

    /// Stores `body`, the encoded file, as `object` in `job`'s archive;
    /// it counts only once it is all there.
    async fn wal_put(
        &self,
        job: &str,
        object: &WalObject,
        body: Bytes,
    ) -> Result<(), DestinationError>;

    /// The stored bytes of an archived file.
    async fn wal_read(&self, job: &str, object: &WalObject) -> Result<Reader, DestinationError>;

    /// The archived files of `job` whose names start with `prefix` and
    /// sort after `after`, in name order.
    async fn wal_list(
        &self,
        job: &str,
        prefix: &str,
        after: Option<&str>,
        naming: Naming,
    ) -> Result<Vec<WalEntry>, DestinationError>;

    /// Stores `body` as the run record `JOB/runs/ID.json`, replacing the one
    /// there in one step: a reader sees the old record or the new one.
    async fn run_put(&self, job: &str, id: &str, body: Bytes) -> Result<(), DestinationError>;

    /// The IDs of `job`'s run records, in no particular order.
    async fn run_list(&self, job: &str) -> Result<Vec<String>, DestinationError>;

    /// The run record `id` of `job`.
    async fn run_get(&self, job: &str, id: &str) -> Result<RunObject, DestinationError>;

    /// Deletes archived files of `job` (retention): each one's checksum
    /// first, so that a deletion cut short leaves the file absent, never
    /// vouched for and gone. Only files cairn wrote are deleted.
    async fn wal_delete(&self, job: &str, files: &[WalEntry]) -> Result<(), DestinationError>;
}

/// An object being read from a destination.
pub type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// Writes one artifact at one destination.
#[async_trait]
pub trait ArtifactWriter: Send {
    /// Stores one data object from `chunks`, ending at `Finish`. When the
    /// channel closes without `Finish`, nothing of the object remains.
    async fn write_stream(
        &mut self,
        name: &str,
        chunks: mpsc::Receiver<Message>,
    ) -> Result<(), DestinationError>;

    /// Writes the manifest, last: from here on the artifact is a backup.
    async fn commit(&mut self, manifest: &[u8]) -> Result<(), DestinationError>;

    /// Removes everything this writer wrote for the artifact. On error what
    /// could not be removed stays recorded, so calling it again retries.
    async fn abort(&mut self) -> Result<(), DestinationError>;
}

/// Opens the destination `name` of the configuration.
pub async fn open(
    name: &str,
    destination: &raw::Destination,
) -> Result<Box<dyn Destination>, DestinationError> {
    Ok(match destination {
        raw::Destination::Local(local) => Box::new(LocalDestination::new(name, &local.path)),
        raw::Destination::S3(s3) => Box::new(S3Destination::new(name, s3).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_that_could_leave_a_directory_escape() {
        for bad in [".", "..", "a\\b", "a\nb", "\u{1b}[2J"] {
            assert!(escapes(bad), "{bad:?}");
        }
        for good in [
            "app",
            "20261121T021500Z",
            "db-app.pgdump.zst",
            "...",
            "a..b",
        ] {
            assert!(!escapes(good), "{good:?}");
        }
    }

    #[test]
    fn ids_are_times_with_an_optional_counter() {
        assert_eq!(
            id_time("20261121T021500Z").unwrap().to_rfc3339(),
            "2026-11-21T02:15:00+00:00"
        );
        assert!(id_time("20261121T021500Z-2").is_some());
        for bad in [
            "20261121T021500",
            "20261121T021500Z-",
            "20261121T021500Z-x",
            "latest",
            "2026112T021500Z",
        ] {
            assert!(id_time(bad).is_none(), "{bad}");
        }
    }
}
