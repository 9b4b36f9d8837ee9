//! The Redis restore and verify targets against real servers (SPEC §8): an
//! RDB made by `redis-cli --rdb` is loaded into a private redis-server and
//! copied key by key into a target, or measured there for verify.
//!
//! The suite's shared Redis only ever provides the RDB: a restore target is
//! FLUSHALLed, so every target here is a redis-server the test starts itself.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn::cancel::Cancel;
use cairn::config::model::{Check, Store};
use cairn::config::raw::{RedisMethod, RedisStore};
use cairn::restore::redis::{self, RedisTarget};
use cairn::restore::Target;

use crate::common::Servers;

const PASSWORD: &str = "target-pw-7f3a";

/// Runs `command` and returns its stdout; fails the test with its stderr.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("the tool runs");
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        command.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A redis-server of the test's own on a free port, without a password
/// until [`PrivateRedis::require_password`]; killed on drop.
struct PrivateRedis {
    child: Child,
    port: u16,
    password: Option<&'static str>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            // `redis-cli --rdb` would otherwise wait 5 s for more replicas.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("log"))
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = PrivateRedis {
            child,
            port,
            password: None,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_cli(0, &["PING"]).as_deref() != Some("PONG\n") {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Sets a password (over the connection, not the command line).
    fn require_password(&mut self) {
        self.cli(0, &["CONFIG", "SET", "requirepass", PASSWORD]);
        self.password = Some(PASSWORD);
    }

    fn url(&self) -> String {
        match self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn try_cli(&self, db: u32, args: &[&str]) -> Option<String> {
        let mut command = Command::new("redis-cli");
        command
            .args(["-p", &self.port.to_string(), "-n", &db.to_string()])
            .args(args);
        if let Some(password) = self.password {
            command.env("REDISCLI_AUTH", password);
        }
        let output = command.output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn cli(&self, db: u32, args: &[&str]) -> String {
        self.try_cli(db, args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed on port {}", self.port))
    }

    /// Writes an RDB of everything the server holds to `path`.
    fn rdb(&self, path: &Path) {
        self.cli(0, &["--rdb", path.to_str().unwrap()]);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-cli` against the suite's shared server, the password in REDISCLI_AUTH.
fn shared_cli(servers: &Servers, db: u32, args: &[&str]) -> String {
    run(Command::new("redis-cli")
        .args(["-h", servers.var("CAIRN_TEST_REDIS_HOST")])
        .args(["-p", servers.var("CAIRN_TEST_REDIS_PORT")])
        .args(["-n", &db.to_string()])
        .args(args)
        .env("REDISCLI_AUTH", servers.var("CAIRN_TEST_REDIS_PASSWORD")))
}

/// Deletes the test's keys from the shared server when the test ends.
struct SharedKeys<'a> {
    servers: &'a Servers,
    keys: Vec<(u32, String)>,
}

impl Drop for SharedKeys<'_> {
    fn drop(&mut self) {
        for (db, key) in &self.keys {
            shared_cli(self.servers, *db, &["DEL", key]);
        }
    }
}

/// Keys of every common type under `PREFIX:` in `db`, two of them expiring;
/// `cli(db, args)` runs one command.
fn fill(cli: &dyn Fn(u32, &[&str]) -> String, db: u32, prefix: &str) -> Vec<(u32, String)> {
    let commands: [&[&str]; 8] = [
        &["SET", "string", "hello world"],
        &["SET", "unicode", "zoë ☃\nsecond line"],
        &["HSET", "hash", "f1", "v1", "f2", "two words"],
        &["RPUSH", "list", "c", "a", "b", "a"],
        &["SADD", "set", "x", "y", "z"],
        &["ZADD", "zset", "1.5", "one", "2", "two"],
        &["SET", "session", "token", "EX", "86400"],
        &["SET", "a key with spaces", "v", "PX", "3600000"],
    ];
    commands
        .into_iter()
        .map(|command| {
            let key = format!("{prefix}:{}", command[1]);
            let mut args = command.to_vec();
            args[1] = &key;
            cli(db, &args);
            (db, key)
        })
        .collect()
}

/// Every key under `PREFIX:` in `db`: its type and value, and its time to
/// live in milliseconds (-1: none).
fn snapshot(
    cli: &dyn Fn(u32, &[&str]) -> String,
    db: u32,
    prefix: &str,
) -> BTreeMap<String, (String, i64)> {
    let mut keys: Vec<String> = cli(db, &["--scan", "--pattern", &format!("{prefix}:*")])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let kind = cli(db, &["TYPE", &key]).trim().to_owned();
            let value = match kind.as_str() {
                "string" => cli(db, &["GET", &key]),
                "hash" => sorted(&cli(db, &["HGETALL", &key])),
                "list" => cli(db, &["LRANGE", &key, "0", "-1"]),
                "set" => sorted(&cli(db, &["SMEMBERS", &key])),
                "zset" => cli(db, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                other => panic!("{key} has the unexpected type {other}"),
            };
            let ttl = cli(db, &["PTTL", &key]).trim().parse().unwrap();
            (key, (format!("{kind}: {value}"), ttl))
        })
        .collect()
}

fn sorted(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// Values equal; times to live equal or (time passed) a little shorter.
fn assert_same_keys(
    restored: &BTreeMap<String, (String, i64)>,
    source: &BTreeMap<String, (String, i64)>,
) {
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    for (key, (value, ttl)) in source {
        let (restored_value, restored_ttl) = &restored[key];
        assert_eq!(restored_value, value, "{key}");
        if *ttl == -1 {
            assert_eq!(*restored_ttl, -1, "{key} must not expire");
        } else {
            assert!(
                *restored_ttl > 0 && *restored_ttl <= *ttl && ttl - restored_ttl < 60_000,
                "{key}: TTL {restored_ttl} ms restored, {ttl} ms in the source"
            );
        }
    }
}

fn store() -> RedisStore {
    RedisStore {
        url: "redis://127.0.0.1:1".to_owned(),
        method: RedisMethod::Replication,
        data_dir: None,
        exec: None,
    }
}

fn load(target: &mut RedisTarget, rdb: &Path) -> Result<(), cairn::stores::StoreError> {
    let mut file = std::fs::File::open(rdb).unwrap();
    target.load("dump.rdb", &mut file, &Cancel::default())
}

/// Whether process `pid` still exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn restore_copies_every_key_of_every_database_with_its_ttl() {
    let servers = Servers::get();
    let prefix = format!("restore_redis_{}", std::process::id());
    let shared = |db: u32, args: &[&str]| shared_cli(&servers, db, args);
    let mut keys = SharedKeys {
        servers: &servers,
        keys: fill(&shared, 0, &prefix),
    };
    keys.keys.extend(fill(&shared, 3, &prefix));
    let dir = tempfile::tempdir().unwrap();
    let rdb = dir.path().join("dump.rdb");
    shared_cli(&servers, 0, &["--rdb", rdb.to_str().unwrap()]);

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
        let source = snapshot(&shared, db, &prefix);
        assert_eq!(source.len(), 8, "{source:?}");
        let restored = snapshot(&|db, args| server.cli(db, args), db, &prefix);
        assert_same_keys(&restored, &source);
    }
    assert_eq!(server.cli(5, &["EXISTS", "stale"]).trim(), "0");
    assert!(
        target.existing(&[]).unwrap().unwrap().contains(" keys in "),
        "existing() sees the restored keys"
    );
    assert!(notes.iter().all(|note| !note.contains(PASSWORD)));
}

#[test]
fn restore_to_the_stores_own_server_logs_in_as_its_user_and_carries_functions() {
    let source = PrivateRedis::start();
    source.cli(2, &["SET", "in-db-2", "v"]);
    let library =
        "#!lua name=cairnlib\nredis.register_function('cairn_answer', function() return 42 end)";
    source.cli(0, &["FUNCTION", "LOAD", library]);
    let rdb = source.dir.path().join("copy.rdb");
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

/// A reader that fails after its bytes, as the restore's does when the
/// artifact does not match its checksum.
struct FailsAtEnd(std::io::Cursor<Vec<u8>>);

impl Read for FailsAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("dump.rdb does not match its SHA-256")),
            n => Ok(n),
        }
    }
}

#[test]
fn an_artifact_that_fails_its_checksum_leaves_the_target_untouched() {
    let source = PrivateRedis::start();
    fill(&|db, args| source.cli(db, args), 0, "source");
    let rdb = source.dir.path().join("copy.rdb");
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
    fill(&|db, args| source.cli(db, args), 0, "zero");
    source.cli(3, &["SET", "three:a", "1"]);
    source.cli(3, &["SET", "three:b", "2", "EX", "86400"]);
    let rdb = source.dir.path().join("copy.rdb");
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
    let rdb = source.dir.path().join("copy.rdb");
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
