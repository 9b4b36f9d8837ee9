//! `cairn run` end to end against the real servers (SPEC §5, §8): every
//! store kind is backed up to a local directory and to S3 (Garage), and each
//! copy is brought back the way an operator would — downloaded with the aws
//! CLI, decrypted with age, decompressed with zstd or gzip, loaded with the
//! store's own tools — and compared with the source.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::common::{Run, Servers};

/// The job every test runs; its store is always `source`.
pub(crate) const JOB: &str = "app";

/// One test's private world: a temporary directory holding backup.toml, the
/// local destination (`backups/`) and the state dir (`--root root`), plus an
/// S3 prefix and server-side names no other test or suite run uses.
pub(crate) struct Sandbox {
    servers: Servers,
    dir: tempfile::TempDir,
    /// `TEST_PID`: the test's name and the process ID.
    pub(crate) unique: String,
    /// What every cairn command of the test gets on top of the servers'
    /// variables: the ones backup.toml interpolates, PGPASSWORD, MYSQL_PWD.
    env: Vec<(String, String)>,
    /// Commands that remove what the test made on the servers, run when
    /// the sandbox is dropped, whether the test passed or not.
    cleanup: RefCell<Vec<Command>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for mut command in self.cleanup.take().into_iter().rev() {
            let _ = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Sandbox {
    pub(crate) fn new(test: &str) -> Self {
        Sandbox {
            servers: Servers::get(),
            dir: tempfile::tempdir().unwrap(),
            unique: format!("{test}_{}", std::process::id()),
            env: Vec::new(),
            cleanup: RefCell::new(Vec::new()),
        }
    }

    /// Runs `command` when the test ends, to remove something it made.
    pub(crate) fn clean_up_with(&self, command: Command) {
        self.cleanup.borrow_mut().push(command);
    }

    /// Passes `name` with the server's value of `from` to every cairn command.
    pub(crate) fn pass_env(&mut self, name: &str, from: &str) {
        let value = self.var(from).to_owned();
        self.env.push((name.to_owned(), value));
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn var(&self, name: &str) -> &str {
        self.servers.var(name)
    }

    fn bucket(&self) -> &str {
        self.var("CAIRN_TEST_S3_BUCKET")
    }

    fn prefix(&self) -> String {
        format!("run_stores/{}", self.unique)
    }

    /// Writes backup.toml: the store `source` (the given TOML lines), the
    /// destinations `local` and `offsite` (S3), and job `app` from one to
    /// the other, with `job` as extra lines of the job's table.
    pub(crate) fn write_config(&self, store: &str, job: &str) {
        let config = format!(
            r#"[settings]
scheduler = "none"

[stores.source]
{store}

[destinations.local]
kind = "local"
path = "backups"

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
endpoint = "{endpoint}"
path_style = true
region = "garage"

[jobs.{JOB}]
store = "source"
schedule = {{ cron = "@daily" }}
to = ["local", "offsite"]
retention = {{ keep_last = 7 }}
{job}
"#,
            bucket = self.bucket(),
            prefix = self.prefix(),
            endpoint = self.var("CAIRN_TEST_S3_ENDPOINT"),
        );
        std::fs::write(self.path().join("backup.toml"), config).unwrap();
        let mut remove = Command::new("aws");
        remove.args(["s3", "rm", "--recursive", "--only-show-errors"]);
        remove.arg(format!("s3://{}/{}/", self.bucket(), self.prefix()));
        self.clean_up_with(remove);
    }

    /// `cairn --root root ARGS` with the servers' PATH and AWS credentials
    /// and the sandbox's `env` on top: nothing else of the test's environment.
    pub(crate) fn cairn(&self, args: &[&str]) -> Command {
        let mut command = self.servers.cairn(self.path());
        command.args(["--root", "root"]).args(args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs the job, asserts that it succeeded, and returns the run's ID
    /// from cairn's closing line.
    pub(crate) fn run_job(&self, env: &[(&str, &str)]) -> String {
        let (run, _) = self.run_watching(env);
        successful_run_id(&run)
    }

    /// Runs the job (with `env` as well) while scanning /proc for every
    /// process cairn starts; returns the output and the command lines seen.
    fn run_watching(&self, env: &[(&str, &str)]) -> (Run, BTreeSet<String>) {
        let mut child = self
            .cairn(&["run", JOB])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn starts");
        let stdout = read_in_background(child.stdout.take().unwrap());
        let stderr = read_in_background(child.stderr.take().unwrap());
        let mut command_lines = BTreeSet::new();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            command_lines.extend(descendant_command_lines(child.id()));
            std::thread::sleep(Duration::from_millis(2));
        };
        let run = Run {
            code: status.code().expect("cairn exits with a code"),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        (run, command_lines)
    }

    /// A fresh age key pair: the identity file and its recipient.
    pub(crate) fn age_key(&self) -> (PathBuf, String) {
        let identity = self.path().join("age-identity.txt");
        tool(Command::new("age-keygen").arg("-o").arg(&identity));
        let recipient = tool(Command::new("age-keygen").arg("-y").arg(&identity));
        (identity, recipient.trim().to_owned())
    }

    /// Artifact `id` of the job at both destinations, after checking what
    /// every artifact must satisfy: exactly `streams` (stored names, in
    /// order) plus `manifest.json` under `JOB/ID/`, the same manifest at both
    /// destinations with checksums and sizes that match the stored objects,
    /// private local permissions, cairn's mark on the S3 objects, and a
    /// successful run in `cairn history --json`.
    fn artifact(&self, id: &str, kind: &str, streams: &[&str]) -> Artifact {
        let scratch = self.path().join(format!("fetched-{id}"));
        let local = self.path().join("backups").join(JOB).join(id);
        let s3 = scratch.join("s3");
        tool(Command::new("aws").args([
            "s3",
            "cp",
            "--recursive",
            "--only-show-errors",
            &format!("s3://{}/{}/{JOB}/{id}/", self.bucket(), self.prefix()),
            s3.to_str().unwrap(),
        ]));

        let mut expected: BTreeSet<String> = streams.iter().map(|s| s.to_string()).collect();
        expected.insert("manifest.json".to_owned());
        assert_eq!(
            file_names(&local),
            expected,
            "the local artifact holds one object per stream and the manifest"
        );
        assert_eq!(
            relative_files(&s3),
            expected,
            "the S3 artifact holds one object per stream and the manifest"
        );

        for dir in [local.parent().unwrap(), local.as_path()] {
            let mode = std::fs::metadata(dir).unwrap().mode() & 0o7777;
            assert_eq!(mode, 0o700, "{} is private", dir.display());
        }
        for name in &expected {
            let mode = std::fs::metadata(local.join(name)).unwrap().mode() & 0o7777;
            assert_eq!(mode, 0o600, "{name} is private");
        }

        let manifest_text = std::fs::read_to_string(local.join("manifest.json")).unwrap();
        assert_eq!(
            std::fs::read_to_string(s3.join("manifest.json")).unwrap(),
            manifest_text,
            "both destinations hold the same manifest"
        );
        let manifest: serde_json::Value = serde_json::from_str(&manifest_text).unwrap();
        assert_eq!(manifest["format_version"], 1);
        assert_eq!(manifest["job"], JOB);
        assert_eq!(manifest["id"], id);
        assert_eq!(manifest["reason"], "manual");
        assert_eq!(manifest["store"]["name"], "source");
        assert_eq!(manifest["store"]["kind"], kind);
        let time = |field: &str| {
            chrono::DateTime::parse_from_rfc3339(manifest[field].as_str().unwrap()).unwrap()
        };
        assert!(time("started_at") <= time("finished_at"), "{manifest_text}");
        for (tool, version) in manifest["tools"].as_object().unwrap() {
            assert_ne!(version, "unknown", "the version of {tool} is recorded");
        }
        let records = manifest["streams"].as_array().unwrap();
        let names: Vec<&str> = records
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, streams, "streams in the manifest, in order");

        let copies = vec![
            StoredCopy {
                label: "local",
                dir: local,
            },
            StoredCopy {
                label: "s3",
                dir: s3,
            },
        ];
        for record in records {
            let name = record["name"].as_str().unwrap();
            for copy in &copies {
                let bytes = std::fs::read(copy.dir.join(name)).unwrap();
                assert_eq!(
                    bytes.len() as u64,
                    record["stored_size"].as_u64().unwrap(),
                    "{name} at {}: stored size",
                    copy.label
                );
                assert_eq!(
                    format!("{:x}", Sha256::digest(&bytes)),
                    record["sha256"].as_str().unwrap(),
                    "{name} at {}: the manifest's checksum is that of the stored object",
                    copy.label
                );
            }
        }

        self.check_s3_marks(id, &expected);
        self.check_history(id, &manifest);
        Artifact {
            manifest,
            manifest_text,
            copies,
            scratch,
            identity: None,
        }
    }

    /// Every object of the artifact carries `cairn-job` and `cairn-run-id`.
    fn check_s3_marks(&self, id: &str, names: &BTreeSet<String>) {
        let heads: Vec<(String, std::process::Child)> = names
            .iter()
            .map(|name| {
                let key = format!("{}/{JOB}/{id}/{name}", self.prefix());
                let child = Command::new("aws")
                    .args(["s3api", "head-object", "--bucket", self.bucket(), "--key"])
                    .arg(&key)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("aws runs");
                (key, child)
            })
            .collect();
        for (key, child) in heads {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "aws s3api head-object {key}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let head: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(head["Metadata"]["cairn-job"], JOB, "{key}: {head}");
            assert_eq!(head["Metadata"]["cairn-run-id"], id, "{key}: {head}");
        }
    }

    /// `cairn history --json` lists the run as a success at both destinations.
    fn check_history(&self, id: &str, manifest: &serde_json::Value) {
        let history = crate::common::run(&mut self.cairn(&["history", "--json"]));
        assert_eq!(history.code, 0, "{}", history.stderr);
        let records: Vec<serde_json::Value> = serde_json::from_str(&history.stdout).unwrap();
        let record = records
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("run {id} is in the history:\n{}", history.stdout));
        assert_eq!(record["job"], JOB);
        assert_eq!(record["outcome"], "success", "{record}");
        assert_eq!(record["destinations"]["local"]["outcome"], "success");
        assert_eq!(record["destinations"]["offsite"]["outcome"], "success");
        let raw: u64 = manifest["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["raw_size"].as_u64().unwrap())
            .sum();
        assert_eq!(record["raw_size"], raw, "{record}");
    }
}

/// One destination's copy of an artifact, on local disk: the local
/// destination's directory itself, or the S3 objects downloaded.
struct StoredCopy {
    label: &'static str,
    dir: PathBuf,
}

struct Artifact {
    manifest: serde_json::Value,
    manifest_text: String,
    copies: Vec<StoredCopy>,
    scratch: PathBuf,
    /// Decrypts `.age` objects.
    identity: Option<PathBuf>,
}

impl Artifact {
    /// The data of stream `stored` (e.g. `db-app.pgdump.zst`) as the dump
    /// wrote it, from each copy: decrypted with `age -d`, decompressed with
    /// `zstd -d` or `gzip -d`. Checks the raw size the manifest records.
    fn decoded(&self, stored: &str) -> Vec<(&'static str, PathBuf)> {
        let record = self.manifest["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == stored)
            .unwrap_or_else(|| panic!("{stored} is in the manifest"));
        self.copies
            .iter()
            .map(|copy| {
                let dir = self.scratch.join(format!("decoded-{}", copy.label));
                std::fs::create_dir_all(&dir).unwrap();
                let mut name = stored.to_owned();
                let mut file = dir.join(&name);
                std::fs::copy(copy.dir.join(stored), &file).unwrap();
                if let Some(inner) = name.strip_suffix(".age") {
                    let identity = self.identity.as_ref().expect("an identity for .age");
                    let plain = dir.join(inner);
                    tool(
                        Command::new("age")
                            .arg("-d")
                            .arg("-i")
                            .arg(identity)
                            .arg("-o")
                            .arg(&plain)
                            .arg(&file),
                    );
                    (name, file) = (inner.to_owned(), plain);
                }
                if let Some(inner) = name.strip_suffix(".zst") {
                    tool(Command::new("zstd").args(["-d", "-q", "--rm"]).arg(&file));
                    (name, file) = (inner.to_owned(), dir.join(inner));
                } else if let Some(inner) = name.strip_suffix(".gz") {
                    tool(Command::new("gzip").arg("-d").arg(&file));
                    (name, file) = (inner.to_owned(), dir.join(inner));
                }
                assert_eq!(
                    std::fs::metadata(&file).unwrap().len(),
                    record["raw_size"].as_u64().unwrap(),
                    "{name} from {}: the manifest's raw size",
                    copy.label
                );
                (copy.label, file)
            })
            .collect()
    }
}

/// The ID in cairn's closing line, "Backup ID of job `app` complete: …".
pub(crate) fn successful_run_id(run: &Run) -> String {
    assert_eq!(
        run.code, 0,
        "cairn run failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    let id = run
        .stdout
        .strip_prefix("Backup ")
        .and_then(|rest| rest.split_once(&format!(" of job `{JOB}` complete: ")))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("cairn names the backup it made:\n{}", run.stdout));
    assert!(
        run.stdout.contains("stored at local, offsite."),
        "{}",
        run.stdout
    );
    id
}

/// Runs a tool the test needs and returns its stdout; fails the test with
/// the tool's stderr when it fails. Its environment is the test's, which
/// holds the servers' AWS_* variables.
pub(crate) fn tool(command: &mut Command) -> String {
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
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command line without the environment (which may hold passwords).
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| word.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_in_background(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The command lines (`ps` shows the same) of every live process below `root`.
fn descendant_command_lines(root: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| is_descendant(pid, root))
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .filter(|cmdline| !cmdline.is_empty())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .collect()
}

fn is_descendant(mut pid: u32, root: u32) -> bool {
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses.
        let Some(parent) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok())
        else {
            return false;
        };
        if parent == root {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        pid = parent;
    }
    false
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Files below `root`, as paths relative to it.
fn relative_files(root: &Path) -> BTreeSet<String> {
    tree(root)
        .into_iter()
        .filter(|relative| root.join(relative).is_file())
        .collect()
}

fn assert_lines_equal(restored: &str, source: &str, what: &str) {
    let restored: Vec<&str> = restored.lines().collect();
    let source: Vec<&str> = source.lines().collect();
    assert!(!source.is_empty(), "{what}: the source has data");
    assert_eq!(restored.len(), source.len(), "{what}: row count");
    for (i, (restored, source)) in restored.iter().zip(&source).enumerate() {
        assert_eq!(restored, source, "{what}: row {}", i + 1);
    }
}

// ---------------------------------------------------------------- sqlite --

pub(crate) fn sqlite_dump(path: &Path) -> String {
    tool(Command::new("sqlite3").arg(path).arg(".dump"))
}

#[test]
fn sqlite_artifact_is_the_database_at_run_time() {
    let sandbox = Sandbox::new("sqlite");
    let database = sandbox.path().join("app.db");
    // The application keeps its connection, and recent writes sit in the
    // WAL: a file copy would miss them, the backup API must not.
    let app = rusqlite::Connection::open(&database).unwrap();
    app.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, note TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
                              total REAL, placed TEXT);
         CREATE INDEX orders_by_user ON orders(user_id);
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
         INSERT INTO users (email, note) VALUES
             ('ana@example.com', 'first'), ('bo@example.com', NULL),
             ('zoë@example.com', 'quote '' and newline
here');
         INSERT INTO orders (user_id, total, placed) VALUES
             (1, 12.5, '2026-01-01'), (1, 250.0, '2026-01-02'), (3, 99.99, '2026-01-03');",
    )
    .unwrap();
    sandbox.write_config(
        r#"kind = "sqlite"
path = "app.db""#,
        "",
    );
    let at_first_run = sqlite_dump(&database);
    let now = [("CAIRN_NOW", "2026-03-04T05:06:07Z")];
    let first = sandbox.run_job(&now);
    assert_eq!(first, "20260304T050607Z", "the ID is the start time");

    app.execute_batch(
        "INSERT INTO users (email) VALUES ('late@example.com');
         UPDATE orders SET total = 1.0 WHERE id = 1;
         CREATE TABLE audit (at TEXT);",
    )
    .unwrap();
    let at_second_run = sqlite_dump(&database);
    assert_ne!(at_first_run, at_second_run);
    // Same second: the second artifact must not overwrite the first.
    let second = sandbox.run_job(&now);
    assert_eq!(second, "20260304T050607Z-2");

    for (id, expected) in [(&first, &at_first_run), (&second, &at_second_run)] {
        let artifact = sandbox.artifact(id, "sqlite", &["database.sqlite.zst"]);
        assert_eq!(
            artifact.manifest["store"]["source"],
            database.to_str().unwrap()
        );
        for (copy, restored) in artifact.decoded("database.sqlite.zst") {
            let check = tool(
                Command::new("sqlite3")
                    .arg(&restored)
                    .arg("PRAGMA integrity_check"),
            );
            assert_eq!(check.trim(), "ok", "run {id} from {copy}");
            assert_eq!(
                &sqlite_dump(&restored),
                expected,
                "run {id} from {copy}: the database as it was when the run started"
            );
        }
    }
}

// ------------------------------------------------------------- directory --

#[test]
fn directory_artifact_keeps_contents_modes_mtimes_and_leaves_out_excludes() {
    let sandbox = Sandbox::new("directory");
    let source = sandbox.path().join("uploads");
    let write = |relative: &str, contents: &[u8], mode: u32| {
        let path = source.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("README.txt", b"hello\n", 0o644);
    write("bin/run.sh", b"#!/bin/sh\necho run\n", 0o750);
    write("data/nested/notes.md", "zoë's notes\n".as_bytes(), 0o640);
    write(
        "cache.txt",
        b"kept: `cache` excludes the directory only\n",
        0o644,
    );
    // Incompressible and larger than four S3 parts of 8 MiB: a multipart
    // upload in which later parts (and chunks) reuse the buffers of earlier
    // ones, so both copies must still come back byte for byte.
    write("data/nested/deep/blob.bin", &pseudo_random(36 << 20), 0o600);
    std::fs::create_dir_all(source.join("empty")).unwrap();
    std::fs::set_permissions(source.join("empty"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("README.txt", source.join("link")).unwrap();
    let y2001 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(source.join("bin/run.sh"))
        .unwrap()
        .set_modified(y2001)
        .unwrap();
    // Excluded.
    write("scratch.tmp", b"temporary", 0o644);
    write("data/nested/partial.tmp", b"temporary", 0o644);
    write("cache/entry", b"cached", 0o644);
    write("cache/sub/entry", b"cached", 0o644);

    sandbox.write_config(
        r#"kind = "directory"
path = "uploads"
exclude = ["*.tmp", "cache"]"#,
        r#"compression = "none""#,
    );
    let id = sandbox.run_job(&[]);
    let artifact = sandbox.artifact(&id, "directory", &["files.tar"]);
    let stream = &artifact.manifest["streams"][0];
    assert_eq!(
        stream["raw_size"], stream["stored_size"],
        "no compression: stored as dumped"
    );
    assert_eq!(artifact.manifest["compression"]["algorithm"], "none");

    let expected: BTreeSet<&str> = [
        "README.txt",
        "bin",
        "bin/run.sh",
        "cache.txt",
        "data",
        "data/nested",
        "data/nested/deep",
        "data/nested/deep/blob.bin",
        "data/nested/notes.md",
        "empty",
        "link",
    ]
    .into_iter()
    .collect();
    for (copy, tar) in artifact.decoded("files.tar") {
        let restored = artifact.scratch.join(format!("extracted-{copy}"));
        std::fs::create_dir_all(&restored).unwrap();
        tool(
            Command::new("tar")
                .args(["--extract", "--same-permissions", "--file"])
                .arg(&tar)
                .arg("--directory")
                .arg(&restored),
        );
        let entries = tree(&restored);
        assert_eq!(
            entries.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            expected,
            "from {copy}: everything but the excluded entries"
        );
        for relative in &entries {
            let (original, copied) = (source.join(relative), restored.join(relative));
            let (before, after) = (
                std::fs::symlink_metadata(&original).unwrap(),
                std::fs::symlink_metadata(&copied).unwrap(),
            );
            assert_eq!(
                before.file_type(),
                after.file_type(),
                "{relative} from {copy}"
            );
            if before.is_symlink() {
                assert_eq!(
                    std::fs::read_link(&original).unwrap(),
                    std::fs::read_link(&copied).unwrap(),
                    "{relative} from {copy}: the link, not its target"
                );
                continue;
            }
            assert_eq!(
                before.mode() & 0o7777,
                after.mode() & 0o7777,
                "{relative} from {copy}: mode"
            );
            if before.is_file() {
                assert!(
                    std::fs::read(&original).unwrap() == std::fs::read(&copied).unwrap(),
                    "{relative} from {copy}: contents"
                );
                assert_eq!(
                    before.mtime(),
                    after.mtime(),
                    "{relative} from {copy}: mtime"
                );
            }
        }
        let script = std::fs::metadata(restored.join("bin/run.sh")).unwrap();
        assert_eq!(script.mode() & 0o7777, 0o750);
        assert_eq!(script.mtime(), 1_000_000_000);
    }
}

/// Every entry below `root`, as relative paths (symlinks not followed).
pub(crate) fn tree(root: &Path) -> BTreeSet<String> {
    let mut entries = BTreeSet::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            entries.insert(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    entries
}

/// Bytes that no compressor can shrink (xorshift64).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

// -------------------------------------------------------------- postgres --

/// Runs a PostgreSQL client tool as the test user over TCP, the password in
/// PGPASSWORD.
pub(crate) fn pg(sandbox: &Sandbox, program: &str) -> Command {
    let mut command = Command::new(Path::new(sandbox.var("CAIRN_TEST_PG_BIN")).join(program));
    command
        .arg("--host")
        .arg(sandbox.var("CAIRN_TEST_PG_HOST"))
        .arg("--port")
        .arg(sandbox.var("CAIRN_TEST_PG_PORT"))
        .arg("--username")
        .arg(sandbox.var("CAIRN_TEST_PG_USER"))
        .arg("--no-password")
        .env("PGPASSWORD", sandbox.var("CAIRN_TEST_PG_PASSWORD"));
    command
}

pub(crate) fn psql_command(sandbox: &Sandbox, database: &str, sql: &str) -> Command {
    let mut command = pg(sandbox, "psql");
    command
        .args(["--no-psqlrc", "-At", "-v", "ON_ERROR_STOP=1", "--dbname"])
        .arg(database)
        .arg("--command")
        .arg(sql);
    command
}

pub(crate) fn psql(sandbox: &Sandbox, database: &str, sql: &str) -> String {
    tool(&mut psql_command(sandbox, database, sql))
}

/// Creates an empty database that the test's end drops.
pub(crate) fn create_pg_database(sandbox: &Sandbox, name: &str) {
    let drop = format!("drop database if exists {name}");
    sandbox.clean_up_with(psql_command(sandbox, "postgres", &drop));
    psql(sandbox, "postgres", &format!("create database {name}"));
}

pub(crate) const PG_ROWS: &str = "select * from t order by id";

/// Creates database `name` with a table `t` of `rows` rows that differ from
/// database to database (so that swapped streams would show).
pub(crate) fn create_pg_source(sandbox: &Sandbox, name: &str, rows: u32) {
    create_pg_database(sandbox, name);
    psql(
        sandbox,
        name,
        &format!(
            "create table t (id int primary key, name text not null, amount numeric(12,2),
                             tags text[], payload jsonb, created timestamptz);
             create index t_by_name on t (name);
             insert into t
             select i, '{name} row ' || i || case when i % 7 = 0 then ' zoë ''q''' else '' end,
                    i * 1.25, array['a' || i, 'b'], jsonb_build_object('n', i),
                    timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour'
             from generate_series(1, {rows}) as i;
             update t set amount = null where id % 5 = 0;"
        ),
    );
}

/// Restores each database's `db-NAME.pgdump` stream of every copy into a
/// fresh database and compares its rows with the source's.
fn check_pg_restores(sandbox: &Sandbox, artifact: &Artifact, databases: &[String], suffix: &str) {
    for database in databases {
        let source_rows = psql(sandbox, database, PG_ROWS);
        for (copy, dump) in artifact.decoded(&format!("db-{database}.pgdump{suffix}")) {
            let restored = format!("{database}_from_{copy}");
            create_pg_database(sandbox, &restored);
            tool(
                pg(sandbox, "pg_restore")
                    .args(["--exit-on-error", "--dbname"])
                    .arg(&restored)
                    .arg(&dump),
            );
            assert_lines_equal(
                &psql(sandbox, &restored, PG_ROWS),
                &source_rows,
                &format!("{database} restored from {copy}"),
            );
        }
    }
    for (copy, globals) in artifact.decoded(&format!("globals.sql{suffix}")) {
        let text = std::fs::read_to_string(&globals).unwrap();
        assert!(
            text.contains(&format!(
                "CREATE ROLE {};",
                sandbox.var("CAIRN_TEST_PG_USER")
            )),
            "globals.sql from {copy} holds the roles:\n{text}"
        );
    }
}

/// The password is nowhere an operator or another user of the host could
/// read it: not in cairn's output, the manifests, the history, or the
/// command line of any process cairn ran.
fn assert_password_hidden(
    sandbox: &Sandbox,
    password: &str,
    run: &Run,
    command_lines: &BTreeSet<String>,
    artifact: &Artifact,
) {
    assert!(!run.stdout.contains(password), "stdout: {}", run.stdout);
    assert!(!run.stderr.contains(password), "stderr: {}", run.stderr);
    assert!(
        !artifact.manifest_text.contains(password),
        "manifest: {}",
        artifact.manifest_text
    );
    let history = std::fs::read_to_string(
        sandbox
            .path()
            .join("root/var/lib/cairn/history")
            .join(format!("{JOB}.jsonl")),
    )
    .unwrap();
    assert!(!history.contains(password), "history: {history}");
    assert!(
        command_lines
            .iter()
            .any(|line| line.starts_with("pg_dump --no-password ")),
        "the scan of /proc saw pg_dump: {command_lines:?}"
    );
    let leaks: Vec<&String> = command_lines
        .iter()
        .filter(|line| line.contains(password))
        .collect();
    assert!(leaks.is_empty(), "visible in ps: {leaks:?}");
}

#[test]
fn postgres_dsn_with_password_variable_round_trips_two_databases_and_globals() {
    let mut sandbox = Sandbox::new("pg_dsn");
    sandbox.pass_env("CAIRN_TEST_PG_PASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [
        format!("{}_app", sandbox.unique),
        format!("{}_billing", sandbox.unique),
    ];
    create_pg_source(&sandbox, &databases[0], 120);
    create_pg_source(&sandbox, &databases[1], 45);
    // A prefix that records the argument vector of every tool cairn runs,
    // exactly what `ps` shows for it.
    let arguments_log = sandbox.path().join("arguments.log");
    let recorder = sandbox.path().join("record-arguments");
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec \"$@\"\n",
            arguments_log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (host, port) = (
        sandbox.var("CAIRN_TEST_PG_HOST"),
        sandbox.var("CAIRN_TEST_PG_PORT"),
    );
    sandbox.write_config(
        &format!(
            r#"kind = "postgres"
dsn = "postgresql://cairn:${{CAIRN_TEST_PG_PASSWORD}}@{host}:{port}/postgres"
databases = ["{}", "{}"]
globals = true
exec = ["{}"]"#,
            databases[0],
            databases[1],
            recorder.display()
        ),
        "",
    );
    let (run, command_lines) = sandbox.run_watching(&[]);
    let password = sandbox.var("CAIRN_TEST_PG_PASSWORD");
    let id = successful_run_id(&run);
    let streams = [
        format!("db-{}.pgdump.zst", databases[0]),
        format!("db-{}.pgdump.zst", databases[1]),
        "globals.sql.zst".to_owned(),
    ];
    let streams: Vec<&str> = streams.iter().map(String::as_str).collect();
    let artifact = sandbox.artifact(&id, "postgres", &streams);
    assert_eq!(
        artifact.manifest["store"]["source"],
        format!("postgresql://cairn@{host}:{port}/postgres")
    );
    check_pg_restores(&sandbox, &artifact, &databases, ".zst");

    let arguments = std::fs::read_to_string(&arguments_log).unwrap();
    let dumps = arguments
        .lines()
        .filter(|line| line.starts_with("pg_dump ") || line.starts_with("pg_dumpall "))
        .filter(|line| !line.ends_with("--version"))
        .count();
    assert_eq!(dumps, 3, "one tool run per stream:\n{arguments}");
    assert!(!arguments.contains(password), "arguments:\n{arguments}");
    assert_password_hidden(&sandbox, password, &run, &command_lines, &artifact);
}

#[test]
fn postgres_host_port_with_pgpassword_through_exec_prefix_gzip() {
    let mut sandbox = Sandbox::new("pg_host");
    sandbox.pass_env("PGPASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [format!("{}_shop", sandbox.unique)];
    create_pg_source(&sandbox, &databases[0], 300);
    sandbox.write_config(
        &format!(
            r#"kind = "postgres"
host = "{}"
port = {}
user = "{}"
databases = ["{}"]
globals = true
exec = ["env", "FOO=bar"]"#,
            sandbox.var("CAIRN_TEST_PG_HOST"),
            sandbox.var("CAIRN_TEST_PG_PORT"),
            sandbox.var("CAIRN_TEST_PG_USER"),
            databases[0],
        ),
        r#"compression = "gzip""#,
    );
    let (run, command_lines) = sandbox.run_watching(&[]);
    let password = sandbox.var("CAIRN_TEST_PG_PASSWORD");
    let id = successful_run_id(&run);
    let stream = format!("db-{}.pgdump.gz", databases[0]);
    let artifact = sandbox.artifact(&id, "postgres", &[&stream, "globals.sql.gz"]);
    assert_eq!(artifact.manifest["compression"]["algorithm"], "gzip");
    assert_eq!(
        artifact.manifest["store"]["source"],
        format!(
            "{}:{}",
            sandbox.var("CAIRN_TEST_PG_HOST"),
            sandbox.var("CAIRN_TEST_PG_PORT")
        )
    );
    assert!(
        artifact.manifest["tools"]["pg_dump"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump (PostgreSQL) "),
        "the version comes through the prefix too: {}",
        artifact.manifest_text
    );
    check_pg_restores(&sandbox, &artifact, &databases, ".gz");
    assert_password_hidden(&sandbox, password, &run, &command_lines, &artifact);
}

// ----------------------------------------------------------------- redis --

/// `redis-cli` against the test server, the password in REDISCLI_AUTH.
pub(crate) fn redis_cli_command(sandbox: &Sandbox) -> Command {
    let mut command = Command::new("redis-cli");
    command
        .args(["-h", sandbox.var("CAIRN_TEST_REDIS_HOST")])
        .args(["-p", sandbox.var("CAIRN_TEST_REDIS_PORT")])
        .env("REDISCLI_AUTH", sandbox.var("CAIRN_TEST_REDIS_PASSWORD"));
    command
}

pub(crate) fn redis_cli(sandbox: &Sandbox, args: &[&str]) -> String {
    tool(redis_cli_command(sandbox).args(args))
}

/// Keys of every common type under `PREFIX:`, one of them expiring.
pub(crate) fn fill_redis(sandbox: &Sandbox, prefix: &str) {
    let commands: [&[&str]; 7] = [
        &["SET", "string", "hello world"],
        &["SET", "unicode", "zoë ☃"],
        &["HSET", "hash", "f1", "v1", "f2", "two words"],
        &["RPUSH", "list", "c", "a", "b", "a"],
        &["SADD", "set", "x", "y", "z"],
        &["ZADD", "zset", "1.5", "one", "2", "two"],
        &["SET", "session", "token", "EX", "86400"],
    ];
    let mut delete = redis_cli_command(sandbox);
    delete.arg("DEL");
    for command in commands {
        let key = format!("{prefix}:{}", command[1]);
        delete.arg(&key);
        let mut args = command.to_vec();
        args[1] = &key;
        redis_cli(sandbox, &args);
    }
    sandbox.clean_up_with(delete);
}

/// Every key under `PREFIX:` with its type and value (and whether it
/// expires), as `redis-cli` reports them from `cli`.
pub(crate) fn redis_snapshot(
    cli: &dyn Fn(&[&str]) -> String,
    prefix: &str,
) -> BTreeMap<String, String> {
    let mut keys: Vec<String> = cli(&["--scan", "--pattern", &format!("{prefix}:*")])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let kind = cli(&["TYPE", &key]).trim().to_owned();
            let mut value = match kind.as_str() {
                "string" => cli(&["GET", &key]),
                "hash" => sorted_pairs(&cli(&["HGETALL", &key])),
                "list" => cli(&["LRANGE", &key, "0", "-1"]),
                "set" => sorted_lines(&cli(&["SMEMBERS", &key])),
                "zset" => cli(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                other => panic!("{key} has the unexpected type {other}"),
            };
            let expires = cli(&["PTTL", &key]).trim().parse::<i64>().unwrap() > 0;
            value.push_str(if expires { "(expires)" } else { "" });
            (key, format!("{kind}: {value}"))
        })
        .collect()
}

fn sorted_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// HGETALL's field and value lines as sorted `field=value` pairs.
fn sorted_pairs(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut pairs: Vec<String> = lines.chunks(2).map(|pair| pair.join("=")).collect();
    pairs.sort();
    pairs.join("\n")
}

/// A Redis server of its own on a free port, loading `rdb`; stopped on drop.
pub(crate) struct ThrowawayRedis {
    child: std::process::Child,
    pub(crate) port: String,
}

impl ThrowawayRedis {
    fn start(rdb: &Path) -> Self {
        let dir = rdb.parent().unwrap().join("redis-server");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(rdb, dir.join("dump.rdb")).unwrap();
        Self::launch(&dir)
    }

    /// An empty server with its files in `dir`.
    pub(crate) fn empty(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::launch(dir)
    }

    fn launch(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dbfilename", "dump.rdb", "--dir"])
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut server = ThrowawayRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if server.child.try_wait().unwrap().is_some() {
                panic!(
                    "redis-server on the restored RDB exited:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let ping = Command::new("redis-cli")
                .args(["-p", &server.port, "PING"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&ping.stdout).trim() == "PONG" {
                return server;
            }
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        tool(
            Command::new("redis-cli")
                .args(["-p", &self.port])
                .args(args),
        )
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        let _ = Command::new("redis-cli")
            .args(["-p", &self.port, "SHUTDOWN", "NOSAVE"])
            .output();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Loads the RDB of every copy into a throwaway server and compares the
/// keys under `prefix` with the source's.
fn check_redis_restores(sandbox: &Sandbox, artifact: &Artifact, stored: &str, prefix: &str) {
    let source = redis_snapshot(&|args| redis_cli(sandbox, args), prefix);
    assert_eq!(source.len(), 7, "{source:?}");
    for (copy, rdb) in artifact.decoded(stored) {
        let server = ThrowawayRedis::start(&rdb);
        let restored = redis_snapshot(&|args| server.cli(args), prefix);
        assert_eq!(restored, source, "the keys restored from {copy}");
    }
}

#[test]
fn redis_replication_encrypted_with_age_round_trips() {
    let mut sandbox = Sandbox::new("redis_replication");
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    fill_redis(&sandbox, &prefix);
    let (identity, recipient) = sandbox.age_key();
    sandbox.write_config(
        &redis_store(&sandbox, r#"method = "replication""#),
        &format!(r#"encrypt_to = ["{recipient}"]"#),
    );
    let (run, command_lines) = sandbox.run_watching(&[]);
    let password = sandbox.var("CAIRN_TEST_REDIS_PASSWORD");
    let id = successful_run_id(&run);
    let mut artifact = sandbox.artifact(&id, "redis", &["dump.rdb.zst.age"]);
    assert_eq!(
        artifact.manifest["encryption"],
        serde_json::json!({"kind": "age", "recipients": [recipient]})
    );
    assert_eq!(
        artifact.manifest["store"]["source"],
        format!(
            "redis://{}:{}",
            sandbox.var("CAIRN_TEST_REDIS_HOST"),
            sandbox.var("CAIRN_TEST_REDIS_PORT")
        )
    );
    for copy in &artifact.copies {
        let stored = std::fs::read(copy.dir.join("dump.rdb.zst.age")).unwrap();
        assert!(
            stored.starts_with(b"age-encryption.org/v1\n"),
            "the copy at {} is an age file",
            copy.label
        );
    }
    assert!(!artifact.manifest_text.contains(password));
    assert!(!run.stderr.contains(password), "{}", run.stderr);
    assert!(
        command_lines.iter().all(|line| !line.contains(password)),
        "{command_lines:?}"
    );
    artifact.identity = Some(identity);
    check_redis_restores(&sandbox, &artifact, "dump.rdb.zst.age", &prefix);
}

#[test]
fn redis_bgsave_copies_the_servers_rdb() {
    let mut sandbox = Sandbox::new("redis_bgsave");
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    fill_redis(&sandbox, &prefix);
    sandbox.write_config(
        &redis_store(&sandbox, &bgsave_method(&sandbox)),
        // A stuck BGSAVE wait fails the test instead of hanging it.
        r#"timeout = "60s""#,
    );
    let id = sandbox.run_job(&[]);
    let artifact = sandbox.artifact(&id, "redis", &["dump.rdb.zst"]);
    check_redis_restores(&sandbox, &artifact, "dump.rdb.zst", &prefix);
}

/// LASTSAVE counts whole seconds. A BGSAVE that ends within the same second
/// as the save before it (another job's, Redis's own `save` rule) must
/// still end cairn's wait, not hang the job until its timeout — or forever,
/// without one.
#[test]
fn redis_bgsave_right_after_another_save_in_the_same_second() {
    let mut sandbox = Sandbox::new("redis_bgsave_again");
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    fill_redis(&sandbox, &prefix);
    sandbox.write_config(
        &redis_store(&sandbox, &bgsave_method(&sandbox)),
        r#"timeout = "20s""#,
    );
    // Early in a second, so that both saves end within it.
    let into_second = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    if into_second > 50 {
        std::thread::sleep(Duration::from_millis(u64::from(1_000 - into_second)));
    }
    let before = Instant::now();
    save_on_the_server(&sandbox);
    let (run, _) = sandbox.run_watching(&[]);
    assert!(
        run.code == 0 && before.elapsed() < Duration::from_secs(10),
        "a save ending in the second of the one before must end the wait (after {:?}):\n{}",
        before.elapsed(),
        run.stderr
    );
    let id = successful_run_id(&run);
    let artifact = sandbox.artifact(&id, "redis", &["dump.rdb.zst"]);
    check_redis_restores(&sandbox, &artifact, "dump.rdb.zst", &prefix);
}

/// The store lines for the test server, with `method` lines appended.
fn redis_store(sandbox: &Sandbox, method: &str) -> String {
    format!(
        r#"kind = "redis"
url = "redis://:${{CAIRN_TEST_REDIS_PASSWORD}}@{}:{}"
{method}"#,
        sandbox.var("CAIRN_TEST_REDIS_HOST"),
        sandbox.var("CAIRN_TEST_REDIS_PORT"),
    )
}

fn bgsave_method(sandbox: &Sandbox) -> String {
    format!(
        r#"method = "bgsave"
data_dir = "{}""#,
        sandbox.var("CAIRN_TEST_REDIS_DIR")
    )
}

/// A BGSAVE of the test's own, waited for until the server has finished it.
fn save_on_the_server(sandbox: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // Another test's save may be running: wait for it, then start one.
    while !redis_cli(sandbox, &["BGSAVE"]).contains("started") {
        assert!(Instant::now() < deadline, "BGSAVE never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    while !redis_cli(sandbox, &["INFO", "persistence"])
        .lines()
        .any(|line| line.trim() == "rdb_bgsave_in_progress:0")
    {
        assert!(Instant::now() < deadline, "BGSAVE never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// --------------------------------------------------------------- mariadb --

/// The `mariadb` client as the test user over TCP, the password in MYSQL_PWD.
pub(crate) fn mariadb(sandbox: &Sandbox) -> Command {
    let mut command = Command::new("mariadb");
    command
        .arg("--host")
        .arg(sandbox.var("CAIRN_TEST_MARIADB_HOST"))
        .arg("--port")
        .arg(sandbox.var("CAIRN_TEST_MARIADB_PORT"))
        .args(["--protocol=tcp", "--batch", "--skip-column-names"])
        .arg("--user")
        .arg(sandbox.var("CAIRN_TEST_MARIADB_USER"))
        .env("MYSQL_PWD", sandbox.var("CAIRN_TEST_MARIADB_PASSWORD"));
    command
}

pub(crate) fn mariadb_sql(sandbox: &Sandbox, sql: &str) -> String {
    tool(mariadb(sandbox).arg("--execute").arg(sql))
}

/// What an operator checks after a restore: the rows, the table's
/// definition, and the triggers and routines that `--triggers --routines`
/// promise.
pub(crate) fn mariadb_snapshot(sandbox: &Sandbox, database: &str) -> String {
    mariadb_sql(
        sandbox,
        &format!(
            "select * from {database}.t order by id;
             show create table {database}.t;
             select trigger_name, action_statement from information_schema.triggers
                 where trigger_schema = '{database}';
             select routine_name, routine_definition from information_schema.routines
                 where routine_schema = '{database}';"
        ),
    )
}

#[test]
fn mariadb_dump_loads_back_into_the_server() {
    let mut sandbox = Sandbox::new("mariadb");
    sandbox.pass_env("MYSQL_PWD", "CAIRN_TEST_MARIADB_PASSWORD");
    let database = sandbox.unique.clone();
    let mut drop = mariadb(&sandbox);
    drop.arg("--execute")
        .arg(format!("drop database if exists {database}"));
    sandbox.clean_up_with(drop);
    mariadb_sql(
        &sandbox,
        &format!(
            "create database {database} character set utf8mb4;
             use {database};
             create table t (id int primary key, name varchar(100) not null,
                             amount decimal(12,2), note text, created datetime);
             create trigger t_upper before insert on t for each row
                 set new.name = upper(new.name);
             create procedure count_t() select count(*) from t;
             insert into t values
                 (1, 'ana', 12.50, 'first', '2026-01-01 10:00:00'),
                 (2, 'zoë', null, 'quote '' and backslash \\\\', '2026-01-02 11:30:00'),
                 (3, 'bo', 99.99, null, null);
             insert into t select seq, concat('row ', seq), seq / 4, repeat('x', seq), null
                 from seq_10_to_200;"
        ),
    );
    let source = mariadb_snapshot(&sandbox, &database);
    assert!(source.contains("ZOË"), "the trigger ran: {source}");
    assert!(source.contains("count_t"), "{source}");
    sandbox.write_config(
        &format!(
            r#"kind = "mariadb"
host = "{}"
port = {}
user = "{}"
databases = ["{database}"]"#,
            sandbox.var("CAIRN_TEST_MARIADB_HOST"),
            sandbox.var("CAIRN_TEST_MARIADB_PORT"),
            sandbox.var("CAIRN_TEST_MARIADB_USER"),
        ),
        "",
    );
    let (run, command_lines) = sandbox.run_watching(&[]);
    let password = sandbox.var("CAIRN_TEST_MARIADB_PASSWORD");
    let id = successful_run_id(&run);
    let stream = format!("db-{database}.sql.zst");
    let artifact = sandbox.artifact(&id, "mariadb", &[&stream]);
    assert!(!artifact.manifest_text.contains(password));
    assert!(
        command_lines.iter().all(|line| !line.contains(password)),
        "{command_lines:?}"
    );

    // The dump does not name its database (so that it loads into any
    // schema): restore it the way an operator would after losing it, once
    // per copy.
    for (copy, sql) in artifact.decoded(&stream) {
        mariadb_sql(&sandbox, &format!("drop database {database}"));
        mariadb_sql(&sandbox, &format!("create database {database}"));
        tool(
            mariadb(&sandbox)
                .arg(format!("--database={database}"))
                .stdin(std::fs::File::open(&sql).unwrap()),
        );
        assert_lines_equal(
            &mariadb_snapshot(&sandbox, &database),
            &source,
            &format!("{database} restored from {copy}"),
        );
    }
}
