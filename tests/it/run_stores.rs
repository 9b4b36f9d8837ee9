//! `cairn run` end to end against the real servers (SPEC §5, §8): every
//! store kind is backed up to a local directory and to S3 (Garage), and each
//! copy is brought back the way an operator would — downloaded with the aws
//! CLI, decrypted with age, decompressed with zstd or gzip, loaded with the
//! store's own tools — and compared with the source.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::common::redis::EVERY_TYPE;
use crate::common::stores::{sqlite_dump, successful_run_id};
use crate::common::{assert_lines_equal, pseudo_random, tool, tree, Sandbox};

#[test]
fn sqlite_artifact_is_the_database_at_run_time() {
    let sandbox = Sandbox::new("sqlite").with_servers().under_root();
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
    sandbox.write_job(
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

#[test]
fn directory_artifact_keeps_contents_modes_mtimes_and_leaves_out_excludes() {
    let sandbox = Sandbox::new("directory").with_servers().under_root();
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

    sandbox.write_job(
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

#[test]
fn postgres_dsn_with_password_variable_round_trips_two_databases_and_globals() {
    let mut sandbox = Sandbox::new("pg_dsn").with_servers().under_root();
    sandbox.pass_env("CAIRN_TEST_PG_PASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [
        format!("{}_app", sandbox.unique),
        format!("{}_billing", sandbox.unique),
    ];
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[0], 120);
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[1], 45);
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
    sandbox.write_job(
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
    sandbox.check_pg_restores(&artifact, &databases, ".zst");

    let arguments = std::fs::read_to_string(&arguments_log).unwrap();
    let dumps = arguments
        .lines()
        .filter(|line| line.starts_with("pg_dump ") || line.starts_with("pg_dumpall "))
        .filter(|line| !line.ends_with("--version"))
        .count();
    assert_eq!(dumps, 3, "one tool run per stream:\n{arguments}");
    assert!(!arguments.contains(password), "arguments:\n{arguments}");
    sandbox.assert_password_hidden(password, &run, &command_lines, &artifact);
}

#[test]
fn postgres_host_port_with_pgpassword_through_exec_prefix_gzip() {
    let mut sandbox = Sandbox::new("pg_host").with_servers().under_root();
    sandbox.pass_env("PGPASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [format!("{}_shop", sandbox.unique)];
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[0], 300);
    sandbox.write_job(
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
    sandbox.check_pg_restores(&artifact, &databases, ".gz");
    sandbox.assert_password_hidden(password, &run, &command_lines, &artifact);
}

#[test]
fn redis_replication_encrypted_with_age_round_trips() {
    let mut sandbox = Sandbox::new("redis_replication")
        .with_servers()
        .under_root();
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    sandbox.redis().fill(&sandbox, 0, &prefix, &EVERY_TYPE);
    let (identity, recipient) = sandbox.age_key();
    sandbox.write_job(
        &sandbox
            .redis()
            .store("CAIRN_TEST_REDIS_PASSWORD", r#"method = "replication""#),
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
    sandbox.check_redis_restores(&artifact, "dump.rdb.zst.age", &prefix);
}

#[test]
fn redis_bgsave_copies_the_servers_rdb() {
    let mut sandbox = Sandbox::new("redis_bgsave").with_servers().under_root();
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    sandbox.redis().fill(&sandbox, 0, &prefix, &EVERY_TYPE);
    sandbox.write_job(
        &sandbox.redis().store(
            "CAIRN_TEST_REDIS_PASSWORD",
            &sandbox.redis().bgsave_method(),
        ),
        // A stuck BGSAVE wait fails the test instead of hanging it.
        r#"timeout = "60s""#,
    );
    let id = sandbox.run_job(&[]);
    let artifact = sandbox.artifact(&id, "redis", &["dump.rdb.zst"]);
    sandbox.check_redis_restores(&artifact, "dump.rdb.zst", &prefix);
}

/// LASTSAVE counts whole seconds. A BGSAVE that ends within the same second
/// as the save before it (another job's, Redis's own `save` rule) must
/// still end cairn's wait, not hang the job until its timeout — or forever,
/// without one.
#[test]
fn redis_bgsave_right_after_another_save_in_the_same_second() {
    let mut sandbox = Sandbox::new("redis_bgsave_again")
        .with_servers()
        .under_root();
    sandbox.pass_env("CAIRN_TEST_REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    let prefix = sandbox.unique.clone();
    sandbox.redis().fill(&sandbox, 0, &prefix, &EVERY_TYPE);
    sandbox.write_job(
        &sandbox.redis().store(
            "CAIRN_TEST_REDIS_PASSWORD",
            &sandbox.redis().bgsave_method(),
        ),
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
    sandbox.redis().save();
    let (run, _) = sandbox.run_watching(&[]);
    assert!(
        run.code == 0 && before.elapsed() < Duration::from_secs(10),
        "a save ending in the second of the one before must end the wait (after {:?}):\n{}",
        before.elapsed(),
        run.stderr
    );
    let id = successful_run_id(&run);
    let artifact = sandbox.artifact(&id, "redis", &["dump.rdb.zst"]);
    sandbox.check_redis_restores(&artifact, "dump.rdb.zst", &prefix);
}

#[test]
fn mariadb_dump_loads_back_into_the_server() {
    let mut sandbox = Sandbox::new("mariadb").with_servers().under_root();
    sandbox.pass_env("MYSQL_PWD", "CAIRN_TEST_MARIADB_PASSWORD");
    let database = sandbox.unique.clone();
    sandbox.mariadb().drop_at_end(&sandbox, &database);
    sandbox.mariadb().sql(&format!(
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
    ));
    let source = sandbox.mariadb().snapshot(&database);
    assert!(source.contains("ZOË"), "the trigger ran: {source}");
    assert!(source.contains("count_t"), "{source}");
    sandbox.write_job(
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
        sandbox.mariadb().sql(&format!("drop database {database}"));
        sandbox
            .mariadb()
            .sql(&format!("create database {database}"));
        tool(
            sandbox
                .mariadb()
                .client()
                .arg(format!("--database={database}"))
                .stdin(std::fs::File::open(&sql).unwrap()),
        );
        assert_lines_equal(
            &sandbox.mariadb().snapshot(&database),
            &source,
            &format!("{database} restored from {copy}"),
        );
    }
}
