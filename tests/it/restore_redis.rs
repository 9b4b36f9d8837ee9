//! The Redis restore and verify targets against real servers (SPEC §8): an
//! RDB made by `redis-cli --rdb` is loaded into a private redis-server and
//! copied key by key into a target, or measured there for verify.
//!
//! The suite's shared Redis only ever provides the RDB: a restore target is
//! FLUSHALLed, so every target here is a redis-server the test starts itself.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cairn::cancel::Cancel;
use cairn::config::model::{Check, Store};
use cairn::config::raw::{RedisMethod, RedisStore};
use cairn::stores::redis;
use cairn::stores::Target;

use crate::common::redis::{
    assert_same_keys, fill, load, snapshot, store, FailsAtEnd, EVERY_TYPE_AND_ODD_NAMES,
};
use crate::common::{alive, PrivateRedis, Sandbox};

#[test]
fn restore_copies_every_key_of_every_database_with_its_ttl() {
    let sandbox = Sandbox::new("restore_redis").with_servers();
    let redis = sandbox.redis();
    let prefix = sandbox.unique.clone();
    redis.fill(&sandbox, 0, &prefix, &EVERY_TYPE_AND_ODD_NAMES);
    redis.fill(&sandbox, 3, &prefix, &EVERY_TYPE_AND_ODD_NAMES);
    let rdb = sandbox.path().join("dump.rdb");
    redis.cli_db(0, &["--rdb", rdb.to_str().unwrap()]);

    let mut server = PrivateRedis::start();
    server.require_password();
    server.cli(5, &["SET", "stale", "from before the restore"]);
    let mut target = redis::target("cache", &store(), Some(&server.url())).unwrap();
    let described = target.describe();
    assert_eq!(described, format!("redis at 127.0.0.1:{}", server.port));
    assert_eq!(
        target
            .existing(&["dump.rdb".to_owned()])
            .unwrap()
            .as_deref(),
        Some(format!("{described} holds 1 key in 1 database").as_str())
    );
    let Store::Redis(dump_store) = target.as_store() else {
        panic!("a Redis target is dumped as a Redis store");
    };
    assert_eq!(dump_store.url, server.url());
    assert_eq!(dump_store.method, RedisMethod::Replication);

    target.clear(&["dump.rdb".to_owned()]).unwrap();
    assert_eq!(target.existing(&[]).unwrap(), None, "FLUSHALL emptied it");
    load(&mut target, &rdb).unwrap();
    let notes = target.finish().unwrap();
    assert!(notes[0].starts_with("copied "), "{notes:?}");
    assert!(
        !target.private_dir().exists(),
        "the private server's directory is gone"
    );
    assert!(target.scratch_pid().is_none());

    for db in [0, 3] {
        let source = snapshot(&|args| redis.cli_db(db, args), &prefix);
        assert_eq!(source.len(), 8, "{source:?}");
        let restored = snapshot(&|args| server.cli(db, args), &prefix);
        assert_same_keys(&restored, &source);
    }
    assert_eq!(server.cli(5, &["EXISTS", "stale"]).trim(), "0");
    assert!(
        target.existing(&[]).unwrap().unwrap().contains(" keys in "),
        "existing() sees the restored keys"
    );
    assert!(notes
        .iter()
        .all(|note| !note.contains(PrivateRedis::PASSWORD)));
}

#[test]
fn restore_to_the_stores_own_server_logs_in_as_its_user_and_carries_functions() {
    let source = PrivateRedis::start();
    source.cli(2, &["SET", "in-db-2", "v"]);
    let library =
        "#!lua name=cairnlib\nredis.register_function('cairn_answer', function() return 42 end)";
    source.cli(0, &["FUNCTION", "LOAD", library]);
    let rdb = source.dir().join("copy.rdb");
    source.rdb(&rdb);

    let mut server = PrivateRedis::start();
    server.require_password();
    // Only AUTH2 with this user logs in: the default user's password differs.
    server.cli(
        0,
        &[
            "ACL",
            "SETUSER",
            "restorer",
            "on",
            ">restorer-pw",
            "~*",
            "&*",
            "+@all",
        ],
    );
    let own = RedisStore {
        url: format!("redis://restorer:restorer-pw@127.0.0.1:{}/4", server.port),
        ..store()
    };
    let mut target = redis::target("cache", &own, None).unwrap();
    assert_eq!(target.existing(&[]).unwrap(), None);
    let Store::Redis(dump_store) = target.as_store() else {
        panic!("a Redis target is dumped as a Redis store");
    };
    assert_eq!(
        dump_store.url, own.url,
        "the store's own server is dumped as its job does"
    );
    load(&mut target, &rdb).unwrap();
    let notes = target.finish().unwrap();
    assert!(notes.iter().any(|note| note.contains("`/4`")), "{notes:?}");
    assert_eq!(server.cli(2, &["GET", "in-db-2"]).trim(), "v");
    assert_eq!(server.cli(0, &["FCALL", "cairn_answer", "0"]).trim(), "42");
}

#[test]
fn an_artifact_that_fails_its_checksum_leaves_the_target_untouched() {
    let source = PrivateRedis::start();
    fill(
        &|args| source.cli(0, args),
        "source",
        &EVERY_TYPE_AND_ODD_NAMES,
    );
    let rdb = source.dir().join("copy.rdb");
    source.rdb(&rdb);

    let mut server = PrivateRedis::start();
    server.require_password();
    server.cli(0, &["SET", "kept", "yes"]);
    let mut target = redis::target("cache", &store(), Some(&server.url())).unwrap();
    let mut input = FailsAtEnd(std::io::Cursor::new(std::fs::read(&rdb).unwrap()));
    let error = target
        .load("dump.rdb", &mut input, &Cancel::default())
        .unwrap_err();
    assert!(
        error.message.contains("does not match its SHA-256")
            && error.message.contains("nothing was loaded"),
        "{error}"
    );
    assert_eq!(server.cli(0, &["DBSIZE"]).trim(), "1");
    assert_eq!(server.cli(0, &["GET", "kept"]).trim(), "yes");
    assert!(!server.cli(0, &["INFO", "keyspace"]).contains("db3"));
    assert!(!target.private_dir().exists());
}

#[test]
fn a_wrong_password_is_refused_with_the_fix_and_without_the_password() {
    let mut server = PrivateRedis::start();
    server.require_password();
    let url = format!("redis://:not-the-password@127.0.0.1:{}", server.port);
    let mut target = redis::target("cache", &store(), Some(&url)).unwrap();
    let error = target.existing(&[]).unwrap_err();
    assert!(error.message.contains("WRONGPASS"), "{error}");
    assert!(
        error.help.as_deref().unwrap().contains("REDISCLI_AUTH"),
        "{error:?}"
    );
    assert!(
        !format!("{error:?}").contains("not-the-password"),
        "{error:?}"
    );

    let error = redis::target("cache", &store(), Some("rediss://:secret@127.0.0.1:6380"))
        .err()
        .expect("TLS targets are refused");
    assert!(error.message.contains("TLS"), "{error}");
    assert!(!format!("{error:?}").contains("secret"), "{error:?}");
}

#[test]
fn verify_measures_keys_in_a_private_server_that_discard_removes() {
    let source = PrivateRedis::start();
    fill(
        &|args| source.cli(0, args),
        "zero",
        &EVERY_TYPE_AND_ODD_NAMES,
    );
    source.cli(3, &["SET", "three:a", "1"]);
    source.cli(3, &["SET", "three:b", "2", "EX", "86400"]);
    let rdb = source.dir().join("copy.rdb");
    source.rdb(&rdb);

    let mut scratch = redis::scratch("cache", &store()).unwrap();
    let dir: PathBuf = scratch.private_dir().to_owned();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(scratch.existing(&[]).unwrap(), None);
    load(&mut scratch, &rdb).unwrap();
    let pid = scratch.scratch_pid().expect("the private server runs");
    assert!(alive(pid));
    let check = Check {
        min_keys: Some(1),
        ..Check::default()
    };
    assert_eq!(scratch.measure(&check).unwrap(), 10);
    assert_eq!(
        scratch.builtin_checks().unwrap(),
        [
            ("keys in db 0".to_owned(), true, "8".to_owned()),
            ("keys in db 3".to_owned(), true, "2".to_owned()),
        ]
    );
    assert!(scratch
        .existing(&[])
        .unwrap()
        .unwrap()
        .ends_with("holds 10 keys in 2 databases"));

    scratch.discard().unwrap();
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(!alive(pid), "the private redis-server {pid} is stopped");
}

#[test]
fn an_rdb_the_local_server_cannot_read_fails_with_its_log() {
    let source = PrivateRedis::start();
    source.cli(0, &["SET", "k", "v"]);
    let rdb = source.dir().join("copy.rdb");
    source.rdb(&rdb);
    // An RDB version no redis-server reads yet.
    let mut bytes = std::fs::read(&rdb).unwrap();
    bytes[5..9].copy_from_slice(b"0999");
    std::fs::write(&rdb, bytes).unwrap();

    let mut unreadable = redis::scratch("cache", &store()).unwrap();
    let error = load(&mut unreadable, &rdb).unwrap_err();
    assert!(
        error.message.contains("could not load `dump.rdb`"),
        "{error}"
    );
    assert!(error.message.contains("999"), "the log is quoted: {error}");
    assert!(
        error.help.as_deref().unwrap().contains("newer Redis"),
        "{error:?}"
    );
    assert!(!unreadable.private_dir().exists());

    let mut not_rdb = redis::scratch("cache", &store()).unwrap();
    let error = not_rdb
        .load(
            "dump.rdb",
            &mut &b"PGDMP not an rdb"[..],
            &Cancel::default(),
        )
        .unwrap_err();
    assert!(error.message.contains("not an RDB file"), "{error}");
}
