//! Redis: the suite's shared server (`CAIRN_TEST_REDIS_*`), which only
//! ever provides data, and [`PrivateRedis`], a redis-server a test starts
//! for itself wherever data must be loaded or flushed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn::cancel::Cancel;
use cairn::config::raw::{RedisMethod, RedisStore};
use cairn::stores::redis::RedisTarget;
use cairn::stores::Target;

use super::{tool, Sandbox, Servers};

/// Keys of every common type, one of them expiring: `[COMMAND, KEY, ARGS…]`,
/// the key to be put under a prefix.
pub const EVERY_TYPE: [&[&str]; 7] = [
    &["SET", "string", "hello world"],
    &["SET", "unicode", "zoë ☃"],
    &["HSET", "hash", "f1", "v1", "f2", "two words"],
    &["RPUSH", "list", "c", "a", "b", "a"],
    &["SADD", "set", "x", "y", "z"],
    &["ZADD", "zset", "1.5", "one", "2", "two"],
    &["SET", "session", "token", "EX", "86400"],
];

/// The same with a value of two lines, and a second expiring key whose
/// name has spaces.
pub const EVERY_TYPE_AND_ODD_NAMES: [&[&str]; 8] = [
    &["SET", "string", "hello world"],
    &["SET", "unicode", "zoë ☃\nsecond line"],
    &["HSET", "hash", "f1", "v1", "f2", "two words"],
    &["RPUSH", "list", "c", "a", "b", "a"],
    &["SADD", "set", "x", "y", "z"],
    &["ZADD", "zset", "1.5", "one", "2", "two"],
    &["SET", "session", "token", "EX", "86400"],
    &["SET", "a key with spaces", "v", "PX", "3600000"],
];

/// Runs one `redis-cli` command (its arguments) and returns its output.
pub type Cli<'a> = &'a dyn Fn(&[&str]) -> String;

/// The suite's Redis.
pub struct Redis {
    pub host: String,
    pub port: String,
    password: String,
    /// Where the server keeps its RDB, for the `bgsave` method.
    data_dir: String,
}

impl Redis {
    pub fn new(servers: &Servers) -> Self {
        Redis {
            host: servers.var("CAIRN_TEST_REDIS_HOST").to_owned(),
            port: servers.var("CAIRN_TEST_REDIS_PORT").to_owned(),
            password: servers.var("CAIRN_TEST_REDIS_PASSWORD").to_owned(),
            data_dir: servers.var("CAIRN_TEST_REDIS_DIR").to_owned(),
        }
    }

    /// `redis-cli` against the server, the password in REDISCLI_AUTH.
    pub fn cli_command(&self) -> Command {
        let mut command = Command::new("redis-cli");
        command
            .args(["-h", &self.host])
            .args(["-p", &self.port])
            .env("REDISCLI_AUTH", &self.password);
        command
    }

    pub fn cli(&self, args: &[&str]) -> String {
        tool(self.cli_command().args(args))
    }

    /// `redis-cli -n DB ARGS`.
    pub fn cli_db(&self, db: u32, args: &[&str]) -> String {
        tool(self.cli_command().args(["-n", &db.to_string()]).args(args))
    }

    /// Sets `keys` (e.g. [`EVERY_TYPE`]) under `PREFIX:` in `db`; the
    /// sandbox deletes them when the test ends.
    pub fn fill(&self, sandbox: &Sandbox, db: u32, prefix: &str, keys: &[&[&str]]) {
        let mut delete = self.cli_command();
        delete.args(["-n", &db.to_string(), "DEL"]);
        delete.args(fill(&|args| self.cli_db(db, args), prefix, keys));
        sandbox.clean_up_with(delete);
    }

    /// The lines of a store of this server, its password in the URL from
    /// the environment variable `var`, plus `extra`.
    pub fn store(&self, var: &str, extra: &str) -> String {
        format!(
            "kind = \"redis\"\nurl = \"redis://:${{{var}}}@{}:{}\"\n{extra}",
            self.host, self.port
        )
    }

    /// The store lines of the `bgsave` method on this server.
    pub fn bgsave_method(&self) -> String {
        format!(
            r#"method = "bgsave"
data_dir = "{}""#,
            self.data_dir
        )
    }

    /// A BGSAVE of the test's own, waited for until the server has finished it.
    pub fn save(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        // Another test's save may be running: wait for it, then start one.
        while !self.cli(&["BGSAVE"]).contains("started") {
            assert!(Instant::now() < deadline, "BGSAVE never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        while !self
            .cli(&["INFO", "persistence"])
            .lines()
            .any(|line| line.trim() == "rdb_bgsave_in_progress:0")
        {
            assert!(Instant::now() < deadline, "BGSAVE never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Sets `keys` (e.g. [`EVERY_TYPE`]) under `PREFIX:` through `cli`;
/// returns the keys.
pub fn fill(cli: Cli, prefix: &str, keys: &[&[&str]]) -> Vec<String> {
    keys.iter()
        .map(|command| {
            let key = format!("{prefix}:{}", command[1]);
            let mut args = command.to_vec();
            args[1] = &key;
            cli(&args);
            key
        })
        .collect()
}

/// Every key under `PREFIX:`, as `cli` reports it: its type and value, and
/// its time to live in milliseconds (-1: none).
pub fn snapshot(cli: Cli, prefix: &str) -> BTreeMap<String, (String, i64)> {
    let mut keys: Vec<String> = cli(&["--scan", "--pattern", &format!("{prefix}:*")])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let kind = cli(&["TYPE", &key]).trim().to_owned();
            let value = match kind.as_str() {
                "string" => cli(&["GET", &key]),
                "hash" => sorted_pairs(&cli(&["HGETALL", &key])),
                "list" => cli(&["LRANGE", &key, "0", "-1"]),
                "set" => sorted_lines(&cli(&["SMEMBERS", &key])),
                "zset" => cli(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                other => panic!("{key} has the unexpected type {other}"),
            };
            let ttl = cli(&["PTTL", &key]).trim().parse().unwrap();
            (key, (format!("{kind}: {value}"), ttl))
        })
        .collect()
}

/// [`snapshot`] with only whether each key expires, to compare copies
/// taken at different times.
pub fn snapshot_expiring(cli: Cli, prefix: &str) -> BTreeMap<String, String> {
    snapshot(cli, prefix)
        .into_iter()
        .map(|(key, (value, ttl))| {
            let expires = if ttl > 0 { "(expires)" } else { "" };
            (key, format!("{value}{expires}"))
        })
        .collect()
}

/// Values equal; times to live equal or (time passed) a little shorter.
pub fn assert_same_keys(
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

/// A redis-server of the test's own on a free port, without a password
/// until [`PrivateRedis::require_password`]; killed on drop.
pub struct PrivateRedis {
    child: Child,
    pub port: u16,
    password: Option<&'static str>,
    dir: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl PrivateRedis {
    /// The password [`PrivateRedis::require_password`] sets.
    pub const PASSWORD: &'static str = "target-pw-7f3a";

    /// An empty server with its files in a temporary directory.
    pub fn start() -> Self {
        let temporary = tempfile::tempdir().unwrap();
        let mut server = Self::launch(temporary.path(), "no");
        server._temporary = Some(temporary);
        server
    }

    /// An empty server with its files in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::launch(dir, "no")
    }

    /// A server with `appendonly yes` and its files in `dir`: it loads the
    /// AOF found in `dir/appendonlydir`, else starts empty and writes one.
    pub fn with_aof(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::launch(dir, "yes")
    }

    /// A server that loaded `rdb`, with its files beside it.
    pub fn loading(rdb: &Path) -> Self {
        let dir = rdb.parent().unwrap().join("redis-server");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(rdb, dir.join("dump.rdb")).unwrap();
        Self::launch(&dir, "no")
    }

    fn launch(dir: &Path, appendonly: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            // `redis-cli --rdb` would otherwise wait 5 s for more replicas.
            .args(["--repl-diskless-sync-delay", "0"])
            .args([
                "--save",
                "",
                "--appendonly",
                appendonly,
                "--dbfilename",
                "dump.rdb",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut server = PrivateRedis {
            child,
            port,
            password: None,
            dir: dir.to_owned(),
            _temporary: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_cli(0, &["PING"]).as_deref() != Some("PONG\n") {
            if server.child.try_wait().unwrap().is_some() {
                panic!(
                    "redis-server in {} exited:\n{}",
                    dir.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server keeps its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets [`PrivateRedis::PASSWORD`] (over the connection, not the
    /// command line).
    pub fn require_password(&mut self) {
        self.cli(0, &["CONFIG", "SET", "requirepass", Self::PASSWORD]);
        self.password = Some(Self::PASSWORD);
    }

    pub fn url(&self) -> String {
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

    /// `redis-cli -n DB ARGS` against this server.
    pub fn cli(&self, db: u32, args: &[&str]) -> String {
        self.try_cli(db, args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed on port {}", self.port))
    }

    /// `INFO persistence` says `field:value`.
    pub fn persistence(&self, field: &str, value: &str) -> bool {
        let wanted = format!("{field}:{value}");
        self.cli(0, &["INFO", "persistence"])
            .lines()
            .any(|line| line.trim() == wanted)
    }

    /// BGREWRITEAOF, waited for until the rewrite has ended.
    pub fn rewrite_aof(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let rewrites = |server: &Self| {
            server
                .cli(0, &["INFO", "persistence"])
                .lines()
                .find_map(|line| line.trim().strip_prefix("aof_rewrites:").map(str::to_owned))
                .unwrap()
        };
        let before = rewrites(self);
        self.cli(0, &["BGREWRITEAOF"]);
        while rewrites(self) == before || !self.persistence("aof_rewrite_in_progress", "0") {
            assert!(Instant::now() < deadline, "BGREWRITEAOF never finished");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every setting (`CONFIG GET *`), one `name value` line each, sorted.
    pub fn settings(&self) -> String {
        let reply = self.cli(0, &["CONFIG", "GET", "*"]);
        let lines: Vec<&str> = reply.lines().collect();
        let mut settings: Vec<String> = lines.chunks(2).map(|pair| pair.join(" ")).collect();
        settings.sort();
        settings.join("\n")
    }

    /// Writes an RDB of everything the server holds to `path`.
    pub fn rdb(&self, path: &Path) {
        self.cli(0, &["--rdb", path.to_str().unwrap()]);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis store of the `replication` method, whose server the tests
/// never reach: a restore target's own URL replaces it.
pub fn store() -> RedisStore {
    RedisStore {
        url: "redis://127.0.0.1:1".to_owned(),
        method: RedisMethod::Replication,
        data_dir: None,
        exec: None,
    }
}

/// Loads the RDB file `rdb` into `target` as the stream `dump.rdb`.
pub fn load(target: &mut RedisTarget, rdb: &Path) -> Result<(), cairn::stores::StoreError> {
    let mut file = std::fs::File::open(rdb).unwrap();
    target.load("dump.rdb", &mut file, &Cancel::default())
}

/// A reader that fails after its bytes, as the restore's does when the
/// artifact does not match its checksum.
pub struct FailsAtEnd(pub std::io::Cursor<Vec<u8>>);

impl Read for FailsAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("dump.rdb does not match its SHA-256")),
            n => Ok(n),
        }
    }
}
