//! One bucket and the requests cairn sends to it, with errors that name
//! the object and what S3 said.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedPart, Object, ServerSideEncryption, StorageClass,
};
use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::config::raw;
use crate::destinations::DestinationError;

pub(super) fn storage_class(class: raw::StorageClass) -> StorageClass {
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

pub(super) fn server_side_encryption(sse: raw::ServerSideEncryption) -> ServerSideEncryption {
    match sse {
        raw::ServerSideEncryption::Aes256 => ServerSideEncryption::Aes256,
        raw::ServerSideEncryption::AwsKms => ServerSideEncryption::AwsKms,
    }
}

/// What went wrong in one request. `DisplayErrorContext` gives the whole
/// chain of causes, but ends with a debug dump of the response; the chain
/// alone is what an operator needs.
fn describe<E>(error: &SdkError<E>, endpoint: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = error.code() {
        return match error.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        };
    }
    if matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) {
        // "dispatch failure: io error: client error (Connect): tcp connect
        // error: Connection refused": the last cause is the one that says why.
        let mut cause: &dyn std::error::Error = error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        return format!("no answer from {endpoint}: {cause}");
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
pub(super) struct Bucket {
    pub(super) client: Client,
    pub(super) bucket: String,
    /// Without a leading or trailing `/`; may be empty.
    pub(super) prefix: String,
    pub(super) storage_class: Option<StorageClass>,
    pub(super) sse: Option<ServerSideEncryption>,
    /// `checksums = "when_supported"`: parts carry a CRC32 that S3 checks and
    /// CompleteMultipartUpload repeats.
    pub(super) part_checksums: bool,
    /// Where requests go, for messages: the endpoint's scheme, host and
    /// port, or AWS and the region.
    pub(super) endpoint: String,
}

impl Bucket {
    /// An error of `action` on `key`, naming what S3 said (its error code
    /// and message) or why no answer came (e.g. "connection refused").
    pub(super) fn error<E>(&self, action: &str, key: &str, error: SdkError<E>) -> DestinationError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.failure(action, key, describe(&error, &self.endpoint))
    }

    pub(super) fn failure(
        &self,
        action: &str,
        key: &str,
        why: impl std::fmt::Display,
    ) -> DestinationError {
        DestinationError::S3(format!("cannot {action} s3://{}/{key}: {why}", self.bucket))
    }

    /// Deleting a key that does not exist succeeds.
    pub(super) async fn delete_object(&self, key: &str) -> Result<(), DestinationError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("delete", key, e))?;
        Ok(())
    }

    /// The user metadata of the object at `key`; `None` when there is no
    /// such object.
    pub(super) async fn metadata(
        &self,
        key: &str,
    ) -> Result<Option<HashMap<String, String>>, DestinationError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.metadata().cloned().unwrap_or_default())),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(self.error("read the metadata of", key, e)),
        }
    }

    /// The object at `key`, as it downloads.
    pub(super) async fn download(
        &self,
        key: &str,
    ) -> Result<crate::destinations::Reader, DestinationError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("download", key, e))?;
        Ok(Box::new(output.body.into_async_read()))
    }

    pub(super) async fn put_object(
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

    pub(super) async fn create_multipart_upload(
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

    pub(super) async fn upload_part(
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
    pub(super) async fn abort_multipart_upload(
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

    /// Hands every object under `prefix` (after the key `start_after`,
    /// listed `page_size` at a time) to `each`, in key order, until `each`
    /// returns `false`.
    pub(super) async fn for_each_object(
        &self,
        prefix: &str,
        start_after: Option<String>,
        page_size: Option<i32>,
        mut each: impl FnMut(&Object) -> bool,
    ) -> Result<(), DestinationError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after)
            .set_max_keys(page_size)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("list", prefix, e))?;
            for object in page.contents() {
                if !each(object) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Aborts every multipart upload under `prefix` (an artifact's folder,
    /// which belongs to one run), also those whose ID never reached the
    /// writer (a lost answer, a cancelled request). Tries them all and
    /// returns the first error.
    pub(super) async fn abort_uploads_under(&self, prefix: &str) -> Result<(), DestinationError> {
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
