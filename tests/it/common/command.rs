//! Running programs: [`Cairn`], the one way a test runs the cairn binary,
//! and [`tool`] for every other program a test needs.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What a finished `cairn` did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `cairn` command to run: the arguments, the environment, what goes on
/// stdin, and what the test expects of the exit status and the output.
/// Like just's `Test`, it does nothing until [`Cairn::run`], which runs the
/// real binary, checks the expectations, and returns the [`Run`] for any
/// further assertions.
#[must_use]
pub struct Cairn {
    command: Command,
    stdin: Option<String>,
    status: Option<i32>,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
}

impl Cairn {
    /// `cairn` in `dir` with a clean, deterministic environment: no colours,
    /// a fixed width, and only the variables a test sets itself. The AWS SDK
    /// never probes the instance-metadata address (tests stay on loopback).
    pub fn new(dir: &Path) -> Self {
        Self::wrapped(dir, &[])
    }

    /// [`Cairn::new`] run through `wrapper` (a program and its arguments,
    /// the last of which is followed by cairn's path and then its
    /// arguments), e.g. a shell that first sets up a network namespace.
    pub fn wrapped(dir: &Path, wrapper: &[&str]) -> Self {
        let cairn = env!("CARGO_BIN_EXE_cairn");
        let mut command = match wrapper.split_first() {
            None => Command::new(cairn),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(cairn);
                command
            }
        };
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        Cairn {
            command,
            stdin: None,
            status: None,
            stdout_has: Vec::new(),
            stderr_has: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.command.args(args);
        self
    }

    /// `--config PATH`.
    pub fn config(self, path: impl AsRef<OsStr>) -> Self {
        self.arg("--config").arg(path)
    }

    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn envs(
        mut self,
        vars: impl IntoIterator<Item = (impl AsRef<OsStr>, impl AsRef<OsStr>)>,
    ) -> Self {
        self.command.envs(vars);
        self
    }

    /// The clock cairn reads (`CAIRN_NOW`), an RFC 3339 time.
    pub fn now(self, now: &str) -> Self {
        self.env("CAIRN_NOW", now)
    }

    /// Writes `input` to cairn's stdin (cairn need not read all of it).
    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_owned());
        self
    }

    /// cairn must exit with `code`.
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// cairn's stdout must contain `part`.
    pub fn stdout_has(mut self, part: &str) -> Self {
        self.stdout_has.push(part.to_owned());
        self
    }

    /// cairn's stderr must contain `part`.
    pub fn stderr_has(mut self, part: &str) -> Self {
        self.stderr_has.push(part.to_owned());
        self
    }

    /// The command, for a test that starts cairn itself (in the background,
    /// with pipes of its own); no expectation is checked.
    pub fn into_command(self) -> Command {
        self.command
    }

    /// Runs cairn to the end and checks what was expected of it.
    pub fn run(mut self) -> Run {
        let shown = shown(&self.command);
        let Output {
            status,
            stdout,
            stderr,
        } = match &self.stdin {
            None => self.command.output().expect("cairn runs"),
            Some(input) => {
                let mut child = self
                    .command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("cairn runs");
                let written = child
                    .stdin
                    .take()
                    .expect("stdin is piped")
                    .write_all(input.as_bytes());
                // cairn need not read what it rejects, e.g. after a bad --policy.
                if let Err(error) = written {
                    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
                }
                child.wait_with_output().expect("cairn runs")
            }
        };
        let run = Run {
            code: status
                .code()
                .expect("cairn exits with a code, not a signal"),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        if let Some(code) = self.status {
            assert_eq!(
                run.code, code,
                "`{shown}`\nstdout:\n{}\nstderr:\n{}",
                run.stdout, run.stderr
            );
        }
        for part in &self.stdout_has {
            assert!(
                run.stdout.contains(part),
                "`{shown}`: no {part:?} in stdout:\n{}",
                run.stdout
            );
        }
        for part in &self.stderr_has {
            assert!(
                run.stderr.contains(part),
                "`{shown}`: no {part:?} in stderr:\n{}",
                run.stderr
            );
        }
        run
    }
}

/// Runs a program the test needs and returns its stdout; fails the test
/// with the program's stderr when it fails.
pub fn tool(command: &mut Command) -> String {
    String::from_utf8_lossy(&tool_bytes(command)).into_owned()
}

/// [`tool`], for output that need not be text.
pub fn tool_bytes(command: &mut Command) -> Vec<u8> {
    let shown = shown(command);
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("`{shown}` cannot run: {e}"));
    assert!(
        output.status.success(),
        "`{shown}` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The command line without the environment (which may hold passwords).
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| word.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `cairn` running in the background, its output going to files; killed
/// if the test fails first.
pub struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    /// Starts `cairn`, its output in `DIR/NAME.stdout` and `DIR/NAME.stderr`.
    pub fn spawn(cairn: Cairn, dir: &Path, name: &str) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = cairn
            .into_command()
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("cairn starts");
        Background {
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit, at most `limit`.
    pub fn wait(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cairn did not exit within {limit:?}:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status
                .code()
                .expect("cairn exits with a code, not a signal"),
            stdout: std::fs::read_to_string(&self.stdout).unwrap(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
