//! A job's run records at a destination (SPEC §13, `settings.state =
//! "destinations"`): `PREFIX/JOB/runs/ID.json`, one small JSON object per
//! run, replaced in one step (locally: temporary name, fsync, rename; S3:
//! one PutObject). The destinations store and list the bytes; `history`
//! knows what they mean.
//!
//! `runs` can never be an artifact ID, so artifact listings, retention and
//! cleanup never see these objects.

/// The folder of a job's run records, under the job's own.
pub const RUNS_DIR: &str = "runs";

/// What reading one run record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunObject {
    /// The record's bytes.
    Record(bytes::Bytes),
    /// Nothing there (deleted since it was listed).
    Gone,
    /// Something cairn did not write (no mark, a link): never read, and
    /// why, for a warning.
    Foreign(String),
}

/// The file name of run `id`'s record.
pub fn record_name(id: &str) -> String {
    format!("{id}.json")
}

/// The run ID of a record's file name, when it is one of cairn's.
pub fn record_id(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".json")?;
    super::id_time(id).map(|_| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_artifact_ids_name_records() {
        assert_eq!(record_id("20261121T021500Z.json"), Some("20261121T021500Z"));
        assert_eq!(
            record_id(&record_name("20261121T021500Z-2")),
            Some("20261121T021500Z-2")
        );
        for other in [
            "20261121T021500Z",
            ".20261121T021500Z.json.cairn-tmp",
            "latest.json",
            "../x.json",
        ] {
            assert_eq!(record_id(other), None, "{other}");
        }
    }
}
