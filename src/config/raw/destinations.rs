//! `[destinations.NAME]`: where artifacts go, a local directory or an S3
//! bucket with its options.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where artifacts go. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Destination {
    /// A directory on this host.
    Local(LocalDestination),
    /// An S3 bucket, or a bucket on an S3-compatible store (Garage, MinIO, ...).
    S3(S3Destination),
}

/// The destination kinds, as written in `kind`.
pub const DESTINATION_KINDS: [&str; 2] = ["local", "s3"];

/// A directory on this host.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalDestination {
    /// The directory artifacts are written under.
    pub path: PathBuf,
}

/// An S3 or S3-compatible bucket. Credentials come from the standard AWS
/// chain (environment, profile, instance role), never from this file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix artifacts are written under, e.g. "backups/db1".
    #[serde(default)]
    pub prefix: String,
    /// Region; defaults to the AWS chain's region.
    pub region: Option<String>,
    /// Endpoint URL of an S3-compatible store, e.g. "http://127.0.0.1:3900".
    pub endpoint: Option<String>,
    /// Use path-style addressing (bucket in the path, not the host name), as most S3-compatible stores need.
    #[serde(default)]
    pub path_style: bool,
    /// Storage class of uploaded objects.
    pub storage_class: Option<StorageClass>,
    /// Server-side encryption.
    pub sse: Option<ServerSideEncryption>,
    /// When the SDK sends request checksums: `when_supported` (default) or
    /// `when_required`, for stores that reject the SDK's default checksums.
    #[serde(default)]
    pub checksums: Checksums,
}

/// S3 storage classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Standard,
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    GlacierIr,
    Glacier,
    DeepArchive,
    ReducedRedundancy,
}

/// S3 server-side encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServerSideEncryption {
    /// S3-managed keys.
    #[serde(rename = "AES256")]
    Aes256,
    /// KMS-managed keys (the bucket's default key).
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// When request checksums are sent to S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Checksums {
    #[default]
    WhenSupported,
    WhenRequired,
}
