//! A job's WAL archive in a bucket: `PREFIX/JOB/wal/STORED`, one object per
//! archived file, whose metadata carries cairn's mark and the raw file's
//! SHA-256 (`cairn-sha256-raw`). A PUT is atomic, so an object that is
//! there is all there.

use std::collections::HashMap;

use bytes::Bytes;

use super::bucket::Bucket;
use crate::destinations::wal::{self, Naming, WalEntry, WalObject};
use crate::destinations::{DestinationError, Reader};

impl Bucket {
    /// `PREFIX/JOB/wal/`.
    fn wal_prefix(&self, job: &str) -> String {
        if self.prefix.is_empty() {
            format!("{job}/{}/", wal::WAL_DIR)
        } else {
            format!("{}/{job}/{}/", self.prefix, wal::WAL_DIR)
        }
    }

    /// Every archived file under `PREFIX/JOB/wal/START`, after `after`.
    async fn wal_keys(
        &self,
        job: &str,
        start: &str,
        after: Option<&str>,
        limit: Option<i32>,
        naming: Naming,
    ) -> Result<Vec<WalEntry>, DestinationError> {
        let folder = self.wal_prefix(job);
        let prefix = format!("{folder}{start}");
        let mut entries = Vec::new();
        let start_after = after.map(|after| format!("{folder}{after}"));
        self.for_each_object(&prefix, start_after, limit, |object| {
            let Some(stored) = object.key().and_then(|key| key.strip_prefix(&folder)) else {
                return true;
            };
            let name = (naming.plain)(stored);
            if stored.contains('/') || after.is_some_and(|after| name <= after) {
                return true;
            }
            entries.push(WalEntry {
                name: name.to_owned(),
                stored: stored.to_owned(),
                size: object.size().unwrap_or(0).max(0) as u64,
                modified: object
                    .last_modified()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
            });
            limit.is_none_or(|limit| entries.len() < limit as usize)
        })
        .await?;
        Ok(entries)
    }

    pub(super) async fn wal_find(
        &self,
        job: &str,
        name: &str,
        naming: Naming,
    ) -> Result<Option<WalObject>, DestinationError> {
        // `NAME` also starts `NAME.partial`: only the exact name counts.
        let candidates = (naming.candidates)(name);
        let Some(entry) = self
            .wal_keys(job, name, None, Some(16), naming)
            .await?
            .into_iter()
            .find(|entry| candidates.contains(&entry.stored))
        else {
            return Ok(None);
        };
        let key = format!("{}{}", self.wal_prefix(job), entry.stored);
        // Listed a moment ago and gone now: as good as absent.
        let Some(metadata) = self.metadata(&key).await? else {
            return Ok(None);
        };
        let raw_sha256 = metadata
            .get(wal::RAW_SHA256_METADATA)
            .cloned()
            .ok_or_else(|| {
                self.failure(
                    "use",
                    &key,
                    format!(
                        "it has no {} metadata, so cairn did not write it; move it out of the archive",
                        wal::RAW_SHA256_METADATA
                    ),
                )
            })?;
        Ok(Some(WalObject {
            name: entry.name,
            stored: entry.stored,
            raw_sha256,
            size: entry.size,
        }))
    }

    pub(super) async fn wal_put(
        &self,
        job: &str,
        object: &WalObject,
        body: Bytes,
    ) -> Result<(), DestinationError> {
        let key = format!("{}{}", self.wal_prefix(job), object.stored);
        let metadata = HashMap::from([
            ("cairn-job".to_owned(), job.to_owned()),
            (
                wal::RAW_SHA256_METADATA.to_owned(),
                object.raw_sha256.clone(),
            ),
        ]);
        self.put_object(&key, body, Some("application/octet-stream"), metadata)
            .await
    }

    pub(super) async fn wal_read(
        &self,
        job: &str,
        object: &WalObject,
    ) -> Result<Reader, DestinationError> {
        self.download(&format!("{}{}", self.wal_prefix(job), object.stored))
            .await
    }

    pub(super) async fn wal_list(
        &self,
        job: &str,
        prefix: &str,
        after: Option<&str>,
        naming: Naming,
    ) -> Result<Vec<WalEntry>, DestinationError> {
        self.wal_keys(job, prefix, after, None, naming).await
    }

    /// Deletes archived files, each only when its metadata says cairn
    /// archived it for `job`.
    pub(super) async fn wal_delete(
        &self,
        job: &str,
        files: &[WalEntry],
    ) -> Result<(), DestinationError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let folder = self.wal_prefix(job);
        let deletions: Vec<_> = files
            .iter()
            .map(|file| self.delete_archived(job, format!("{folder}{}", file.stored)))
            .collect();
        stream::iter(deletions)
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes `key` when cairn archived it for `job`; one already gone is
    /// fine.
    async fn delete_archived(&self, job: &str, key: String) -> Result<(), DestinationError> {
        let ours = self
            .metadata(&key)
            .await?
            .is_some_and(|metadata| metadata.get("cairn-job").is_some_and(|owner| owner == job));
        if ours {
            self.delete_object(&key).await?;
        }
        Ok(())
    }
}
