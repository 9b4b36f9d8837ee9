//! A directory on this host: `PATH/JOB/ID/`, directories 0700, files 0600,
//! each file written under a temporary name, fsynced and renamed, the
//! manifest last.

// Every error here is built with `DestinationError::io`, which names the
// path already; fs-err would name it a second time.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{
    id_time, ArtifactWriter, Destination, DestinationError, Found, FoundState, Listing, Message,
    OpenUpload, Reader, MANIFEST,
};
use crate::atomic;

pub struct LocalDestination {
    name: String,
    path: PathBuf,
}

impl LocalDestination {
    pub fn new(name: &str, path: &Path) -> Self {
        Self {
            name: name.to_owned(),
            path: path.to_owned(),
        }
    }
}

fn create_dirs(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[async_trait]
impl Destination for LocalDestination {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list(&self, job: Option<&str>) -> Result<Listing, DestinationError> {
        let root = self.path.clone();
        let job = job.map(str::to_owned);
        tokio::task::spawn_blocking(move || list_dir(&root, job.as_deref()))
            .await
            .expect("the blocking task does not panic")
    }

    async fn delete(&self, artifact: &Found) -> Result<(), DestinationError> {
        let dir = self.path.join(&artifact.job).join(&artifact.id);
        tokio::task::spawn_blocking(move || {
            // The manifest first: an interrupted deletion leaves an
            // incomplete artifact, never a backup with missing data.
            let manifest = dir.join(MANIFEST);
            match std::fs::remove_file(&manifest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DestinationError::io(
                        format!("cannot delete {}", manifest.display()),
                        e,
                    ))
                }
                _ => {}
            }
            atomic::sync_dir(&dir)
                .map_err(|e| DestinationError::io(format!("cannot sync {}", dir.display()), e))?;
            std::fs::remove_dir_all(&dir)
                .map_err(|e| DestinationError::io(format!("cannot delete {}", dir.display()), e))?;
            if let Some(parent) = dir.parent() {
                let _ = atomic::sync_dir(parent);
            }
            Ok(())
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn abort_upload(&self, _upload: &OpenUpload) -> Result<(), DestinationError> {
        Ok(())
    }

    async fn exists(&self, job: &str, id: &str) -> Result<bool, DestinationError> {
        Ok(self.path.join(job).join(id).exists())
    }

    async fn read(&self, job: &str, id: &str, name: &str) -> Result<Reader, DestinationError> {
        let path = self.path.join(job).join(id).join(name);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| DestinationError::io(format!("cannot open {}", path.display()), e))?;
        Ok(Box::new(file))
    }

    async fn begin(
        &self,
        job: &str,
        id: &str,
    ) -> Result<Box<dyn ArtifactWriter>, DestinationError> {
        let dir = self.path.join(job).join(id);
        let job_dir = self.path.join(job);
        let created = dir.clone();
        tokio::task::spawn_blocking(move || {
            create_dirs(&created)?;
            atomic::sync_dir(&job_dir)
        })
        .await
        .expect("the blocking task does not panic")
        .map_err(|e| io_at(&self.path, format!("cannot create {}", dir.display()), e))?;
        Ok(Box::new(LocalArtifact {
            dir,
            root: self.path.clone(),
        }))
    }
}

/// Lists `ROOT/JOB/ID/` directories: valid job names and artifact IDs only,
/// so that nothing else in the directory is ever taken for cairn's.
fn list_dir(root: &Path, only_job: Option<&str>) -> Result<Listing, DestinationError> {
    let mut listing = Listing::default();
    let read = |dir: &Path| -> Result<Vec<std::fs::DirEntry>, DestinationError> {
        match std::fs::read_dir(dir) {
            Ok(entries) => Ok(entries.filter_map(Result::ok).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(DestinationError::io(
                format!("cannot list {}", dir.display()),
                e,
            )),
        }
    };
    for job_entry in read(root)? {
        let job = job_entry.file_name().to_string_lossy().into_owned();
        let is_dir = |entry: &std::fs::DirEntry| entry.file_type().is_ok_and(|t| t.is_dir());
        if crate::config::name::check(&job).is_err()
            || only_job.is_some_and(|only| only != job)
            || !is_dir(&job_entry)
        {
            continue;
        }
        for id_entry in read(&job_entry.path())? {
            let id = id_entry.file_name().to_string_lossy().into_owned();
            let Some(time) = id_time(&id) else { continue };
            if !is_dir(&id_entry) {
                continue;
            }
            let dir = id_entry.path();
            // The manifest first: for a complete artifact it names the
            // objects and their sizes, which saves listing and stat-ing
            // each one (this is most of the work of a plan over 100,000
            // artifacts).
            let (state, objects, stored_size) = match std::fs::read(dir.join(MANIFEST)) {
                Ok(bytes) => match serde_json::from_slice::<crate::manifest::Manifest>(&bytes) {
                    Ok(manifest) => {
                        let mut objects: Vec<String> =
                            manifest.streams.iter().map(|s| s.name.clone()).collect();
                        objects.push(MANIFEST.to_owned());
                        objects.sort();
                        let size = manifest.streams.iter().map(|s| s.stored_size).sum::<u64>()
                            + bytes.len() as u64;
                        (FoundState::Complete(Box::new(manifest)), objects, size)
                    }
                    Err(error) => {
                        let (objects, size) = list_objects(&dir, &read)?;
                        (FoundState::Unreadable(error.to_string()), objects, size)
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let (objects, size) = list_objects(&dir, &read)?;
                    (FoundState::Incomplete, objects, size)
                }
                Err(e) => {
                    let (objects, size) = list_objects(&dir, &read)?;
                    (FoundState::Unreadable(e.to_string()), objects, size)
                }
            };
            listing.artifacts.push(Found {
                job: job.clone(),
                id,
                time,
                state,
                objects,
                stored_size,
            });
        }
    }
    listing
        .artifacts
        .sort_by(|a, b| (&a.job, a.time, &a.id).cmp(&(&b.job, b.time, &b.id)));
    Ok(listing)
}

/// The objects in an artifact directory and their total size.
fn list_objects(
    dir: &Path,
    read: &dyn Fn(&Path) -> Result<Vec<std::fs::DirEntry>, DestinationError>,
) -> Result<(Vec<String>, u64), DestinationError> {
    let mut objects = Vec::new();
    let mut size = 0;
    for object in read(dir)? {
        size += object.metadata().map(|m| m.len()).unwrap_or(0);
        objects.push(object.file_name().to_string_lossy().into_owned());
    }
    objects.sort();
    Ok((objects, size))
}

/// Bytes after which a stream's file is handed to the disk.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Starts writing `len` bytes at `offset` of `file` to the disk, without
/// waiting. The kernel would otherwise keep the whole stream in dirty pages
/// until the final fsync, which then waits for all of it (and a backup would
/// crowd the host's page cache with dirty data meanwhile).
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    // SAFETY: sync_file_range only schedules writeback of a file we own.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

struct LocalArtifact {
    dir: PathBuf,
    /// The destination's directory, whose free space a full disk reports.
    root: PathBuf,
}

/// [`DestinationError::io`], and when the disk is full, how much room is
/// left at the destination `root`: the operator sees how far off it was.
fn io_at(root: &Path, context: String, error: std::io::Error) -> DestinationError {
    // By kind: fs-err's errors (the manifest's atomic write) carry no OS code.
    let full = matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    );
    match free_space(root).filter(|_| full) {
        Some(free) => DestinationError::Io(format!(
            "{context}: {error} ({} free at {}; make room there, then run the job again)",
            crate::format::human_bytes(free),
            root.display()
        )),
        None => DestinationError::io(context, error),
    }
}

/// The bytes an unprivileged user may still write on the filesystem of `path`.
fn free_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs(3) fills `stat` from a NUL-terminated path.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[async_trait]
impl ArtifactWriter for LocalArtifact {
    async fn write_stream(
        &mut self,
        name: &str,
        mut chunks: mpsc::Receiver<Message>,
    ) -> Result<(), DestinationError> {
        let partial = self.dir.join(format!(".{name}.partial"));
        let target = self.dir.join(name);
        let dir = self.dir.clone();
        let root = self.root.clone();
        let io = move |context: String, error| io_at(&root, context, error);
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&partial)
                    .map_err(|e| io(format!("cannot create {}", partial.display()), e))?;
                let mut file = file;
                let mut written: u64 = 0;
                let mut flushed: u64 = 0;
                while let Some(message) = chunks.blocking_recv() {
                    match message {
                        Message::Chunk(bytes) => {
                            file.write_all(&bytes).map_err(|e| {
                                io(format!("cannot write {}", partial.display()), e)
                            })?;
                            written += bytes.len() as u64;
                            if written - flushed >= WRITEBACK_STEP {
                                start_writeback(&file, flushed, written - flushed);
                                flushed = written;
                            }
                        }
                        Message::Finish { .. } => {
                            file.sync_all().map_err(|e| {
                                io(format!("cannot fsync {}", partial.display()), e)
                            })?;
                            std::fs::rename(&partial, &target)
                                .and_then(|()| atomic::sync_dir(&dir))
                                .map_err(|e| {
                                    if !dir.exists() {
                                        // The data went to a file without a name.
                                        return DestinationError::Io(format!(
                                            "the directory {} was deleted while the run \
                                             wrote to it; nothing of this run is stored there",
                                            dir.display()
                                        ));
                                    }
                                    io(format!("cannot rename to {}", target.display()), e)
                                })?;
                            return Ok(());
                        }
                    }
                }
                Err(DestinationError::Aborted)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn commit(&mut self, manifest: &[u8]) -> Result<(), DestinationError> {
        let path = self.dir.join(MANIFEST);
        let manifest = manifest.to_vec();
        let root = self.root.clone();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            // atomic::write_file would create the directory again: a
            // manifest without the data it lists.
            if !dir.exists() {
                return Err(DestinationError::Io(format!(
                    "the directory {} was deleted while the run wrote to it; \
                     nothing of this run is stored there",
                    dir.display()
                )));
            }
            atomic::write_file(&path, &manifest, 0o600)
                .map_err(|e| io_at(&root, format!("cannot write {}", path.display()), e))
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn abort(&mut self) -> Result<(), DestinationError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DestinationError::io(
                        format!("cannot delete {}", dir.display()),
                        e,
                    ))
                }
                _ => {}
            }
            if let Some(parent) = dir.parent() {
                let _ = atomic::sync_dir(parent);
            }
            Ok(())
        })
        .await
        .expect("the blocking task does not panic")
    }
}
