//! Redis: dumped as an RDB snapshot (`redis-cli --rdb -`, or BGSAVE and a
//! copy of the file), restored by loading the RDB into a private
//! redis-server and copying its keys to the target with MIGRATE, verified by
//! measuring that private server.
//!
//! An artifact holds one stream, the RDB.

mod dump;
mod resp;
mod restore;
mod server;
mod url;

use std::time::Duration;

use crate::config::raw::RedisStore;
use crate::stores::{Dumper, Kind, StoreError, Target};

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

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(target(name, self, to)?))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(scratch(name, self)?))
    }
}
