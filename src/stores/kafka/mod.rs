//! Kafka: a snapshot of topics — every record of each partition from its
//! earliest offset up to the end offset seen when the run started, with
//! the topics' configs and, optionally, the consumer groups' committed
//! offsets — restored by recreating the topics and re-producing each
//! partition in order, verified by a restore under a scratch prefix on the
//! same cluster and a count and checksum per partition read back.
//!
//! An artifact holds `topics.json` (partitions, replication, every config
//! the broker reports, the offsets seen), `groups.json` (with
//! `consumer_groups = true`) and one `topic-NAME.kafka` per topic (the
//! framed format in `format` and docs/artifacts.md).
//!
//! Brokers are reached over TCP or TLS (rustls, `tls` and `ca_file`).
//! SASL is not built (no broker here could test a login), so validation
//! refuses `username` and `password`.
//! The wire client is in `client` (connections), `cluster` (topic
//! requests) and `groups` (consumer group offsets);
//! `records` reads and writes record batches.

pub mod client;
pub mod cluster;
mod dump;
pub mod format;
pub mod groups;
mod produce;
pub mod records;
mod restore;
mod saved;

use crate::config::raw::KafkaStore;
use crate::stores::{Dumper, Kind, StoreError, Target};

pub use dump::Kafka;
pub use restore::KafkaTarget;

/// The stream of topic configurations and offsets.
pub const TOPICS_STREAM: &str = "topics.json";
/// The stream of consumer group offsets.
pub const GROUPS_STREAM: &str = "groups.json";
const TOPIC_PREFIX: &str = "topic-";
const EXTENSION: &str = ".kafka";

/// The stream of `topic`: `topic-orders.kafka`.
pub fn topic_stream(topic: &str) -> String {
    format!("{TOPIC_PREFIX}{topic}{EXTENSION}")
}

/// The topic a stream holds: `topic-orders.kafka` → `orders`.
pub fn stream_topic(stream: &str) -> Option<&str> {
    stream.strip_prefix(TOPIC_PREFIX)?.strip_suffix(EXTENSION)
}

/// How to reach the brokers of `store`: TLS or plain TCP.
fn security(name: &str, store: &KafkaStore) -> Result<client::Security, StoreError> {
    if !store.tls {
        return Ok(client::Security::default());
    }
    client::Security::tls(store.ca_file.as_deref())
        .map_err(|e| StoreError::new(name, format!("TLS: {e}")))
}

/// Connects to the cluster of `bootstrap`, as store `name`.
fn connect(
    name: &str,
    bootstrap: &[String],
    security: client::Security,
) -> Result<client::Cluster, StoreError> {
    client::Cluster::connect(bootstrap, security).map_err(|e| broker_error(name, bootstrap, e))
}

/// A failure talking to the cluster, with what to check.
fn broker_error(name: &str, bootstrap: &[String], message: String) -> StoreError {
    StoreError::new(name, format!("Kafka at {}: {message}", bootstrap.join(",")))
        .with_help("check that the brokers are up and reachable from this host (bootstrap_servers, and the addresses they advertise), then rerun")
}

impl Kind for KafkaStore {
    fn dumper(&self, name: &str) -> Result<Box<dyn Dumper>, StoreError> {
        Ok(Box::new(Kafka::new(name, self)))
    }

    fn target(&self, name: &str, to: Option<&str>) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(KafkaTarget::target(name, self, to, None)?))
    }

    fn scratch(&self, name: &str) -> Result<Box<dyn Target>, StoreError> {
        Ok(Box::new(KafkaTarget::scratch(name, self)?))
    }
}
