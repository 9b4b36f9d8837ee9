//! `cairn restore` and `cairn verify` end to end against the real servers
//! (SPEC §8): for every store kind, data changed after a backup is back to
//! its backed-up state after a restore; a damaged artifact is refused before
//! the target is touched; a non-empty target needs `--force`, which leaves a
//! safety backup; verify jobs pass on good backups and fail on failed checks.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::common::redis::{snapshot_expiring, EVERY_TYPE};
use crate::common::stores::{assert_ok, sqlite_dump, JOB};
use crate::common::{
    copy_dir, flat, root, sha256_file, tool, tree_snapshot, Cairn, PrivateRedis, Sandbox, PG_ROWS,
};

#[test]
fn sqlite_restore_refuses_without_force_and_keeps_a_safety_backup_with_it() {
    let sandbox = Sandbox::new("restore_sqlite").with_servers().under_root();
    let database = sandbox.sqlite_source();
    let backed_up = sqlite_dump(&database);
    let id = sandbox.run_job(&[]);
    tool(
        Command::new("sqlite3")
            .arg(&database)
            .arg("delete from users where id = 1; insert into users (name) values ('mallory');"),
    );
    let changed = sqlite_dump(&database);
    assert_ne!(changed, backed_up);

    // Non-empty target, no --force: refused, nothing changed.
    let refused = sandbox.cairn(&["restore", JOB]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        flat(&refused.stderr).contains("is not empty"),
        "{}",
        refused.stderr
    );
    assert!(
        flat(&refused.stderr).contains("--force"),
        "{}",
        refused.stderr
    );
    assert_eq!(sqlite_dump(&database), changed);

    // From S3, forced: the safety backup first, then the data is back.
    let restored = sandbox
        .cairn(&["restore", JOB, "--from", "offsite", "--force"])
        .run();
    assert_ok(&restored, "restore --force");
    assert!(
        restored
            .stderr
            .contains(&format!("restoring artifact {id}")),
        "{}",
        restored.stderr
    );
    assert_eq!(sqlite_dump(&database), backed_up);
    // Byte by byte: the restored file is the artifact's database.
    let object = sandbox
        .path()
        .join("backups")
        .join(JOB)
        .join(&id)
        .join("database.sqlite.zst");
    let decoded = Command::new("zstd")
        .arg("-dc")
        .arg(&object)
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert!(
        std::fs::read(&database).unwrap() == decoded.stdout,
        "the restored file differs from the artifact"
    );

    let rows = sandbox.inventory();
    let safety: Vec<&serde_json::Value> = rows.iter().filter(|r| r["reason"] == "safety").collect();
    assert_eq!(
        safety.len(),
        2,
        "one safety backup per destination: {rows:#?}"
    );
    assert!(safety.iter().all(|r| r["status"] == "complete"));
    // The safety backup holds the replaced data: restoring it by ID brings
    // the changed rows back.
    let safety_id = safety[0]["id"].as_str().unwrap();
    let undo = sandbox
        .cairn(&["restore", JOB, "--artifact", safety_id, "--force"])
        .run();
    assert_ok(&undo, "restore of the safety backup");
    assert_eq!(sqlite_dump(&database), changed);
    // A plain restore still picks the newest backup that is not a safety one.
    let again = sandbox.cairn(&["restore", JOB, "--force"]).run();
    assert_ok(&again, "restore");
    assert!(
        flat(&again.stderr).contains(&format!("restoring artifact {id}")),
        "{}",
        again.stderr
    );
    assert_eq!(sqlite_dump(&database), backed_up);
}

#[test]
fn a_flipped_byte_is_refused_before_the_target_is_touched() {
    let sandbox = Sandbox::new("restore_corrupt").with_servers().under_root();
    let database = sandbox.sqlite_source();
    let id = sandbox.run_job(&[]);
    let object = sandbox
        .path()
        .join("backups")
        .join(JOB)
        .join(&id)
        .join("database.sqlite.zst");
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();

    tool(
        Command::new("sqlite3")
            .arg(&database)
            .arg("delete from users"),
    );
    let before = sha256_file(&database);
    let modified = std::fs::metadata(&database).unwrap().mtime_nsec();
    let out = sandbox
        .cairn(&["restore", JOB, "--from", "local", "--force"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        flat(&out.stderr).contains("checksum mismatch"),
        "{}",
        out.stderr
    );
    assert!(
        flat(&out.stderr).contains("the target was not touched"),
        "{}",
        out.stderr
    );
    assert!(
        !flat(&out.stderr).contains("safety backup"),
        "{}",
        out.stderr
    );
    assert_eq!(sha256_file(&database), before);
    assert_eq!(std::fs::metadata(&database).unwrap().mtime_nsec(), modified);
    assert!(
        sandbox.inventory().iter().all(|r| r["reason"] != "safety"),
        "no safety backup for a refused restore"
    );

    // The S3 copy is intact and restores.
    let good = sandbox
        .cairn(&["restore", JOB, "--from", "offsite", "--force"])
        .run();
    assert_ok(&good, "restore from the intact copy");
    let users = tool(
        Command::new("sqlite3")
            .arg(&database)
            .arg("select count(*) from users"),
    );
    assert_eq!(users.trim(), "3");
}

#[test]
fn directory_restore_brings_back_contents_modes_and_mtimes() {
    let sandbox = Sandbox::new("restore_directory")
        .with_servers()
        .under_root();
    let source = sandbox.path().join("files");
    std::fs::create_dir_all(source.join("docs/deep")).unwrap();
    std::fs::write(source.join("docs/a.txt"), "alpha\n").unwrap();
    std::fs::write(source.join("docs/deep/b.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(source.join("script.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        source.join("script.sh"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::os::unix::fs::symlink("docs/a.txt", source.join("link")).unwrap();
    sandbox.write_job(
        &format!("kind = \"directory\"\npath = \"{}\"", source.display()),
        "",
    );
    let backed_up = tree_snapshot(&source);
    // An owner from the backed-up host that the target does not have.
    std::os::unix::fs::lchown(source.join("docs/a.txt"), Some(777), Some(777)).unwrap();
    sandbox.run_job(&[]);

    std::fs::write(source.join("docs/a.txt"), "changed\n").unwrap();
    std::fs::remove_file(source.join("docs/deep/b.bin")).unwrap();
    std::fs::write(source.join("new.txt"), "new\n").unwrap();

    // Elsewhere first: an empty target needs no --force.
    let elsewhere = sandbox.path().join("restored");
    let to = sandbox
        .cairn(&["restore", JOB, "--to", elsewhere.to_str().unwrap()])
        .run();
    assert_ok(&to, "restore --to");
    assert_eq!(tree_snapshot(&elsewhere), backed_up);

    let refused = sandbox.cairn(&["restore", JOB]).run();
    assert_eq!(refused.code, 1);
    assert!(source.join("new.txt").exists());
    // The target belongs to its service's user: what is restored into it
    // does too (SPEC §10), not to the archived owner or to root.
    std::os::unix::fs::lchown(&source, Some(4242), Some(4243)).unwrap();
    let forced = sandbox.cairn(&["restore", JOB, "--force"]).run();
    assert_ok(&forced, "restore --force");
    assert_eq!(tree_snapshot(&source), backed_up);
    assert_eq!(owners(&source), BTreeSet::from([(4242, 4243)]));
    // A new directory takes the owner of the directory it goes into.
    assert_eq!(owners(&elsewhere), BTreeSet::from([(0, 0)]));
    // Nothing of the swap is left beside the target.
    let leftovers: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cairn"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The owners (uid, gid) of `dir` and of everything under it.
fn owners(dir: &Path) -> BTreeSet<(u32, u32)> {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    let mut found = BTreeSet::from([(meta.uid(), meta.gid())]);
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            found.extend(owners(&entry.unwrap().path()));
        }
    }
    found
}

#[test]
fn postgres_restore_replaces_changed_databases_after_a_safety_backup() {
    let mut sandbox = Sandbox::new("restore_pg").with_servers().under_root();
    sandbox.pass_env("PGPASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [
        format!("{}_a", sandbox.unique),
        format!("{}_b", sandbox.unique),
    ];
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[0], 200);
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[1], 30);
    sandbox.write_job(
        &sandbox
            .postgres()
            .store(&[&databases[0], &databases[1]], "globals = true"),
        "",
    );
    let backed_up: Vec<String> = databases
        .iter()
        .map(|db| sandbox.postgres().psql(db, PG_ROWS))
        .collect();
    sandbox.run_job(&[]);

    sandbox.postgres().psql(
        &databases[0],
        "delete from t where id % 2 = 0; update t set name = 'changed'",
    );
    sandbox
        .postgres()
        .psql(&databases[1], "drop table t; create table other (x int)");
    // A session holding the database open must not stop a forced restore.
    let mut holder = sandbox
        .postgres()
        .psql_command(&databases[0], "select pg_sleep(60)");
    let mut holder = holder
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let refused = sandbox.cairn(&["restore", JOB]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("database `{}` has", databases[0])),
        "{}",
        refused.stderr
    );

    let restored = sandbox.cairn(&["restore", JOB, "--force"]).run();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_ok(&restored, "restore --force");
    for (database, rows) in databases.iter().zip(&backed_up) {
        assert_eq!(
            &sandbox.postgres().psql(database, PG_ROWS),
            rows,
            "{database}"
        );
    }
    let other = sandbox.postgres().psql(
        &databases[1],
        "select count(*) from pg_tables where tablename = 'other'",
    );
    assert_eq!(
        other.trim(),
        "0",
        "the restore replaced the database, not merged into it"
    );
    assert!(sandbox.inventory().iter().any(|r| r["reason"] == "safety"));

    // A DSN that names one database cannot take an artifact of two.
    let dsn = format!(
        "postgresql://{}@{}:{}/{}_copy",
        sandbox.var("CAIRN_TEST_PG_USER"),
        sandbox.var("CAIRN_TEST_PG_HOST"),
        sandbox.var("CAIRN_TEST_PG_PORT"),
        sandbox.unique
    );
    let ambiguous = sandbox.cairn(&["restore", JOB, "--to", &dsn]).run();
    assert_eq!(ambiguous.code, 1, "{}", ambiguous.stderr);
    assert!(
        flat(&ambiguous.stderr).contains("but the artifact holds 2 databases"),
        "{}",
        ambiguous.stderr
    );
}

#[test]
fn mariadb_restore_brings_back_rows_triggers_and_routines() {
    let mut sandbox = Sandbox::new("restore_maria").with_servers().under_root();
    sandbox.pass_env("MYSQL_PWD", "CAIRN_TEST_MARIADB_PASSWORD");
    let database = format!("{}_shop", sandbox.unique);
    sandbox.mariadb().drop_at_end(&sandbox, &database);
    sandbox.mariadb().sql(&format!(
        "create database {database};
             create table {database}.t (id int primary key, name varchar(40), amount decimal(10,2));
             insert into {database}.t values (1, 'ada', 1.50), (2, 'zoë', null), (3, 'grace', 3.25);
             use {database};
             create trigger t_upper before insert on t
                 for each row set new.name = upper(new.name);
             create function double_it(x int) returns int deterministic return x * 2;"
    ));
    sandbox.write_job(&sandbox.mariadb().store(&database), "");
    let backed_up = sandbox.mariadb().snapshot(&database);
    sandbox.run_job(&[]);
    sandbox.mariadb().sql(&format!("delete from {database}.t where id = 1; insert into {database}.t values (9, 'x', 0); drop function {database}.double_it"));
    assert_ne!(sandbox.mariadb().snapshot(&database), backed_up);

    let refused = sandbox.cairn(&["restore", JOB]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let restored = sandbox.cairn(&["restore", JOB, "--force"]).run();
    assert_ok(&restored, "restore --force");
    assert_eq!(sandbox.mariadb().snapshot(&database), backed_up);

    // Into another schema on the same server.
    let copy = format!("{}_copy", sandbox.unique);
    sandbox.mariadb().drop_at_end(&sandbox, &copy);
    let to = sandbox.cairn(&["restore", JOB, "--to", &copy]).run();
    assert_ok(&to, "restore --to SCHEMA");
    let rows = |db: &str| {
        sandbox
            .mariadb()
            .sql(&format!("select * from {db}.t order by id"))
    };
    assert_eq!(rows(&copy), rows(&database));
}

#[test]
fn redis_restore_loads_keys_into_a_target_instance() {
    let mut sandbox = Sandbox::new("restore_to_redis").with_servers().under_root();
    let prefix = sandbox.unique.clone();
    sandbox.redis().fill(&sandbox, 0, &prefix, &EVERY_TYPE);
    sandbox.pass_env("REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    sandbox.write_job(
        &format!(
            "kind = \"redis\"\nurl = \"redis://:${{REDIS_PASSWORD}}@{}:{}\"",
            sandbox.var("CAIRN_TEST_REDIS_HOST"),
            sandbox.var("CAIRN_TEST_REDIS_PORT"),
        ),
        "",
    );
    let source = snapshot_expiring(&|args| sandbox.redis().cli(args), &prefix);
    assert_eq!(source.len(), 7);
    sandbox.run_job(&[]);

    // A fresh instance of its own (the shared server is never flushed).
    let target = PrivateRedis::in_dir(&sandbox.path().join("target-redis"));
    target.cli(0, &["SET", &format!("{prefix}:string"), "changed"]);
    target.cli(0, &["SET", "unrelated", "x"]);
    let url = format!("redis://127.0.0.1:{}", target.port);
    let refused = sandbox.cairn(&["restore", JOB, "--to", &url]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        flat(&refused.stderr).contains("2 keys"),
        "{}",
        refused.stderr
    );

    let restored = sandbox
        .cairn(&["restore", JOB, "--to", &url, "--force"])
        .run();
    assert_ok(&restored, "restore --to URL --force");
    let loaded = snapshot_expiring(&|args| target.cli(0, args), &prefix);
    assert_eq!(loaded, source);
    assert_eq!(
        target.cli(0, &["EXISTS", "unrelated"]).trim(),
        "0",
        "--force replaced the data"
    );
    // The safety backup dumped the target, not the job's store.
    let safety: Vec<serde_json::Value> = sandbox
        .inventory()
        .into_iter()
        .filter(|r| r["reason"] == "safety")
        .collect();
    assert_eq!(safety.len(), 2, "{safety:#?}");
}

#[test]
fn verify_job_passes_on_a_good_backup_and_fails_with_notification_when_a_check_fails() {
    let sandbox = Sandbox::new("verify").with_servers().under_root();
    let database = sandbox.path().join("app.db");
    tool(Command::new("sqlite3").arg(&database).arg(
        "create table users (id integer primary key, name text);
         insert into users (name) values ('ada'), ('grace'), ('edsger');",
    ));
    let events = sandbox.path().join("events.log");
    sandbox.write_job(
        &format!("kind = \"sqlite\"\npath = \"{}\"", database.display()),
        &format!(
            r#"
[jobs.check_app]
kind = "verify"
verifies = "{JOB}"
schedule = {{ cron = "0 6 * * *" }}

[[jobs.check_app.checks]]
query = "select count(*) from users"
min = 3

[notify.log]
kind = "command"
command = "echo \"$CAIRN_EVENT $CAIRN_JOB $CAIRN_MESSAGE\" >> {}"
on = ["failure", "recovery"]
"#,
            events.display()
        ),
    );
    sandbox.run_job(&[]);
    let passed = sandbox.cairn(&["verify", "check_app"]).run();
    assert_ok(&passed, "verify");
    assert!(
        flat(&passed.stderr).contains("PRAGMA integrity_check: ok"),
        "{}",
        passed.stderr
    );
    assert!(
        passed
            .stderr
            .contains("`select count(*) from users` >= 3: 3"),
        "{}",
        passed.stderr
    );
    assert!(!events.exists(), "no event for a pass after nothing");
    // Nothing of the scratch target is left.
    assert!(
        !flat(&passed.stderr).contains("warning"),
        "{}",
        passed.stderr
    );

    // Fewer users, a new backup: the check fails.
    tool(
        Command::new("sqlite3")
            .arg(&database)
            .arg("delete from users where id > 1"),
    );
    sandbox.run_job(&[]);
    let failed = sandbox.cairn(&["run", "check_app"]).run();
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed
            .stderr
            .contains("check failed: `select count(*) from users` >= 3 (measured 1)"),
        "{}",
        failed.stderr
    );
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(log.starts_with("failure check_app "), "{log}");
    assert!(log.contains("select count(*) from users"), "{log}");

    let history = sandbox.cairn(&["history", "check_app", "--json"]).run();
    let records: Vec<serde_json::Value> = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["outcome"], "success");
    assert_eq!(records[1]["outcome"], "failed");
    assert_eq!(records[1]["verify"]["job"], JOB);
    assert_eq!(
        records[1]["verify"]["checks"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["passed"],
        false
    );
    // Status shows it: the verify job and the job it verifies are CRITICAL.
    let status = sandbox.cairn(&["status"]).run();
    assert_eq!(status.code, 2, "{}\n{}", status.stdout, status.stderr);
    let row = |job: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(job))
            .unwrap_or_else(|| panic!("no row for {job}:\n{}", status.stdout))
            .to_owned()
    };
    assert!(row("check_app").contains("CRITICAL"), "{}", status.stdout);
    assert!(row(JOB).contains("CRITICAL"), "{}", status.stdout);
    assert!(
        flat(&status.stdout).contains("last verify"),
        "{}",
        status.stdout
    );
}

#[test]
fn verify_of_postgres_checks_every_database_in_scratch_databases_it_drops() {
    let mut sandbox = Sandbox::new("verify_pg").with_servers().under_root();
    sandbox.pass_env("PGPASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let databases = [
        format!("{}_a", sandbox.unique),
        format!("{}_b", sandbox.unique),
    ];
    sandbox
        .postgres()
        .create_source(&sandbox, &databases[0], 50);
    sandbox.postgres().create_source(&sandbox, &databases[1], 8);
    sandbox.write_job(
        &sandbox
            .postgres()
            .store(&[&databases[0], &databases[1]], ""),
        "",
    );
    let out = sandbox.backup_and_verify(&format!(
            "[[jobs.check.checks]]\nquery = \"select count(*) from t\"\nmin = 50\n\n\
             [[jobs.check.checks]]\nquery = \"select count(*) from t\"\ndatabase = \"{}\"\nmin = 1\nmax = 8\n",
            databases[1]
        ));
    assert_ok(&out, "verify");
    assert!(
        flat(&out.stderr).contains("`select count(*) from t` >= 50: 50"),
        "{}",
        out.stderr
    );
    assert!(
        flat(&out.stderr).contains(&format!("in {} between 1 and 8: 8", databases[1])),
        "{}",
        out.stderr
    );
    let left = sandbox.postgres().psql(
        "postgres",
        "select count(*) from pg_database where datname like 'cairn_verify_%'",
    );
    assert_eq!(left.trim(), "0", "the scratch databases are dropped");
}

#[test]
fn verify_of_redis_counts_keys_in_a_scratch_instance() {
    let mut sandbox = Sandbox::new("verify_redis").with_servers().under_root();
    let prefix = sandbox.unique.clone();
    sandbox.redis().fill(&sandbox, 0, &prefix, &EVERY_TYPE);
    sandbox.pass_env("REDIS_PASSWORD", "CAIRN_TEST_REDIS_PASSWORD");
    sandbox.write_job(
        &format!(
            "kind = \"redis\"\nurl = \"redis://:${{REDIS_PASSWORD}}@{}:{}\"",
            sandbox.var("CAIRN_TEST_REDIS_HOST"),
            sandbox.var("CAIRN_TEST_REDIS_PORT"),
        ),
        "",
    );
    // Other tests share the server: at least this test's 7 keys are there.
    let out = sandbox.backup_and_verify("[[jobs.check.checks]]\nmin_keys = 7\n");
    assert_ok(&out, "verify");
    assert!(flat(&out.stderr).contains("ok keys >= 7"), "{}", out.stderr);
    // A bound the data cannot meet fails the verify.
    let path = sandbox.path().join("backup.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("min_keys = 7", "min_keys = 100000000");
    std::fs::write(&path, config).unwrap();
    let failed = sandbox.cairn(&["verify", "check"]).run();
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        flat(&failed.stderr).contains("FAILED keys >= 100000000"),
        "{}",
        failed.stderr
    );
}

#[test]
fn verify_of_mariadb_and_directory_use_scratch_targets() {
    let mut sandbox = Sandbox::new("verify_maria").with_servers().under_root();
    sandbox.pass_env("MYSQL_PWD", "CAIRN_TEST_MARIADB_PASSWORD");
    let database = format!("{}_db", sandbox.unique);
    sandbox.mariadb().drop_at_end(&sandbox, &database);
    sandbox.mariadb().sql(&format!(
        "create database {database}; create table {database}.t (id int primary key);
             insert into {database}.t values (1), (2), (3);"
    ));
    sandbox.write_job(&sandbox.mariadb().store(&database), "");
    let out = sandbox
        .backup_and_verify("[[jobs.check.checks]]\nquery = \"select count(*) from t\"\nmin = 3\n");
    assert_ok(&out, "verify");
    let left = sandbox.mariadb().sql(
        "select count(*) from information_schema.schemata where schema_name like 'cairn_verify_%'",
    );
    assert_eq!(left.trim(), "0", "the scratch schemas are dropped");

    let files = Sandbox::new("verify_dir").with_servers().under_root();
    let source = files.path().join("tree");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    for name in ["a", "b", "sub/c"] {
        std::fs::write(source.join(name), name).unwrap();
    }
    files.write_job(
        &format!("kind = \"directory\"\npath = \"{}\"", source.display()),
        "",
    );
    let out = files.backup_and_verify("[[jobs.check.checks]]\nmin_files = 3\n");
    assert_ok(&out, "verify");
    assert!(
        flat(&out.stderr).contains("ok files >= 3: 3"),
        "{}",
        out.stderr
    );
}

#[test]
fn encrypted_artifacts_restore_with_the_identity_only() {
    let sandbox = Sandbox::new("restore_age").with_servers().under_root();
    let (identity, recipient) = sandbox.age_key();
    let database = sandbox.path().join("app.db");
    tool(Command::new("sqlite3").arg(&database).arg(
        "create table users (id integer primary key, name text); insert into users (name) values ('ada');",
    ));
    sandbox.write_job(
        &format!("kind = \"sqlite\"\npath = \"{}\"", database.display()),
        &format!("encrypt_to = [\"{recipient}\"]"),
    );
    let backed_up = sqlite_dump(&database);
    sandbox.run_job(&[]);
    std::fs::remove_file(&database).unwrap();

    let refused = sandbox.cairn(&["restore", JOB]).run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        flat(&refused.stderr).contains("no age identity was given"),
        "{}",
        refused.stderr
    );
    assert!(!database.exists());

    let restored = sandbox
        .cairn(&["restore", JOB, "--identity", identity.to_str().unwrap()])
        .run();
    assert_ok(&restored, "restore --identity");
    assert_eq!(sqlite_dump(&database), backed_up);
}

#[test]
fn restore_all_follows_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/quickstart"), dir.path());
    let quickstart = |args: &[&str]| {
        Cairn::new(dir.path())
            .args(["--root", "root"])
            .args(args)
            .run()
    };
    for job in ["app_db", "files"] {
        assert_ok(&quickstart(&["run", job]), "run");
    }
    let database = dir.path().join("data/app.db");
    let ledger = dir.path().join("data/files/ledger.csv");
    let (db_before, ledger_before) = (sqlite_dump(&database), std::fs::read(&ledger).unwrap());
    tool(
        Command::new("sqlite3")
            .arg(&database)
            .arg("delete from users"),
    );
    std::fs::write(&ledger, "lost\n").unwrap();

    let out = quickstart(&["restore", "--all", "--force"]);
    assert_ok(&out, "restore --all");
    assert_eq!(sqlite_dump(&database), db_before);
    assert_eq!(std::fs::read(&ledger).unwrap(), ledger_before);
    // `files` runs after `app_db`: restored after it too.
    let first = out.stderr.find("of job `app_db` into").unwrap();
    let second = out.stderr.find("of job `files` into").unwrap();
    assert!(first < second, "{}", out.stderr);
    assert!(
        out.stdout.contains("Restored `app_db`, `files`."),
        "{}",
        out.stdout
    );
}

#[test]
fn postgres_plain_dump_restores_into_the_database_named_by_to() {
    let mut sandbox = Sandbox::new("restore_pg_plain").with_servers().under_root();
    sandbox.pass_env("PGPASSWORD", "CAIRN_TEST_PG_PASSWORD");
    let source = format!("{}_src", sandbox.unique);
    let copy = format!("{}_copy", sandbox.unique);
    sandbox.postgres().create_source(&sandbox, &source, 40);
    sandbox.clean_up_with(
        sandbox
            .postgres()
            .psql_command("postgres", &format!("drop database if exists {copy}")),
    );
    sandbox.write_job(
        &sandbox.postgres().store(&[&source], "format = \"plain\""),
        "",
    );
    sandbox.run_job(&[]);
    let dsn = format!(
        "postgresql://{}@{}:{}/{copy}",
        sandbox.var("CAIRN_TEST_PG_USER"),
        sandbox.var("CAIRN_TEST_PG_HOST"),
        sandbox.var("CAIRN_TEST_PG_PORT"),
    );
    let out = sandbox.cairn(&["restore", JOB, "--to", &dsn]).run();
    assert_ok(&out, "restore --to DSN");
    assert!(
        flat(&out.stderr).contains(&format!("into database `{copy}`")),
        "{}",
        out.stderr
    );
    assert_eq!(
        sandbox.postgres().psql(&copy, PG_ROWS),
        sandbox.postgres().psql(&source, PG_ROWS)
    );
}
