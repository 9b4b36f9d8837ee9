//! The private redis-server that reads an artifact's RDB: the stream
//! spooled into a 0700 directory, the server on a unix socket there.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The private redis-server holding the loaded RDB, and a connection to it.
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
    /// Starts redis-server on `dir/dump.rdb` (`size` bytes) and waits until
    /// it has loaded it.
    pub fn start(
        store: &str,
        dir: tempfile::TempDir,
        size: u64,
        cancel: &Cancel,
    ) -> Result<Self, StoreError> {
        let socket = dir.path().join("s.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir.path())
            .args(["--dbfilename", STREAM, "--save", "", "--appendonly", "no"])
            .args(["--databases", SCRATCH_DATABASES, "--daemonize", "no", "--logfile"])
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StoreError::new(store, "`redis-server` was not found on PATH: cairn loads the RDB into a private redis-server to read it")
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
                    "an RDB from a newer Redis needs a redis-server at least as new on this host (this one: {}); the artifact's manifest names the redis-cli that made it",
                    ToolCommand::new("redis-server", &None).version()
                )
            } else {
                "the log says why: an RDB that needs a Redis module, or a damaged one, cannot be loaded; a very large one may need more memory or time".to_owned()
            };
            StoreError::new(store, format!("{what}; its log ends:\n{log}")).with_help(help)
        };
        loop {
            if let Some(status) = process.child.try_wait().ok().flatten() {
                return Err(fail(
                    &process,
                    format!("redis-server could not load `{STREAM}` ({status})"),
                ));
            }
            if let Some(reason) = cancel.reason() {
                return Err(StoreError::new(store, reason));
            }
            if Instant::now() > deadline {
                return Err(fail(
                    &process,
                    format!(
                        "redis-server did not finish loading `{STREAM}` ({size} bytes) within {} s",
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
