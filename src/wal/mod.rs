//! The WAL archive of a PostgreSQL job (SPEC §12): `cairn wal push` stores
//! one file PostgreSQL archived at every destination of the job, `cairn wal
//! fetch` brings one back during recovery. Neither takes the job's lock or
//! waits on a run: a base backup waits for its last segment to be pushed.
//!
//! Push exits 0 only when every destination holds the file with the same
//! raw checksum (a file pushed twice is fine; different content is not).
//! Fetch answers "absent" only when no destination has the file and, for a
//! segment, no later segment of its timeline is archived: anything else
//! that goes wrong must stop recovery rather than end it early.

pub mod chain;
mod mapped;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::config::model::{Backup, Compression, Config, JobKind, Store};
use crate::destinations::{self, Destination, Naming, WalObject};
use crate::pipeline;
use crate::stores::postgres::walfile::WalFile;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WalError {
    #[error("`{0}` is not the name of a WAL file")]
    #[diagnostic(help(
        "PostgreSQL passes a segment (e.g. 000000010000000000000003) or a .history, .backup or \
         .partial file: use %p for push and %f for fetch in postgresql.conf"
    ))]
    NotWalName(String),
    #[error("job `{job}` has no WAL archive: {why}")]
    #[diagnostic(help("`wal push` and `wal fetch` serve backup jobs of PostgreSQL stores"))]
    NotArchiving { job: String, why: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot compress or encrypt {name}: {source}")]
    Encode {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} is not archived everywhere:\n{failures}")]
    #[diagnostic(help(
        "PostgreSQL keeps the file and calls `wal push` again; fix the destination, \
         and see the server log for how far archiving is behind"
    ))]
    NotStored { name: String, failures: String },
    #[error("{name} cannot be fetched:\n{failures}")]
    #[diagnostic(help(
        "recovery stops here rather than end early at the wrong point; make a destination \
         reachable (or the missing file available) and start the server again"
    ))]
    NotFetched { name: String, failures: String },
    #[error(
        "{name} is missing from the archive, but {later} of the same timeline is there: the \
         archive has a hole"
    )]
    #[diagnostic(help(
        "recovery cannot continue past the hole; restore to a time before it (--at), or find \
         the segment (the server's pg_wal, another copy of the archive)"
    ))]
    Hole { name: String, later: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Every basebackup job's archive at each of its destinations: the files
/// archived, or why the destination could not be listed. By job, then
/// destination.
pub type Archives =
    BTreeMap<String, BTreeMap<String, Result<Vec<crate::destinations::WalEntry>, String>>>;

/// Lists the archive of every job whose store takes base backups.
pub async fn read_archives(config: &Config) -> Archives {
    let mut archives = Archives::new();
    for job in config.host_jobs() {
        let name = &job.name;
        let Some(backup) = job.backup() else { continue };
        let archived = matches!(
            config.stores.get(&backup.store),
            Some(Store::Postgres(pg)) if pg.method == crate::config::raw::PostgresMethod::Basebackup
        );
        if !archived {
            continue;
        }
        let mut listings = BTreeMap::new();
        for destination in &backup.to {
            let listed = match config.destinations.get(destination) {
                None => Err("not defined".to_owned()),
                Some(raw) => match destinations::open(destination.as_str(), raw).await {
                    Err(error) => Err(error.to_string()),
                    Ok(opened) => opened
                        .wal_list(name.as_str(), "", None, NAMING)
                        .await
                        .map_err(|error| error.to_string()),
                },
            };
            listings.insert(destination.to_string(), listed);
        }
        archives.insert(name.to_string(), listings);
    }
    archives
}

/// The archiving settings of each basebackup job's server, or why they
/// could not be read, by job.
pub type ServerSettings =
    BTreeMap<String, Result<crate::stores::postgres::ArchiveSettings, String>>;

/// Asks the server of every basebackup job for its archiving settings.
pub async fn read_server_settings(config: &Config) -> ServerSettings {
    let mut settings = ServerSettings::new();
    for job in config.host_jobs() {
        let name = &job.name;
        let Some(backup) = job.backup() else { continue };
        let Some(Store::Postgres(pg)) = config.stores.get(&backup.store) else {
            continue;
        };
        if pg.method != crate::config::raw::PostgresMethod::Basebackup {
            continue;
        }
        let store = backup.store.to_string();
        let pg = pg.clone();
        let read = tokio::task::spawn_blocking(move || {
            crate::stores::postgres::Basebackup::new(&store, &pg)
                .and_then(|basebackup| basebackup.archive_settings())
                .map_err(|error| error.with_hint_inline())
        })
        .await
        .unwrap_or_else(|error| Err(error.to_string()));
        settings.insert(name.to_string(), read);
    }
    settings
}

/// The suffix rule, for destinations.
const NAMING: Naming = Naming {
    candidates: pipeline::stored_names,
    plain: |stored| pipeline::stored_form(stored).0,
};

/// The archive of one job at its destinations, in the job's `to` order.
pub struct Archive {
    job: String,
    destinations: Vec<Box<dyn Destination>>,
    compression: Compression,
    recipients: Vec<age::x25519::Recipient>,
}

/// Why a destination did not take a file.
enum Refusal {
    /// It holds other content under this name.
    Conflict {
        held: String,
    },
    Failed(String),
}

impl Archive {
    /// The archive of `job`, which must be a backup job of a PostgreSQL
    /// store. Destinations that cannot be opened count as failures of
    /// the push or fetch, named.
    pub async fn open(config: &Config, job: &str) -> Result<(Self, Vec<String>), WalError> {
        let not_archiving = |why: &str| WalError::NotArchiving {
            job: job.to_owned(),
            why: why.to_owned(),
        };
        let found = config.job(job).map_err(|e| not_archiving(&e.to_string()))?;
        let backup: &Backup = match &found.kind {
            JobKind::Backup(backup) => backup,
            JobKind::Verify(_) => return Err(not_archiving("it is a verify job")),
        };
        match config.stores.get(&backup.store) {
            Some(Store::Postgres(_)) => {}
            _ => {
                return Err(not_archiving(&format!(
                    "its store `{}` is not a PostgreSQL store",
                    backup.store
                )))
            }
        }
        let mut destinations = Vec::new();
        let mut unopened = Vec::new();
        for name in &backup.to {
            let Some(destination) = config.destinations.get(name) else {
                unopened.push(format!("  {name}: not defined"));
                continue;
            };
            match destinations::open(name.as_str(), destination).await {
                Ok(opened) => destinations.push(opened),
                Err(error) => unopened.push(format!("  {name}: {error}")),
            }
        }
        let recipients = backup
            .encrypt_to
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        Ok((
            Self {
                job: job.to_owned(),
                destinations,
                compression: backup.compression,
                recipients,
            },
            unopened,
        ))
    }

    /// Stores the file at `path` at every destination. `unopened` are the
    /// destinations [`Archive::open`] could not open: the push fails for them.
    pub async fn push(&self, path: &Path, unopened: Vec<String>) -> Result<(), WalError> {
        let name = file_name(path)?;
        // Mapped whole (a segment is 16 MiB), hashed on one thread while
        // others compress it, while the destinations are asked for earlier
        // copies.
        let compression = self.compression;
        let recipients = self.recipients.clone();
        let path_owned = path.to_owned();
        let encode_name = name.clone();
        let encoding = tokio::task::spawn_blocking(move || {
            let file = mapped::FileBytes::open(&path_owned).map_err(|source| WalError::Read {
                path: path_owned.display().to_string(),
                source,
            })?;
            let raw: &[u8] = &file;
            std::thread::scope(|scope| {
                let hashing = scope.spawn(|| format!("{:x}", Sha256::digest(raw)));
                let encoded =
                    pipeline::encode(&compression, &recipients, raw).map_err(|source| {
                        WalError::Encode {
                            name: encode_name,
                            source,
                        }
                    })?;
                let raw_sha256 = hashing
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                Ok::<_, WalError>((Bytes::from(encoded), raw_sha256))
            })
        });
        let finds = futures::future::join_all(
            self.destinations
                .iter()
                .map(|destination| destination.wal_find(&self.job, &name, NAMING)),
        );
        let (encoded, found) = tokio::join!(encoding, finds);
        let (encoded, raw_sha256) = encoded.map_err(|e| WalError::Encode {
            name: name.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
        let encrypted = !self.recipients.is_empty();
        let object = WalObject {
            stored: pipeline::stored_name(&name, &self.compression, encrypted),
            name: name.clone(),
            raw_sha256,
            size: 0,
        };
        let stores = self
            .destinations
            .iter()
            .zip(found)
            .map(|(destination, found)| {
                let object = &object;
                let encoded = encoded.clone();
                async move {
                    match found {
                        Ok(Some(held)) if held.raw_sha256 == object.raw_sha256 => Ok(()),
                        Ok(Some(held)) => Err(Refusal::Conflict {
                            held: held.raw_sha256,
                        }),
                        Ok(None) => destination
                            .wal_put(&self.job, object, encoded)
                            .await
                            .map_err(|e| Refusal::Failed(e.to_string())),
                        Err(error) => Err(Refusal::Failed(error.to_string())),
                    }
                }
            });
        let results = futures::future::join_all(stores).await;
        let mut failures = unopened;
        for (destination, result) in self.destinations.iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(Refusal::Conflict { held }) => failures.push(format!(
                    "  {}: already holds {name} with other content (SHA-256 {held} there, \
                     {} pushed); two servers may be archiving into one job",
                    destination.name(),
                    object.raw_sha256
                )),
                Err(Refusal::Failed(why)) => {
                    failures.push(format!("  {}: {why}", destination.name()))
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(WalError::NotStored {
                name,
                failures: failures.join("\n"),
            })
        }
    }

    /// Writes the archived file `name` to `dest`, from the first destination
    /// (in `to` order) that holds a copy whose raw checksum matches.
    /// `Ok(false)`: the archive does not have it, and that is the end of the
    /// archive (no later segment of its timeline).
    pub async fn fetch(
        &self,
        name: &str,
        dest: &Path,
        identity_file: Option<&Path>,
        unopened: Vec<String>,
    ) -> Result<bool, WalError> {
        let Some(file) = WalFile::parse(name) else {
            return Err(WalError::NotWalName(name.to_owned()));
        };
        let mut failures = unopened;
        let mut absent_everywhere = failures.is_empty();
        for destination in &self.destinations {
            let found = match destination.wal_find(&self.job, name, NAMING).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(error) => {
                    failures.push(format!("  {}: {error}", destination.name()));
                    absent_everywhere = false;
                    continue;
                }
            };
            absent_everywhere = false;
            match self
                .fetch_from(destination.as_ref(), &found, dest, identity_file)
                .await
            {
                Ok(()) => return Ok(true),
                Err(why) => failures.push(format!("  {}: {why}", destination.name())),
            }
        }
        if !absent_everywhere {
            return Err(WalError::NotFetched {
                name: name.to_owned(),
                failures: failures.join("\n"),
            });
        }
        // Absent everywhere: the end of the archive, unless a later segment
        // of the timeline is there.
        if let WalFile::Segment(segment) = file {
            let timeline = format!("{:08X}", segment.timeline);
            for destination in &self.destinations {
                let later = destination
                    .wal_list(&self.job, &timeline, Some(name), NAMING)
                    .await
                    .map_err(|error| WalError::NotFetched {
                        name: name.to_owned(),
                        failures: format!(
                            "  {}: cannot tell whether later segments are archived: {error}",
                            destination.name()
                        ),
                    })?;
                let later = later.into_iter().find(|entry| {
                    matches!(WalFile::parse(&entry.name), Some(WalFile::Segment(other)) if other > segment)
                });
                if let Some(later) = later {
                    return Err(WalError::Hole {
                        name: name.to_owned(),
                        later: format!("{} (at `{}`)", later.name, destination.name()),
                    });
                }
            }
        }
        Ok(false)
    }

    /// Downloads, decodes and checks one copy, then puts it at `dest`.
    async fn fetch_from(
        &self,
        destination: &dyn Destination,
        found: &WalObject,
        dest: &Path,
        identity_file: Option<&Path>,
    ) -> Result<(), String> {
        let mut reader = destination
            .wal_read(&self.job, found)
            .await
            .map_err(|e| e.to_string())?;
        let mut stored = Vec::with_capacity(found.size as usize);
        reader
            .read_to_end(&mut stored)
            .await
            .map_err(|e| format!("cannot download {}: {e}", found.stored))?;
        let (_, algorithm, encrypted) = pipeline::stored_form(&found.stored);
        let identity_file = match (encrypted, identity_file) {
            (false, _) => None,
            (true, Some(path)) => Some(path.to_owned()),
            (true, None) => {
                return Err(format!(
                    "{} is encrypted and settings.age_identity_file is not set",
                    found.stored
                ))
            }
        };
        let expected = found.raw_sha256.clone();
        let stored_name = found.stored.clone();
        let dest = dest.to_owned();
        tokio::task::spawn_blocking(move || {
            let identities = match &identity_file {
                Some(path) => pipeline::read_identities(path)?,
                None => Vec::new(),
            };
            let mut plain = pipeline::decode(&stored[..], algorithm, encrypted, &identities)?;
            write_checked(&mut plain, &dest, &expected)
                .map_err(|why| format!("{stored_name}: {why}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Copies `plain` into a temporary file beside `dest`, and renames it to
/// `dest` only when its SHA-256 is `expected`.
fn write_checked(plain: &mut dyn Read, dest: &Path, expected: &str) -> Result<(), String> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let mut temporary = tempfile::Builder::new()
        .prefix(".cairn-wal-")
        .tempfile_in(&dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match plain.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot decode: {e}")),
        };
        hasher.update(&buffer[..n]);
        temporary
            .write_all(&buffer[..n])
            .map_err(|e| format!("cannot write {}: {e}", temporary.path().display()))?;
    }
    let got = format!("{:x}", hasher.finalize());
    if got != expected {
        return Err(format!(
            "the decoded file has SHA-256 {got}, the archive recorded {expected}: the copy is damaged"
        ));
    }
    temporary
        .persist(dest)
        .map_err(|e| format!("cannot write {}: {}", dest.display(), e.error))?;
    Ok(())
}

/// The WAL file name of `path`, checked.
fn file_name(path: &Path) -> Result<String, WalError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match WalFile::parse(&name) {
        Some(_) => Ok(name),
        None => Err(WalError::NotWalName(path.display().to_string())),
    }
}
