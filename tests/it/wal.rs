//! The WAL archive (SPEC §12) with a real PostgreSQL calling cairn as its
//! `archive_command`: segments land compressed and encrypted at a local
//! directory and at Garage, with their raw checksums; `wal fetch` brings
//! them back and answers 1 only at the end of the archive, 255 for a hole or
//! an unreachable destination; a second push of the same file is fine,
//! other content under its name is refused.

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

    // The archive is not an artifact: inventory and plan leave it alone.
    let plan = archive.cairn(&["plan", "--json"]).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stdout.contains("wal"), "{}", plan.stdout);

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
    let run = archive
        .cairn_as_postgres(&["run", JOB])
        .now("2026-12-06T03:00:00Z")
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, cluster.server_log());
    let id = "20261206T030000Z";
    let artifact = archive.sandbox.path().join("archive").join(JOB).join(id);
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
}
