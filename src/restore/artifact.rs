//! Finding the artifact to restore, and reading its streams back: checked
//! against the manifest, decrypted and decompressed.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{RestoreError, Verified};
use crate::config::model::{Backup, Config, Job, JobKind};
use crate::destinations::{self, Destination, Found};
use crate::manifest::{Manifest, Reason, StreamRecord};
use crate::output::Log;
use crate::pipeline;

/// Which artifact to restore.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    /// `--from`: only this destination.
    pub from: Option<&'a str>,
    /// `--at`: the newest artifact made at or before this time (for a base
    /// backup: that ended at or before it).
    pub at: Option<DateTime<Utc>>,
    /// `--artifact`: exactly this one (safety backups included).
    pub artifact: Option<&'a str>,
}

/// The artifact picked, and where it is read from.
pub struct Chosen {
    pub destination: Arc<dyn Destination>,
    pub found: Found,
}

impl Chosen {
    pub fn manifest(&self) -> &Manifest {
        self.found
            .manifest()
            .expect("only artifacts with a manifest are chosen")
    }

    /// Opens one stream of the artifact for blocking reads, checked against
    /// the manifest as it is read.
    pub fn open(
        &self,
        runtime: &tokio::runtime::Handle,
        stream: &StreamRecord,
    ) -> Result<Verified<Box<dyn Read + Send>>, RestoreError> {
        let reader = runtime
            .block_on(
                self.destination
                    .read(&self.found.job, &self.found.id, &stream.name),
            )
            .map_err(|source| RestoreError::Read {
                stream: stream.name.clone(),
                artifact: self.found.id.clone(),
                destination: self.destination.name().to_owned(),
                source,
            })?;
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(reader, runtime.clone());
        let buffered: Box<dyn Read + Send> =
            Box::new(std::io::BufReader::with_capacity(1 << 20, bridge));
        Ok(Verified::new(
            buffered,
            &stream.name,
            stream.stored_size,
            &stream.sha256,
        ))
    }
}

/// The backup job named `name` (a verify job is refused with what to do).
pub fn backup_job<'c>(
    config: &'c Config,
    name: &str,
) -> Result<(&'c Job, &'c Backup), RestoreError> {
    let job = config.job(name)?;
    match &job.kind {
        JobKind::Backup(backup) => Ok((job, backup)),
        JobKind::Verify(verify) => Err(RestoreError::refused(
            format!("`{name}` is a verify job; it has no artifacts of its own"),
            format!(
                "restore the job it verifies: `cairn restore {}`",
                verify.verifies
            ),
        )),
    }
}

/// Picks the artifact: `--artifact ID`, else the newest one made at or
/// before `--at` (or now) that is not a safety backup, over the job's
/// destinations (or `--from`), the first destination in the job's order
/// winning a tie.
pub async fn choose(
    config: &Config,
    job: &Job,
    backup: &Backup,
    selection: &Selection<'_>,
    log: &Log,
) -> Result<Chosen, RestoreError> {
    let names: Vec<String> = match selection.from {
        Some(from) => {
            if !config.destinations.keys().any(|d| d.as_str() == from) {
                let known: Vec<&str> = config.destinations.keys().map(|d| d.as_str()).collect();
                return Err(RestoreError::refused(
                    format!("there is no destination `{from}` in the configuration"),
                    format!("the destinations are: {}", known.join(", ")),
                ));
            }
            vec![from.to_owned()]
        }
        None => backup.to.iter().map(|d| d.to_string()).collect(),
    };
    let mut best: Option<(Arc<dyn Destination>, Found)> = None;
    let mut problems = Vec::new();
    for name in &names {
        let raw = config
            .destinations
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, d)| d)
            .expect("names come from the configuration");
        let destination: Arc<dyn Destination> = match destinations::open(name, raw).await {
            Ok(destination) => Arc::from(destination),
            Err(error) => {
                problems.push(format!("`{name}` could not be opened: {error}"));
                continue;
            }
        };
        let listing = match destination.list(Some(job.name.as_str())).await {
            Ok(listing) => {
                for ignored in &listing.ignored {
                    log.warn(&format!("destination `{name}`: {ignored}"));
                }
                listing
            }
            Err(error) => {
                problems.push(format!("`{name}` could not be read: {error}"));
                continue;
            }
        };
        let candidate = listing
            .artifacts
            .into_iter()
            .filter(|found| found.job == job.name.as_str())
            .filter(|found| {
                let Some(manifest) = found.manifest() else {
                    return false;
                };
                match selection.artifact {
                    Some(id) => found.id == id,
                    None => {
                        // A base backup is only usable from the point it
                        // ended at: recovery to a time before that fails.
                        let usable_from = match manifest.wal {
                            Some(_) => manifest.finished_at,
                            None => found.time,
                        };
                        manifest.reason != Reason::Safety
                            && selection.at.is_none_or(|at| usable_from <= at)
                    }
                }
            })
            .max_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        if let Some(found) = candidate {
            let newer = best
                .as_ref()
                .is_none_or(|(_, b)| (found.time, &found.id) > (b.time, &b.id));
            if newer {
                best = Some((destination, found));
            }
        }
    }
    match best {
        Some((destination, found)) => {
            for problem in &problems {
                log.progress(&format!("note: {problem}"));
            }
            Ok(Chosen { destination, found })
        }
        None => {
            let what = match (selection.artifact, selection.at) {
                (Some(id), _) => format!("no complete artifact {id} of job `{}`", job.name),
                (None, Some(at)) => format!(
                    "no complete artifact of job `{}` made at or before {}",
                    job.name,
                    at.to_rfc3339()
                ),
                (None, None) => format!("no complete artifact of job `{}`", job.name),
            };
            let mut message = format!("{what} at {}", names.join(", "));
            if !problems.is_empty() {
                message.push_str(&format!(" ({})", problems.join("; ")));
            }
            Err(RestoreError::refused(
                message,
                "`cairn inventory JOB` lists the artifacts at every destination",
            ))
        }
    }
}

/// The age identities that decrypt the artifact, when it is encrypted:
/// from `--identity`, else `settings.age_identity_file`. A file that group
/// or others may read gets a warning: it holds secret keys.
pub fn identities(
    config: &Config,
    manifest: &Manifest,
    given: Option<&Path>,
    log: &Log,
) -> Result<Vec<Box<dyn age::Identity>>, RestoreError> {
    let Some(encryption) = &manifest.encryption else {
        return Ok(Vec::new());
    };
    let Some(path) = given.or(config.settings.age_identity_file.as_deref()) else {
        return Err(RestoreError::refused(
            format!(
                "artifact {} is encrypted to {}, and no age identity was given",
                manifest.id,
                encryption.recipients.join(", ")
            ),
            "pass --identity FILE, or set settings.age_identity_file, naming the identity that matches a recipient",
        ));
    };
    if let Some(warning) = crate::pipeline::exposed_identity_warning(path) {
        log.warn(&warning);
    }
    crate::pipeline::read_identities(path).map_err(|why| {
        RestoreError::refused(
            why,
            "the file holds AGE-SECRET-KEY-1... lines, as written by age-keygen",
        )
    })
}

/// The streams' names as their dumps named them, without the compression
/// and encryption suffixes (`db-app.pgdump.zst.age` → `db-app.pgdump`).
pub fn plain_names(manifest: &Manifest) -> Vec<String> {
    manifest
        .streams
        .iter()
        .map(|stream| {
            pipeline::plain_name(
                &stream.name,
                manifest.compression.algorithm,
                manifest.encryption.is_some(),
            )
            .to_owned()
        })
        .collect()
}

/// Decrypts (when the manifest says so) and decompresses a stored stream.
pub fn decode(
    stored: Verified<Box<dyn Read + Send>>,
    manifest: &Manifest,
    identities: &[Box<dyn age::Identity>],
) -> Result<Box<dyn Read>, String> {
    pipeline::decode(
        stored,
        manifest.compression.algorithm,
        manifest.encryption.is_some(),
        identities,
    )
}
