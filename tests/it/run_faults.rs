//! Failure injection for `cairn run` (SPEC §5, §10): a dump that dies
//! mid-stream, an S3 server that goes away mid-upload, a read-only and a full
//! local target, two runs of one job at once, a timeout and SIGTERM. Every
//! fault must exit 1 with a message that names what failed, leave nothing
//! that counts as a backup where it hit, leave the earlier backup byte for
//! byte intact, and be recorded as failed in the history.
//!
//! Each test backs up its own PostgreSQL database to a local directory and to
//! its own prefix in the suite's Garage; the test that kills S3 starts a
//! Garage of its own, so that tests running beside it keep theirs. The dump
//! runs through an `exec` prefix, `dump.sh`, whose `mode` file says how it
//! misbehaves. The local-target tests mount a tmpfs, so they need root.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{root, run, Run, Servers};

/// The good run every test starts with, and the run the fault hits; the IDs
/// follow from `CAIRN_NOW`.
const GOOD_NOW: &str = "2026-01-01T00:00:00Z";
const GOOD_ID: &str = "20260101T000000Z";
const FAULT_NOW: &str = "2026-01-02T00:00:00Z";
const FAULT_ID: &str = "20260102T000000Z";
const LATER_NOW: &str = "2026-01-03T00:00:00Z";
const LATER_ID: &str = "20260103T000000Z";

const MIB: u64 = 1 << 20;

/// The store's `exec` prefix. Tool versions (`--version`, for the manifest)
/// always pass through; the dump itself does what the `mode` file says.
const DUMP_SCRIPT: &str = r#"#!/bin/sh
case " $* " in
  *" --version "*) exec "$@" ;;
esac
mode=$(cat "$(dirname "$0")/mode")
case $mode in
  pass)
    exec "$@" ;;
  "die-after "*)
    "$@" | head -c "${mode#die-after }"
    echo "dump.sh: the dump died after ${mode#die-after } bytes" >&2
    exit 1 ;;
  "sleep "*)
    sleep "${mode#sleep }"
    exec "$@" ;;
  "throttle "*)
    "$@" | python3 -c '
import sys, time
delay = float(sys.argv[1])
source, sink = sys.stdin.buffer, sys.stdout.buffer
while True:
    chunk = source.read(1 << 20)
    if not chunk:
        break
    sink.write(chunk)
    sink.flush()
    time.sleep(delay)
' "${mode#throttle }" ;;
  *)
    echo "dump.sh: unknown mode $mode" >&2
    exit 2 ;;
esac
"#;

/// One job, `app_db`, that backs up its own database to `local` and
/// `offsite` (S3), uncompressed so that sizes are predictable.
struct Fixture {
    servers: Servers,
    database: Database,
    s3: S3,
    /// The destination's S3 prefix, unique to this test.
    prefix: String,
    /// Whether to delete `prefix` at the end (not needed in a private Garage).
    clean_s3: bool,
    /// Set in the environment of every `cairn` this test starts, so that the
    /// processes it leaves behind can be found whatever their names.
    marker: String,
    /// A tmpfs mounted over `local`; unmounted before `dir` is removed.
    tmpfs: Option<Tmpfs>,
    dir: tempfile::TempDir,
}

/// What the good run left at both destinations, by path or key.
struct Earlier {
    local: BTreeMap<String, String>,
    s3: BTreeMap<String, String>,
}

impl Fixture {
    /// A fixture on the suite's Garage, with `rows` rows of 1 KiB in the
    /// database and `job_extra` appended to the job's table.
    fn new(name: &str, rows: u32, job_extra: &str) -> Self {
        let servers = Servers::get();
        let s3 = S3::shared(&servers);
        Self::build(servers, s3, true, name, rows, job_extra)
    }

    /// A fixture whose `offsite` destination is `s3`, a Garage of the test's own.
    fn with_s3(name: &str, rows: u32, s3: S3) -> Self {
        Self::build(Servers::get(), s3, false, name, rows, "")
    }

    fn build(
        servers: Servers,
        s3: S3,
        clean_s3: bool,
        name: &str,
        rows: u32,
        job_extra: &str,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let unique = format!(
            "{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let database = Database::create(&servers, &format!("faults_{name}"), rows);
        let script = dir.path().join("dump.sh");
        fs::write(&script, DUMP_SCRIPT).unwrap();
        let fixture = Fixture {
            prefix: format!("run-faults/{unique}"),
            marker: unique,
            servers,
            database,
            s3,
            clean_s3,
            tmpfs: None,
            dir,
        };
        let config = format!(
            r#"[settings]
scheduler = "none"
state_dir = "state"

[stores.app_db]
kind = "postgres"
dsn = "{dsn}"
databases = ["{database}"]
exec = ["sh", "{script}"]

[destinations.local]
kind = "local"
path = "local"

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
region = "{region}"
endpoint = "{endpoint}"
path_style = true

[jobs.app_db]
store = "app_db"
schedule = {{ cron = "@daily" }}
to = ["local", "offsite"]
retention = {{ keep_last = 10 }}
compression = "none"
{job_extra}"#,
            dsn = fixture.database.dsn(),
            database = fixture.database.name,
            script = script.display(),
            bucket = fixture.s3.bucket,
            prefix = fixture.prefix,
            region = fixture.s3.region,
            endpoint = fixture.s3.endpoint,
        );
        fs::write(fixture.path().join("backup.toml"), config).unwrap();
        fixture.set_mode("pass");
        fixture
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn local(&self) -> PathBuf {
        self.path().join("local")
    }

    /// What `dump.sh` does from now on, e.g. `sleep 30`.
    fn set_mode(&self, mode: &str) {
        fs::write(self.path().join("mode"), mode).unwrap();
    }

    /// `cairn` with the credentials the configuration takes from the environment.
    fn cairn(&self) -> Command {
        let mut command = self.servers.cairn(self.path());
        self.s3.credentials(&mut command);
        command.env("PGPASSWORD", &self.database.password);
        command
    }

    /// `cairn run app_db` as of `now`.
    fn cairn_run(&self, now: &str) -> Command {
        let mut command = self.cairn();
        command
            .env("CAIRN_NOW", now)
            .env("CAIRN_FAULT_MARKER", &self.marker)
            .args(["run", "app_db"]);
        command
    }

    fn run(&self, now: &str) -> Run {
        run(&mut self.cairn_run(now))
    }

    fn spawn(&self, now: &str) -> Background {
        Background::spawn(self.cairn_run(now), self.path(), now)
    }

    /// The good run before the fault; returns what it left.
    fn good_run(&self) -> Earlier {
        self.set_mode("pass");
        let good = self.run(GOOD_NOW);
        assert_eq!(good.code, 0, "the good run failed:\n{}", good.stderr);
        self.assert_complete_local(GOOD_ID);
        self.assert_complete_s3(GOOD_ID);
        Earlier {
            local: self.local_snapshot(),
            s3: self.s3_snapshot(),
        }
    }

    /// Every file and directory under `local`: relative path -> SHA-256
    /// (directories end in `/` and map to "directory").
    fn local_snapshot(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                if path.is_dir() {
                    into.insert(format!("{relative}/"), "directory".to_owned());
                    walk(root, &path, into);
                } else {
                    into.insert(relative, sha256(&fs::read(&path).unwrap()));
                }
            }
        }
        let mut snapshot = BTreeMap::new();
        if self.local().is_dir() {
            walk(&self.local(), &self.local(), &mut snapshot);
        }
        snapshot
    }

    /// Every object under the prefix: key below the prefix -> its ETag (a
    /// hash of the content), size and modification time, which change
    /// whenever an object is written again.
    fn s3_snapshot(&self) -> BTreeMap<String, String> {
        let prefix = format!("{}/", self.prefix);
        self.s3
            .objects(&prefix)
            .into_iter()
            .map(|object| {
                let key = object["Key"].as_str().unwrap();
                let version = format!(
                    "{} {} {}",
                    object["ETag"], object["Size"], object["LastModified"]
                );
                (key[prefix.len()..].to_owned(), version)
            })
            .collect()
    }

    /// The size of the biggest `.partial` file under `local` (0: none).
    fn partial_size(&self) -> u64 {
        let Ok(runs) = fs::read_dir(self.local().join("app_db")) else {
            return 0;
        };
        runs.flatten()
            .filter_map(|run| fs::read_dir(run.path()).ok())
            .flatten()
            .flatten()
            .filter(|file| file.file_name().to_string_lossy().ends_with(".partial"))
            .filter_map(|file| file.metadata().ok())
            .map(|metadata| metadata.len())
            .max()
            .unwrap_or(0)
    }

    /// `cairn history app_db --json`.
    fn history(&self) -> Vec<Value> {
        let history = run(self.cairn().args(["history", "app_db", "--json"]));
        assert_eq!(history.code, 0, "{}", history.stderr);
        serde_json::from_str(&history.stdout).unwrap()
    }

    /// The history record of run `id`.
    fn record(&self, id: &str) -> Value {
        let history = self.history();
        history
            .iter()
            .find(|record| record["id"] == id)
            .unwrap_or_else(|| panic!("no history record of run {id}: {history:#?}"))
            .clone()
    }

    /// The local artifact `id` is a backup: its manifest lists every data
    /// file with the size and SHA-256 the file has.
    fn assert_complete_local(&self, id: &str) {
        let dir = self.local().join("app_db").join(id);
        let manifest: Value = serde_json::from_slice(
            &fs::read(dir.join("manifest.json"))
                .unwrap_or_else(|e| panic!("no manifest in {}: {e}", dir.display())),
        )
        .unwrap();
        assert_eq!(manifest["id"], id);
        let streams = manifest["streams"].as_array().unwrap();
        assert!(!streams.is_empty());
        for stream in streams {
            let data = fs::read(dir.join(stream["name"].as_str().unwrap())).unwrap();
            assert_eq!(stream["stored_size"], data.len() as u64, "{stream}");
            assert_eq!(stream["sha256"], sha256(&data), "{stream}");
        }
    }

    /// The same at S3.
    fn assert_complete_s3(&self, id: &str) {
        let artifact = format!("{}/app_db/{id}", self.prefix);
        let manifest: Value =
            serde_json::from_slice(&self.s3.get(&format!("{artifact}/manifest.json"))).unwrap();
        assert_eq!(manifest["id"], id);
        let streams = manifest["streams"].as_array().unwrap();
        assert!(!streams.is_empty());
        for stream in streams {
            let data = self
                .s3
                .get(&format!("{artifact}/{}", stream["name"].as_str().unwrap()));
            assert_eq!(stream["stored_size"], data.len() as u64, "{stream}");
            assert_eq!(stream["sha256"], sha256(&data), "{stream}");
        }
    }

    /// Nothing of run `id` at `local`: no directory, no partial file.
    fn assert_nothing_local(&self, id: &str) {
        let run = format!("app_db/{id}");
        let left: Vec<String> = self
            .local_snapshot()
            .into_keys()
            .filter(|path| path.starts_with(&run))
            .collect();
        assert!(left.is_empty(), "run {id} left at `local`: {left:?}");
    }

    /// Nothing of run `id` at S3: no object, no open multipart upload.
    fn assert_nothing_s3(&self, id: &str) {
        let run = format!("{}/app_db/{id}/", self.prefix);
        let objects = self.s3.keys(&run);
        assert!(objects.is_empty(), "run {id} left at S3: {objects:?}");
        let uploads = self.s3.uploads(&run);
        assert!(
            uploads.is_empty(),
            "run {id} left multipart uploads open at S3: {uploads:?}"
        );
    }

    /// The good run's files and objects are all still there, unchanged.
    fn assert_earlier_intact(&self, earlier: &Earlier) {
        let local = self.local_snapshot();
        for (path, hash) in &earlier.local {
            assert_eq!(
                local.get(path),
                Some(hash),
                "`local`: {path} changed or vanished"
            );
        }
        let s3 = self.s3_snapshot();
        for (key, hash) in &earlier.s3 {
            assert_eq!(s3.get(key), Some(hash), "S3: {key} changed or vanished");
        }
    }

    /// Both destinations hold exactly what the good run left, and no
    /// multipart upload is open.
    fn assert_unchanged(&self, earlier: &Earlier) {
        assert_eq!(self.local_snapshot(), earlier.local, "`local` changed");
        assert_eq!(self.s3_snapshot(), earlier.s3, "S3 changed");
        let uploads = self.s3.uploads(&format!("{}/", self.prefix));
        assert!(
            uploads.is_empty(),
            "multipart uploads left open: {uploads:?}"
        );
    }

    /// Processes that carry this test's marker: anything `cairn` started
    /// that is still running.
    fn leftover_processes(&self) -> Vec<String> {
        let needle = format!("CAIRN_FAULT_MARKER={}", self.marker);
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let path = entry.path();
            let Ok(environ) = fs::read(path.join("environ")) else {
                continue;
            };
            if environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
            {
                let cmdline = fs::read(path.join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "{}: {}",
                    entry.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
        found
    }
}

impl Drop for Fixture {
    /// Removes the test's objects from the shared bucket, unless the test
    /// failed: then they stay to be looked at.
    fn drop(&mut self) {
        if self.clean_s3 && !std::thread::panicking() {
            self.s3.remove_prefix(&format!("{}/", self.prefix));
        }
    }
}

/// The run failed, and its error (of the run, or of a destination) says `why`.
fn assert_failed(record: &Value, why: &str) {
    assert_eq!(record["outcome"], "failed", "{record:#}");
    let errors: Vec<&str> = std::iter::once(&record["error"])
        .chain(
            record["destinations"]
                .as_object()
                .unwrap()
                .values()
                .map(|d| &d["error"]),
        )
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors.iter().any(|error| error.contains(why)),
        "no error says {why:?}: {record:#}"
    );
}

/// The history records these outcomes for `local` and `offsite`.
fn assert_outcomes(record: &Value, local: &str, offsite: &str) {
    let destinations = &record["destinations"];
    let outcomes = (
        &destinations["local"]["outcome"],
        &destinations["offsite"]["outcome"],
    );
    assert_eq!(
        outcomes,
        (&Value::from(local), &Value::from(offsite)),
        "{record:#}"
    );
}

/// `run` said every one of `parts` on stderr.
fn assert_stderr(run: &Run, parts: &[&str]) {
    for part in parts {
        assert!(run.stderr.contains(part), "no {part:?} in:\n{}", run.stderr);
    }
}

fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// Polls `condition` every 20 ms; fails the test after `limit`.
fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `cairn` running in the background; killed if the test fails first.
struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    fn spawn(mut command: Command, dir: &Path, name: &str) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("cairn starts");
        Background {
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit, at most `limit`.
    fn wait(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cairn did not exit within {limit:?}:\n{}",
                fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status
                .code()
                .expect("cairn exits with a code, not a signal"),
            stdout: fs::read_to_string(&self.stdout).unwrap(),
            stderr: fs::read_to_string(&self.stderr).unwrap(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of the suite's PostgreSQL with a table of `rows` rows of
/// 1 KiB of random text; dropped at the end.
struct Database {
    name: String,
    host: String,
    port: String,
    user: String,
    password: String,
    psql: PathBuf,
}

impl Database {
    fn create(servers: &Servers, base: &str, rows: u32) -> Self {
        let database = Database {
            name: format!("{base}_{}", std::process::id()),
            host: servers.var("CAIRN_TEST_PG_HOST").to_owned(),
            port: servers.var("CAIRN_TEST_PG_PORT").to_owned(),
            user: servers.var("CAIRN_TEST_PG_USER").to_owned(),
            password: servers.var("CAIRN_TEST_PG_PASSWORD").to_owned(),
            psql: Path::new(servers.var("CAIRN_TEST_PG_BIN")).join("psql"),
        };
        let name = &database.name;
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let create = format!("CREATE DATABASE {name}");
        let fill = format!(
            "CREATE TABLE noise AS SELECT i, repeat(md5(random()::text), 32) AS text \
             FROM generate_series(1, {rows}) AS i"
        );
        succeed(database.psql("postgres").args(["-c", &drop, "-c", &create]));
        succeed(database.psql(name).args(["-c", &fill]));
        database
    }

    /// The store's DSN, with the password from the environment as an
    /// operator writes it; cairn takes the password out again.
    fn dsn(&self) -> String {
        format!(
            "postgresql://{}:${{PGPASSWORD}}@{}:{}/postgres",
            self.user, self.host, self.port
        )
    }

    /// `psql` as the suite's user, with the password in the environment.
    fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(&self.psql);
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h", &self.host, "-p", &self.port, "-U", &self.user, "-d", database,
            ])
            .env("PGPASSWORD", &self.password);
        command
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = self.psql("postgres").args(["-c", &drop]).output();
    }
}

/// An S3 endpoint with its credentials, and the `aws` CLI to look at it
/// independently of cairn.
struct S3 {
    endpoint: String,
    bucket: String,
    region: String,
    access_key: String,
    secret_key: String,
}

impl S3 {
    /// The suite's Garage.
    fn shared(servers: &Servers) -> Self {
        S3 {
            endpoint: servers.var("CAIRN_TEST_S3_ENDPOINT").to_owned(),
            bucket: servers.var("CAIRN_TEST_S3_BUCKET").to_owned(),
            region: servers.var("CAIRN_TEST_S3_REGION").to_owned(),
            access_key: servers.var("AWS_ACCESS_KEY_ID").to_owned(),
            secret_key: servers.var("AWS_SECRET_ACCESS_KEY").to_owned(),
        }
    }

    /// The servers described by the `env` file `scripts/servers` writes.
    fn from_env_file(path: &Path) -> Self {
        let text = fs::read_to_string(path).unwrap();
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .collect();
        let var = |name: &str| {
            vars.get(name)
                .unwrap_or_else(|| panic!("{} has no {name}", path.display()))
                .to_string()
        };
        S3 {
            endpoint: var("CAIRN_TEST_S3_ENDPOINT"),
            bucket: var("CAIRN_TEST_S3_BUCKET"),
            region: var("CAIRN_TEST_S3_REGION"),
            access_key: var("AWS_ACCESS_KEY_ID"),
            secret_key: var("AWS_SECRET_ACCESS_KEY"),
        }
    }

    /// Gives `command` the credentials of this endpoint (the AWS chain reads them).
    fn credentials(&self, command: &mut Command) {
        command
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", &self.region)
            .env("AWS_DEFAULT_REGION", &self.region)
            .env("AWS_ENDPOINT_URL", &self.endpoint);
    }

    /// Runs the `aws` CLI against this endpoint; returns its stdout.
    fn aws(&self, args: &[&str]) -> Vec<u8> {
        let mut command = Command::new("aws");
        self.credentials(&mut command);
        command.env_remove("AWS_PROFILE");
        command.arg("--endpoint-url").arg(&self.endpoint).args(args);
        succeed(&mut command)
    }

    /// `aws s3api OPERATION --bucket BUCKET ARGS...` as JSON (Null when it
    /// prints nothing, as some listings do when they are empty).
    fn s3api(&self, operation: &str, args: &[&str]) -> Value {
        let mut all = vec![
            "s3api",
            operation,
            "--bucket",
            &self.bucket,
            "--output",
            "json",
        ];
        all.extend(args);
        let out = self.aws(&all);
        if out.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&out).unwrap()
    }

    /// The objects under `prefix`, as `list-objects-v2` describes them.
    fn objects(&self, prefix: &str) -> Vec<Value> {
        let listing = self.s3api("list-objects-v2", &["--prefix", prefix]);
        listing["Contents"].as_array().cloned().unwrap_or_default()
    }

    /// The keys of the objects under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let objects = self.objects(prefix);
        objects
            .iter()
            .map(|object| object["Key"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The multipart uploads open under `prefix`, as (key, upload ID).
    fn uploads(&self, prefix: &str) -> Vec<(String, String)> {
        let listing = self.s3api("list-multipart-uploads", &["--prefix", prefix]);
        let uploads = listing["Uploads"].as_array().into_iter().flatten();
        uploads
            .map(|upload| {
                let field = |name: &str| upload[name].as_str().unwrap().to_owned();
                (field("Key"), field("UploadId"))
            })
            .collect()
    }

    fn get(&self, key: &str) -> Vec<u8> {
        self.aws(&[
            "s3",
            "cp",
            "--quiet",
            &format!("s3://{}/{key}", self.bucket),
            "-",
        ])
    }

    /// Deletes every object and aborts every upload under `prefix`.
    fn remove_prefix(&self, prefix: &str) {
        let url = format!("s3://{}/{prefix}", self.bucket);
        self.aws(&["s3", "rm", "--quiet", "--recursive", &url]);
        for (key, upload_id) in self.uploads(prefix) {
            let args = ["--key", key.as_str(), "--upload-id", upload_id.as_str()];
            self.s3api("abort-multipart-upload", &args);
        }
    }
}

/// Runs `command`, fails the test unless it succeeds, and returns its stdout.
fn succeed(command: &mut Command) -> Vec<u8> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A Garage of the test's own (`scripts/servers start-one DIR garage`), so
/// that stopping it disturbs no other test; stopped when dropped.
struct PrivateGarage {
    dir: tempfile::TempDir,
}

impl PrivateGarage {
    fn start() -> Self {
        let garage = PrivateGarage {
            dir: tempfile::tempdir().unwrap(),
        };
        garage.servers("start-one");
        garage
    }

    fn s3(&self) -> S3 {
        S3::from_env_file(&self.dir.path().join("env"))
    }

    fn servers(&self, command: &str) {
        let out = Command::new(root().join("scripts/servers"))
            .arg(command)
            .arg(self.dir.path())
            .arg("garage")
            .output()
            .expect("scripts/servers runs");
        assert!(
            out.status.success(),
            "scripts/servers {command} garage failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills Garage the way a crash or a power cut does. `stop-one` would
    /// not do here: on SIGTERM Garage drains its open connections, and since
    /// the SDK keeps its connection busy with the next part, the whole upload
    /// completes before Garage exits.
    fn kill(&self) {
        let pid_file = self.dir.path().join("garage/garage.pid");
        let pid: libc::pid_t = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the Garage this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        wait_for("Garage to die", Duration::from_secs(10), || {
            fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'))
            })
        });
        // Tidies the PID file; the port and data stay for `start_again`.
        self.servers("stop-one");
    }

    fn start_again(&self) {
        self.servers("start-one");
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/servers"))
            .arg("stop-one")
            .arg(self.dir.path())
            .arg("garage")
            .output();
    }
}

/// A tmpfs mounted over a local destination. The tests run as root, and
/// permission bits (chmod 0555) do not stop root; a read-only mount refuses
/// root too (EROFS), and a small tmpfs fills up (ENOSPC). tmpfs keeps this
/// independent of the filesystem the temporary directory is on (chattr +i
/// needs ext4 or similar). Mounting needs CAP_SYS_ADMIN.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (these tests need root): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }

    fn make_read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn a_dump_that_dies_midway_leaves_nothing_anywhere() {
    let fixture = Fixture::new("dies", 32_000, "");
    let earlier = fixture.good_run();
    // 20 MB into the 33 MB dump both destinations hold data of this run,
    // S3 in an open multipart upload (its first part is 8 MiB).
    fixture.set_mode("die-after 20000000");
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db` failed: store `app_db`: `sh ",
            "exited 1: dump.sh: the dump died after 20000000 bytes",
        ],
    );
    assert!(
        !failed.stderr.contains(&fixture.database.password),
        "the password leaked: {}",
        failed.stderr
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "the dump died after 20000000 bytes");
    assert_outcomes(&record, "failed", "failed");
}

/// Kills the fixture's Garage once the run has sent a few parts; returns
/// the run, still going.
fn kill_garage_mid_upload(fixture: &Fixture, garage: &PrivateGarage) -> Background {
    // About 20 MB/s, so the 99 MB dump takes 5 s.
    fixture.set_mode("throttle 0.05");
    let running = fixture.spawn(FAULT_NOW);
    wait_for("24 MiB at `local`", Duration::from_secs(60), || {
        fixture.partial_size() > 24 * MIB
    });
    garage.kill();
    running
}

/// What a run whose S3 copy failed mid-upload must have done at `local`
/// and said.
fn assert_only_s3_failed(fixture: &Fixture, earlier: &Earlier, failed: &Run) {
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        failed,
        &["error: job `app_db`: destination `offsite`: cannot upload part "],
    );
    assert!(
        !failed.stderr.contains("destination `local`"),
        "{}",
        failed.stderr
    );
    fixture.assert_complete_local(FAULT_ID);
    fixture.assert_earlier_intact(earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "Connection refused");
    assert_outcomes(&record, "success", "failed");
}

#[test]
fn s3_going_away_mid_upload_fails_only_that_destination() {
    let garage = PrivateGarage::start();
    let fixture = Fixture::with_s3("s3_dies", 96_000, garage.s3());
    let earlier = fixture.good_run();
    let running = kill_garage_mid_upload(&fixture, &garage);
    // Garage comes back while the run, its local copy committed, is still
    // trying to remove the upload it left.
    let manifest = fixture
        .local()
        .join("app_db")
        .join(FAULT_ID)
        .join("manifest.json");
    wait_for("the local copy", Duration::from_secs(60), || {
        manifest.exists()
    });
    std::thread::sleep(Duration::from_secs(2));
    garage.start_again();
    let failed = running.wait(Duration::from_secs(120));

    assert_only_s3_failed(&fixture, &earlier, &failed);
    // SPEC §5: no manifest, no object and no multipart upload left open, as
    // soon as the run has ended, with no plan or apply in between.
    fixture.assert_nothing_s3(FAULT_ID);
    // The run's own retries did it, not the cleanup after the run.
    for not_said in ["could not be removed", "cairn: cleaned up"] {
        assert!(!failed.stderr.contains(not_said), "{}", failed.stderr);
    }
}

#[test]
fn an_upload_left_open_while_s3_stays_away_goes_with_the_next_run() {
    let garage = PrivateGarage::start();
    let fixture = Fixture::with_s3("s3_stays_away", 96_000, garage.s3());
    let earlier = fixture.good_run();
    let running = kill_garage_mid_upload(&fixture, &garage);
    // Garage stays away for longer than the run keeps trying.
    let failed = running.wait(Duration::from_secs(300));
    garage.start_again();

    assert_only_s3_failed(&fixture, &earlier, &failed);
    assert_stderr(
        &failed,
        &["could not be removed", "`cairn plan` shows it for cleanup"],
    );
    let artifact = format!("{}/app_db/{FAULT_ID}/", fixture.prefix);
    assert!(
        !fixture.s3.uploads(&artifact).is_empty(),
        "the upload can only be open: nobody could abort it"
    );
    // The plan shows it at once: the run that left it is in the history.
    let address = format!("artifact.offsite.app_db.{FAULT_ID}");
    let plan = run(fixture
        .cairn()
        .env("CAIRN_NOW", LATER_NOW)
        .args(["plan", "--json"]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let cleanup = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "cleanup" && a["address"] == address.as_str())
        .unwrap_or_else(|| panic!("no cleanup of {address} in {plan:#}"));
    assert!(
        cleanup["reason"].as_str().unwrap().contains("left by run"),
        "{cleanup}"
    );
    // The job's next run removes it, and backs up as usual.
    fixture.set_mode("pass");
    let next = fixture.run(LATER_NOW);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_stderr(&next, &[&format!("cairn: cleaned up {address} (")]);
    fixture.assert_nothing_s3(FAULT_ID);
    fixture.assert_complete_local(LATER_ID);
    fixture.assert_complete_s3(LATER_ID);
    fixture.assert_earlier_intact(&earlier);
}

#[test]
fn a_read_only_local_target_fails_only_that_destination() {
    let mut fixture = Fixture::new("read_only", 3_000, "");
    fixture.tmpfs = Some(Tmpfs::mount(&fixture.local(), "16m"));
    let earlier = fixture.good_run();
    fixture.tmpfs.as_ref().unwrap().make_read_only();
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db`: destination `local`: ",
            "Read-only file system",
        ],
    );
    assert_eq!(fixture.local_snapshot(), earlier.local, "`local` changed");
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "Read-only file system");
    assert_outcomes(&record, "failed", "success");
}

#[test]
fn a_full_local_target_fails_only_that_destination() {
    let mut fixture = Fixture::new("disk_full", 3_000, "");
    // Room for the good run's 3 MB, not for a second copy: the disk fills
    // up in the middle of the stream.
    fixture.tmpfs = Some(Tmpfs::mount(&fixture.local(), "4m"));
    let earlier = fixture.good_run();
    let failed = fixture.run(FAULT_NOW);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &[
            "error: job `app_db`: destination `local`: ",
            "No space left on device",
        ],
    );
    assert_eq!(fixture.local_snapshot(), earlier.local, "`local` changed");
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_earlier_intact(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "No space left on device");
    assert_outcomes(&record, "failed", "success");
}

#[test]
fn a_second_run_of_a_running_job_is_refused() {
    let fixture = Fixture::new("concurrent", 2_000, "");
    let earlier = fixture.good_run();
    fixture.set_mode("sleep 5");
    let first = fixture.spawn(FAULT_NOW);
    let pid = first.pid().to_string();
    let lock = fixture.path().join("state/locks/app_db.lock");
    wait_for("the first run's lock", Duration::from_secs(10), || {
        fs::read_to_string(&lock).is_ok_and(|holder| holder.trim() == pid)
    });
    let second = fixture.run(LATER_NOW);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert_stderr(
        &second,
        &[&format!("job `app_db` is already running (pid {pid}")],
    );
    let first = first.wait(Duration::from_secs(60));
    assert_eq!(first.code, 0, "the first run failed:\n{}", first.stderr);
    fixture.assert_earlier_intact(&earlier);
    fixture.assert_complete_local(FAULT_ID);
    fixture.assert_complete_s3(FAULT_ID);
    fixture.assert_nothing_local(LATER_ID);
    fixture.assert_nothing_s3(LATER_ID);
    // The refused run did nothing: the history holds the two that ran.
    let runs: Vec<String> = fixture
        .history()
        .iter()
        .map(|record| format!("{} {}", record["id"], record["outcome"]))
        .collect();
    let expected = [GOOD_ID, FAULT_ID].map(|id| format!("\"{id}\" \"success\""));
    assert_eq!(runs, expected);
}

#[test]
fn a_run_past_its_timeout_is_stopped() {
    let fixture = Fixture::new("timeout", 2_000, "timeout = \"2s\"\n");
    let earlier = fixture.good_run();
    fixture.set_mode("sleep 30");
    let started = Instant::now();
    let failed = fixture.run(FAULT_NOW);
    let took = started.elapsed();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &["error: job `app_db` failed: ", "timed out after 2s"],
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "timed out after 2s");
    assert_outcomes(&record, "failed", "failed");
    // `dump.sh` sleeps in a child of its own: stopping only the process
    // cairn started leaves that child holding the dump's stdout open.
    assert!(
        took < Duration::from_secs(15),
        "a run with timeout = \"2s\" took {took:?} against a dump that sleeps 30 s"
    );
    let left = fixture.leftover_processes();
    assert!(left.is_empty(), "the dump outlived the run: {left:?}");
}

#[test]
fn sigterm_mid_dump_aborts_the_run() {
    let fixture = Fixture::new("sigterm", 24_000, "");
    let earlier = fixture.good_run();
    // About 5 MB/s, so the 25 MB dump takes 5 s.
    fixture.set_mode("throttle 0.2");
    let running = fixture.spawn(FAULT_NOW);
    // Past S3's first part of 8 MiB: a multipart upload is open.
    wait_for("13 MiB at `local`", Duration::from_secs(60), || {
        fixture.partial_size() > 13 * MIB
    });
    let pid = libc::pid_t::try_from(running.pid()).unwrap();
    // SAFETY: kill(2) on the cairn this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let failed = running.wait(Duration::from_secs(60));
    let took = signalled.elapsed();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_stderr(
        &failed,
        &["error: job `app_db` failed: ", "terminated (SIGTERM)"],
    );
    fixture.assert_unchanged(&earlier);
    let record = fixture.record(FAULT_ID);
    assert_failed(&record, "terminated (SIGTERM)");
    assert_outcomes(&record, "failed", "failed");
    assert!(
        took < Duration::from_secs(10),
        "cairn took {took:?} to stop"
    );
    let left = fixture.leftover_processes();
    assert!(left.is_empty(), "the dump outlived the run: {left:?}");
}
