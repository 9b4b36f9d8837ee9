//! The WAL archive (SPEC §12) with a real PostgreSQL calling cairn as its
//! `archive_command`: segments land compressed and encrypted at a local
//! directory and at Garage, with their raw checksums; `wal fetch` brings
//! them back and answers 1 only at the end of the archive, 255 for a hole or
//! an unreachable destination; a second push of the same file is fine,
//! other content under its name is refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::pitr::Cluster;
use crate::common::{flat, sha256_file, Cairn, Sandbox, S3};

const JOB: &str = "pitr";

/// A sandbox user `postgres` can read, with backup.toml archiving job
/// `pitr` to `archive/` and to Garage, encrypted, and the AWS keys in the
/// environment file (PostgreSQL starts archive_command without them).
struct Archive {
    sandbox: Sandbox,
    s3: S3,
    prefix: String,
}

impl Archive {
    fn new(test: &str) -> Self {
        let sandbox = Sandbox::new(test).with_servers();
        let dir = sandbox.path();
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let (identity, recipient) = sandbox.age_key();
        let s3 = sandbox.s3();
        let prefix = format!("wal-{}", sandbox.unique);
        let env: String = s3
            .credentials()
            .iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect();
        std::fs::write(dir.join("cairn.env"), env).unwrap();
        sandbox.write_config(&format!(
            r#"[settings]
scheduler = "none"
state_dir = "state"
environment_file = "cairn.env"
age_identity_file = "{identity}"

[stores.pg]
kind = "postgres"
method = "basebackup"
dsn = "postgresql://postgres@127.0.0.1:PG_PORT/postgres"

[destinations.local]
kind = "local"
path = "archive"

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
endpoint = "{endpoint}"
path_style = true
region = "garage"

[jobs.{JOB}]
store = "pg"
schedule = {{ cron = "0 3 * * *" }}
to = ["local", "offsite"]
retention = {{ daily = 7 }}
encrypt_to = ["{recipient}"]
"#,
            identity = identity.display(),
            bucket = s3.bucket,
            endpoint = s3.endpoint,
        ));
        sandbox.clean_up_with(s3.remove_command(&format!("{prefix}/")));
        // archive_command and the job run as postgres.
        crate::common::tool(
            std::process::Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir),
        );
        Archive {
            sandbox,
            s3,
            prefix,
        }
    }

    fn archive_command(&self) -> String {
        format!(
            "{} wal push %p --job {JOB} --config {}",
            env!("CARGO_BIN_EXE_cairn"),
            self.sandbox.config().display()
        )
    }

    /// The cluster the store points at, archiving through cairn, started.
    fn cluster(&self) -> Cluster {
        let cluster = Cluster::init(
            self.sandbox.servers(),
            &self.sandbox.path().join("pg"),
            &self.archive_command(),
        );
        self.sandbox
            .edit_config("PG_PORT", &cluster.port.to_string());
        cluster.start();
        cluster
    }

    /// [`Archive::cluster`] with a table `t (id int primary key)` and a base
    /// backup taken of it.
    fn backed_up_cluster(&self) -> Cluster {
        let cluster = self.cluster();
        cluster.psql("create table t (id int primary key)");
        let run = self
            .cairn_as_postgres(&["run", JOB])
            .now("2026-12-06T03:00:00Z")
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        cluster
    }

    /// `cairn ARGS` as user postgres, as the job's units would run it
    /// (run_as = "postgres": the archive is shared with archive_command),
    /// with the environment file's variables, which systemd would load.
    fn cairn_as_postgres(&self, args: &[&str]) -> Cairn {
        Cairn::wrapped(self.sandbox.path(), &["runuser", "-u", "postgres", "--"])
            .env("PATH", pg_path(self.sandbox.servers()))
            .envs(self.s3.credentials())
            .args(args)
    }

    /// `cairn ARGS` as root, with nothing but the environment file for S3.
    fn cairn(&self, args: &[&str]) -> Cairn {
        Cairn::new(self.sandbox.path()).args(args)
    }

    fn local(&self, name: &str) -> PathBuf {
        self.sandbox
            .path()
            .join("archive")
            .join(JOB)
            .join("wal")
            .join(name)
    }

    fn s3_key(&self, name: &str) -> String {
        format!("{}/{JOB}/wal/{name}", self.prefix)
    }

    /// The raw checksum the local sidecar records for `segment`.
    fn recorded(&self, segment: &str) -> String {
        let sidecar = std::fs::read_to_string(self.local(&format!("{segment}.sha256"))).unwrap();
        let (hex, name) = sidecar.trim_end().split_once("  ").unwrap();
        assert_eq!(name, segment);
        hex.to_owned()
    }

    fn fetch(&self, segment: &str, to: &Path) -> crate::common::Run {
        self.cairn(&["wal", "fetch", segment, to.to_str().unwrap(), "--job", JOB])
            .run()
    }
}

#[test]
fn postgres_archives_through_cairn_and_fetch_brings_every_segment_back() {
    let archive = Archive::new("wal_archive");
    let cluster = archive.cluster();
    cluster.psql("create table t (id int); insert into t select generate_series(1, 50000)");
    let mut segments = Vec::new();
    for _ in 0..3 {
        cluster.psql("insert into t select generate_series(1, 1000)");
        segments.push(cluster.switch_wal());
    }
    cluster.wait_archived(segments.last().unwrap());
    assert!(
        cluster.archive_failures().starts_with("0 "),
        "archive_command failed: {}\n{}",
        cluster.archive_failures(),
        cluster.server_log()
    );

    for segment in &segments {
        // Compressed and encrypted, with the raw checksum beside it.
        assert!(
            archive.local(&format!("{segment}.zst.age")).is_file(),
            "{segment}"
        );
        let head = archive.s3.s3api(
            "head-object",
            &["--key", &archive.s3_key(&format!("{segment}.zst.age"))],
        );
        assert_eq!(
            head["Metadata"]["cairn-sha256-raw"].as_str(),
            Some(archive.recorded(segment).as_str())
        );
        // Back as the server wrote it: the checksum recorded at push time.
        let out = archive.sandbox.path().join(format!("fetched-{segment}"));
        let fetched = archive.fetch(segment, &out);
        assert_eq!(fetched.code, 0, "{}", fetched.stderr);
        assert_eq!(sha256_file(&out), archive.recorded(segment));
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 16 << 20);
    }

    // The archive is not an artifact: plan leaves it alone (nothing is
    // pruned without a base backup), and reads the server's settings: the
    // archive_command is this job's, but the server has no archive_timeout.
    let plan = archive.cairn(&["plan", "--json"]).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert!(!plan["actions"].to_string().contains("wal."), "{plan}");
    let notes = plan["notes"].to_string();
    assert!(!notes.contains("does not call"), "{notes}");
    assert!(
        notes.contains("the server has no archive_timeout"),
        "{notes}"
    );

    // The archive survives a restart of the server, and goes on.
    cluster.stop();
    cluster.start();
    cluster.psql("insert into t select generate_series(1, 1000)");
    let after_restart = cluster.switch_wal();
    cluster.wait_archived(&after_restart);
    assert!(archive.local(&format!("{after_restart}.zst.age")).is_file());
    for segment in &segments {
        assert!(archive.local(&format!("{segment}.zst.age")).is_file());
    }

    // An identity others can read is warned about, in the server's log.
    let identity = archive.sandbox.path().join("age-identity.txt");
    let mode = |mode| {
        std::fs::set_permissions(
            &identity,
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap()
    };
    mode(0o644);
    let warned = archive.fetch(&segments[2], &archive.sandbox.path().join("warned"));
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    assert!(
        flat(&warned.stderr).contains("open to group or others"),
        "{}",
        warned.stderr
    );
    mode(0o600);

    // Missing from the first destination: the second has it.
    let first = &segments[0];
    std::fs::remove_file(archive.local(&format!("{first}.zst.age"))).unwrap();
    std::fs::remove_file(archive.local(&format!("{first}.sha256"))).unwrap();
    let out = archive.sandbox.path().join("from-s3");
    let fetched = archive.fetch(first, &out);
    assert_eq!(fetched.code, 0, "{}", fetched.stderr);
    assert_eq!(sha256_file(&out), {
        let head = archive.s3.s3api(
            "head-object",
            &["--key", &archive.s3_key(&format!("{first}.zst.age"))],
        );
        head["Metadata"]["cairn-sha256-raw"]
            .as_str()
            .unwrap()
            .to_owned()
    });

    // Past the newest segment: the end of the archive, exit 1.
    let next = next_segment(&after_restart);
    let absent = archive.fetch(&next, &archive.sandbox.path().join("none"));
    assert_eq!(absent.code, 1, "{}", absent.stderr);
    assert!(!archive.sandbox.path().join("none").exists());

    // A hole: the middle segment gone everywhere, later ones there. Exit
    // 255, so that PostgreSQL stops instead of promoting at the hole.
    let middle = &segments[1];
    std::fs::remove_file(archive.local(&format!("{middle}.zst.age"))).unwrap();
    std::fs::remove_file(archive.local(&format!("{middle}.sha256"))).unwrap();
    archive.s3.aws(&[
        "s3",
        "rm",
        &archive
            .s3
            .url(&archive.s3_key(&format!("{middle}.zst.age"))),
    ]);
    let hole = archive.fetch(middle, &archive.sandbox.path().join("hole"));
    assert_eq!(hole.code, 255, "{}", hole.stderr);
    assert!(
        flat(&hole.stderr).contains(&format!("{middle} is missing from the archive, but")),
        "{}",
        hole.stderr
    );
}

#[test]
fn a_second_push_of_the_same_file_is_fine_and_other_content_is_refused() {
    let archive = Archive::new("wal_push");
    let dir = archive.sandbox.path();
    let segment = "000000010000000000000007";
    std::fs::create_dir(dir.join("pg_wal")).unwrap();
    let file = dir.join("pg_wal").join(segment);
    let content = crate::common::pseudo_random(16 << 20);
    std::fs::write(&file, &content).unwrap();
    let push = |path: &Path| {
        archive
            .cairn(&["wal", "push", path.to_str().unwrap(), "--job", JOB])
            .run()
    };
    let first = push(&file);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = push(&file);
    assert_eq!(
        again.code, 0,
        "a retry after a crash must succeed: {}",
        again.stderr
    );

    std::fs::create_dir(dir.join("other")).unwrap();
    let other = dir.join("other").join(segment);
    let mut changed = content.clone();
    changed[4096] ^= 1;
    std::fs::write(&other, changed).unwrap();
    let refused = push(&other);
    // Not above 125: PostgreSQL would take the archiver down.
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let shown = flat(&refused.stderr);
    assert!(
        shown.contains("already holds 000000010000000000000007 with other content"),
        "{shown}"
    );
    assert!(
        shown.contains(&crate::common::sha256_file(&file)),
        "{shown}"
    );
    assert!(
        shown.contains(&crate::common::sha256_file(&other)),
        "{shown}"
    );
    // The archived copy is the first one.
    assert_eq!(archive.recorded(segment), sha256_file(&file));

    // Not a WAL file name: refused, never taken for a path in the archive.
    let odd = dir.join("pg_wal/..history");
    std::fs::write(&odd, "x").unwrap();
    assert_eq!(push(&odd).code, 1);
}

#[test]
fn fetch_from_an_unreachable_destination_exits_255() {
    let archive = Archive::new("wal_unreachable");
    let dir = archive.sandbox.path();
    let config = std::fs::read_to_string(archive.sandbox.config()).unwrap();
    let closed = format!(
        "endpoint = \"http://127.0.0.1:{}\"",
        crate::common::notify::closed_port()
    );
    let endpoint = config
        .lines()
        .find(|line| line.starts_with("endpoint = "))
        .unwrap();
    std::fs::write(
        dir.join("unreachable.toml"),
        config.replace(endpoint, &closed),
    )
    .unwrap();
    let fetch = archive
        .cairn(&[
            "--config",
            "unreachable.toml",
            "wal",
            "fetch",
            "000000010000000000000001",
            "out",
            "--job",
            JOB,
        ])
        .run();
    assert_eq!(fetch.code, 255, "{}", fetch.stderr);
    assert!(
        flat(&fetch.stderr).contains("offsite: "),
        "{}",
        fetch.stderr
    );
    // So do usage errors: only "not archived" may be 1.
    let usage = archive.cairn(&["wal", "fetch", "--job", JOB]).run();
    assert_eq!(usage.code, 255, "{}", usage.stderr);
}

/// The segment after `name` with the default 16 MiB segments.
fn next_segment(name: &str) -> String {
    let timeline = &name[..8];
    let log = u32::from_str_radix(&name[8..16], 16).unwrap();
    let seg = u32::from_str_radix(&name[16..], 16).unwrap();
    let (log, seg) = if seg == 0xFF {
        (log + 1, 0)
    } else {
        (log, seg + 1)
    };
    format!("{timeline}{log:08X}{seg:08X}")
}

/// PATH with PostgreSQL's tools first.
fn pg_path(servers: &crate::common::Servers) -> String {
    format!(
        "{}:{}",
        servers.var("CAIRN_TEST_PG_BIN"),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_base_backup_records_its_place_in_the_wal() {
    let archive = Archive::new("wal_basebackup");
    let cluster = archive.cluster();
    cluster.psql("create table t (id int); insert into t select generate_series(1, 10000)");
    // The job's last fire (daily at 03:00 UTC) at or before the real
    // clock, which the archive's files and `status` below go by: the run
    // is then not missed.
    let fire = {
        let now = chrono::Utc::now();
        let today = now.date_naive().and_hms_opt(3, 0, 0).unwrap().and_utc();
        if today <= now {
            today
        } else {
            today - chrono::Duration::days(1)
        }
    };
    let run = archive
        .cairn_as_postgres(&["run", JOB])
        .now(&fire.to_rfc3339())
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, cluster.server_log());
    let id = fire.format("%Y%m%dT%H%M%SZ").to_string();
    let artifact = archive.sandbox.path().join("archive").join(JOB).join(&id);
    assert!(artifact.join("base.tar.zst.age").is_file());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifact.join("manifest.json")).unwrap())
            .unwrap();
    let wal = &manifest["wal"];
    assert_eq!(
        wal["system_identifier"].as_str().unwrap(),
        cluster.psql("select system_identifier from pg_control_system()")
    );
    assert_eq!(wal["timeline"], 1);
    assert_eq!(wal["segment_size"], 16 << 20);
    assert_eq!(
        wal["server_version"].to_string(),
        cluster.psql("show server_version_num")
    );
    // -X none: the backup ended once its last segment was archived.
    for key in ["start_segment", "stop_segment"] {
        let segment = wal[key].as_str().unwrap();
        assert!(
            archive.local(&format!("{segment}.zst.age")).is_file(),
            "{key} {segment} is not archived"
        );
    }
    assert!(wal["start_segment"].as_str() <= wal["stop_segment"].as_str());

    // status follows the archive: its newest file, then a hole in it.
    let mut after = Vec::new();
    for _ in 0..2 {
        cluster.psql("insert into t values (1)");
        after.push(cluster.switch_wal());
    }
    cluster.wait_archived(after.last().unwrap());
    let status = archive
        .cairn(&["status", "--json"])
        .envs(archive.s3.credentials())
        .run();
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let job = &report["jobs"][0];
    assert_eq!(
        job["wal"]["newest"]["file"].as_str(),
        Some(after[1].as_str())
    );
    assert!(job["message"]
        .as_str()
        .unwrap()
        .contains("newest archived WAL is"));
    std::fs::remove_file(archive.local(&format!("{}.zst.age", after[0]))).unwrap();
    std::fs::remove_file(archive.local(&format!("{}.sha256", after[0]))).unwrap();
    let holed = archive
        .cairn(&["status"])
        .envs(archive.s3.credentials())
        .run();
    assert_eq!(holed.code, 2, "{}", holed.stdout);
    assert!(
        holed.stdout.contains(&format!(
            "the WAL archive at `local` misses {} ({} is archived after it)",
            after[0], after[1]
        )),
        "{}",
        holed.stdout
    );
}

/// A cluster `cairn restore --start` left running on a private socket
/// (the data directory, port 5432); stopped when the test ends.
struct Restored {
    datadir: PathBuf,
    bin: PathBuf,
}

impl Restored {
    fn psql(&self, sql: &str) -> String {
        crate::common::tool(
            std::process::Command::new(self.bin.join("psql"))
                .args([
                    "-X",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-p",
                    "5432",
                ])
                .arg("-h")
                .arg(&self.datadir)
                .arg("-c")
                .arg(sql),
        )
        .trim()
        .to_owned()
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.datadir)
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }
}

impl Archive {
    /// `cairn restore pitr ARGS --to DIR --start`, which must succeed.
    fn restore(&self, dir: &str, args: &[&str]) -> Restored {
        let datadir = self.sandbox.path().join(dir);
        let restored = Restored {
            datadir: datadir.clone(),
            bin: PathBuf::from(self.sandbox.servers().var("CAIRN_TEST_PG_BIN")),
        };
        let run = self
            .cairn(&["restore", JOB, "--to", datadir.to_str().unwrap(), "--start"])
            .env("PATH", pg_path(self.sandbox.servers()))
            .envs(self.s3.credentials())
            .args(args)
            .run();
        assert_eq!(
            run.code,
            0,
            "restore {args:?}: {}\n{}",
            run.stderr,
            std::fs::read_to_string(datadir.join("cairn-recovery.log")).unwrap_or_default()
        );
        restored
    }
}

/// The time now, after a pause on both sides so that commits before and
/// after it are at least a second apart from it.
fn between_commits() -> String {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    time
}

#[test]
fn restore_to_a_time_gives_exactly_the_rows_committed_before_it_on_either_timeline() {
    let archive = Archive::new("wal_pitr");
    let cluster = archive.backed_up_cluster();
    cluster.psql("insert into t values (1)");
    let _t1 = between_commits();
    cluster.psql("insert into t values (2)");
    let t2 = between_commits();
    cluster.psql("insert into t values (3)");
    let t3 = between_commits();
    // Recovery to a time stops at the first commit after it: there must be one.
    cluster.psql("insert into t values (4)");
    let rows_segment = cluster.switch_wal();
    cluster.wait_archived(&rows_segment);
    let rows =
        |restored: &Restored| restored.psql("select string_agg(id::text, ',' order by id) from t");

    // To T2: rows 1 and 2. The copy promotes onto timeline 2 and, with the
    // original's archive_command, archives it.
    let at_t2 = archive.restore("r2", &["--at", &t2]);
    assert_eq!(rows(&at_t2), "1,2");
    assert_eq!(
        at_t2.psql("select timeline_id from pg_control_checkpoint()"),
        "2"
    );
    at_t2.psql("insert into t values (99)");
    let t4 = between_commits();
    at_t2.psql("insert into t values (100)");
    let segment = at_t2.psql("select pg_walfile_name(pg_switch_wal())");
    wait_for_archive(&archive, &segment);
    assert!(archive.local("00000002.history.zst.age").is_file());
    drop(at_t2);

    // To T4, along the latest timeline (2): 99, and neither 3 nor 100.
    let at_t4 = archive.restore("r4", &["--at", &t4]);
    assert_eq!(rows(&at_t4), "1,2,99");
    drop(at_t4);

    // To T3 along timeline 1: row 3 is there, 4 and 99 are not.
    let at_t3 = archive.restore("r3", &["--at", &t3, "--timeline", "1"]);
    assert_eq!(rows(&at_t3), "1,2,3");
    drop(at_t3);

    // A hole: the segment with rows 1 to 4 gone everywhere, a later one of
    // timeline 1 there. wal fetch exits 255 and recovery stops, loudly,
    // instead of promoting before T3.
    cluster.psql("insert into t values (5)");
    cluster.wait_archived(&cluster.switch_wal());
    std::fs::remove_file(archive.local(&format!("{rows_segment}.zst.age"))).unwrap();
    std::fs::remove_file(archive.local(&format!("{rows_segment}.sha256"))).unwrap();
    archive.s3.aws(&[
        "s3",
        "rm",
        &archive
            .s3
            .url(&archive.s3_key(&format!("{rows_segment}.zst.age"))),
    ]);
    let datadir = archive.sandbox.path().join("r5");
    let _stopped = Restored {
        datadir: datadir.clone(),
        bin: PathBuf::from(archive.sandbox.servers().var("CAIRN_TEST_PG_BIN")),
    };
    let failed = archive
        .cairn(&["restore", JOB, "--to", datadir.to_str().unwrap(), "--start"])
        .env("PATH", pg_path(archive.sandbox.servers()))
        .envs(archive.s3.credentials())
        .args(["--at", &t3, "--timeline", "1"])
        .run();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let shown = flat(&failed.stderr);
    assert!(shown.contains("recovery failed"), "{shown}");
    assert!(
        shown.contains(&format!("{rows_segment} is missing from the archive")),
        "{shown}"
    );
}

/// Waits until `segment` is in the local archive.
fn wait_for_archive(archive: &Archive, segment: &str) {
    crate::common::wait_for(
        &format!("{segment} in the archive"),
        std::time::Duration::from_secs(60),
        || archive.local(&format!("{segment}.zst.age")).is_file(),
    );
}

#[test]
fn verify_replays_the_archive_into_a_scratch_cluster_that_never_archives() {
    let archive = Archive::new("wal_verify");
    let config = std::fs::read_to_string(archive.sandbox.config()).unwrap();
    std::fs::write(
        archive.sandbox.config(),
        format!(
            "{config}\n[jobs.check]\nkind = \"verify\"\nverifies = \"{JOB}\"\nschedule = {{ cron = \"0 4 * * *\" }}\n\n\
             [[jobs.check.checks]]\nquery = \"select count(*) from t\"\nmin = 3\n"
        ),
    )
    .unwrap();
    let cluster = archive.cluster();
    cluster.psql("create table t (id int)");
    let run = archive
        .cairn_as_postgres(&["run", JOB])
        .now("2026-12-06T03:00:00Z")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Only in the WAL after the base backup: the check passes only if the
    // archive was replayed.
    cluster.psql("insert into t values (1), (2), (3)");
    cluster.wait_archived(&cluster.switch_wal());

    let verify = archive
        .cairn_as_postgres(&["run", "check"])
        .now("2026-12-06T04:00:00Z")
        .run();
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify
            .stderr
            .contains("ok     `select count(*) from t` >= 3: 3"),
        "{}",
        verify.stderr
    );
    assert!(
        verify
            .stderr
            .contains("ok     the archive replays onto the base backup to its end"),
        "{}",
        verify.stderr
    );
    // The scratch copy promoted, but archived nothing: no timeline 2.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(!archive.local("00000002.history.zst.age").exists());
    // The scratch cluster is stopped and gone.
    let datadir = verify
        .stderr
        .lines()
        .find_map(|line| {
            line.split_once(" into data directory ")
                .map(|(_, dir)| dir.trim())
        })
        .expect("verify names its scratch data directory")
        .to_owned();
    assert!(!Path::new(&datadir).exists(), "{datadir} is left");
    let running: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&datadir))
        .collect();
    assert!(
        running.is_empty(),
        "the scratch server outlived verify: {running:?}"
    );
}

#[test]
fn sixty_days_of_base_backups_keep_exactly_the_wal_the_kept_ones_need() {
    let archive = Archive::new("wal_retention");
    archive.sandbox.edit_config(
        "retention = { daily = 7 }",
        "retention = { daily = 5, weekly = 3 }",
    );
    let cluster = archive.cluster();
    cluster.psql("create table t (day int)");
    let start = chrono::DateTime::parse_from_rfc3339("2026-10-01T02:00:00Z").unwrap();
    let mut days = Vec::new();
    for day in 0..60 {
        let now = (start + chrono::Duration::days(day)).to_rfc3339();
        cluster.psql(&format!("insert into t values ({day})"));
        let run = archive.cairn_as_postgres(&["run", JOB]).now(&now).run();
        // Each base backup ends its last segment (-X none waits for it to
        // be archived), so the days' WAL is archived as they go.
        assert_eq!(run.code, 0, "day {day}: {}", run.stderr);
        days.push(now);
    }
    // The base backups left are those the policy keeps.
    let mut input = days.join("\n");
    input.push('\n');
    let policy = archive
        .cairn(&["retention", "--policy", "daily=5,weekly=3", "--json"])
        .stdin(&input)
        .run();
    let decisions: Vec<serde_json::Value> = serde_json::from_str(&policy.stdout).unwrap();
    let expected: BTreeSet<String> = decisions
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| {
            chrono::DateTime::parse_from_rfc3339(d["time"].as_str().unwrap())
                .unwrap()
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        })
        .collect();
    let jobdir = archive.sandbox.path().join("archive").join(JOB);
    let kept: BTreeSet<String> = std::fs::read_dir(&jobdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "wal")
        .collect();
    assert_eq!(kept, expected);
    // The WAL left starts exactly at the oldest kept backup's first segment.
    let oldest = kept.iter().next().unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(jobdir.join(oldest).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let first_needed = manifest["wal"]["start_segment"]
        .as_str()
        .unwrap()
        .to_owned();
    let segments: Vec<String> = std::fs::read_dir(jobdir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".sha256").map(str::to_owned))
        .filter(|name| name.len() == 24)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(segments.first(), Some(&first_needed), "{segments:?}");
    // And nothing is missing from there on: status sees no hole.
    let status = archive
        .cairn(&["status"])
        .envs(archive.s3.credentials())
        .run();
    assert!(!status.stdout.contains("misses"), "{}", status.stdout);
    // The same at the S3 destination.
    let s3_segments: BTreeSet<String> = archive
        .s3
        .keys(&format!("{}/{JOB}/wal/", archive.prefix))
        .into_iter()
        .filter_map(|key| key.rsplit('/').next().map(str::to_owned))
        .map(|name| name.split('.').next().unwrap_or_default().to_owned())
        .filter(|name| name.len() == 24)
        .collect();
    assert_eq!(s3_segments.iter().next(), Some(&first_needed));
    // The oldest kept backup still restores.
    let restored = archive.restore("oldest", &["--artifact", oldest]);
    assert_eq!(restored.psql("select count(*) from t"), "60");
}

#[test]
fn a_restore_from_s3_alone_recovers_to_the_second() {
    let archive = Archive::new("wal_pitr_s3");
    let cluster = archive.backed_up_cluster();
    cluster.psql("insert into t values (1)");
    let t1 = between_commits();
    cluster.psql("insert into t values (2)");
    cluster.wait_archived(&cluster.switch_wal());
    // The local copy is lost, base backups and WAL alike: Garage has it all,
    // encrypted.
    std::fs::remove_dir_all(archive.sandbox.path().join("archive").join(JOB)).unwrap();
    let restored = archive.restore("from-s3", &["--from", "offsite", "--at", &t1]);
    assert_eq!(
        restored.psql("select string_agg(id::text, ',') from t"),
        "1"
    );
    let log = std::fs::read_to_string(restored.datadir.join("cairn-recovery.log")).unwrap();
    assert!(log.contains("restored log file"), "{log}");
}

#[test]
fn a_base_backup_whose_wal_is_never_archived_fails_at_its_timeout_saying_why() {
    let archive = Archive::new("wal_stuck");
    archive.sandbox.edit_config(
        "retention = { daily = 7 }",
        "retention = { daily = 7 }\ntimeout = \"4s\"",
    );
    let cluster = Cluster::init(
        archive.sandbox.servers(),
        &archive.sandbox.path().join("pg"),
        "exit 1",
    );
    archive
        .sandbox
        .edit_config("PG_PORT", &cluster.port.to_string());
    cluster.start();
    let run = archive.cairn_as_postgres(&["run", JOB]).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let shown = flat(&run.stderr);
    assert!(shown.contains("timed out after 4s"), "{shown}");
    assert!(
        shown.contains("the base backup waits until the server archived its last WAL segment; the server's archiver last archived none, last failed on 0000000100000000000000"),
        "{shown}"
    );
}
