//! The servers `scripts/servers start` runs for the suite, read from the
//! `CAIRN_TEST_*` (and `AWS_*`) variables it exports. The fixtures of each
//! server (postgres.rs, redis.rs, mariadb.rs, garage.rs) are made from these.

use std::collections::BTreeMap;
use std::path::Path;

use super::Cairn;

pub struct Servers {
    vars: BTreeMap<String, String>,
}

impl Servers {
    /// Fails the test, saying how to get servers, when they are not running.
    pub fn get() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CAIRN_TEST_") || k.starts_with("AWS_"))
            .collect();
        assert!(
            vars.contains_key("CAIRN_TEST_SERVERS_DIR"),
            "the test servers are not running: run the suite with scripts/test, or \
             `scripts/servers start DIR && source DIR/env` before `cargo test`"
        );
        Servers { vars }
    }

    /// The servers described by the `env` file `scripts/servers` writes
    /// (for a server a test starts for itself).
    pub fn from_env_file(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let vars = text
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Servers { vars }
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not set by scripts/servers"))
    }

    /// A `cairn` command that can reach the servers: AWS credentials and
    /// region, and PostgreSQL's tools on PATH.
    pub fn cairn(&self, dir: &Path) -> Cairn {
        let path = format!(
            "{}:{}",
            self.var("CAIRN_TEST_PG_BIN"),
            std::env::var("PATH").unwrap_or_default()
        );
        Cairn::new(dir)
            .env("PATH", path)
            .envs(self.vars.iter().filter(|(key, _)| key.starts_with("AWS_")))
    }
}
