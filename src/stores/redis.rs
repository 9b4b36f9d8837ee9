//! Redis: an RDB snapshot streamed over the replication protocol
//! (`redis-cli --rdb -`), or BGSAVE, a wait until no save is in progress,
//! and a copy of the file for a local instance. The password goes in
//! REDISCLI_AUTH.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Dumper, StoreError, ToolCommand};
use crate::cancel::Cancel;
use crate::config::raw::{RedisMethod, RedisStore};

pub struct Redis {
    name: String,
    store: RedisStore,
    connection: Vec<String>,
    password: Option<String>,
    source: String,
}

impl Redis {
    pub fn new(name: &str, store: &RedisStore) -> Result<Self, StoreError> {
        let parsed = parse_url(&store.url).ok_or_else(|| {
            StoreError::new(
                name,
                format!(
                    "cannot read the Redis URL `{}`",
                    crate::config::redact_url(&store.url)
                ),
            )
        })?;
        Ok(Self {
            name: name.to_owned(),
            store: store.clone(),
            connection: parsed.args,
            password: parsed.password,
            source: parsed.source,
        })
    }

    fn cli(&self) -> ToolCommand {
        let mut command =
            ToolCommand::new("redis-cli", &self.store.exec).args(self.connection.clone());
        if let Some(password) = &self.password {
            command = command.env("REDISCLI_AUTH", password.clone());
        }
        command
    }

    fn query(&self, args: &[&str]) -> Result<String, StoreError> {
        let output = self
            .cli()
            .args(args.iter().copied())
            .output()
            .map_err(|message| StoreError::new(&self.name, message))?;
        let output = output.trim().to_owned();
        if output.starts_with("ERR")
            || output.starts_with("NOAUTH")
            || output.starts_with("WRONGPASS")
        {
            return Err(StoreError::new(
                &self.name,
                format!("redis-cli {}: {output}", args.join(" ")),
            ));
        }
        Ok(output)
    }

    /// BGSAVE, then wait until the server has no save in progress: the one
    /// started here has then ended. (LASTSAVE counts whole seconds, so it
    /// cannot tell this save from one that ended earlier in the same second.)
    fn bgsave(&self, cancel: &Cancel) -> Result<PathBuf, StoreError> {
        let started = Instant::now();
        loop {
            let reply = self.query(&["BGSAVE"]);
            match reply {
                Ok(_) => break,
                Err(error)
                    if error.message.contains("in progress")
                        && started.elapsed() < Duration::from_secs(3600) =>
                {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(error) => return Err(error),
            }
            if cancel.is_cancelled() {
                return Err(StoreError::new(
                    &self.name,
                    cancel.reason().unwrap_or_default(),
                ));
            }
        }
        let status = loop {
            std::thread::sleep(Duration::from_millis(100));
            if cancel.is_cancelled() {
                return Err(StoreError::new(
                    &self.name,
                    cancel.reason().unwrap_or_default(),
                ));
            }
            let status = self.query(&["INFO", "persistence"])?;
            if status
                .lines()
                .any(|line| line.trim() == "rdb_bgsave_in_progress:0")
            {
                break status;
            }
        };
        if status
            .lines()
            .any(|line| line.trim() == "rdb_last_bgsave_status:err")
        {
            return Err(StoreError::new(
                &self.name,
                "BGSAVE failed on the server (rdb_last_bgsave_status:err)",
            )
            .with_help(
                "see the Redis server log; the disk may be full or the directory not writable",
            ));
        }
        let file_name = self
            .query(&["CONFIG", "GET", "dbfilename"])?
            .lines()
            .nth(1)
            .unwrap_or("dump.rdb")
            .trim()
            .to_owned();
        let data_dir = self
            .store
            .data_dir
            .clone()
            .expect("validation: bgsave has data_dir");
        Ok(data_dir.join(file_name))
    }
}

struct ParsedUrl {
    args: Vec<String>,
    password: Option<String>,
    /// The URL without its password.
    source: String,
}

fn parse_url(url: &str) -> Option<ParsedUrl> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme == "unix" {
        return Some(ParsedUrl {
            args: vec!["-s".to_owned(), rest.to_owned()],
            password: None,
            source: url.to_owned(),
        });
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None => (host_port, "6379"),
    };
    let mut args = vec![
        "-h".to_owned(),
        host.to_owned(),
        "-p".to_owned(),
        port.to_owned(),
    ];
    if scheme == "rediss" {
        args.push("--tls".to_owned());
    }
    let mut password = None;
    if let Some(userinfo) = userinfo {
        let (user, pass) = match userinfo.split_once(':') {
            Some((user, pass)) => (user, Some(pass)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            args.extend(["--user".to_owned(), user.to_owned()]);
        }
        password = pass.filter(|p| !p.is_empty()).map(str::to_owned);
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        args.extend(["-n".to_owned(), db.to_owned()]);
    }
    Some(ParsedUrl {
        args,
        password,
        source: format!("{scheme}://{host}:{port}"),
    })
}

impl Dumper for Redis {
    fn streams(&self) -> Vec<String> {
        vec!["dump.rdb".to_owned()]
    }

    fn dump(
        &mut self,
        _index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        match self.store.method {
            RedisMethod::Replication => self
                .cli()
                .args(["--rdb", "-"])
                .stream_to(out, cancel)
                .map_err(|message| StoreError::new(&self.name, message)),
            RedisMethod::Bgsave => {
                let path = self.bgsave(cancel)?;
                let mut file = fs_err::File::open(&path).map_err(|e| {
                    StoreError::new(&self.name, e.to_string())
                        .with_help("check that data_dir is the server's `dir`")
                })?;
                std::io::copy(&mut file, out).map(drop).map_err(|e| {
                    StoreError::new(
                        &self.name,
                        format!("copying {} failed: {e}", path.display()),
                    )
                })
            }
        }
    }

    fn source(&self) -> String {
        self.source.clone()
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            "redis-cli".to_owned(),
            ToolCommand::new("redis-cli", &self.store.exec).version(),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_arguments_and_a_hidden_password() {
        let parsed = parse_url("redis://:secret@127.0.0.1:6380/2").unwrap();
        assert_eq!(parsed.args, ["-h", "127.0.0.1", "-p", "6380", "-n", "2"]);
        assert_eq!(parsed.password.as_deref(), Some("secret"));
        assert_eq!(parsed.source, "redis://127.0.0.1:6380");
        let tls = parse_url("rediss://backup:pw@cache").unwrap();
        assert_eq!(
            tls.args,
            ["-h", "cache", "-p", "6379", "--tls", "--user", "backup"]
        );
        assert_eq!(
            parse_url("unix:///run/redis.sock").unwrap().args,
            ["-s", "/run/redis.sock"]
        );
    }
}
