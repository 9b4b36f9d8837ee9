//! What a backup and a restore ask of a cluster, one function per
//! question: which topics match, their offsets, configs and groups, and
//! fetching, creating, producing, committing and deleting. Built on
//! [`Cluster`]; errors are plain sentences that the callers turn into
//! store errors.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    describe_configs_request::DescribeConfigsResource,
    fetch_request::{FetchPartition, FetchTopic},
    incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    produce_request::{PartitionProduceData, TopicProduceData},
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use super::client::{error_name, Cluster, TopicInfo, FETCH_MAX_BYTES};
use super::records::{self, Decoded, Record};
use crate::cancel::Cancel;

/// ListOffsets' special timestamps.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

/// Read committed data only: the end is the last stable offset, and
/// aborted transactions are left out.
const READ_COMMITTED: i8 = 1;

/// The resource type of a topic in DescribeConfigs and AlterConfigs.
const TOPIC_RESOURCE: i8 = 2;

/// `what failed: ERROR_NAME (error N): the broker's message`.
fn failure(what: &str, code: i16, message: Option<StrBytes>) -> String {
    format!(
        "{what} failed: {}{}",
        error_name(code),
        message
            .map(|m| format!(": {}", m.as_str()))
            .unwrap_or_default()
    )
}

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

pub(super) fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// The topics `patterns` (names or globs) select, internal ones left out.
/// A name or glob that selects nothing is an error: a backup of fewer
/// topics than asked for would look complete.
pub fn select_topics(cluster: &mut Cluster, patterns: &[String]) -> Result<Vec<TopicInfo>, String> {
    let all = cluster.metadata(None)?;
    let mut selected = Vec::new();
    for pattern in patterns {
        let matcher = globset::Glob::new(pattern)
            .map_err(|e| format!("`{pattern}` is not a valid glob: {e}"))?
            .compile_matcher();
        let matching: Vec<&TopicInfo> = all
            .iter()
            .filter(|t| !t.internal && !t.name.starts_with("__") && matcher.is_match(&t.name))
            .collect();
        if matching.is_empty() {
            return Err(format!(
                "no topic on {} matches `{pattern}`",
                cluster.describe()
            ));
        }
        for topic in matching {
            if !selected.iter().any(|t: &TopicInfo| t.name == topic.name) {
                selected.push(topic.clone());
            }
        }
    }
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(selected)
}

/// The offsets of each partition of `topic` at `timestamp` (`EARLIEST`,
/// `LATEST`), in partition order, each asked of the partition's leader.
pub fn offsets(
    cluster: &mut Cluster,
    topic: &TopicInfo,
    timestamp: i64,
) -> Result<Vec<i64>, String> {
    let mut found = BTreeMap::new();
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (partition, leader) in &topic.partitions {
        by_leader.entry(*leader).or_default().push(*partition);
    }
    for (leader, partitions) in by_leader {
        let mut request = ListOffsetsRequest::default();
        request.replica_id = (-1).into();
        request.isolation_level = READ_COMMITTED;
        let mut wanted = ListOffsetsTopic::default();
        wanted.name = topic_name(&topic.name);
        wanted.partitions = partitions
            .iter()
            .map(|p| {
                let mut partition = ListOffsetsPartition::default();
                partition.partition_index = *p;
                partition.current_leader_epoch = -1;
                partition.timestamp = timestamp;
                partition
            })
            .collect();
        request.topics = vec![wanted];
        let response = cluster.send_to(leader, &request)?;
        for answer in response.topics.into_iter().flat_map(|t| t.partitions) {
            if answer.error_code != 0 {
                return Err(format!(
                    "topic `{}` partition {}: listing offsets failed: {}",
                    topic.name,
                    answer.partition_index,
                    error_name(answer.error_code)
                ));
            }
            found.insert(answer.partition_index, answer.offset);
        }
    }
    topic
        .partitions
        .iter()
        .map(|(partition, _)| {
            found.get(partition).copied().ok_or_else(|| {
                format!(
                    "topic `{}` partition {partition}: the broker did not say its offset",
                    topic.name
                )
            })
        })
        .collect()
}

/// One fetch of `partition` of `topic` from `offset`, from its leader.
pub fn fetch(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    leader: i32,
    offset: i64,
) -> Result<Decoded, String> {
    let mut request = FetchRequest::default();
    request.replica_id = (-1).into();
    request.max_wait_ms = 200;
    request.min_bytes = 1;
    request.max_bytes = FETCH_MAX_BYTES;
    request.isolation_level = READ_COMMITTED;
    let mut wanted = FetchPartition::default();
    wanted.partition = partition;
    wanted.current_leader_epoch = -1;
    wanted.fetch_offset = offset;
    wanted.log_start_offset = -1;
    wanted.partition_max_bytes = FETCH_MAX_BYTES;
    let mut fetch_topic = FetchTopic::default();
    fetch_topic.topic = topic_name(topic);
    fetch_topic.partitions = vec![wanted];
    request.topics = vec![fetch_topic];
    let response = cluster.send_to(leader, &request)?;
    if response.error_code != 0 {
        return Err(format!(
            "topic `{topic}` partition {partition}: fetch failed: {}",
            error_name(response.error_code)
        ));
    }
    let Some(data) = response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
    else {
        return Ok(Decoded::default());
    };
    if data.error_code != 0 {
        return Err(format!(
            "topic `{topic}` partition {partition}: fetch at offset {offset} failed: {}",
            error_name(data.error_code)
        ));
    }
    let aborted: Vec<(i64, i64)> = data
        .aborted_transactions
        .unwrap_or_default()
        .iter()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    records::decode(data.records.unwrap_or_default(), &aborted)
        .map_err(|e| format!("topic `{topic}` partition {partition}: {e}"))
}

/// How often a failed fetch is tried again (a leader may have moved)
/// before the read fails.
const FETCH_ATTEMPTS: u32 = 3;

/// How many fetches in a row may return nothing before the end before the
/// read gives up.
const EMPTY_FETCHES: u32 = 50;

/// Reads `partition` of `topic` from offset `from` up to `to` (not
/// included), giving each record to `each` in offset order. Records are
/// counted as they come, never taken from offsets: compacted gaps and
/// transaction markers take offsets but are no records. A failed fetch is
/// tried again with the partition's leader looked up anew; the read stops
/// when `cancel` says so.
#[allow(clippy::too_many_arguments)]
pub fn read_range(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    mut leader: i32,
    from: i64,
    to: i64,
    cancel: &Cancel,
    each: &mut dyn FnMut(Record) -> Result<(), String>,
) -> Result<(), String> {
    let mut offset = from;
    let (mut empty, mut failed) = (0, 0);
    while offset < to {
        cancel.check().map_err(|e| e.to_string())?;
        let decoded = match fetch(cluster, topic, partition, leader, offset) {
            Ok(decoded) => decoded,
            Err(error) => {
                failed += 1;
                if failed >= FETCH_ATTEMPTS {
                    return Err(if error.starts_with("topic `") {
                        error
                    } else {
                        format!("topic `{topic}` partition {partition} at offset {offset}: {error}")
                    });
                }
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(found) = cluster.metadata(Some(&[topic.to_owned()])) {
                    if let Some(now) = found
                        .iter()
                        .find(|t| t.name == topic)
                        .and_then(|t| t.partitions.iter().find(|(p, _)| *p == partition))
                    {
                        leader = now.1;
                    }
                }
                continue;
            }
        };
        failed = 0;
        let Some(next) = decoded.next_offset.filter(|next| *next > offset) else {
            empty += 1;
            if empty > EMPTY_FETCHES {
                return Err(format!(
                    "topic `{topic}` partition {partition}: the broker returned no records from offset {offset}, before the end offset {to}"
                ));
            }
            continue;
        };
        empty = 0;
        for record in decoded.records {
            if record.offset >= offset && record.offset < to {
                each(record)?;
            }
        }
        offset = next;
    }
    Ok(())
}

/// A topic config as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// `None` for a sensitive value the broker does not reveal.
    pub value: Option<String>,
    /// Kafka's ConfigSource: 1 set on the topic, 4/5 broker defaults, …
    pub source: i8,
    pub read_only: bool,
    pub sensitive: bool,
}

impl ConfigEntry {
    /// Set on the topic itself, rather than inherited.
    pub fn set_on_topic(&self) -> bool {
        self.source == 1
    }
}

/// Every config the broker reports for `topic`.
pub fn describe_configs(
    cluster: &mut Cluster,
    topic: &str,
) -> Result<BTreeMap<String, ConfigEntry>, String> {
    let mut request = DescribeConfigsRequest::default();
    let mut resource = DescribeConfigsResource::default();
    resource.resource_type = TOPIC_RESOURCE;
    resource.resource_name = text(topic);
    resource.configuration_keys = None;
    request.resources = vec![resource];
    let response = cluster.send_any(&request)?;
    let mut configs = BTreeMap::new();
    for result in response.results {
        if result.error_code != 0 {
            return Err(format!(
                "topic `{topic}`: describing its configs failed: {}",
                error_name(result.error_code)
            ));
        }
        for config in result.configs {
            configs.insert(
                config.name.as_str().to_owned(),
                ConfigEntry {
                    value: config.value.map(|v| v.as_str().to_owned()),
                    source: config.config_source,
                    read_only: config.read_only,
                    sensitive: config.is_sensitive,
                },
            );
        }
    }
    Ok(configs)
}

/// Creates `topic` with `partitions` and `replication`, and `configs` set.
pub fn create_topic(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    replication: i16,
    configs: &BTreeMap<String, String>,
) -> Result<(), String> {
    let mut request = CreateTopicsRequest::default();
    request.timeout_ms = 30_000;
    let mut creatable = CreatableTopic::default();
    creatable.name = topic_name(topic);
    creatable.num_partitions = partitions;
    creatable.replication_factor = replication;
    creatable.configs = configs
        .iter()
        .map(|(name, value)| {
            let mut config = CreatableTopicConfig::default();
            config.name = text(name);
            config.value = Some(text(value));
            config
        })
        .collect();
    request.topics = vec![creatable];
    let response = cluster.send_controller(&request)?;
    for result in response.topics {
        if result.error_code != 0 {
            return Err(failure(
                &format!("creating topic `{topic}`"),
                result.error_code,
                result.error_message,
            ));
        }
    }
    wait_for(cluster, topic, |found| {
        found.is_some_and(|t| {
            t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|(_, leader)| *leader >= 0)
        })
    })
}

/// Sets `configs` on `topic` (IncrementalAlterConfigs SET).
pub fn set_configs(
    cluster: &mut Cluster,
    topic: &str,
    configs: &BTreeMap<String, String>,
) -> Result<(), String> {
    if configs.is_empty() {
        return Ok(());
    }
    let mut request = IncrementalAlterConfigsRequest::default();
    let mut resource = AlterConfigsResource::default();
    resource.resource_type = TOPIC_RESOURCE;
    resource.resource_name = text(topic);
    resource.configs = configs
        .iter()
        .map(|(name, value)| {
            let mut config = AlterableConfig::default();
            config.name = text(name);
            config.config_operation = 0;
            config.value = Some(text(value));
            config
        })
        .collect();
    request.resources = vec![resource];
    let response = cluster.send_any(&request)?;
    for result in response.responses {
        if result.error_code != 0 {
            return Err(failure(
                &format!("setting configs on topic `{topic}`"),
                result.error_code,
                result.error_message,
            ));
        }
    }
    Ok(())
}

/// Deletes `topics` and waits until the cluster no longer lists them.
pub fn delete_topics(cluster: &mut Cluster, topics: &[String]) -> Result<(), String> {
    if topics.is_empty() {
        return Ok(());
    }
    let mut request = DeleteTopicsRequest::default();
    request.timeout_ms = 30_000;
    // By name (versions up to 5, the client's highest), not by topic id.
    request.topic_names = topics.iter().map(|t| topic_name(t)).collect();
    let response = cluster.send_controller(&request)?;
    for result in response.responses {
        // UNKNOWN_TOPIC_OR_PARTITION: already gone.
        if result.error_code != 0 && result.error_code != 3 {
            return Err(format!(
                "deleting topic `{}` failed: {}",
                result
                    .name
                    .map(|n| n.0.as_str().to_owned())
                    .unwrap_or_default(),
                error_name(result.error_code)
            ));
        }
    }
    for topic in topics {
        wait_for(cluster, topic, |found| found.is_none())?;
    }
    Ok(())
}

/// Waits (up to 30 s) until the metadata of `topic` satisfies `done`.
fn wait_for(
    cluster: &mut Cluster,
    topic: &str,
    done: impl Fn(Option<&TopicInfo>) -> bool,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let found = cluster.metadata(Some(&[topic.to_owned()]))?;
        if done(found.iter().find(|t| t.name == topic)) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "topic `{topic}` did not reach the expected state within 30 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Produces the encoded `batches` (one record each, `count` of them) to
/// `partition` of `topic`; returns the offset the first one got.
pub fn produce(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    leader: i32,
    batches: Bytes,
) -> Result<i64, String> {
    let mut request = ProduceRequest::default();
    request.acks = -1;
    request.timeout_ms = 30_000;
    let mut data = PartitionProduceData::default();
    data.index = partition;
    data.records = Some(batches);
    let mut topic_data = TopicProduceData::default();
    topic_data.name = topic_name(topic);
    topic_data.partition_data = vec![data];
    request.topic_data = vec![topic_data];
    let response = cluster.send_to(leader, &request)?;
    let answer = response
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .find(|p| p.index == partition)
        .ok_or_else(|| {
            format!("topic `{topic}` partition {partition}: the broker did not answer the produce")
        })?;
    if answer.error_code != 0 {
        return Err(failure(
            &format!("topic `{topic}` partition {partition}: producing"),
            answer.error_code,
            answer.error_message,
        ));
    }
    Ok(answer.base_offset)
}
