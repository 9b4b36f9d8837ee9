//! Where an artifact's objects live (`PREFIX/JOB/ID/NAME`) and the mark
//! (user metadata) that every object cairn writes carries.

use std::collections::HashMap;

/// The prefix as it starts keys: without a leading or trailing `/`.
pub(super) fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_matches('/').to_owned()
}

/// `PREFIX/JOB/ID/`, the folder of one artifact.
pub(super) fn artifact_prefix(prefix: &str, job: &str, id: &str) -> String {
    if prefix.is_empty() {
        format!("{job}/{id}/")
    } else {
        format!("{prefix}/{job}/{id}/")
    }
}

/// `PREFIX/JOB/ID/NAME`, the key of one object of an artifact.
pub(super) fn object_key(prefix: &str, job: &str, id: &str, name: &str) -> String {
    format!("{}{name}", artifact_prefix(prefix, job, id))
}

/// cairn's mark: the user metadata every object it writes carries.
pub(super) fn mark(job: &str, id: &str, sha256: Option<&str>) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("cairn-job".to_owned(), job.to_owned()),
        ("cairn-run-id".to_owned(), id.to_owned()),
    ]);
    if let Some(sha256) = sha256 {
        metadata.insert("cairn-sha256".to_owned(), sha256.to_owned());
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
