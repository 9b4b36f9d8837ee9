//! One open multipart upload: parts upload in the background, at most
//! `PARTS_IN_FLIGHT` at once, and are completed or cancelled together.

use std::collections::VecDeque;
use std::sync::Arc;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::bucket::Bucket;
use super::parts::{MAX_PARTS, PARTS_IN_FLIGHT};
use crate::destinations::DestinationError;

/// One open multipart upload with at most `PARTS_IN_FLIGHT` parts uploading.
pub(super) struct Multipart {
    bucket: Arc<Bucket>,
    key: String,
    pub(super) upload_id: String,
    uploading: VecDeque<JoinHandle<Result<CompletedPart, DestinationError>>>,
    uploaded: Vec<CompletedPart>,
}

impl Multipart {
    pub(super) fn new(bucket: &Arc<Bucket>, key: &str, upload_id: String) -> Self {
        Self {
            bucket: Arc::clone(bucket),
            key: key.to_owned(),
            upload_id,
            uploading: VecDeque::new(),
            uploaded: Vec::new(),
        }
    }

    /// Starts uploading part `number`, first waiting for the oldest upload
    /// when `PARTS_IN_FLIGHT` are running.
    pub(super) async fn send_part(
        &mut self,
        number: u32,
        body: Bytes,
    ) -> Result<(), DestinationError> {
        if number > MAX_PARTS {
            let why = format!("the stream exceeds S3's limit of {MAX_PARTS} parts");
            return Err(self.bucket.failure("upload", &self.key, why));
        }
        if self.uploading.len() >= PARTS_IN_FLIGHT {
            self.wait_oldest().await?;
        }
        let task = Arc::clone(&self.bucket).upload_part(
            self.key.clone(),
            self.upload_id.clone(),
            number,
            body,
        );
        self.uploading.push_back(tokio::spawn(task));
        Ok(())
    }

    async fn wait_oldest(&mut self) -> Result<(), DestinationError> {
        let Some(task) = self.uploading.pop_front() else {
            return Ok(());
        };
        let part = task
            .await
            .map_err(|e| self.bucket.failure("upload a part of", &self.key, e))??;
        self.uploaded.push(part);
        Ok(())
    }

    pub(super) async fn complete(&mut self) -> Result<(), DestinationError> {
        while !self.uploading.is_empty() {
            self.wait_oldest().await?;
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.uploaded)))
            .build();
        self.bucket
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(|e| {
                self.bucket
                    .error("complete the multipart upload of", &self.key, e)
            })?;
        Ok(())
    }

    /// Stops the part uploads, then aborts the upload so S3 frees its parts.
    pub(super) async fn cancel(&mut self) {
        for task in &self.uploading {
            task.abort();
        }
        while let Some(task) = self.uploading.pop_front() {
            let _ = task.await;
        }
        let _ = self
            .bucket
            .abort_multipart_upload(&self.key, &self.upload_id)
            .await;
    }
}

impl Drop for Multipart {
    /// A dropped `write_stream` stops its part uploads; `abort` then closes
    /// the upload it recorded.
    fn drop(&mut self) {
        for task in &self.uploading {
            task.abort();
        }
    }
}
