//! Redis restore and verify targets (SPEC §8). Only redis-server reads an
//! RDB or an AOF, and only from files, so the artifact's `dump.rdb` stream
//! is spooled (or its `appendonlydir.tar` unpacked and checked with
//! `redis-check-aof`) into a private directory (mode 0700) and a private
//! redis-server, listening only on a unix socket there, loads it. A restore then copies every key of
//! every database to the target with MIGRATE (keys keep their TTLs) and stops
//! the private server; a verify measures the private server itself.
//!
//! Spooling first means that an artifact which fails its checksum (the input
//! reader errors) never reaches a server: the target is untouched.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::aof;
use super::resp::{Address, Connection, Reply, RespError};
use super::server::{spool, unpack_aof, Data, ScratchServer};
use super::url::{parse_server_url, ServerUrl};
use super::{REPLY_TIMEOUT, STREAM};
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::{RedisMethod, RedisStore};
use crate::stores::{StoreError, Target};
/// Keys per SCAN step, and so at most per MIGRATE.
const BATCH: &str = "1000";
/// MIGRATE's timeout for each of its I/O steps, in milliseconds.
const MIGRATE_TIMEOUT_MS: &str = "60000";

/// Where an artifact's keys go: a Redis server, or (verify) the private
/// server that loaded them.
pub struct RedisTarget {
    store: String,
    role: Role,
    /// The private directory, until a load hands it to the private server.
    dir: Option<tempfile::TempDir>,
    /// The private server's unix socket in that directory.
    socket: PathBuf,
    scratch: Option<ScratchServer>,
    /// What the restore copied: keys per database.
    copied: Option<Vec<(u32, u64)>>,
    /// What `redis-check-aof` said of an AOF artifact.
    aof_checked: Option<String>,
}

enum Role {
    Restore {
        server: ServerUrl,
        /// How the safety backup dumps the target.
        dump_store: RedisStore,
        /// The store runs redis-cli through an `exec` prefix: its URL may
        /// only be reachable from inside that.
        through_exec: bool,
    },
    Verify,
}

/// A restore target: the store's own server, or `to`
/// (`redis://[user:password@]host:port[/db]`). The password comes from the
/// URL, else from REDISCLI_AUTH, as it does for redis-cli in the dump.
pub fn target(
    store_name: &str,
    store: &RedisStore,
    to: Option<&str>,
) -> Result<RedisTarget, StoreError> {
    let url = to.unwrap_or(&store.url);
    let mut server = parse_server_url(url)
        .map_err(|(message, help)| StoreError::new(store_name, message).with_help(help))?;
    if server.password.is_none() {
        // redis-cli's own variable, which the dump side leaves to redis-cli.
        #[allow(clippy::disallowed_methods)]
        let from_env = std::env::var("REDISCLI_AUTH");
        server.password = from_env.ok().filter(|p| !p.is_empty());
    }
    // The store's own server is dumped the way its job already dumps it.
    let dump_store = match to {
        None => store.clone(),
        Some(to) => RedisStore {
            url: to.to_owned(),
            method: RedisMethod::Replication,
            data_dir: None,
            exec: None,
        },
    };
    let role = Role::Restore {
        server,
        dump_store,
        through_exec: to.is_none() && store.exec.is_some(),
    };
    RedisTarget::new(store_name, role)
}

/// A scratch target for verify: the private server that loads the RDB.
pub fn scratch(store_name: &str, _store: &RedisStore) -> Result<RedisTarget, StoreError> {
    RedisTarget::new(store_name, Role::Verify)
}

impl RedisTarget {
    fn new(store: &str, role: Role) -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-redis-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| {
                StoreError::new(store, format!("cannot create a private directory: {e}"))
                    .with_help("set TMPDIR to a writable directory with room for the RDB")
            })?;
        Ok(Self {
            store: store.to_owned(),
            role,
            socket: dir.path().join("s.sock"),
            dir: Some(dir),
            scratch: None,
            copied: None,
            aof_checked: None,
        })
    }

    /// The private directory the RDB is spooled to and the private
    /// redis-server runs in (removed when the server stops).
    pub fn private_dir(&self) -> &Path {
        self.socket
            .parent()
            .expect("the socket is in the private dir")
    }

    /// The process ID of the private redis-server while it runs.
    pub fn scratch_pid(&self) -> Option<u32> {
        self.scratch.as_ref().map(ScratchServer::pid)
    }

    fn error(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::new(&self.store, message)
    }

    /// Opens a connection to the restore target, or `None` for verify.
    fn connect_target(&self) -> Result<Option<(Connection, &ServerUrl)>, StoreError> {
        let Role::Restore {
            server,
            through_exec,
            ..
        } = &self.role
        else {
            return Ok(None);
        };
        let address = Address::Tcp {
            host: server.host.clone(),
            port: server.port,
        };
        let connection = Connection::open(
            &address,
            server.user.as_deref(),
            server.password.as_deref(),
            REPLY_TIMEOUT,
        )
        .map_err(|e| {
            let help = if *through_exec {
                "the store runs redis-cli through `exec`, but a restore connects from this host: pass --to redis://HOST:PORT with an address this host reaches"
            } else {
                "check that the server runs and that this host reaches it"
            };
            self.server_error(&format!("cannot connect to {}", server.display()), e, Some(help))
        })?;
        Ok(Some((connection, server)))
    }

    /// An error from the target, with the fix for a refused login.
    fn server_error(&self, what: &str, error: RespError, help: Option<&str>) -> StoreError {
        let message = error.to_string();
        let help = if message.contains("NOAUTH") || message.contains("WRONGPASS") {
            Some("put the password in the URL (redis://[USER]:PASSWORD@HOST:PORT, e.g. with ${REDIS_PASSWORD}) or in REDISCLI_AUTH")
        } else {
            help
        };
        let error = self.error(format!("{what}: {message}"));
        match help {
            Some(help) => error.with_help(help),
            None => error,
        }
    }

    /// Keys per database on the target: the restore's server, or the
    /// verify's private server (none before the load).
    fn keyspace(&mut self) -> Result<Vec<(u32, u64)>, StoreError> {
        if let Some((mut connection, server)) = self.connect_target()? {
            return keyspace_of(&mut connection)
                .map_err(|e| self.server_error(&format!("INFO on {}", server.display()), e, None));
        }
        match &mut self.scratch {
            Some(scratch) => keyspace_of(&mut scratch.connection).map_err(|e| {
                StoreError::new(&self.store, format!("the private redis-server: {e}"))
            }),
            None => Ok(Vec::new()),
        }
    }

    /// Copies every key of every database from the private server to the
    /// target; returns the keys per database.
    fn migrate(&mut self, cancel: &Cancel) -> Result<Vec<(u32, u64)>, StoreError> {
        let (mut target, server) = self.connect_target()?.expect("only restores migrate");
        let server = server.clone();
        let scratch = self.scratch.as_mut().expect("the RDB is loaded");
        let source = &mut scratch.connection;
        let private = |what: &str, e: RespError| {
            StoreError::new(
                &self.store,
                format!("{what} on the private redis-server: {e}"),
            )
        };
        let partial = |what: &str, e: RespError| {
            StoreError::new(
                &self.store,
                format!("{what} failed: {e}; {} may now hold part of the artifact's keys", server.display()),
            )
            .with_help("MIGRATE runs in a redis-server on this host and logs in to the target with the URL's user and password: fix what the error names and restore again (copied keys are replaced)")
        };
        let keyspace = keyspace_of(source).map_err(|e| private("INFO keyspace", e))?;
        let port = server.port.to_string();
        let mut auth: Vec<String> = Vec::new();
        match (&server.user, &server.password) {
            (Some(user), Some(password)) => {
                auth.extend(["AUTH2".into(), user.clone(), password.clone()])
            }
            (None, Some(password)) => auth.extend(["AUTH".into(), password.clone()]),
            _ => {}
        }
        for (db, _) in &keyspace {
            let db = db.to_string();
            source
                .command(&["SELECT", &db])
                .map_err(|e| private("SELECT", e))?;
            let mut cursor = "0".to_owned();
            loop {
                if let Some(reason) = cancel.reason() {
                    return Err(StoreError::new(&self.store, reason));
                }
                let reply = source
                    .command(&["SCAN", &cursor, "COUNT", BATCH])
                    .map_err(|e| private("SCAN", e))?;
                let keys;
                (cursor, keys) = scan_reply(reply).map_err(|e| private("SCAN", e))?;
                if !keys.is_empty() {
                    let mut args: Vec<Vec<u8>> = [
                        "MIGRATE",
                        &server.host,
                        &port,
                        "",
                        &db,
                        MIGRATE_TIMEOUT_MS,
                        "COPY",
                        "REPLACE",
                    ]
                    .into_iter()
                    .chain(auth.iter().map(String::as_str))
                    .chain(["KEYS"])
                    .map(|arg| arg.as_bytes().to_vec())
                    .collect();
                    args.extend(keys);
                    source.command(&args).map_err(|e| {
                        partial(&format!("MIGRATE to {} (db {db})", server.display()), e)
                    })?;
                }
                if cursor == "0" {
                    break;
                }
            }
        }
        copy_functions(source, &mut target)
            .map_err(|e| partial("copying the function libraries", e))?;
        Ok(keyspace)
    }
}

/// Keys per database, from `INFO keyspace`.
fn keyspace_of(connection: &mut Connection) -> Result<Vec<(u32, u64)>, RespError> {
    Ok(parse_keyspace(&connection.text(&["INFO", "keyspace"])?))
}

/// Copies the server-side function libraries (Redis 7), which MIGRATE does
/// not carry; nothing when there are none or the local server predates them.
fn copy_functions(source: &mut Connection, target: &mut Connection) -> Result<(), RespError> {
    match source.command(&["FUNCTION", "LIST"]) {
        Ok(Reply::Array(Some(libraries))) if !libraries.is_empty() => {}
        _ => return Ok(()),
    }
    let payload = source.command(&["FUNCTION", "DUMP"])?;
    let Reply::Bulk(Some(payload)) = payload else {
        return Err(RespError::Protocol(format!(
            "FUNCTION DUMP answered {payload:?}"
        )));
    };
    target.command(&[&b"FUNCTION"[..], b"RESTORE", payload.as_slice(), b"REPLACE"])?;
    Ok(())
}

impl Target for RedisTarget {
    fn describe(&self) -> String {
        match &self.role {
            Role::Restore { server, .. } => format!("redis at {}", server.display()),
            Role::Verify => format!("a private redis-server in {}", self.private_dir().display()),
        }
    }

    fn existing(&mut self, _streams: &[String]) -> Result<Option<String>, StoreError> {
        let keyspace = self.keyspace()?;
        let keys: u64 = keyspace.iter().map(|(_, keys)| keys).sum();
        Ok((keys > 0).then(|| {
            format!(
                "{} holds {} in {}",
                self.describe(),
                count(keys, "key"),
                count(keyspace.len() as u64, "database")
            )
        }))
    }

    fn as_store(&self) -> Store {
        Store::Redis(match &self.role {
            Role::Restore { dump_store, .. } => dump_store.clone(),
            Role::Verify => RedisStore {
                url: format!("unix://{}", self.socket.display()),
                method: RedisMethod::Replication,
                data_dir: None,
                exec: None,
            },
        })
    }

    fn clear(&mut self, _streams: &[String]) -> Result<(), StoreError> {
        if let Some((mut connection, server)) = self.connect_target()? {
            connection.command(&["FLUSHALL"]).map_err(|e| {
                self.server_error(&format!("FLUSHALL on {}", server.display()), e, None)
            })?;
        }
        Ok(())
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        if stream != STREAM && stream != aof::STREAM {
            return Err(self.error(format!(
                "the artifact holds a stream `{stream}`, but a Redis artifact holds only `{STREAM}` or `{}`", aof::STREAM
            )));
        }
        let Some(dir) = self.dir.take() else {
            return Err(self.error(format!("`{stream}` was loaded already")));
        };
        let (data, size) = if stream == STREAM {
            (Data::Rdb, spool(&self.store, dir.path(), input, cancel)?)
        } else {
            let (data, size, checked) = unpack_aof(&self.store, dir.path(), input, cancel)?;
            self.aof_checked = Some(checked);
            (data, size)
        };
        self.scratch = Some(ScratchServer::start(&self.store, dir, &data, size, cancel)?);
        if let Role::Restore { .. } = self.role {
            let copied = self.migrate(cancel);
            // The private server and its copy of the data go, copied or not.
            let stopped = self.scratch.take().map(ScratchServer::stop);
            self.copied = Some(copied?);
            if let Some(stopped) = stopped {
                stopped.map_err(|e| self.error(e))?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let Role::Restore { server, .. } = &self.role else {
            return Ok(Vec::new());
        };
        let Some(copied) = &self.copied else {
            return Ok(Vec::new());
        };
        let keys: u64 = copied.iter().map(|(_, keys)| keys).sum();
        let mut notes = vec![format!(
            "copied {} in {} to {}, each into its own database number",
            count(keys, "key"),
            count(copied.len() as u64, "database"),
            server.display()
        )];
        if let Some(db) = &server.db {
            notes.push(format!(
                "the `/{db}` in the target URL did not choose a database: the artifact holds every database of the instance"
            ));
        }
        Ok(notes)
    }

    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        // redis-check-aof failing fails the load, before this.
        let mut checks: Vec<_> = self
            .aof_checked
            .iter()
            .map(|said| ("redis-check-aof".to_owned(), true, said.clone()))
            .collect();
        let keyspace = self.keyspace()?;
        if keyspace.is_empty() {
            checks.push(("keys".to_owned(), true, "0".to_owned()));
        }
        checks.extend(
            keyspace
                .into_iter()
                .map(|(db, keys)| (format!("keys in db {db}"), true, keys.to_string())),
        );
        Ok(checks)
    }

    /// The total key count across databases: validation allows only
    /// `min_keys` checks for Redis.
    fn measure(&mut self, _check: &Check) -> Result<i64, StoreError> {
        let keys: u64 = self.keyspace()?.iter().map(|(_, keys)| keys).sum();
        Ok(i64::try_from(keys).unwrap_or(i64::MAX))
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        if let Some(scratch) = self.scratch.take() {
            scratch.stop().map_err(|e| self.error(e))?;
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().display().to_string();
            dir.close()
                .map_err(|e| self.error(format!("removing {path} failed: {e}")))?;
        }
        Ok(())
    }
}

/// Keys per database from `INFO keyspace` (`db3:keys=12,expires=1,...`).
fn parse_keyspace(info: &str) -> Vec<(u32, u64)> {
    info.lines()
        .filter_map(|line| {
            let (db, fields) = line.trim().strip_prefix("db")?.split_once(':')?;
            let keys = fields
                .split(',')
                .find_map(|field| field.strip_prefix("keys="))?;
            Some((db.parse().ok()?, keys.parse().ok()?))
        })
        .collect()
}

/// SCAN's reply: the next cursor and the keys.
fn scan_reply(reply: Reply) -> Result<(String, Vec<Vec<u8>>), RespError> {
    if let Reply::Array(Some(parts)) = &reply {
        if let [cursor, Reply::Array(Some(keys))] = parts.as_slice() {
            let keys = keys
                .iter()
                .map(|key| match key {
                    Reply::Bulk(Some(key)) => Some(key.clone()),
                    _ => None,
                })
                .collect::<Option<_>>();
            if let Some(keys) = keys {
                return Ok((cursor.text()?, keys));
            }
        }
    }
    Err(RespError::Protocol(format!("SCAN answered {reply:?}")))
}

/// `1 key`, `3 keys`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_lists_keys_per_database() {
        let info =
            "# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=0\r\ndb3:keys=2,expires=0,avg_ttl=0\r\n";
        assert_eq!(parse_keyspace(info), [(0, 7), (3, 2)]);
        assert_eq!(parse_keyspace("# Keyspace\r\n"), []);
    }

    #[test]
    fn scan_replies_give_cursor_and_keys() {
        let bulk = |text: &str| Reply::Bulk(Some(text.as_bytes().to_vec()));
        let reply = Reply::Array(Some(vec![
            bulk("42"),
            Reply::Array(Some(vec![bulk("a"), bulk("b")])),
        ]));
        assert_eq!(
            scan_reply(reply).unwrap(),
            ("42".to_owned(), vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert!(scan_reply(Reply::Array(Some(vec![bulk("0")]))).is_err());
        assert!(scan_reply(Reply::Simple("OK".into())).is_err());
    }
}
