//! Listing and deleting artifacts in a bucket. Only keys of cairn's layout
//! (`PREFIX/JOB/ID/NAME`) are listed, and only objects whose metadata
//! carries cairn's mark for that job and run are deleted.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::bucket::Bucket;
use super::keys::{artifact_prefix, object_key};
use crate::destinations::{
    check_manifest, escapes, id_time, DestinationError, Found, FoundState, Ignored, Listing,
    OpenUpload, MANIFEST,
};

/// Manifests fetched at once while listing.
const CONCURRENT_GETS: usize = 32;

impl Bucket {
    /// `PREFIX/` or `PREFIX/JOB/`, what a listing starts from.
    fn listing_prefix(&self, job: Option<&str>) -> String {
        let mut prefix = self.prefix.clone();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        if let Some(job) = job {
            prefix.push_str(job);
            prefix.push('/');
        }
        prefix
    }

    /// Why a key under the prefix is ignored with a warning, when a part of
    /// it could step out of where cairn would join it (`JOB/../../x`).
    /// Other keys that are not cairn's are passed over silently.
    fn escaping(&self, key: &str) -> Option<Ignored> {
        let rest = if self.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(&self.prefix)?.strip_prefix('/')?
        };
        rest.split('/').any(escapes).then(|| Ignored {
            key: key.to_owned(),
            reason: "a part of the key is `.`, `..`, holds `\\` or a control character; \
                     cairn never writes such keys"
                .to_owned(),
        })
    }

    /// Splits a key into (job, id, name) when it has cairn's layout.
    fn parse_key<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str, &'k str)> {
        let rest = if self.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(&self.prefix)?.strip_prefix('/')?
        };
        let mut parts = rest.splitn(3, '/');
        let (job, id, name) = (parts.next()?, parts.next()?, parts.next()?);
        if crate::config::name::check(job).is_err()
            || id_time(id).is_none()
            || name.is_empty()
            || name.contains('/')
        {
            return None;
        }
        Some((job, id, name))
    }

    pub(super) async fn list(&self, job: Option<&str>) -> Result<Listing, DestinationError> {
        let prefix = self.listing_prefix(job);
        // (job, id) -> objects and sizes
        let mut groups: BTreeMap<(String, String), Vec<(String, u64)>> = BTreeMap::new();
        let mut ignored = Vec::new();
        self.for_each_object(&prefix, None, None, |object| {
            let Some(key) = object.key() else { return true };
            if let Some(escaping) = self.escaping(key) {
                ignored.push(escaping);
            } else if let Some((job, id, name)) = self.parse_key(key) {
                groups
                    .entry((job.to_owned(), id.to_owned()))
                    .or_default()
                    .push((name.to_owned(), object.size().unwrap_or(0).max(0) as u64));
            }
            true
        })
        .await?;
        let artifacts: Vec<Found> = stream::iter(groups)
            .map(|((job, id), objects)| async move { self.found(job, id, objects).await })
            .buffered(CONCURRENT_GETS)
            .try_collect()
            .await?;
        for found in &artifacts {
            if let FoundState::Unreadable(reason) = &found.state {
                ignored.push(Ignored {
                    key: object_key(&self.prefix, &found.job, &found.id, MANIFEST),
                    reason: format!("{reason}; the artifact is not counted, read or deleted"),
                });
            }
        }

        let mut uploads = Vec::new();
        let (mut key_marker, mut upload_id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(upload_id_marker.clone())
                .send()
                .await
                .map_err(|e| self.error("list multipart uploads under", &prefix, e))?;
            for upload in page.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                if let Some(escaping) = self.escaping(key) {
                    ignored.push(escaping);
                    continue;
                }
                let Some((job, id, _)) = self.parse_key(key) else {
                    continue;
                };
                uploads.push(OpenUpload {
                    job: job.to_owned(),
                    id: id.to_owned(),
                    key: key.to_owned(),
                    upload_id: upload_id.to_owned(),
                });
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_id_marker.is_none() {
                break;
            }
        }
        Ok(Listing {
            artifacts,
            uploads,
            ignored,
        })
    }

    async fn found(
        &self,
        job: String,
        id: String,
        objects: Vec<(String, u64)>,
    ) -> Result<Found, DestinationError> {
        let time = id_time(&id).expect("parse_key checked the ID");
        let state = if objects.iter().any(|(name, _)| name == MANIFEST) {
            let key = object_key(&self.prefix, &job, &id, MANIFEST);
            let response = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| self.error("read", &key, e))?;
            let bytes = response
                .body
                .collect()
                .await
                .map_err(|e| self.failure("read", &key, e))?
                .into_bytes();
            match serde_json::from_slice(&bytes) {
                Ok(manifest) => match check_manifest(&manifest, &job, &id) {
                    Ok(()) => FoundState::Complete(Box::new(manifest)),
                    Err(reason) => FoundState::Unreadable(reason),
                },
                Err(error) => FoundState::Unreadable(error.to_string()),
            }
        } else {
            FoundState::Incomplete
        };
        let stored_size = objects.iter().map(|(_, size)| size).sum();
        let mut names: Vec<String> = objects.into_iter().map(|(name, _)| name).collect();
        names.sort();
        Ok(Found {
            job,
            id,
            time,
            state,
            objects: names,
            stored_size,
        })
    }

    /// Whether the object carries cairn's mark for this job and run (one
    /// that is gone carries nothing, and needs no deleting).
    async fn marked(&self, key: &str, job: &str, id: &str) -> Result<bool, DestinationError> {
        Ok(self.metadata(key).await?.is_some_and(|metadata| {
            metadata.get("cairn-job").map(String::as_str) == Some(job)
                && metadata.get("cairn-run-id").map(String::as_str) == Some(id)
        }))
    }

    pub(super) async fn delete(&self, artifact: &Found) -> Result<(), DestinationError> {
        // The manifest first: cut short, the deletion leaves an incomplete
        // artifact, never a backup with missing data.
        let mut names: Vec<&String> = artifact.objects.iter().collect();
        names.sort_by_key(|name| name.as_str() != MANIFEST);
        for name in names {
            let key = object_key(&self.prefix, &artifact.job, &artifact.id, name);
            if !self.marked(&key, &artifact.job, &artifact.id).await? {
                // Not cairn's: never touched.
                continue;
            }
            self.delete_object(&key).await?;
        }
        self.abort_uploads_under(&artifact_prefix(&self.prefix, &artifact.job, &artifact.id))
            .await
    }
}
