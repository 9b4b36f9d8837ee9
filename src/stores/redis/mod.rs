//! Redis: dumped as an RDB snapshot (`redis-cli --rdb -`, or BGSAVE and a
//! copy of the file), or as a consistent copy of a local instance's
//! multi-part append-only file (`method = "aof"`, see `pin`); restored by
//! loading the data into a private redis-server and copying its keys to the
//! target with MIGRATE (or, for an AOF, by placing it in a stopped
//! instance's data directory), verified by measuring that private server.
//!
//! An artifact holds one stream: the RDB `dump.rdb`, or the AOF directory
//! as `appendonlydir.tar`.

mod aof;
mod datadir;
mod dump;
mod pin;
mod resp;
mod restore;
mod server;
mod url;

use std::time::Duration;

use crate::config::raw::{RedisMethod, RedisStore};
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use datadir::AofDirTarget;
pub use dump::Redis;
pub use restore::{scratch, target, RedisTarget};

/// The one stream of a Redis artifact: the RDB.
pub const STREAM: &str = "dump.rdb";

/// How long a reply may take (a FLUSHALL of a large instance, a MIGRATE batch).
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

impl Kind for RedisStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(Box::new(Redis::new(name, self)?))
    }

    /// An AOF artifact goes into a server (the store's own, or `--to URL`)
    /// or into a stopped instance's data directory (`--to DIR`).
    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        match to {
            Some(dir) if self.method == RedisMethod::Aof && !dir.contains("://") => {
                Ok(Box::new(AofDirTarget::new(name, dir)))
            }
            _ => Ok(Box::new(target(name, self, to)?)),
        }
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(scratch(name, self)?))
    }
}
