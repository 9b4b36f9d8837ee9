//! The private redis-server that reads an artifact's data: the RDB stream
//! spooled, or the AOF directory unpacked (and checked with
//! `redis-check-aof`), into a 0700 directory, the server on a unix socket
//! there.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::aof::{self, MANIFEST_SUFFIX};
use super::resp::{Address, Connection};
use super::{REPLY_TIMEOUT, STREAM};
use crate::cancel::Cancel;
use crate::stores::{StoreError, ToolCommand};

/// How long the private redis-server may take to answer, on top of loading.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A loading speed far below redis-server's, for the bound on the wait.
const LOAD_BYTES_PER_SECOND: u64 = 8 * 1024 * 1024;
/// redis-server refuses an RDB whose database numbers reach its `databases`
/// (16 by default); more than any configuration uses costs a few KiB.
const SCRATCH_DATABASES: &str = "256";
/// How many lines of the private server's log an error quotes.
const LOG_LINES: usize = 12;

/// Writes `input` to `dir/dump.rdb`; returns its size. Fails, before any
/// server sees the data, when `input` fails (a checksum mismatch) or the
/// bytes are not an RDB.
pub(super) fn spool(
    store: &str,
    dir: &Path,
    input: &mut dyn Read,
    cancel: &Cancel,
) -> Result<u64, StoreError> {
    let path = dir.join(STREAM);
    let write_error = |e: std::io::Error| {
        StoreError::new(store, format!("writing {} failed: {e}", path.display()))
            .with_help("set TMPDIR to a directory with room for the RDB")
    };
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(write_error)?;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut size = 0u64;
    loop {
        if let Some(reason) = cancel.reason() {
            return Err(StoreError::new(store, reason));
        }
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StoreError::new(
                    store,
                    format!("reading the artifact failed: {e}; nothing was loaded"),
                ))
            }
        };
        if head.len() < 5 {
            head.extend_from_slice(&buffer[..n.min(5 - head.len())]);
        }
        file.write_all(&buffer[..n]).map_err(write_error)?;
        size += n as u64;
    }
    file.sync_all().map_err(write_error)?;
    if head != b"REDIS" {
        return Err(StoreError::new(
            store,
            format!("the stream `{STREAM}` is not an RDB file (it does not start with `REDIS`)"),
        ));
    }
    Ok(size)
}

/// What the private server loads from its directory.
pub(super) enum Data {
    /// `dump.rdb`.
    Rdb,
    /// An AOF directory, named as on the server the artifact came from.
    Aof {
        /// Its `appenddirname`.
        dirname: String,
        /// Its `appendfilename`: the manifest is `FILENAME.manifest`.
        filename: String,
    },
}

impl Data {
    /// The artifact's stream it came from.
    fn stream(&self) -> &'static str {
        match self {
            Data::Rdb => STREAM,
            Data::Aof { .. } => aof::STREAM,
        }
    }

    /// redis-server's arguments that make it load the data.
    fn server_args(&self) -> Vec<String> {
        let args = match self {
            Data::Rdb => vec!["--dbfilename", STREAM, "--appendonly", "no"],
            Data::Aof { dirname, filename } => vec![
                "--appendonly",
                "yes",
                "--appenddirname",
                dirname.as_str(),
                "--appendfilename",
                filename.as_str(),
                // The copy holds whole commands only: a cut file is damage.
                "--aof-load-truncated",
                "no",
                "--appendfsync",
                "no",
                "--auto-aof-rewrite-percentage",
                "0",
            ],
        };
        args.into_iter().map(str::to_owned).collect()
    }
}

/// The AOF directory in the tar `input`, unpacked into `dir` (confined to
/// it) and checked with `redis-check-aof`; its names, its size, and what
/// redis-check-aof concluded.
pub(super) fn unpack_aof(
    store: &str,
    dir: &Path,
    input: &mut dyn Read,
    cancel: &Cancel,
) -> Result<(Data, u64, String), StoreError> {
    crate::stores::target::extract_tar(input, cancel, dir)
        .map_err(|e| StoreError::new(store, format!("{}: {e}", aof::STREAM)))?;
    let (aof_dir, manifest) = find_manifest(store, dir)?;
    let mut size = 0;
    for entry in fs_err::read_dir(&aof_dir).map_err(|e| StoreError::new(store, e))? {
        let meta = entry.and_then(|entry| entry.metadata());
        size += meta.map_err(|e| StoreError::new(store, e))?.len();
    }
    let verdict = check_aof(store, &manifest)?;
    let name = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let manifest_name = name(&manifest);
    let data = Data::Aof {
        dirname: name(&aof_dir),
        filename: manifest_name
            .strip_suffix(MANIFEST_SUFFIX)
            .unwrap_or(&manifest_name)
            .to_owned(),
    };
    Ok((data, size, verdict))
}

/// The one AOF directory an unpacked `appendonlydir.tar` holds, and the
/// manifest in it.
pub(super) fn find_manifest(store: &str, dir: &Path) -> Result<(PathBuf, PathBuf), StoreError> {
    let not_aof = |why: &str| {
        StoreError::new(
            store,
            format!(
                "the stream `{}` is not an AOF directory: {why}",
                aof::STREAM
            ),
        )
    };
    let io = |e: std::io::Error| StoreError::new(store, e);
    let mut found = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        for file in fs_err::read_dir(entry.path()).map_err(io)? {
            let file = file.map_err(io)?;
            if file
                .file_name()
                .to_string_lossy()
                .ends_with(MANIFEST_SUFFIX)
                && file.file_type().map_err(io)?.is_file()
            {
                found.push((entry.path(), file.path()));
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(not_aof("it holds no `*.manifest` file in a directory")),
        _ => Err(not_aof("it holds more than one manifest")),
    }
}

/// `redis-check-aof` on `manifest`: its verdict, or the error quoting it.
fn check_aof(store: &str, manifest: &Path) -> Result<String, StoreError> {
    let output = Command::new("redis-check-aof")
        .arg(manifest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::new(store, "`redis-check-aof` was not found on PATH: cairn checks an AOF with it before loading it")
                    .with_help("install Redis's tools (Debian/Ubuntu: `apt install redis-tools`)")
            } else {
                StoreError::new(store, format!("cannot run `redis-check-aof`: {e}"))
            }
        })?;
    let said = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = said
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(LOG_LINES)..].join("\n");
    if output.status.success() {
        return Ok(lines.last().unwrap_or(&"valid").trim().to_owned());
    }
    Err(StoreError::new(
        store,
        format!(
            "redis-check-aof finds the AOF in the artifact damaged ({}); it said:\n{tail}",
            output.status
        ),
    )
    .with_help("the artifact matched its checksums, so the AOF was damaged on the server when it was copied: take a new backup; `redis-check-aof --fix` on an unpacked copy keeps its valid part"))
}

/// The private redis-server holding the loaded data, and a connection to it.
pub(super) struct ScratchServer {
    pub connection: Connection,
    process: ServerProcess,
}

/// A redis-server process leading its own process group, and its private
/// directory; killed and removed on drop.
struct ServerProcess {
    child: Child,
    dir: Option<tempfile::TempDir>,
    cancel: Cancel,
}

impl ScratchServer {
    /// Starts redis-server on `data` in `dir` (`size` bytes) and waits
    /// until it has loaded it.
    pub fn start(
        store: &str,
        dir: tempfile::TempDir,
        data: &Data,
        size: u64,
        cancel: &Cancel,
    ) -> Result<Self, StoreError> {
        let stream = data.stream();
        let socket = dir.path().join("s.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir.path())
            .args(data.server_args())
            .args(["--save", ""])
            .args(["--databases", SCRATCH_DATABASES, "--daemonize", "no", "--logfile"])
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StoreError::new(store, "`redis-server` was not found on PATH: cairn loads the artifact's RDB or AOF into a private redis-server to read it")
                        .with_help("install Redis's server (Debian/Ubuntu: `apt install redis-server`); it need not run as a service")
                } else {
                    StoreError::new(store, format!("cannot run `redis-server`: {e}"))
                }
            })?;
        cancel.register(child.id());
        let mut process = ServerProcess {
            child,
            dir: Some(dir),
            cancel: cancel.clone(),
        };
        let bound = START_TIMEOUT + Duration::from_secs(size / LOAD_BYTES_PER_SECOND);
        let deadline = Instant::now() + bound;
        let fail = |process: &ServerProcess, what: String| {
            let log = process.log_tail();
            let help = if log.contains("RDB format version") {
                format!(
                    "data from a newer Redis needs a redis-server at least as new on this host (this one: {}); the artifact's manifest names the redis-cli that made it",
                    ToolCommand::new("redis-server", &None).version()
                )
            } else {
                "the log says why: data that needs a Redis module, or damaged data, cannot be loaded; a very large data set may need more memory or time".to_owned()
            };
            StoreError::new(store, format!("{what}; its log ends:\n{log}")).with_help(help)
        };
        loop {
            if let Some(status) = process.child.try_wait().ok().flatten() {
                return Err(fail(
                    &process,
                    format!("redis-server could not load `{stream}` ({status})"),
                ));
            }
            if let Some(reason) = cancel.reason() {
                return Err(StoreError::new(store, reason));
            }
            if Instant::now() > deadline {
                return Err(fail(
                    &process,
                    format!(
                        "redis-server did not finish loading `{stream}` ({size} bytes) within {} s",
                        bound.as_secs()
                    ),
                ));
            }
            if let Some(connection) = loaded(&socket) {
                return Ok(ScratchServer {
                    connection,
                    process,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Stops the server and removes its directory.
    pub fn stop(self) -> Result<(), std::io::Error> {
        let ScratchServer {
            connection,
            mut process,
        } = self;
        drop(connection);
        process.kill();
        match process.dir.take() {
            Some(dir) => {
                let path = dir.path().display().to_string();
                dir.close().map_err(|e| {
                    std::io::Error::new(e.kind(), format!("removing {path} failed: {e}"))
                })
            }
            None => Ok(()),
        }
    }
}

/// A connection to the server on `socket` once it answers PING (not
/// `-LOADING`) and has finished loading.
fn loaded(socket: &Path) -> Option<Connection> {
    let probe = Duration::from_secs(5);
    let mut connection =
        Connection::open(&Address::Unix(socket.to_owned()), None, None, probe).ok()?;
    connection.command(&["PING"]).ok()?;
    let info = connection.text(&["INFO", "persistence"]).ok()?;
    if !info.lines().any(|line| line.trim() == "loading:0") {
        return None;
    }
    connection.set_timeout(REPLY_TIMEOUT).ok()?;
    Some(connection)
}

impl ServerProcess {
    fn kill(&mut self) {
        self.cancel.unregister(self.child.id());
        if self.child.try_wait().ok().flatten().is_none() {
            crate::cancel::signal_group(self.child.id(), libc::SIGKILL);
            let _ = self.child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = self.dir.as_ref().map(|dir| dir.path().join("redis.log"));
        let text = log
            .and_then(|log| fs_err::read_to_string(log).ok())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
