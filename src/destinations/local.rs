//! A directory on this host: `PATH/JOB/ID/`, directories 0700, files 0600,
//! each file written under a temporary name, fsynced and renamed, the
//! manifest last.

// Every error here is built with `DestinationError::io`, which names the
// path already; fs-err would name it a second time.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{
    check_manifest, id_time, runs, wal, ArtifactWriter, Destination, DestinationError, Found,
    FoundState, Ignored, Listing, Message, Naming, OpenUpload, Reader, RunObject, WalEntry,
    WalObject, MANIFEST,
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

    /// `PATH/JOB/runs/`.
    fn runs_dir(&self, job: &str) -> PathBuf {
        self.path.join(job).join(runs::RUNS_DIR)
    }
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
        let record = self.runs_dir(job).join(runs::record_name(id));
        Ok(self.path.join(job).join(id).exists() || record.exists())
    }

    async fn run_put(&self, job: &str, id: &str, body: Bytes) -> Result<(), DestinationError> {
        let path = self.runs_dir(job).join(runs::record_name(id));
        let root = self.path.clone();
        tokio::task::spawn_blocking(move || {
            atomic::write_file(&path, &body, 0o600)
                .map_err(|e| io_at(&root, format!("cannot write {}", path.display()), e))
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn run_list(&self, job: &str) -> Result<Vec<String>, DestinationError> {
        let dir = self.runs_dir(job);
        tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => {
                    return Err(DestinationError::io(
                        format!("cannot list {}", dir.display()),
                        e,
                    ))
                }
            };
            let mut ids = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| {
                    DestinationError::io(format!("cannot list {}", dir.display()), e)
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(id) = runs::record_id(&name) {
                    ids.push(id.to_owned());
                }
            }
            Ok(ids)
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn run_get(&self, job: &str, id: &str) -> Result<RunObject, DestinationError> {
        let path = self.runs_dir(job).join(runs::record_name(id));
        tokio::task::spawn_blocking(move || {
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Ok(RunObject::Foreign(
                        "a symbolic link, which cairn never follows at a destination".to_owned(),
                    ))
                }
                Ok(meta) if !meta.is_file() => {
                    return Ok(RunObject::Foreign("not a file".to_owned()))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunObject::Gone),
                Err(e) => {
                    return Err(DestinationError::io(
                        format!("cannot read {}", path.display()),
                        e,
                    ))
                }
            }
            match std::fs::read(&path) {
                Ok(bytes) => Ok(RunObject::Record(bytes.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunObject::Gone),
                Err(e) => Err(DestinationError::io(
                    format!("cannot read {}", path.display()),
                    e,
                )),
            }
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn read(&self, job: &str, id: &str, name: &str) -> Result<Reader, DestinationError> {
        open_reader(&self.path.join(job).join(id).join(name)).await
    }

    async fn wal_find(
        &self,
        job: &str,
        name: &str,
        naming: Naming,
    ) -> Result<Option<WalObject>, DestinationError> {
        let dir = self.path.join(job).join(wal::WAL_DIR);
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || find_wal(&dir, &name, naming))
            .await
            .expect("the blocking task does not panic")
    }

    async fn wal_put(
        &self,
        job: &str,
        object: &WalObject,
        body: Bytes,
    ) -> Result<(), DestinationError> {
        let dir = self.path.join(job).join(wal::WAL_DIR);
        let object = object.clone();
        tokio::task::spawn_blocking(move || {
            let data = dir.join(&object.stored);
            let sidecar = dir.join(format!("{}{}", object.name, wal::SIDECAR_SUFFIX));
            atomic::create_private_dir(&dir)
                .map_err(|e| DestinationError::io(format!("cannot create {}", dir.display()), e))?;
            // The data first, the sidecar last: the sidecar says the file is
            // all there (one fsync of the directory for both: PostgreSQL
            // pushes again what it was not told is archived).
            let line = wal::sidecar_line(&object.raw_sha256, &object.name);
            atomic::write_files(&[(&data, &body), (&sidecar, line.as_bytes())], 0o600)
                .map_err(|e| DestinationError::io(format!("cannot write {}", data.display()), e))
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn wal_read(&self, job: &str, object: &WalObject) -> Result<Reader, DestinationError> {
        open_reader(&self.path.join(job).join(wal::WAL_DIR).join(&object.stored)).await
    }

    async fn wal_list(
        &self,
        job: &str,
        prefix: &str,
        after: Option<&str>,
        naming: Naming,
    ) -> Result<Vec<WalEntry>, DestinationError> {
        let dir = self.path.join(job).join(wal::WAL_DIR);
        let prefix = prefix.to_owned();
        let after = after.map(str::to_owned);
        tokio::task::spawn_blocking(move || list_wal(&dir, &prefix, after.as_deref(), naming))
            .await
            .expect("the blocking task does not panic")
    }

    async fn wal_delete(&self, job: &str, files: &[WalEntry]) -> Result<(), DestinationError> {
        let dir = self.path.join(job).join(wal::WAL_DIR);
        let files = files.to_vec();
        tokio::task::spawn_blocking(move || {
            for file in &files {
                let sidecar = dir.join(format!("{}{}", file.name, wal::SIDECAR_SUFFIX));
                for path in [sidecar, dir.join(&file.stored)] {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(DestinationError::io(
                                format!("cannot delete {}", path.display()),
                                e,
                            ))
                        }
                        _ => {}
                    }
                }
            }
            atomic::sync_dir(&dir)
                .map_err(|e| DestinationError::io(format!("cannot sync {}", dir.display()), e))
        })
        .await
        .expect("the blocking task does not panic")
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
            atomic::create_private_dir(&created)?;
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
    let is_dir = |entry: &std::fs::DirEntry| entry.file_type().is_ok_and(|t| t.is_dir());
    // A link where a job or an artifact directory would be could lead
    // anywhere: it is never followed, and named.
    let link = |entry: &std::fs::DirEntry| Ignored {
        key: entry.path().display().to_string(),
        reason: "a symbolic link, which cairn never follows at a destination".to_owned(),
    };
    let is_link = |entry: &std::fs::DirEntry| entry.file_type().is_ok_and(|t| t.is_symlink());
    for job_entry in read(root)? {
        let job = job_entry.file_name().to_string_lossy().into_owned();
        if crate::config::name::check(&job).is_err() || only_job.is_some_and(|only| only != job) {
            continue;
        }
        if is_link(&job_entry) {
            listing.ignored.push(link(&job_entry));
            continue;
        }
        if !is_dir(&job_entry) {
            continue;
        }
        for id_entry in read(&job_entry.path())? {
            let id = id_entry.file_name().to_string_lossy().into_owned();
            let Some(time) = id_time(&id) else { continue };
            if is_link(&id_entry) {
                listing.ignored.push(link(&id_entry));
                continue;
            }
            if !is_dir(&id_entry) {
                continue;
            }
            let dir = id_entry.path();
            // The manifest first: for a complete artifact it names the
            // objects and their sizes, which saves listing and stat-ing
            // each one (this is most of the work of a plan over 100,000
            // artifacts).
            let (state, objects, stored_size) = match std::fs::read(dir.join(MANIFEST)) {
                Ok(bytes) => match serde_json::from_slice::<crate::manifest::Manifest>(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|m| check_manifest(&m, &job, &id).map(|()| m))
                {
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
                        listing.ignored.push(Ignored {
                            key: dir.join(MANIFEST).display().to_string(),
                            reason: format!(
                                "{error}; the artifact is not counted, read or deleted"
                            ),
                        });
                        (FoundState::Unreadable(error), objects, size)
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

async fn open_reader(path: &Path) -> Result<Reader, DestinationError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| DestinationError::io(format!("cannot open {}", path.display()), e))?;
    Ok(Box::new(file))
}

/// `name` in the archive `dir`: its sidecar, then the data it vouches for.
fn find_wal(dir: &Path, name: &str, naming: Naming) -> Result<Option<WalObject>, DestinationError> {
    let sidecar = dir.join(format!("{name}{}", wal::SIDECAR_SUFFIX));
    let text = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DestinationError::io(
                format!("cannot read {}", sidecar.display()),
                e,
            ))
        }
    };
    let Some(raw_sha256) = wal::parse_sidecar(&text, name) else {
        return Err(DestinationError::Io(format!(
            "{} is not a checksum of {name}: remove it if nothing else wrote it",
            sidecar.display()
        )));
    };
    for stored in (naming.candidates)(name) {
        match std::fs::metadata(dir.join(&stored)) {
            Ok(meta) if meta.is_file() => {
                return Ok(Some(WalObject {
                    name: name.to_owned(),
                    stored,
                    raw_sha256,
                    size: meta.len(),
                }))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DestinationError::io(
                    format!("cannot read {}", dir.join(&stored).display()),
                    e,
                ))
            }
        }
    }
    Ok(None)
}

/// The archived files in `dir` whose names start with `prefix` and sort
/// after `after`: those with a sidecar, in name order.
fn list_wal(
    dir: &Path,
    prefix: &str,
    after: Option<&str>,
    naming: Naming,
) -> Result<Vec<WalEntry>, DestinationError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DestinationError::io(
                format!("cannot list {}", dir.display()),
                e,
            ))
        }
    };
    let mut sidecars = std::collections::BTreeSet::new();
    let mut data = std::collections::BTreeMap::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| DestinationError::io(format!("cannot list {}", dir.display()), e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.starts_with(prefix) || file_name.starts_with('.') {
            continue;
        }
        if let Some(name) = file_name.strip_suffix(wal::SIDECAR_SUFFIX) {
            sidecars.insert(name.to_owned());
            continue;
        }
        let name = (naming.plain)(&file_name);
        if after.is_some_and(|after| name <= after) {
            continue;
        }
        let meta = entry.metadata().ok();
        data.insert(
            name.to_owned(),
            WalEntry {
                name: name.to_owned(),
                stored: file_name,
                size: meta.as_ref().map_or(0, |m| m.len()),
                modified: meta
                    .and_then(|m| m.modified().ok())
                    .map(chrono::DateTime::<chrono::Utc>::from),
            },
        );
    }
    Ok(data
        .into_values()
        .filter(|entry| sidecars.contains(&entry.name))
        .collect())
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
