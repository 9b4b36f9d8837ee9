//! Redis: an RDB snapshot streamed over the replication protocol
//! (`redis-cli --rdb -`), or BGSAVE, a wait until no save is in progress,
//! and a copy of the file for a local instance, or a consistent copy of a
//! local instance's append-only file (see `pin`). The password goes in
//! REDISCLI_AUTH.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::pin::{self, AofFiles};
use super::{aof, url};
use crate::cancel::Cancel;
use crate::config::raw::{RedisMethod, RedisStore};
use crate::stores::{Dumped, Dumper, StoreError, ToolCommand};

/// The file BGSAVE writes when the server's `dbfilename` is not set.
const DEFAULT_DBFILENAME: &str = "dump.rdb";

pub struct Redis {
    name: String,
    store: RedisStore,
    connection: Vec<String>,
    password: Option<String>,
    source: String,
}

impl Redis {
    pub fn new(name: &str, store: &RedisStore) -> Result<Self, StoreError> {
        let parsed =
            url::parse(&store.url).map_err(|(message, _)| StoreError::new(name, message))?;
        Ok(Self {
            name: name.to_owned(),
            store: store.clone(),
            connection: parsed.cli_args(),
            source: parsed.source(),
            password: parsed.password,
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
            .unwrap_or(DEFAULT_DBFILENAME)
            .trim()
            .to_owned();
        let data_dir = self
            .store
            .data_dir
            .clone()
            .expect("validation: bgsave has data_dir");
        Ok(data_dir.join(file_name))
    }

    /// The value of one server setting (`CONFIG GET NAME`).
    fn setting(&self, name: &str) -> Result<String, StoreError> {
        let reply = self.query(&["CONFIG", "GET", name])?;
        match reply.lines().nth(1) {
            Some(value) if reply.lines().next() == Some(name) => Ok(value.trim().to_owned()),
            _ => Err(StoreError::new(
                &self.name,
                format!("CONFIG GET {name} did not answer the setting (it said {reply:?})"),
            )
            .with_help("the AOF method reads appenddirname and appendfilename with CONFIG GET: allow the CONFIG command for cairn's user (it never changes a setting)")),
        }
    }

    /// The tar of the server's AOF directory: the files of one generation,
    /// hard-linked while they are copied. Changes no server setting.
    fn aof(&self, out: &mut dyn Write, cancel: &Cancel) -> Result<Dumped, StoreError> {
        let status = self.query(&["INFO", "persistence"])?;
        if !status.lines().any(|line| line.trim() == "aof_enabled:1") {
            return Err(StoreError::new(
                &self.name,
                format!(
                    "the server at {} keeps no append-only file (aof_enabled:0)",
                    self.source
                ),
            )
            .with_help("set `appendonly yes` in the server's redis.conf (it takes effect with a restart or `CONFIG SET appendonly yes`), or back it up with method = \"bgsave\" or \"replication\""));
        }
        let dirname = self.setting("appenddirname")?;
        let filename = self.setting("appendfilename")?;
        let data_dir = self
            .store
            .data_dir
            .clone()
            .expect("validation: aof has data_dir");
        let files = AofFiles {
            store: &self.name,
            data_dir: &data_dir,
            dirname: &dirname,
            filename: &filename,
        };
        pin::copy(&files, out, cancel).map(|()| Dumped::default())
    }
}

impl Dumper for Redis {
    fn streams(&self) -> Vec<String> {
        match self.store.method {
            RedisMethod::Aof => vec![aof::STREAM.to_owned()],
            RedisMethod::Replication | RedisMethod::Bgsave => vec![super::STREAM.to_owned()],
        }
    }

    fn dump(
        &mut self,
        _index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        match self.store.method {
            RedisMethod::Replication => self
                .cli()
                .args(["--rdb", "-"])
                .stream_to(out, cancel)
                .map(|stderr| Dumped { stderr })
                .map_err(|message| StoreError::new(&self.name, message)),
            RedisMethod::Bgsave => {
                let path = self.bgsave(cancel)?;
                let mut file = fs_err::File::open(&path).map_err(|e| {
                    StoreError::new(&self.name, e.to_string())
                        .with_help("check that data_dir is the server's `dir`")
                })?;
                std::io::copy(&mut file, out)
                    .map(|_| Dumped::default())
                    .map_err(|e| {
                        StoreError::new(
                            &self.name,
                            format!("copying {} failed: {e}", path.display()),
                        )
                    })
            }
            RedisMethod::Aof => self.aof(out, cancel),
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
