//! Running dump tools: directly or through an `exec` prefix (such as
//! `docker exec -i NAME`), with secrets in the environment, never on the
//! command line, and stderr kept for the error message.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::cancel::Cancel;

/// The most of a tool's stderr an error message quotes.
const STDERR_LIMIT: usize = 4096;

#[derive(Debug, Clone)]
pub struct ToolCommand {
    /// The tool, e.g. `pg_dump`.
    pub program: String,
    pub args: Vec<String>,
    /// Extra environment, e.g. PGPASSWORD; never shown.
    pub env: Vec<(String, String)>,
    /// A prefix the tool runs through.
    pub exec: Option<Vec<String>>,
}

impl ToolCommand {
    pub fn new(program: &str, exec: &Option<Vec<String>>) -> Self {
        Self {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            exec: exec.clone(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The command line as run (arguments never hold secrets).
    pub fn display(&self) -> String {
        let mut words: Vec<&str> = self.exec.iter().flatten().map(String::as_str).collect();
        words.push(&self.program);
        words.extend(self.args.iter().map(String::as_str));
        words.join(" ")
    }

    fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut words: Vec<&str> = self.exec.iter().flatten().map(String::as_str).collect();
        words.push(&self.program);
        let mut command = Command::new(words[0]);
        command.args(&words[1..]).args(&self.args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // Its own process group, so that stopping it stops what it started.
        command.process_group(0);
        command
    }

    fn spawn_error(&self, error: std::io::Error) -> ToolError {
        let tool = self
            .exec
            .as_ref()
            .and_then(|e| e.first())
            .unwrap_or(&self.program);
        if error.kind() == std::io::ErrorKind::NotFound {
            ToolError::NotFound {
                tool: tool.clone(),
                command: self.display(),
            }
        } else {
            ToolError::CannotRun {
                command: self.display(),
                source: error,
            }
        }
    }

    fn stopped(&self, reason: String) -> ToolError {
        ToolError::Stopped {
            program: self.program.clone(),
            reason,
        }
    }

    fn wait_error(&self, source: std::io::Error) -> ToolError {
        ToolError::Wait {
            program: self.program.clone(),
            source,
        }
    }

    fn failed(&self, status: std::process::ExitStatus, detail: String) -> ToolError {
        ToolError::Failed {
            command: self.display(),
            ending: match status.code() {
                Some(code) => Ending::Exited(code),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    Ending::Killed(status.signal())
                }
            },
            detail,
        }
    }

    /// Runs the tool, streaming its stdout into `out`. Fails when the tool
    /// exits non-zero, is killed, or `out` refuses the bytes. On success,
    /// returns what the tool said on stderr (its end, at most
    /// [`STDERR_LIMIT`] bytes; empty when it said nothing), which the run
    /// keeps as a warning.
    pub fn stream_to(&self, out: &mut dyn Write, cancel: &Cancel) -> Result<String, ToolError> {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        cancel.register(child.id());
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr_reader = std::thread::spawn(move || tail_of(&mut stderr));
        let mut stdout = child.stdout.take().expect("stdout is piped");
        widen_pipe(&stdout);
        let mut buffer = vec![0u8; 256 * 1024];
        let copied: std::io::Result<()> = (|| loop {
            let n = stdout.read(&mut buffer)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buffer[..n])?;
        })();
        if copied.is_err() {
            // The pipeline gave up (a destination, a cancel): stop the tool
            // and everything it started.
            crate::cancel::signal_group(child.id(), libc::SIGKILL);
        }
        drop(stdout);
        let status = child.wait();
        cancel.unregister(child.id());
        let stderr = stderr_text(stderr_reader.join().unwrap_or_default());
        if let Some(reason) = cancel.reason() {
            return Err(self.stopped(reason));
        }
        copied.map_err(|source| ToolError::WriteOutput {
            program: self.program.clone(),
            source,
        })?;
        let status = status.map_err(|e| self.wait_error(e))?;
        if status.success() {
            return Ok(stderr);
        }
        Err(self.failed(status, stderr))
    }

    /// Runs the tool with `input` on its stdin and returns its stdout (for
    /// loaders such as `pg_restore` and `mariadb`, whose stdout is small).
    /// When `input` fails (a checksum mismatch, a decompression error, a
    /// cancel), the tool and everything it started are killed before it
    /// sees the end of its input, and the input's error is returned.
    pub fn feed_from(&self, input: &mut dyn Read, cancel: &Cancel) -> Result<String, ToolError> {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        cancel.register(child.id());
        let output_readers = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .map(|stream| {
            let mut stream = stream.expect("stdout and stderr are piped");
            std::thread::spawn(move || tail_of(&mut *stream))
        });
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let mut buffer = vec![0u8; 256 * 1024];
        let mut input_error = None;
        let copied: std::io::Result<()> = (|| loop {
            let n = match input.read(&mut buffer) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    input_error = Some(e.to_string());
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            stdin.write_all(&buffer[..n])?;
        })();
        if input_error.is_some() {
            // Kill before closing stdin: the tool must never take a cut-off
            // input for a complete one.
            crate::cancel::signal_group(child.id(), libc::SIGKILL);
        }
        drop(stdin);
        let status = child.wait();
        cancel.unregister(child.id());
        let [stdout, stderr] = output_readers.map(|reader| {
            String::from_utf8_lossy(&reader.join().unwrap_or_default())
                .trim()
                .to_owned()
        });
        if let Some(reason) = cancel.reason() {
            return Err(self.stopped(reason));
        }
        if let Some(error) = input_error {
            return Err(ToolError::Input {
                error,
                program: self.program.clone(),
            });
        }
        let status = status.map_err(|e| self.wait_error(e))?;
        if status.success() {
            if copied.is_err() {
                // The tool was done before its input was: read the rest, so
                // that a checking reader still sees the end.
                std::io::copy(input, &mut std::io::sink()).map_err(ToolError::ReadArtifact)?;
            }
            return Ok(stdout);
        }
        let detail = if stderr.is_empty() {
            if let Err(e) = copied {
                e.to_string()
            } else {
                String::new()
            }
        } else {
            stderr
        };
        Err(self.failed(status, detail))
    }

    /// Runs the tool to completion and returns its stdout.
    pub fn output(&self) -> Result<String, ToolError> {
        let output = self
            .command()
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(self.failed(
                output.status,
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ))
        }
    }

    /// The first line of `TOOL --version`, or why it is unknown.
    pub fn version(&self) -> String {
        let mut version = self.clone();
        version.args = vec!["--version".to_owned()];
        match version.output() {
            Ok(text) => text.lines().next().unwrap_or("").trim().to_owned(),
            Err(_) => "unknown".to_owned(),
        }
    }
}

/// Why a tool run failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("`{tool}` was not found on PATH (running `{command}`)")]
    NotFound { tool: String, command: String },
    #[error("cannot run `{command}`: {source}")]
    CannotRun {
        command: String,
        source: std::io::Error,
    },
    #[error("`{program}` was stopped: {reason}")]
    Stopped { program: String, reason: String },
    #[error("writing the output of `{program}` failed: {source}")]
    WriteOutput {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` could not be waited for: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    #[error("reading the artifact failed: {error}; `{program}` was stopped")]
    Input { error: String, program: String },
    #[error("reading the artifact failed: {0}")]
    ReadArtifact(std::io::Error),
    #[error("`{command}` {ending}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Failed {
        command: String,
        ending: Ending,
        detail: String,
    },
}

/// How a tool that failed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// By this signal, when known.
    Killed(Option<i32>),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exited {code}"),
            Ending::Killed(Some(signal)) => match signal_name(*signal) {
                Some(name) => write!(f, "was killed by {name}"),
                None => write!(f, "was killed by signal {signal}"),
            },
            Ending::Killed(None) => f.write_str("was killed by a signal"),
        }
    }
}

/// The name of a signal that ends tools, e.g. `SIGKILL` (the OOM killer, or
/// an operator), `SIGSEGV` (a crash).
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// Reads `stream` to its end and keeps the last [`STDERR_LIMIT`] bytes,
/// after "…" when there was more.
fn tail_of(stream: &mut dyn Read) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut cut = false;
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buffer[..n]);
        if tail.len() > 2 * STDERR_LIMIT {
            tail.drain(..tail.len() - STDERR_LIMIT);
            cut = true;
        }
    }
    if tail.len() > STDERR_LIMIT {
        tail.drain(..tail.len() - STDERR_LIMIT);
        cut = true;
    }
    if cut {
        tail.splice(0..0, "…".bytes());
    }
    tail
}

/// A tool's stderr as text: what [`tail_of`] kept, trimmed, cut to
/// [`STDERR_LIMIT`] characters.
fn stderr_text(tail: Vec<u8>) -> String {
    let text = String::from_utf8_lossy(&tail);
    let text = text.trim();
    match text.char_indices().rev().nth(STDERR_LIMIT - 1) {
        Some((at, _)) if at > 0 => format!("…{}", &text[at..]),
        _ => text.to_owned(),
    }
}

/// Asks for a 1 MiB pipe instead of Linux's 64 KiB, so the dump tool can run
/// ahead while cairn compresses and they switch less often. Best effort: an
/// unprivileged process may be held to `/proc/sys/fs/pipe-max-size`.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: F_SETPIPE_SZ only resizes the pipe behind a descriptor we own.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}
