//! The writer of one artifact: each stream becomes one object (PutObject
//! when it fits the first part, a multipart upload otherwise), the manifest
//! is written last, and `abort` removes everything the writer began.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::bucket::Bucket;
use super::keys::{artifact_prefix, mark, object_key};
use super::multipart::Multipart;
use super::parts::Parts;
use crate::destinations::{ArtifactWriter, DestinationError, Message, MANIFEST};

pub(super) struct S3Artifact {
    pub(super) bucket: Arc<Bucket>,
    pub(super) job: String,
    pub(super) id: String,
    /// Every key this writer wrote or began to write, in order; `abort`
    /// deletes them.
    pub(super) keys: Vec<String>,
    /// Multipart uploads still open, as (key, upload ID), recorded as soon as
    /// S3 hands out the ID so that `abort` at any moment closes them.
    pub(super) open_uploads: Vec<(String, String)>,
}

#[async_trait]
impl ArtifactWriter for S3Artifact {
    async fn write_stream(
        &mut self,
        name: &str,
        mut chunks: mpsc::Receiver<Message>,
    ) -> Result<(), DestinationError> {
        let key = object_key(&self.bucket.prefix, &self.job, &self.id, name);
        self.keys.push(key.clone());
        let mut multipart = None;
        let result = self.upload_object(&key, &mut chunks, &mut multipart).await;
        // Let go of the stream before cleaning up, so that the dump and the
        // other destinations do not wait for this one's retries.
        drop(chunks);
        if result.is_err() {
            // A first try; what fails stays recorded (the upload in
            // `open_uploads`, the key in `keys`) and `abort` tries again.
            if let Some(multipart) = multipart.as_mut() {
                multipart.cancel().await;
            }
            // A PutObject or CompleteMultipartUpload may have succeeded even
            // though its answer was lost.
            let _ = self.bucket.delete_object(&key).await;
        }
        result
    }

    async fn commit(&mut self, manifest: &[u8]) -> Result<(), DestinationError> {
        let key = object_key(&self.bucket.prefix, &self.job, &self.id, MANIFEST);
        self.keys.push(key.clone());
        let metadata = mark(&self.job, &self.id, None);
        self.bucket
            .put_object(
                &key,
                Bytes::copy_from_slice(manifest),
                Some("application/json"),
                metadata,
            )
            .await
    }

    async fn abort(&mut self) -> Result<(), DestinationError> {
        let bucket = Arc::clone(&self.bucket);
        let mut first_error = None;
        let mut still_open = Vec::new();
        for (key, upload_id) in std::mem::take(&mut self.open_uploads) {
            if let Err(error) = bucket.abort_multipart_upload(&key, &upload_id).await {
                first_error.get_or_insert(error);
                still_open.push((key, upload_id));
            }
        }
        self.open_uploads = still_open;
        let prefix = artifact_prefix(&bucket.prefix, &self.job, &self.id);
        if let Err(error) = bucket.abort_uploads_under(&prefix).await {
            first_error.get_or_insert(error);
        }
        // Newest first, so the manifest goes before the data it describes.
        let mut kept = Vec::new();
        for key in std::mem::take(&mut self.keys).into_iter().rev() {
            if let Err(error) = bucket.delete_object(&key).await {
                first_error.get_or_insert(error);
                kept.push(key);
            }
        }
        kept.reverse();
        self.keys = kept;
        first_error.map_or(Ok(()), Err)
    }
}

/// How long a stream waits for the HTTP client to let go of an uploaded
/// part's buffer before it takes a new one. Generous: on a loaded host the
/// client can be slow to drop a finished part, and the memory bound matters
/// more than a stalled upload's speed.
const BUFFER_PATIENCE: Duration = Duration::from_secs(5);

/// Waits, up to [`BUFFER_PATIENCE`], until the part buffer to reuse is free:
/// otherwise a new one is allocated, and memory grows by a part (8 MiB or
/// more) each time the client is slow to drop one.
async fn wait_for_buffer(parts: &Parts) {
    let deadline = tokio::time::Instant::now() + BUFFER_PATIENCE;
    while parts.waiting_for_buffer() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl S3Artifact {
    /// Streams `chunks` to `key`. On error the caller cleans up `multipart`.
    async fn upload_object(
        &mut self,
        key: &str,
        chunks: &mut mpsc::Receiver<Message>,
        multipart: &mut Option<Multipart>,
    ) -> Result<(), DestinationError> {
        let mut parts = Parts::default();
        let mut received: u64 = 0;
        loop {
            match chunks.recv().await {
                Some(Message::Chunk(mut bytes)) => {
                    received += bytes.len() as u64;
                    while !bytes.is_empty() {
                        wait_for_buffer(&parts).await;
                        let Some((number, part)) = parts.fill(&mut bytes) else {
                            continue;
                        };
                        if multipart.is_none() {
                            // User metadata is fixed when the upload starts,
                            // before the stream's SHA-256 exists: a multipart
                            // object carries the mark without `cairn-sha256`
                            // (the manifest records every stream's checksum).
                            let metadata = mark(&self.job, &self.id, None);
                            let upload_id =
                                self.bucket.create_multipart_upload(key, metadata).await?;
                            self.open_uploads.push((key.to_owned(), upload_id.clone()));
                            *multipart = Some(Multipart::new(&self.bucket, key, upload_id));
                        }
                        let upload = multipart.as_mut().expect("the upload was just started");
                        upload.send_part(number, part).await?;
                    }
                }
                Some(Message::Finish {
                    stored_size,
                    sha256,
                }) => {
                    if received != stored_size {
                        let why = format!(
                            "received {received} bytes, but the stream reports {stored_size}"
                        );
                        return Err(self.bucket.failure("upload", key, why));
                    }
                    let (number, last) = parts.finish();
                    let Some(upload) = multipart.as_mut() else {
                        let metadata = mark(&self.job, &self.id, Some(&sha256));
                        return self.bucket.put_object(key, last, None, metadata).await;
                    };
                    upload.send_part(number, last).await?;
                    upload.complete().await?;
                    let upload_id = upload.upload_id.clone();
                    self.open_uploads.retain(|(_, id)| *id != upload_id);
                    *multipart = None;
                    return Ok(());
                }
                None => return Err(DestinationError::Aborted),
            }
        }
    }
}
