//! Support of `run_faults`: job `app_db` backs up a database of its own to
//! `local` and to `offsite` (S3), through a dump that misbehaves on demand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{
    content_snapshot, processes_with_env, sha256, wait_for, Background, Cairn, PrivateGarage, Run,
    Sandbox, S3,
};

/// The good run every test starts with, and the run the fault hits; the IDs
/// follow from `CAIRN_NOW`.
pub const GOOD_NOW: &str = "2026-01-01T00:00:00Z";
pub const GOOD_ID: &str = "20260101T000000Z";
pub const FAULT_NOW: &str = "2026-01-02T00:00:00Z";
pub const FAULT_ID: &str = "20260102T000000Z";
pub const LATER_NOW: &str = "2026-01-03T00:00:00Z";
pub const LATER_ID: &str = "20260103T000000Z";

pub const MIB: u64 = 1 << 20;

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
  "warn "*)
    echo "dump.sh: warning: ${mode#warn }" >&2
    exec "$@" ;;
  warn-flood)
    head -c 100000 /dev/zero | tr '\0' w >&2
    echo >&2
    echo "dump.sh: the end of a long warning" >&2
    exec "$@" ;;
  "random "*)
    # Incompressible data instead of the dump.
    exec head -c "${mode#random }" /dev/urandom ;;
  "throttle "*)
    # The dump's own status, not the throttle's: a dump killed mid-stream
    # ends this script the same way (as `exec` would).
    status=$(dirname "$0")/status
    { "$@"; echo $? > "$status"; } | python3 -c '
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
' "${mode#throttle }"
    code=$(cat "$status")
    if [ "$code" -gt 128 ]; then kill -$((code - 128)) $$; fi
    exit "$code" ;;
  *)
    echo "dump.sh: unknown mode $mode" >&2
    exit 2 ;;
esac
"#;

/// The seed of a test's random kill points: `CAIRN_FAULT_SEED`, or the
/// clock. Printed, so that `CAIRN_FAULT_SEED=N` repeats a run of the test.
pub fn seed() -> u64 {
    let seed = std::env::var("CAIRN_FAULT_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (CAIRN_FAULT_SEED={seed} repeats these kill points)");
    seed
}

/// One job, `app_db`, that backs up its own database to `local` and
/// `offsite` (S3), uncompressed so that sizes are predictable.
pub struct Fixture {
    /// The database's name on the suite's PostgreSQL.
    pub database: String,
    /// The PostgreSQL password, which no output may show.
    pub password: String,
    pub s3: S3,
    /// The destination's S3 prefix, unique to this test.
    pub prefix: String,
    /// Whether to delete `prefix` at the end (not needed in a private Garage).
    clean_s3: bool,
    /// Set in the environment of every `cairn` this test starts, so that the
    /// processes it leaves behind can be found whatever their names.
    marker: String,
    /// A tmpfs mounted over `local`; unmounted before the sandbox is removed.
    pub tmpfs: Option<Tmpfs>,
    sandbox: Sandbox,
}

/// What the good run left at both destinations, by path or key.
pub struct Earlier {
    pub local: BTreeMap<String, String>,
    pub s3: BTreeMap<String, String>,
}

impl Fixture {
    /// A fixture on the suite's Garage, with `rows` rows of 1 KiB in the
    /// database and `job_extra` appended to the job's table.
    pub fn new(name: &str, rows: u32, job_extra: &str) -> Self {
        let sandbox = Sandbox::new(name).with_servers();
        let s3 = sandbox.s3();
        Self::build(sandbox, s3, true, rows, job_extra)
    }

    /// A fixture whose `offsite` destination is `s3`, a Garage of the test's own.
    pub fn with_s3(name: &str, rows: u32, s3: S3) -> Self {
        Self::build(Sandbox::new(name).with_servers(), s3, false, rows, "")
    }

    fn build(sandbox: Sandbox, s3: S3, clean_s3: bool, rows: u32, job_extra: &str) -> Self {
        let unique = format!(
            "{}-{}",
            sandbox.unique,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let postgres = sandbox.postgres();
        let database = format!("faults_{}", sandbox.unique);
        postgres.create_noise(&sandbox, &database, rows);
        let script = sandbox.path().join("dump.sh");
        std::fs::write(&script, DUMP_SCRIPT).unwrap();
        let fixture = Fixture {
            prefix: format!("run-faults/{unique}"),
            marker: unique,
            database,
            password: postgres.password.clone(),
            s3,
            clean_s3,
            tmpfs: None,
            sandbox,
        };
        fixture.sandbox.write_config(&format!(
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
            dsn = postgres.dsn_with_password_from("PGPASSWORD"),
            database = fixture.database,
            script = script.display(),
            bucket = fixture.s3.bucket,
            prefix = fixture.prefix,
            region = fixture.s3.region,
            endpoint = fixture.s3.endpoint,
        ));
        fixture.set_mode("pass");
        fixture
    }

    pub fn path(&self) -> &Path {
        self.sandbox.path()
    }

    pub fn local(&self) -> PathBuf {
        self.path().join("local")
    }

    /// What `dump.sh` does from now on, e.g. `sleep 30`.
    /// Replaces the mode in one rename: dump.sh may be reading it (a
    /// restore's tools run through it too), and must never see it empty.
    pub fn set_mode(&self, mode: &str) {
        let temporary = self.path().join(".mode.tmp");
        std::fs::write(&temporary, mode).unwrap();
        std::fs::rename(&temporary, self.path().join("mode")).unwrap();
    }

    /// `cairn ARGS` with the credentials the configuration takes from the
    /// environment.
    pub fn cairn(&self, args: &[&str]) -> Cairn {
        self.sandbox
            .cairn(args)
            .envs(self.s3.credentials())
            .env("PGPASSWORD", &self.password)
    }

    /// `cairn ARGS` carrying this test's marker, so that what it starts is
    /// found by [`Fixture::leftover_processes`].
    pub fn cairn_marked(&self, args: &[&str]) -> Cairn {
        self.cairn(args).env("CAIRN_FAULT_MARKER", &self.marker)
    }

    /// `cairn run app_db` as of `now`.
    fn cairn_run(&self, now: &str) -> Cairn {
        self.cairn(&["run", "app_db"])
            .now(now)
            .env("CAIRN_FAULT_MARKER", &self.marker)
    }

    pub fn run(&self, now: &str) -> Run {
        self.cairn_run(now).run()
    }

    /// The command of `cairn run app_db` as of `now`, for a test that
    /// starts it with pipes of its own.
    pub fn run_command(&self, now: &str) -> Command {
        self.cairn_run(now).into_command()
    }

    /// Appends `text` to the configuration (more stores, jobs…).
    pub fn add_to_config(&self, text: &str) {
        let config = self.sandbox.config();
        let old = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{old}\n{text}")).unwrap();
    }

    /// Replaces `from` with `to` in the configuration.
    pub fn edit_config(&self, from: &str, to: &str) {
        self.sandbox.edit_config(from, to);
    }

    pub fn spawn(&self, now: &str) -> Background {
        Background::spawn(self.cairn_run(now), self.path(), now)
    }

    /// The good run before the fault; returns what it left.
    pub fn good_run(&self) -> Earlier {
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
    pub fn local_snapshot(&self) -> BTreeMap<String, String> {
        content_snapshot(&self.local())
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
    pub fn partial_size(&self) -> u64 {
        let Ok(runs) = std::fs::read_dir(self.local().join("app_db")) else {
            return 0;
        };
        runs.flatten()
            .filter_map(|run| std::fs::read_dir(run.path()).ok())
            .flatten()
            .flatten()
            .filter(|file| file.file_name().to_string_lossy().ends_with(".partial"))
            .filter_map(|file| file.metadata().ok())
            .map(|metadata| metadata.len())
            .max()
            .unwrap_or(0)
    }

    /// `cairn history app_db --json`.
    pub fn history(&self) -> Vec<Value> {
        let history = self.cairn(&["history", "app_db", "--json"]).run();
        assert_eq!(history.code, 0, "{}", history.stderr);
        serde_json::from_str(&history.stdout).unwrap()
    }

    /// The history record of run `id`.
    pub fn record(&self, id: &str) -> Value {
        let history = self.history();
        history
            .iter()
            .find(|record| record["id"] == id)
            .unwrap_or_else(|| panic!("no history record of run {id}: {history:#?}"))
            .clone()
    }

    /// The local artifact `id` is a backup: its manifest lists every data
    /// file with the size and SHA-256 the file has.
    pub fn assert_complete_local(&self, id: &str) {
        let dir = self.local().join("app_db").join(id);
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json"))
                .unwrap_or_else(|e| panic!("no manifest in {}: {e}", dir.display())),
        )
        .unwrap();
        assert_eq!(manifest["id"], id);
        let streams = manifest["streams"].as_array().unwrap();
        assert!(!streams.is_empty());
        for stream in streams {
            let data = std::fs::read(dir.join(stream["name"].as_str().unwrap())).unwrap();
            assert_eq!(stream["stored_size"], data.len() as u64, "{stream}");
            assert_eq!(stream["sha256"], sha256(&data), "{stream}");
        }
    }

    /// The same at S3.
    pub fn assert_complete_s3(&self, id: &str) {
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
    pub fn assert_nothing_local(&self, id: &str) {
        let run = format!("app_db/{id}");
        let left: Vec<String> = self
            .local_snapshot()
            .into_keys()
            .filter(|path| path.starts_with(&run))
            .collect();
        assert!(left.is_empty(), "run {id} left at `local`: {left:?}");
    }

    /// Nothing of run `id` at S3: no object, no open multipart upload.
    pub fn assert_nothing_s3(&self, id: &str) {
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
    pub fn assert_earlier_intact(&self, earlier: &Earlier) {
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
    pub fn assert_unchanged(&self, earlier: &Earlier) {
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
    pub fn leftover_processes(&self) -> Vec<String> {
        processes_with_env(&format!("CAIRN_FAULT_MARKER={}", self.marker))
    }

    /// The PID of the dump tool itself (`program`, e.g. `pg_dump`) that the
    /// run started, once it runs.
    pub fn tool_pid(&self, program: &str) -> u32 {
        let mut found = None;
        wait_for(program, Duration::from_secs(30), || {
            found = self.leftover_processes().iter().find_map(|process| {
                let (pid, command) = process.split_once(": ")?;
                let first = command.split_whitespace().next()?;
                (Path::new(first).file_name()? == program).then(|| pid.parse().ok())?
            });
            found.is_some()
        });
        found.unwrap()
    }

    /// Starts the fault's run with the dump slowed down to 1 MiB every
    /// `pause` seconds; returns it once more than `mib` MiB are at `local`.
    pub fn spawn_streaming(&self, pause: &str, mib: u64) -> Background {
        self.set_mode(&format!("throttle {pause}"));
        let running = self.spawn(FAULT_NOW);
        wait_for(
            &format!("{mib} MiB at `local`"),
            Duration::from_secs(60),
            || self.partial_size() > mib * MIB,
        );
        running
    }

    /// Starts the fault's run with a dump that first sleeps `seconds`;
    /// returns it, and its PID, once it holds the job's lock.
    pub fn spawn_holding_lock(&self, seconds: u32) -> (Background, String) {
        self.set_mode(&format!("sleep {seconds}"));
        let running = self.spawn(FAULT_NOW);
        let pid = running.pid().to_string();
        let lock = self.path().join("state/locks/app_db.lock");
        wait_for("the run's lock", Duration::from_secs(10), || {
            std::fs::read_to_string(&lock).is_ok_and(|holder| holder.lines().next() == Some(&pid))
        });
        (running, pid)
    }

    /// Kills `garage`, the fixture's S3, once the run has sent a few parts;
    /// returns the run, still going.
    pub fn kill_garage_mid_upload(&self, garage: &PrivateGarage) -> Background {
        // About 20 MB/s, so the 99 MB dump takes 5 s.
        let running = self.spawn_streaming("0.05", 24);
        garage.kill();
        running
    }

    /// What a run whose S3 copy failed mid-upload must have done at `local`
    /// and said.
    pub fn assert_only_s3_failed(&self, earlier: &Earlier, failed: &Run) {
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
        self.assert_complete_local(FAULT_ID);
        self.assert_earlier_intact(earlier);
        let record = self.record(FAULT_ID);
        assert_failed(&record, "Connection refused");
        assert_outcomes(&record, "success", "failed");
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
pub fn assert_failed(record: &Value, why: &str) {
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
pub fn assert_outcomes(record: &Value, local: &str, offsite: &str) {
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
pub fn assert_stderr(run: &Run, parts: &[&str]) {
    for part in parts {
        assert!(run.stderr.contains(part), "no {part:?} in:\n{}", run.stderr);
    }
}

/// A tmpfs mounted over a local destination. The tests run as root, and
/// permission bits (chmod 0555) do not stop root; a read-only mount refuses
/// root too (EROFS), and a small tmpfs fills up (ENOSPC). tmpfs keeps this
/// independent of the filesystem the temporary directory is on (chattr +i
/// needs ext4 or similar). Mounting needs CAP_SYS_ADMIN.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
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

    pub fn make_read_only(&self) {
        self.remount("remount,ro");
    }

    /// Gives the filesystem `size` (e.g. "16m"): room again after a full disk.
    pub fn resize(&self, size: &str) {
        self.remount(&format!("remount,size={size}"));
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", options])
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
