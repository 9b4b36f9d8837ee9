//! The world of `cairn run` and `cairn restore` against the real servers:
//! one job, [`JOB`], backs up the store `source` to the destinations
//! `local` (`backups/`) and `offsite` (the suite's Garage, under a prefix
//! of the sandbox's own); its artifacts are fetched and decoded the way an
//! operator would, with the aws CLI, age, zstd and gzip.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{
    assert_lines_equal, descendant_command_lines, file_names, read_in_background,
    redis::{snapshot_expiring, PrivateRedis},
    relative_files, sha256, tool, Run, Sandbox, PG_ROWS,
};

/// The job every test runs; its store is always `source`.
pub const JOB: &str = "app";

impl Sandbox {
    /// The sandbox's S3 prefix.
    fn prefix(&self) -> String {
        format!("run_stores/{}", self.unique)
    }

    /// Writes backup.toml: the store `source` (the given TOML lines), the
    /// destinations `local` and `offsite` (S3), and job `app` from one to
    /// the other, with `job` as extra lines of the job's table.
    pub fn write_job(&self, store: &str, job: &str) {
        let s3 = self.s3();
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
            bucket = s3.bucket,
            prefix = self.prefix(),
            endpoint = s3.endpoint,
        );
        self.write_config(&config);
        self.clean_up_with(s3.remove_command(&format!("{}/", self.prefix())));
    }

    /// Runs the job, asserts that it succeeded, and returns the run's ID
    /// from cairn's closing line.
    pub fn run_job(&self, env: &[(&str, &str)]) -> String {
        let (run, _) = self.run_watching(env);
        successful_run_id(&run)
    }

    /// Runs the job (with `env` as well) while scanning /proc for every
    /// process cairn starts; returns the output and the command lines seen.
    pub fn run_watching(&self, env: &[(&str, &str)]) -> (Run, BTreeSet<String>) {
        let mut child = self
            .cairn(&["run", JOB])
            .envs(env.iter().copied())
            .into_command()
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

    /// Artifact `id` of the job at both destinations, after checking what
    /// every artifact must satisfy: exactly `streams` (stored names, in
    /// order) plus `manifest.json` under `JOB/ID/`, the same manifest at both
    /// destinations with checksums and sizes that match the stored objects,
    /// private local permissions, cairn's mark on the S3 objects, and a
    /// successful run in `cairn history --json`.
    pub fn artifact(&self, id: &str, kind: &str, streams: &[&str]) -> Artifact {
        let scratch = self.path().join(format!("fetched-{id}"));
        let local = self.path().join("backups").join(JOB).join(id);
        let s3 = scratch.join("s3");
        self.s3()
            .download(&format!("{}/{JOB}/{id}/", self.prefix()), &s3);

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
                    sha256(&bytes),
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
        let s3 = self.s3();
        let heads: Vec<(String, std::process::Child)> = names
            .iter()
            .map(|name| {
                let key = format!("{}/{JOB}/{id}/{name}", self.prefix());
                let child = s3
                    .aws_command(&["s3api", "head-object", "--bucket", &s3.bucket, "--key"])
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
        let history = self.cairn(&["history", "--json"]).run();
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

    /// `cairn inventory --json` rows of the job.
    pub fn inventory(&self) -> Vec<serde_json::Value> {
        let out = self.cairn(&["inventory", JOB, "--json"]).run();
        assert_ok(&out, "inventory");
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        report["artifacts"].as_array().unwrap().clone()
    }

    /// Appends a verify job `check` of the sandbox's job with `checks` (TOML
    /// lines of one or more `[[jobs.check.checks]]` tables), runs a backup
    /// and the verify, and returns the verify's output.
    pub fn backup_and_verify(&self, checks: &str) -> Run {
        self.add_verify_job(checks);
        self.run_job(&[]);
        self.cairn(&["verify", "check"]).run()
    }

    /// Adds the verify job `check` of job `app`, with `checks` (TOML lines).
    pub fn add_verify_job(&self, checks: &str) {
        let mut config = std::fs::read_to_string(self.config()).unwrap();
        config.push_str(&format!(
            "\n[jobs.check]\nkind = \"verify\"\nverifies = \"{JOB}\"\nschedule = {{ cron = \"0 6 * * *\" }}\n\n{checks}\n"
        ));
        self.write_config(&config);
    }

    /// An SQLite database `app.db` with three users, and the job backing
    /// it up; returns the database's path.
    pub fn sqlite_source(&self) -> PathBuf {
        let database = self.path().join("app.db");
        tool(Command::new("sqlite3").arg(&database).arg(
            "create table users (id integer primary key, name text);
             insert into users (name) values ('ada'), ('grace'), ('edsger');",
        ));
        self.write_job(
            &format!("kind = \"sqlite\"\npath = \"{}\"", database.display()),
            "",
        );
        database
    }

    /// Restores each database's `db-NAME.pgdump` stream of every copy into
    /// a fresh database and compares its rows with the source's.
    pub fn check_pg_restores(&self, artifact: &Artifact, databases: &[String], suffix: &str) {
        let postgres = self.postgres();
        for database in databases {
            let source_rows = postgres.psql(database, PG_ROWS);
            for (copy, dump) in artifact.decoded(&format!("db-{database}.pgdump{suffix}")) {
                let restored = format!("{database}_from_{copy}");
                postgres.create_database(self, &restored);
                tool(
                    postgres
                        .tool("pg_restore")
                        .args(["--exit-on-error", "--dbname"])
                        .arg(&restored)
                        .arg(&dump),
                );
                assert_lines_equal(
                    &postgres.psql(&restored, PG_ROWS),
                    &source_rows,
                    &format!("{database} restored from {copy}"),
                );
            }
        }
        for (copy, globals) in artifact.decoded(&format!("globals.sql{suffix}")) {
            let text = std::fs::read_to_string(&globals).unwrap();
            assert!(
                text.contains(&format!("CREATE ROLE {};", postgres.user)),
                "globals.sql from {copy} holds the roles:\n{text}"
            );
        }
    }

    /// Loads the RDB of every copy into a private server and compares the
    /// keys under `prefix` with the shared server's.
    pub fn check_redis_restores(&self, artifact: &Artifact, stored: &str, prefix: &str) {
        let redis = self.redis();
        let source = snapshot_expiring(&|args| redis.cli(args), prefix);
        assert_eq!(source.len(), 7, "{source:?}");
        for (copy, rdb) in artifact.decoded(stored) {
            let server = PrivateRedis::loading(&rdb);
            let restored = snapshot_expiring(&|args| server.cli(0, args), prefix);
            assert_eq!(restored, source, "the keys restored from {copy}");
        }
    }

    /// The password is nowhere an operator or another user of the host
    /// could read it: not in cairn's output, the manifests, the history, or
    /// the command line of any process cairn ran.
    pub fn assert_password_hidden(
        &self,
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
            self.path()
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
}

/// One destination's copy of an artifact, on local disk: the local
/// destination's directory itself, or the S3 objects downloaded.
pub struct StoredCopy {
    pub label: &'static str,
    pub dir: PathBuf,
}

pub struct Artifact {
    pub manifest: serde_json::Value,
    pub manifest_text: String,
    pub copies: Vec<StoredCopy>,
    pub scratch: PathBuf,
    /// Decrypts `.age` objects.
    pub identity: Option<PathBuf>,
}

impl Artifact {
    /// The data of stream `stored` (e.g. `db-app.pgdump.zst`) as the dump
    /// wrote it, from each copy: decrypted with `age -d`, decompressed with
    /// `zstd -d` or `gzip -d`. Checks the raw size the manifest records.
    pub fn decoded(&self, stored: &str) -> Vec<(&'static str, PathBuf)> {
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
pub fn successful_run_id(run: &Run) -> String {
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

/// `sqlite3 PATH .dump`.
pub fn sqlite_dump(path: &std::path::Path) -> String {
    tool(Command::new("sqlite3").arg(path).arg(".dump"))
}

/// `run` succeeded; `what` names it in the failure.
pub fn assert_ok(run: &Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}
