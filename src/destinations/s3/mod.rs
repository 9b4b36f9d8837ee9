//! An S3 or S3-compatible bucket: `PREFIX/JOB/ID/NAME`. Each data object is
//! streamed as a multipart upload whose part size grows with the stream (a
//! single PutObject when it fits in the first part), with bounded buffers;
//! the manifest is written last. Credentials come only from the standard AWS
//! chain, never from the configuration.
//!
//! This file builds the client and implements [`Destination`]; `bucket`
//! holds the requests, `keys` the layout and mark, `artifact` the writer,
//! `parts` and `multipart` the streaming upload, `inventory` listing and
//! deleting.

mod artifact;
mod bucket;
mod inventory;
mod keys;
mod multipart;
mod parts;
mod runs;
mod wal;

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::Client;

use super::{
    ArtifactWriter, Destination, DestinationError, Found, Listing, Naming, OpenUpload, Reader,
    RunObject, WalEntry, WalObject,
};
use crate::config::raw;
use artifact::S3Artifact;
use bucket::{server_side_encryption, storage_class, Bucket};
use keys::{artifact_prefix, normalize_prefix, object_key};

/// An error and its sources, `: `-joined.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why the AWS chain found no credentials, in the operator's terms.
fn no_credentials(name: &str, detail: &str) -> String {
    format!(
        "no AWS credentials found for destination `{name}` (looked in: environment, shared config/profile, web identity, container and instance metadata){detail}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, in the environment or in settings.environment_file"
    )
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
        // Resolve the credentials now: a missing key otherwise surfaces later
        // as the SDK's "dispatch failure: … IMDS session token …".
        let missing = match shared.credentials_provider() {
            Some(provider) => match provider.provide_credentials().await {
                Ok(_) => None,
                // Nothing found anywhere is the common case and needs no
                // detail; a provider that failed (a broken profile, an
                // expired token) says why.
                Err(CredentialsError::CredentialsNotLoaded(_)) => Some(String::new()),
                Err(error) => Some(format!(" ({})", error_chain(&error))),
            },
            None => Some(String::new()),
        };
        if let Some(detail) = missing {
            return Err(DestinationError::S3(no_credentials(name, &detail)));
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
                endpoint: match &config.endpoint {
                    Some(endpoint) => endpoint_origin(endpoint),
                    None => format!(
                        "AWS S3 ({})",
                        shared.region().map_or("no region", |r| r.as_ref())
                    ),
                },
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
        self.bucket
            .download(&object_key(&self.bucket.prefix, job, id, name))
            .await
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
        // A run record of that ID: a run that failed before it wrote
        // anything else still owns its ID.
        let record = bucket.run_key(job, id);
        if bucket.metadata(&record).await?.is_some() {
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

    async fn wal_find(
        &self,
        job: &str,
        name: &str,
        naming: Naming,
    ) -> Result<Option<WalObject>, DestinationError> {
        self.bucket.wal_find(job, name, naming).await
    }

    async fn wal_put(
        &self,
        job: &str,
        object: &WalObject,
        body: bytes::Bytes,
    ) -> Result<(), DestinationError> {
        self.bucket.wal_put(job, object, body).await
    }

    async fn wal_read(&self, job: &str, object: &WalObject) -> Result<Reader, DestinationError> {
        self.bucket.wal_read(job, object).await
    }

    async fn wal_list(
        &self,
        job: &str,
        prefix: &str,
        after: Option<&str>,
        naming: Naming,
    ) -> Result<Vec<WalEntry>, DestinationError> {
        self.bucket.wal_list(job, prefix, after, naming).await
    }

    async fn wal_delete(&self, job: &str, files: &[WalEntry]) -> Result<(), DestinationError> {
        self.bucket.wal_delete(job, files).await
    }

    async fn run_put(
        &self,
        job: &str,
        id: &str,
        body: bytes::Bytes,
    ) -> Result<(), DestinationError> {
        self.bucket.run_put(job, id, body).await
    }

    async fn run_list(&self, job: &str) -> Result<Vec<String>, DestinationError> {
        self.bucket.run_list(job).await
    }

    async fn run_get(&self, job: &str, id: &str) -> Result<RunObject, DestinationError> {
        self.bucket.run_get(job, id).await
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

/// An endpoint URL's scheme, host and port: never a path or user info,
/// which could carry a secret.
fn endpoint_origin(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::endpoint_origin;

    #[test]
    fn an_endpoint_is_shown_without_path_query_or_user_info() {
        assert_eq!(
            endpoint_origin("http://127.0.0.1:3900"),
            "http://127.0.0.1:3900"
        );
        assert_eq!(
            endpoint_origin("https://key:secret@minio.internal:9000/path?token=x"),
            "https://minio.internal:9000"
        );
        assert_eq!(endpoint_origin("s3.example.com"), "https://s3.example.com");
    }
}
