//! A job's WAL archive at a destination (SPEC §12): `PREFIX/JOB/wal/`,
//! one object per file PostgreSQL archived, stored compressed and maybe
//! encrypted (`000000010000000000000003.zst.age`), with the SHA-256 of the
//! raw file beside it so that a file pushed again is compared without
//! decoding: S3 metadata `cairn-sha256-raw`, locally a sidecar
//! `NAME.sha256` in `sha256sum` format, written after the data (a file
//! without its sidecar was never completely archived).

/// The folder of a job's archive, under the job's own.
pub const WAL_DIR: &str = "wal";

/// The S3 metadata key of the raw file's SHA-256.
pub const RAW_SHA256_METADATA: &str = "cairn-sha256-raw";

/// The suffix of a local sidecar.
pub const SIDECAR_SUFFIX: &str = ".sha256";

/// One archived file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalObject {
    /// The file's name as PostgreSQL gave it (`%f`).
    pub name: String,
    /// The name it is stored under: `name` and the pipeline's suffixes.
    pub stored: String,
    /// The SHA-256 of the raw file, hex.
    pub raw_sha256: String,
    /// Bytes stored.
    pub size: u64,
}

/// An archived file as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// The file's name as PostgreSQL gave it.
    pub name: String,
    /// The name it is stored under.
    pub stored: String,
    /// Bytes stored.
    pub size: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// How stored names relate to file names: the pipeline's suffix rule,
/// which destinations do not know, handed in by the caller.
#[derive(Clone, Copy)]
pub struct Naming {
    /// The names a file may be stored under, most likely first.
    pub candidates: fn(&str) -> Vec<String>,
    /// The file name of a stored name.
    pub plain: fn(&str) -> &str,
}

/// The sidecar's line: `HEX  NAME`, as `sha256sum` prints it for the raw
/// file.
pub fn sidecar_line(raw_sha256: &str, name: &str) -> String {
    format!("{raw_sha256}  {name}\n")
}

/// The checksum a sidecar records for `name`, when it is one of ours.
pub fn parse_sidecar(text: &str, name: &str) -> Option<String> {
    let (hex, named) = text.trim_end_matches('\n').split_once("  ")?;
    (named == name && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_reads_back_only_for_its_own_file() {
        let hex = "ab".repeat(32);
        let line = sidecar_line(&hex, "000000010000000000000003");
        assert_eq!(
            parse_sidecar(&line, "000000010000000000000003"),
            Some(hex.clone())
        );
        assert_eq!(parse_sidecar(&line, "000000010000000000000004"), None);
        assert_eq!(
            parse_sidecar("xyz  000000010000000000000003", "000000010000000000000003"),
            None
        );
    }
}
