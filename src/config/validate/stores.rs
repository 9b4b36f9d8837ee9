//! `[stores.NAME]`: options that conflict or are missing for the store's
//! kind, commands to run the tools through, passwords left in a DSN, and
//! kinds that are accepted but not backed up yet.

mod kafka;

use kafka::check_kafka;

use std::collections::BTreeMap;

use super::{path, Checker};
use crate::config::name::Name;
use crate::config::raw::{self, Store};
use crate::config::redact::{redact_url, url_password};
use crate::config::tree::Path;

impl Checker<'_> {
    fn check_exec(&mut self, at: &Path, exec: &Option<Vec<String>>) {
        if let Some(exec) = exec {
            if exec.is_empty() || exec.iter().any(|part| part.is_empty()) {
                self.error(
                    at,
                    "`exec` must list a command and its arguments, none of them empty",
                    "empty command",
                    "e.g. exec = [\"docker\", \"exec\", \"-i\", \"postgres-db\"], or remove `exec` to run the tools directly",
                );
            }
        }
    }
}

pub(super) fn check_stores(
    checker: &mut Checker,
    stores: BTreeMap<Name, Store>,
) -> BTreeMap<Name, Store> {
    let mut checked = BTreeMap::new();
    for (name, mut store) in stores {
        let at = |key: &str| path(&["stores", name.as_str(), key]);
        let whole = path(&["stores", name.as_str()]);
        match &mut store {
            Store::Postgres(pg) => {
                if pg.dsn.is_some() {
                    for (key, set) in [
                        ("host", pg.host.is_some()),
                        ("port", pg.port.is_some()),
                        ("user", pg.user.is_some()),
                    ] {
                        if set {
                            checker.error(
                                &at(key),
                                format!("store `{name}` sets both `dsn` and `{key}`"),
                                "conflicts with `dsn`",
                                "put host, port and user into the DSN, or remove `dsn` and use host, port and user",
                            );
                        }
                    }
                    check_dsn_password(checker, &at("dsn"), &name);
                }
                if pg.method == raw::PostgresMethod::Basebackup {
                    // A base backup copies the whole cluster: the dump's
                    // choices have no meaning there.
                    for (key, set) in [
                        ("databases", !pg.databases.is_empty()),
                        ("format", pg.format != raw::PostgresFormat::Custom),
                        ("schema_only", pg.schema_only),
                        ("globals", pg.globals),
                    ] {
                        if set {
                            checker.error(
                                &at(key),
                                format!("`{key}` is not used with method = \"basebackup\""),
                                "not used by a base backup",
                                "a base backup copies the whole cluster: remove the key, or use method = \"dump\" for logical dumps",
                            );
                        }
                    }
                } else if pg.databases.is_empty() {
                    // `pg_dump $DATABASE_URL`: the DSN's database is the one to dump.
                    match pg.dsn_database() {
                        Some(database) => pg.databases = vec![database],
                        None => checker.error(&whole, format!("postgres store `{name}` lists no databases"), "needs `databases`", "add databases = [\"app\"] (or name the database in `dsn`): each database becomes one stream of the artifact"),
                    }
                }
                if pg.format == raw::PostgresFormat::Directory {
                    checker.error(&at("format"), "pg_dump's directory format writes many files and cannot stream", "cannot stream", "use format = \"custom\" (restored with pg_restore, the default) or \"plain\"");
                }
                checker.check_exec(&at("exec"), &pg.exec);
            }
            Store::Redis(redis) => {
                if !["redis://", "rediss://", "unix://"]
                    .iter()
                    .any(|scheme| redis.url.starts_with(scheme))
                {
                    checker.error(&at("url"), format!("`{}` is not a Redis URL", redact_url(&redis.url)), "not a Redis URL", "write redis://HOST:PORT, rediss://HOST:PORT for TLS, or unix:///path/to/redis.sock");
                }
                match (redis.method, &redis.data_dir) {
                    (raw::RedisMethod::Bgsave, None) => checker.error(&whole, format!("redis store `{name}` uses method = \"bgsave\" without `data_dir`"), "needs `data_dir`", "set data_dir to the server's `dir` (where dump.rdb is written), or use method = \"replication\""),
                    (raw::RedisMethod::Aof, None) => checker.error(&whole, format!("redis store `{name}` uses method = \"aof\" without `data_dir`"), "needs `data_dir`", "set data_dir to the server's `dir` (the directory that holds appendonlydir/), or use method = \"replication\""),
                    (raw::RedisMethod::Replication, Some(_)) => checker.error(&at("data_dir"), "`data_dir` is only used with method = \"bgsave\" or \"aof\"", "not used", "remove data_dir, or set method = \"bgsave\" or \"aof\" for a local instance"),
                    _ => {}
                }
                if let Some(dir) = &mut redis.data_dir {
                    *dir = checker.resolve(dir);
                }
                checker.check_exec(&at("exec"), &redis.exec);
            }
            Store::Mariadb(maria) => {
                if maria.socket.is_some() && (maria.host.is_some() || maria.port.is_some()) {
                    checker.error(
                        &at("socket"),
                        format!("store `{name}` sets both `socket` and host/port"),
                        "conflicts with host/port",
                        "connect either through the socket or over TCP with host and port",
                    );
                }
                if maria.databases.is_empty() {
                    checker.error(&whole, format!("mariadb store `{name}` lists no databases"), "needs `databases`", "add databases = [\"app\"]: each database becomes one stream of the artifact");
                }
                if let Some(socket) = &mut maria.socket {
                    *socket = checker.resolve(socket);
                }
                checker.check_exec(&at("exec"), &maria.exec);
            }
            Store::Sqlite(sqlite) => sqlite.path = checker.resolve(&sqlite.path),
            Store::Directory(directory) => {
                directory.path = checker.resolve(&directory.path);
                if directory.exclude.iter().any(String::is_empty) {
                    checker.error(
                        &at("exclude"),
                        "an exclude pattern is empty",
                        "empty pattern",
                        "remove the empty string from exclude",
                    );
                }
            }
            Store::Cassandra(cassandra) => {
                if cassandra.keyspaces.is_empty() {
                    checker.error(
                        &whole,
                        format!("cassandra store `{name}` lists no keyspaces"),
                        "needs `keyspaces`",
                        "add keyspaces = [\"analytics\"]",
                    );
                }
                if let Some(dir) = &mut cassandra.data_dir {
                    *dir = checker.resolve(dir);
                }
                checker.check_exec(&at("exec"), &cassandra.exec);
                not_supported_yet(checker, &at("kind"), &name, "cassandra");
            }
            Store::Kafka(kafka) => check_kafka(checker, &name, kafka),
        }
        checked.insert(name, store);
    }
    checked
}

fn not_supported_yet(checker: &mut Checker, at: &Path, name: &Name, kind: &str) {
    checker.warning(
        at,
        format!("store `{name}`: kind `{kind}` is accepted in the configuration but this cairn cannot back it up yet"),
        "not supported yet",
        "jobs that use this store fail with a clear message until a later version adds it",
    );
}

/// Warns about a password written into a DSN in clear text.
fn check_dsn_password(checker: &mut Checker, at: &Path, name: &Name) {
    let Some(node) = checker.tree.find(at) else {
        return;
    };
    let written = node.template.as_deref().or(node.as_str()).unwrap_or("");
    if url_password(written).is_some_and(|password| !password.contains("${")) {
        checker.warning(
            at,
            format!("store `{name}`: the DSN holds a password in clear text"),
            "password in the file",
            "write it as ${PGPASSWORD} (or drop it and use PGPASSWORD or a .pgpass file) so it stays out of Git",
        );
    }
}
