//! A job's run records in a bucket: `PREFIX/JOB/runs/ID.json`, each written
//! with one PutObject (atomic: a reader sees the old record or the new one)
//! and carrying cairn's mark; a record without the mark is never read.

use bytes::Bytes;

use super::bucket::Bucket;
use super::keys::mark;
use crate::destinations::runs::{record_id, record_name, RUNS_DIR};
use crate::destinations::{DestinationError, RunObject};

impl Bucket {
    /// `PREFIX/JOB/runs/`.
    fn runs_prefix(&self, job: &str) -> String {
        if self.prefix.is_empty() {
            format!("{job}/{RUNS_DIR}/")
        } else {
            format!("{}/{job}/{RUNS_DIR}/", self.prefix)
        }
    }

    /// `PREFIX/JOB/runs/ID.json`.
    pub(super) fn run_key(&self, job: &str, id: &str) -> String {
        format!("{}{}", self.runs_prefix(job), record_name(id))
    }

    pub(super) async fn run_put(
        &self,
        job: &str,
        id: &str,
        body: Bytes,
    ) -> Result<(), DestinationError> {
        let key = self.run_key(job, id);
        self.put_object(&key, body, Some("application/json"), mark(job, id, None))
            .await
    }

    pub(super) async fn run_list(&self, job: &str) -> Result<Vec<String>, DestinationError> {
        let prefix = self.runs_prefix(job);
        let mut ids = Vec::new();
        self.for_each_object(&prefix, None, None, |object| {
            let name = object.key().and_then(|key| key.strip_prefix(&prefix));
            if let Some(id) = name.and_then(record_id) {
                ids.push(id.to_owned());
            }
            true
        })
        .await?;
        Ok(ids)
    }

    pub(super) async fn run_get(&self, job: &str, id: &str) -> Result<RunObject, DestinationError> {
        let key = self.run_key(job, id);
        let response = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Ok(RunObject::Gone)
            }
            Err(e) => return Err(self.error("read", &key, e)),
        };
        let metadata = response.metadata().cloned().unwrap_or_default();
        let marked = metadata.get("cairn-job").map(String::as_str) == Some(job)
            && metadata.get("cairn-run-id").map(String::as_str) == Some(id);
        if !marked {
            return Ok(RunObject::Foreign(
                "it does not carry cairn's mark (metadata cairn-job and cairn-run-id of this run)"
                    .to_owned(),
            ));
        }
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| self.failure("read", &key, e))?
            .into_bytes();
        Ok(RunObject::Record(bytes))
    }
}
