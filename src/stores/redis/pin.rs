//! A consistent copy of a local Redis's multi-part AOF, as redis.io's
//! persistence page recommends: read the manifest, hard-link the files it
//! lists into a pin directory beside the AOF directory (same filesystem),
//! then stream the manifest and the pinned files as one tar, and remove the
//! pins. Redis only appends to its files or replaces them whole, and a link
//! keeps a replaced file's data, so a rewrite during the copy cannot mix two
//! generations. The server's settings are never changed: a killed run could
//! not put them back.
//!
//! A run that is killed leaves its pin directory behind
//! (`DATA_DIR/.cairn-aof-pin.XXXXXX`); the next run removes it. Each pin
//! directory holds a `lock` file that its run keeps locked, so that a run
//! never removes another live run's pins.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::aof::{parse_manifest, whole_commands, FileKind, MANIFEST_SUFFIX};
use crate::cancel::Cancel;
use crate::stores::StoreError;

/// What a pin directory's name starts with.
const PIN_PREFIX: &str = ".cairn-aof-pin.";
/// How often the manifest may change between reading it and linking its
/// files (a rewrite starting or ending) before the copy gives up.
const ATTEMPTS: u32 = 20;
/// A pin directory without its lock file is being created, unless it is
/// older than this (its run was killed before it took the lock).
const LOCKLESS_GRACE: Duration = Duration::from_secs(60);

/// Where a store's AOF lives: `data_dir/appenddirname/appendfilename.manifest`.
pub(super) struct AofFiles<'a> {
    pub store: &'a str,
    pub data_dir: &'a Path,
    /// The server's `appenddirname`.
    pub dirname: &'a str,
    /// The server's `appendfilename`.
    pub filename: &'a str,
}

/// A file of the pinned generation and the bytes of it that go into the
/// copy.
struct Pinned {
    name: String,
    path: PathBuf,
    size: u64,
    kind: FileKind,
}

/// Writes the tar of the AOF directory to `out`, after removing the pin
/// directories of killed runs.
pub(super) fn copy(aof: &AofFiles, out: &mut dyn Write, cancel: &Cancel) -> Result<(), StoreError> {
    let error = |message: String| StoreError::new(aof.store, message);
    remove_stale_pins(aof)?;
    let pins = PinDir::create(aof)?;
    let (manifest, files) = pin_generation(aof, &pins, cancel)?;
    pause_for_tests(aof.store, cancel)?;

    let aof_dir = aof.data_dir.join(aof.dirname);
    let manifest_name = format!("{}{MANIFEST_SUFFIX}", aof.filename);
    let in_tar = |name: &str| format!("{}/{name}", aof.dirname);
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir(aof.dirname, &aof_dir)
        .map_err(|e| error(format!("archiving {} failed: {e}", aof_dir.display())))?;
    let manifest_path = aof_dir.join(&manifest_name);
    let meta = fs_err::metadata(&manifest_path).map_err(|e| error(e.to_string()))?;
    append(
        &mut tar,
        &meta,
        &in_tar(&manifest_name),
        &manifest[..],
        manifest.len() as u64,
    )
    .map_err(|e| error(format!("archiving {} failed: {e}", manifest_path.display())))?;
    let last_incremental = files
        .iter()
        .rposition(|file| file.kind == FileKind::Incremental);
    for (index, file) in files.iter().enumerate() {
        let failed = |e: String| {
            error(format!(
                "copying {} (pinned as {}) failed: {e}",
                aof_dir.join(&file.name).display(),
                file.path.display()
            ))
        };
        let mut size = file.size;
        if Some(index) == last_incremental {
            // The file Redis appends to: its pinned size may end inside a
            // command that was being written (see `whole_commands`).
            let opened = fs_err::File::open(&file.path).map_err(|e| failed(e.to_string()))?;
            let mut head = BufReader::with_capacity(256 * 1024, opened.take(size));
            size = whole_commands(&mut head)
                .map_err(|e| failed(format!("it is not an AOF file Redis could load: {e}")))?;
        }
        let opened = fs_err::File::open(&file.path).map_err(|e| failed(e.to_string()))?;
        let meta = opened.metadata().map_err(|e| failed(e.to_string()))?;
        let reader = Exact {
            inner: opened.take(size),
            left: size,
            cancel,
        };
        append(&mut tar, &meta, &in_tar(&file.name), reader, size)
            .map_err(|e| failed(e.to_string()))?;
    }
    tar.finish()
        .map_err(|e| error(format!("writing the archive failed: {e}")))?;
    pins.remove()
}

/// Appends one regular file of `size` bytes read from `data`, with the
/// mode, owner and times of `meta`.
fn append(
    tar: &mut tar::Builder<&mut dyn Write>,
    meta: &std::fs::Metadata,
    path: &str,
    data: impl Read,
    size: u64,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    tar.append_data(&mut header, path, data)
}

/// Reads the manifest and links the files it lists into the pin directory
/// until the manifest reads the same before and after: then the pins are
/// one generation. Returns the manifest's bytes and the pinned files with
/// their sizes when linked.
fn pin_generation(
    aof: &AofFiles,
    pins: &PinDir,
    cancel: &Cancel,
) -> Result<(Vec<u8>, Vec<Pinned>), StoreError> {
    let aof_dir = aof.data_dir.join(aof.dirname);
    let manifest_path = aof_dir.join(format!("{}{MANIFEST_SUFFIX}", aof.filename));
    let read_manifest = || {
        fs_err::read(&manifest_path).map_err(|e| {
            let error = StoreError::new(aof.store, format!("cannot read the AOF manifest: {e}"));
            if e.kind() == std::io::ErrorKind::NotFound {
                error.with_help(format!(
                    "data_dir must be the server's `dir` (the directory holding {}/); if appendonly was just turned on, wait until the server's first rewrite has written the manifest",
                    aof.dirname
                ))
            } else {
                error
            }
        })
    };
    for attempt in 1..=ATTEMPTS {
        if let Some(reason) = cancel.reason() {
            return Err(StoreError::new(aof.store, reason));
        }
        let manifest = read_manifest()?;
        let files = parse_manifest(&String::from_utf8_lossy(&manifest))
            .map_err(|e| StoreError::new(aof.store, format!("{}: {e}", manifest_path.display())))?;
        let files_dir = pins.fresh_files_dir()?;
        let mut pinned = Vec::new();
        let mut complete = true;
        for file in files.into_iter().filter(|f| f.kind != FileKind::History) {
            let source = aof_dir.join(&file.name);
            let link = files_dir.join(&file.name);
            // std's error keeps the OS error number that `link_error` reads.
            #[allow(clippy::disallowed_methods)]
            let linked = std::fs::hard_link(&source, &link);
            match linked {
                Ok(()) => {}
                // A rewrite ended and removed the file since the manifest
                // was read: read the new manifest.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    complete = false;
                    break;
                }
                Err(e) => return Err(link_error(aof, &source, &link, e)),
            }
            let size = fs_err::metadata(&link)
                .map_err(|e| StoreError::new(aof.store, e.to_string()))?
                .len();
            pinned.push(Pinned {
                name: file.name,
                path: link,
                size,
                kind: file.kind,
            });
        }
        if complete && read_manifest()? == manifest {
            return Ok((manifest, pinned));
        }
        std::thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
    }
    Err(StoreError::new(
        aof.store,
        format!(
            "the AOF manifest {} changed {ATTEMPTS} times while its files were being linked",
            manifest_path.display()
        ),
    )
    .with_help("the server rewrites its AOF continuously (see auto-aof-rewrite-percentage in its log); run the backup again"))
}

/// Why a file could not be linked, and what to do.
fn link_error(aof: &AofFiles, source: &Path, link: &Path, e: std::io::Error) -> StoreError {
    let message = format!(
        "cannot hard-link {} to {}: {e}",
        source.display(),
        link.display()
    );
    let help = match e.raw_os_error() {
        Some(libc::EXDEV) => format!(
            "{}/ is on another filesystem than data_dir {}: set data_dir to the directory that holds it on the same filesystem",
            aof.dirname,
            aof.data_dir.display()
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => "run cairn as root or as the user Redis runs as: the kernel lets only a file's owner link it (fs.protected_hardlinks)".to_owned(),
        _ => "the AOF is copied through hard links in data_dir; check that it is writable".to_owned(),
    };
    StoreError::new(aof.store, message).with_help(help)
}

/// A pin directory this run holds locked; removed on drop.
struct PinDir {
    store: String,
    dir: tempfile::TempDir,
    /// Locked while the directory exists.
    _lock: File,
}

impl PinDir {
    fn create(aof: &AofFiles) -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix(PIN_PREFIX)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(aof.data_dir)
            .map_err(|e| {
                StoreError::new(
                    aof.store,
                    format!(
                        "cannot create a pin directory in {}: {e}",
                        aof.data_dir.display()
                    ),
                )
                .with_help("the AOF is copied through hard links in a directory cairn creates in data_dir: run cairn as root or as the user Redis runs as")
            })?;
        let path = dir.path().join("lock");
        let lock = fs_err::File::create(&path)
            .map_err(|e| StoreError::new(aof.store, e.to_string()))?
            .into_parts()
            .0;
        lock.try_lock().map_err(|e| {
            StoreError::new(aof.store, format!("cannot lock {}: {e}", path.display()))
        })?;
        Ok(Self {
            store: aof.store.to_owned(),
            dir,
            _lock: lock,
        })
    }

    /// An empty `files` directory in the pin directory, for one attempt.
    fn fresh_files_dir(&self) -> Result<PathBuf, StoreError> {
        let files = self.dir.path().join("files");
        let error = |e: std::io::Error| StoreError::new(&self.store, e.to_string());
        if files.exists() {
            fs_err::remove_dir_all(&files).map_err(error)?;
        }
        fs_err::create_dir(&files).map_err(error)?;
        Ok(files)
    }

    fn remove(self) -> Result<(), StoreError> {
        let path = self.dir.path().display().to_string();
        self.dir.close().map_err(|e| {
            StoreError::new(
                &self.store,
                format!("removing the pin directory {path} failed: {e}"),
            )
        })
    }
}

/// Removes the pin directories in data_dir that no live run holds: those
/// of killed runs.
fn remove_stale_pins(aof: &AofFiles) -> Result<(), StoreError> {
    let error = |e: std::io::Error| StoreError::new(aof.store, e.to_string());
    let entries = fs_err::read_dir(aof.data_dir).map_err(|e| {
        error(e).with_help("data_dir must be the Redis server's `dir`, readable by cairn")
    })?;
    for entry in entries {
        let entry = entry.map_err(error)?;
        let name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !name.to_string_lossy().starts_with(PIN_PREFIX) || !is_dir {
            continue;
        }
        let path = entry.path();
        // The lock, held while this function removes the directory.
        let lock = fs_err::OpenOptions::new()
            .write(true)
            .open(path.join("lock"))
            .map(|file| file.into_parts().0);
        let _lock = match lock {
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(file),
                // A live run's.
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => return Err(error(e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let age = entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                if age.is_none_or(|age| age < LOCKLESS_GRACE) {
                    continue;
                }
                None
            }
            Err(e) => return Err(error(e)),
        };
        fs_err::remove_dir_all(&path).map_err(error)?;
    }
    Ok(())
}

/// A pause between pinning and copying, for the test that forces a
/// rewrite at that moment: with `CAIRN_TEST_AOF_PAUSE` set to a directory,
/// the run creates `pinned` there and waits until `resume` appears (or the
/// run is cancelled).
#[allow(clippy::disallowed_methods)] // A test hook, not configuration.
fn pause_for_tests(store: &str, cancel: &Cancel) -> Result<(), StoreError> {
    let Some(dir) = std::env::var_os("CAIRN_TEST_AOF_PAUSE") else {
        return Ok(());
    };
    let dir = PathBuf::from(dir);
    fs_err::write(dir.join("pinned"), b"").map_err(|e| StoreError::new(store, e.to_string()))?;
    while !dir.join("resume").exists() {
        if let Some(reason) = cancel.reason() {
            return Err(StoreError::new(store, reason));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Reads exactly `left` bytes: a file that shrank while it was copied
/// (Redis truncates its AOF after a failed write) is an error, not a short
/// tar entry.
struct Exact<'a, R> {
    inner: R,
    left: u64,
    cancel: &'a Cancel,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.cancel.check()?;
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was copied ({} bytes missing); run the backup again",
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
