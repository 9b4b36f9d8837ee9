//! Where artifacts go: one file per destination kind behind one trait.
//!
//! An artifact is `PREFIX/JOB/ID/` at a destination: one data object per
//! stream and `manifest.json`, written last. Data without a manifest is not
//! a backup.

mod local;
mod s3;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::raw;

pub use local::LocalDestination;
pub use s3::S3Destination;

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
    #[error("the stream was aborted before it ended")]
    Aborted,
    #[error("{0}")]
    S3(String),
}

impl DestinationError {
    pub fn io(context: impl std::fmt::Display, error: std::io::Error) -> Self {
        DestinationError::Io(format!("{context}: {error}"))
    }
}

/// One kind of destination.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The destination's name in the configuration.
    fn name(&self) -> &str;

    /// Whether anything exists under `JOB/ID/` (used to pick a free run ID).
    async fn exists(&self, job: &str, id: &str) -> Result<bool, DestinationError>;

    /// Starts an artifact.
    async fn begin(&self, job: &str, id: &str)
        -> Result<Box<dyn ArtifactWriter>, DestinationError>;
}

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

    /// Removes everything this writer wrote for the artifact.
    async fn abort(&mut self);
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
