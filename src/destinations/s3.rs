//! An S3 or S3-compatible bucket: `PREFIX/JOB/ID/NAME`. Each data object is
//! streamed as a multipart upload whose part size grows with the stream (a
//! single PutObject when it fits in the first part), with bounded buffers;
//! the manifest is written last. Credentials come only from the standard AWS
//! chain, never from the configuration.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption, StorageClass,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod inventory;

use super::{
    ArtifactWriter, Destination, DestinationError, Found, Listing, Message, OpenUpload, Reader,
    MANIFEST,
};
use crate::config::raw;
use crate::pipeline::recycle::Recycler;

/// The size of the first parts, and the largest object sent with PutObject.
const FIRST_PART_SIZE: u64 = 8 << 20;
/// The part size doubles after every this many parts.
const PARTS_PER_SIZE: u32 = 1_000;
/// The largest part cairn sends (S3 accepts up to 5 GiB).
const MAX_PART_SIZE: u64 = 4 << 30;
/// S3's limit on the parts of one multipart upload.
const MAX_PARTS: u32 = 10_000;
/// Parts uploaded at once; with the part being filled, memory holds at most
/// this many plus one parts.
const PARTS_IN_FLIGHT: usize = 2;

/// The size of part `number` (1-based): 8 MiB, doubling every 1,000 parts up
/// to 4 GiB, so 10,000 parts hold about 11.7 TiB, more than S3's 5 TiB
/// object limit, while small streams keep small buffers.
fn part_size(number: u32) -> u64 {
    let doublings = (number.saturating_sub(1) / PARTS_PER_SIZE).min(16);
    (FIRST_PART_SIZE << doublings).min(MAX_PART_SIZE)
}

/// The prefix as it starts keys: without a leading or trailing `/`.
fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_matches('/').to_owned()
}

/// `PREFIX/JOB/ID/`, the folder of one artifact.
fn artifact_prefix(prefix: &str, job: &str, id: &str) -> String {
    if prefix.is_empty() {
        format!("{job}/{id}/")
    } else {
        format!("{prefix}/{job}/{id}/")
    }
}

/// `PREFIX/JOB/ID/NAME`, the key of one object of an artifact.
fn object_key(prefix: &str, job: &str, id: &str, name: &str) -> String {
    format!("{}{name}", artifact_prefix(prefix, job, id))
}

/// cairn's mark: the user metadata every object it writes carries.
fn mark(job: &str, id: &str, sha256: Option<&str>) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("cairn-job".to_owned(), job.to_owned()),
        ("cairn-run-id".to_owned(), id.to_owned()),
    ]);
    if let Some(sha256) = sha256 {
        metadata.insert("cairn-sha256".to_owned(), sha256.to_owned());
    }
    metadata
}

fn storage_class(class: raw::StorageClass) -> StorageClass {
    match class {
        raw::StorageClass::Standard => StorageClass::Standard,
        raw::StorageClass::StandardIa => StorageClass::StandardIa,
        raw::StorageClass::OnezoneIa => StorageClass::OnezoneIa,
        raw::StorageClass::IntelligentTiering => StorageClass::IntelligentTiering,
        raw::StorageClass::GlacierIr => StorageClass::GlacierIr,
        raw::StorageClass::Glacier => StorageClass::Glacier,
        raw::StorageClass::DeepArchive => StorageClass::DeepArchive,
        raw::StorageClass::ReducedRedundancy => StorageClass::ReducedRedundancy,
    }
}

fn server_side_encryption(sse: raw::ServerSideEncryption) -> ServerSideEncryption {
    match sse {
        raw::ServerSideEncryption::Aes256 => ServerSideEncryption::Aes256,
        raw::ServerSideEncryption::AwsKms => ServerSideEncryption::AwsKms,
    }
}

/// What went wrong in one request. `DisplayErrorContext` gives the whole
/// chain of causes, but ends with a debug dump of the response; the chain
/// alone is what an operator needs.
fn describe<E>(error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = error.code() {
        return match error.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        };
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(response) = error.raw_response() {
        text.push_str(&format!(" (HTTP status {})", response.status().as_u16()));
    }
    text
}

/// One bucket and how cairn writes to it; shared by a destination, its
/// writers and their part uploads.
struct Bucket {
    client: Client,
    bucket: String,
    /// Without a leading or trailing `/`; may be empty.
    prefix: String,
    storage_class: Option<StorageClass>,
    sse: Option<ServerSideEncryption>,
    /// `checksums = "when_supported"`: parts carry a CRC32 that S3 checks and
    /// CompleteMultipartUpload repeats.
    part_checksums: bool,
}

impl Bucket {
    /// An error of `action` on `key`, naming what S3 said (its error code
    /// and message) or why no answer came (e.g. "connection refused").
    fn error<E>(&self, action: &str, key: &str, error: SdkError<E>) -> DestinationError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.failure(action, key, describe(&error))
    }

    fn failure(&self, action: &str, key: &str, why: impl std::fmt::Display) -> DestinationError {
        DestinationError::S3(format!("cannot {action} s3://{}/{key}: {why}", self.bucket))
    }

    /// Deleting a key that does not exist succeeds.
    async fn delete_object(&self, key: &str) -> Result<(), DestinationError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("delete", key, e))?;
        Ok(())
    }

    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        metadata: HashMap<String, String>,
    ) -> Result<(), DestinationError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            .set_content_type(content_type.map(str::to_owned))
            .set_metadata(Some(metadata))
            .set_storage_class(self.storage_class.clone())
            .set_server_side_encryption(self.sse.clone())
            .send()
            .await
            .map_err(|e| self.error("upload", key, e))?;
        Ok(())
    }

    async fn create_multipart_upload(
        &self,
        key: &str,
        metadata: HashMap<String, String>,
    ) -> Result<String, DestinationError> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .set_metadata(Some(metadata))
            .set_storage_class(self.storage_class.clone())
            .set_server_side_encryption(self.sse.clone());
        if self.part_checksums {
            request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let output = request
            .send()
            .await
            .map_err(|e| self.error("start a multipart upload of", key, e))?;
        output.upload_id().map(str::to_owned).ok_or_else(|| {
            self.failure(
                "start a multipart upload of",
                key,
                "the response has no upload ID",
            )
        })
    }

    async fn upload_part(
        self: Arc<Self>,
        key: String,
        upload_id: String,
        number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, DestinationError> {
        let mut request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(body.len() as i64)
            .body(ByteStream::from(body));
        if self.part_checksums {
            request = request.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let action = format!("upload part {number} of");
        // With a CRC32 per part, which S3 checks, SigV4's SHA-256 of the
        // payload would only hash every byte a second time: sign the headers
        // and let the checksum carry the integrity.
        let output = if self.part_checksums {
            request.customize().disable_payload_signing().send().await
        } else {
            request.send().await
        }
        .map_err(|e| self.error(&action, &key, e))?;
        let e_tag = output
            .e_tag()
            .ok_or_else(|| self.failure(&action, &key, "the response has no ETag"))?;
        let mut part = CompletedPart::builder()
            .part_number(number as i32)
            .e_tag(e_tag);
        if self.part_checksums {
            part = part.set_checksum_crc32(output.checksum_crc32().map(str::to_owned));
        }
        Ok(part.build())
    }

    /// An upload S3 no longer knows (`NoSuchUpload`) counts as aborted.
    async fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), DestinationError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(self.error("abort the multipart upload of", key, e)),
        }
    }

    /// Aborts every multipart upload under `prefix` (an artifact's folder,
    /// which belongs to one run), also those whose ID never reached the
    /// writer (a lost answer, a cancelled request). Tries them all and
    /// returns the first error.
    async fn abort_uploads_under(&self, prefix: &str) -> Result<(), DestinationError> {
        let listing = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| self.error("list the multipart uploads under", prefix, e))?;
        let mut first_error = None;
        for upload in listing.uploads() {
            if let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) {
                if let Err(error) = self.abort_multipart_upload(key, upload_id).await {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// An S3 or S3-compatible bucket (Garage, MinIO...).
pub struct S3Destination {
    name: String,
    bucket: Arc<Bucket>,
}

impl S3Destination {
    /// Builds the client: credentials and, unless configured, the region from
    /// the standard AWS chain. Nothing is sent to S3 yet.
    pub async fn new(name: &str, config: &raw::S3Destination) -> Result<Self, DestinationError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let shared = loader.load().await;
        if shared.region().is_none() {
            return Err(DestinationError::S3(format!(
                "destination `{name}`: no AWS region: set region in the destination or AWS_REGION"
            )));
        }
        // A server that stops answering fails this destination instead of
        // stalling the run: no byte for a minute is a failure.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(60))
            .build();
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            .timeout_config(timeouts);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        let part_checksums = match config.checksums {
            raw::Checksums::WhenSupported => true,
            raw::Checksums::WhenRequired => {
                s3 = s3
                    .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                    .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
                false
            }
        };
        Ok(Self {
            name: name.to_owned(),
            bucket: Arc::new(Bucket {
                client: Client::from_conf(s3.build()),
                bucket: config.bucket.clone(),
                prefix: normalize_prefix(&config.prefix),
                storage_class: config.storage_class.map(storage_class),
                sse: config.sse.map(server_side_encryption),
                part_checksums,
            }),
        })
    }
}

#[async_trait]
impl Destination for S3Destination {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list(&self, job: Option<&str>) -> Result<Listing, DestinationError> {
        self.bucket.list(job).await
    }

    async fn delete(&self, artifact: &Found) -> Result<(), DestinationError> {
        self.bucket.delete(artifact).await
    }

    async fn abort_upload(&self, upload: &OpenUpload) -> Result<(), DestinationError> {
        self.bucket
            .abort_multipart_upload(&upload.key, &upload.upload_id)
            .await
    }

    async fn read(&self, job: &str, id: &str, name: &str) -> Result<Reader, DestinationError> {
        let key = object_key(&self.bucket.prefix, job, id, name);
        let output = self
            .bucket
            .client
            .get_object()
            .bucket(&self.bucket.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| self.bucket.error("download", &key, e))?;
        Ok(Box::new(output.body.into_async_read()))
    }

    async fn exists(&self, job: &str, id: &str) -> Result<bool, DestinationError> {
        let bucket = &self.bucket;
        let prefix = artifact_prefix(&bucket.prefix, job, id);
        let objects = bucket
            .client
            .list_objects_v2()
            .bucket(&bucket.bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| bucket.error("list", &prefix, e))?;
        if !objects.contents().is_empty() || objects.key_count().unwrap_or(0) > 0 {
            return Ok(true);
        }
        let uploads = bucket
            .client
            .list_multipart_uploads()
            .bucket(&bucket.bucket)
            .prefix(&prefix)
            .max_uploads(1)
            .send()
            .await
            .map_err(|e| bucket.error("list multipart uploads under", &prefix, e))?;
        Ok(!uploads.uploads().is_empty())
    }

    async fn begin(
        &self,
        job: &str,
        id: &str,
    ) -> Result<Box<dyn ArtifactWriter>, DestinationError> {
        Ok(Box::new(S3Artifact {
            bucket: Arc::clone(&self.bucket),
            job: job.to_owned(),
            id: id.to_owned(),
            keys: Vec::new(),
            open_uploads: Vec::new(),
        }))
    }
}

struct S3Artifact {
    bucket: Arc<Bucket>,
    job: String,
    id: String,
    /// Every key this writer wrote or began to write, in order; `abort`
    /// deletes them.
    keys: Vec<String>,
    /// Multipart uploads still open, as (key, upload ID), recorded as soon as
    /// S3 hands out the ID so that `abort` at any moment closes them.
    open_uploads: Vec<(String, String)>,
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

/// Cuts a stream into parts that follow `part_size`. A part is handed out
/// only once it is full and more data follow, so the last part is never
/// empty and a stream of at most `FIRST_PART_SIZE` bytes stays one part.
struct Parts {
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
    fn fill(&mut self, bytes: &mut Bytes) -> Option<(u32, Bytes)> {
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

    /// The last part and its number.
    fn finish(&mut self) -> (u32, Bytes) {
        self.handed_out += 1;
        (self.handed_out, std::mem::take(&mut self.current).freeze())
    }
}

/// One open multipart upload with at most `PARTS_IN_FLIGHT` parts uploading.
struct Multipart {
    bucket: Arc<Bucket>,
    key: String,
    upload_id: String,
    uploading: VecDeque<JoinHandle<Result<CompletedPart, DestinationError>>>,
    uploaded: Vec<CompletedPart>,
}

impl Multipart {
    fn new(bucket: &Arc<Bucket>, key: &str, upload_id: String) -> Self {
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
    async fn send_part(&mut self, number: u32, body: Bytes) -> Result<(), DestinationError> {
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

    async fn complete(&mut self) -> Result<(), DestinationError> {
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
    async fn cancel(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;

    #[test]
    fn keys_are_prefix_job_id_name_without_stray_slashes() {
        let key = |prefix: &str| {
            object_key(
                &normalize_prefix(prefix),
                "app",
                "20261120T020000Z",
                "db-app.pgdump.zst",
            )
        };
        assert_eq!(key(""), "app/20261120T020000Z/db-app.pgdump.zst");
        assert_eq!(
            key("backups/db1"),
            "backups/db1/app/20261120T020000Z/db-app.pgdump.zst"
        );
        assert_eq!(
            key("backups/db1/"),
            "backups/db1/app/20261120T020000Z/db-app.pgdump.zst"
        );
        assert_eq!(
            key("/backups/"),
            "backups/app/20261120T020000Z/db-app.pgdump.zst"
        );
        assert_eq!(
            artifact_prefix("", "app", "20261120T020000Z-2"),
            "app/20261120T020000Z-2/"
        );
    }

    #[test]
    fn objects_carry_the_mark() {
        let metadata = mark("app", "20261120T020000Z", Some("ab12"));
        assert_eq!(metadata["cairn-job"], "app");
        assert_eq!(metadata["cairn-run-id"], "20261120T020000Z");
        assert_eq!(metadata["cairn-sha256"], "ab12");
        assert!(!mark("app", "20261120T020000Z", None).contains_key("cairn-sha256"));
    }

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
