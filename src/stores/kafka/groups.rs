//! Consumer groups: the committed offsets of the groups on some topics,
//! and committing offsets for a group, as a client outside it would.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::OffsetFetchRequestTopic,
    GroupId, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
};
use serde::{Deserialize, Serialize};

use super::client::{error_name, Cluster, TopicInfo};
use super::cluster::{text, topic_name};

/// A group's committed offset on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default)]
    pub metadata: Option<String>,
}

/// The consumer groups with committed offsets on `topics`, by group id.
pub fn group_offsets(
    cluster: &mut Cluster,
    topics: &[TopicInfo],
) -> Result<BTreeMap<String, Vec<Committed>>, String> {
    let mut groups = Vec::new();
    for broker in cluster.broker_ids() {
        let response = cluster.send_to(broker, &ListGroupsRequest::default())?;
        if response.error_code != 0 {
            return Err(format!(
                "listing consumer groups failed: {}",
                error_name(response.error_code)
            ));
        }
        for group in response.groups {
            let id = group.group_id.0.as_str().to_owned();
            if !groups.contains(&id) {
                groups.push(id);
            }
        }
    }
    groups.sort();
    let mut found = BTreeMap::new();
    for group in groups {
        let coordinator = cluster.coordinator(&group)?;
        let mut request = OffsetFetchRequest::default();
        request.group_id = GroupId(text(&group));
        request.topics = Some(
            topics
                .iter()
                .map(|t| {
                    let mut wanted = OffsetFetchRequestTopic::default();
                    wanted.name = topic_name(&t.name);
                    wanted.partition_indexes = t.partitions.iter().map(|(p, _)| *p).collect();
                    wanted
                })
                .collect(),
        );
        let response = cluster.send_to(coordinator, &request)?;
        if response.error_code != 0 {
            return Err(format!(
                "group `{group}`: fetching its offsets failed: {}",
                error_name(response.error_code)
            ));
        }
        let mut committed = Vec::new();
        for topic in response.topics {
            for partition in topic.partitions {
                if partition.error_code != 0 || partition.committed_offset < 0 {
                    continue;
                }
                committed.push(Committed {
                    topic: topic.name.0.as_str().to_owned(),
                    partition: partition.partition_index,
                    offset: partition.committed_offset,
                    metadata: partition.metadata.map(|m| m.as_str().to_owned()),
                });
            }
        }
        if !committed.is_empty() {
            committed.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            found.insert(group, committed);
        }
    }
    Ok(found)
}

/// Commits `offsets` for `group`, as a client outside the group would.
pub fn commit_offsets(
    cluster: &mut Cluster,
    group: &str,
    offsets: &[Committed],
) -> Result<(), String> {
    let coordinator = cluster.coordinator(group)?;
    let mut request = OffsetCommitRequest::default();
    request.group_id = GroupId(text(group));
    request.generation_id_or_member_epoch = -1;
    request.member_id = text("");
    request.retention_time_ms = -1;
    let mut by_topic: BTreeMap<&str, Vec<&Committed>> = BTreeMap::new();
    for committed in offsets {
        by_topic
            .entry(&committed.topic)
            .or_default()
            .push(committed);
    }
    request.topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            let mut wanted = OffsetCommitRequestTopic::default();
            wanted.name = topic_name(topic);
            wanted.partitions = partitions
                .iter()
                .map(|c| {
                    let mut partition = OffsetCommitRequestPartition::default();
                    partition.partition_index = c.partition;
                    partition.committed_offset = c.offset;
                    partition.committed_leader_epoch = -1;
                    partition.committed_metadata = c.metadata.as_deref().map(text);
                    partition
                })
                .collect();
            wanted
        })
        .collect();
    let response = cluster.send_to(coordinator, &request)?;
    for topic in response.topics {
        for partition in topic.partitions {
            if partition.error_code != 0 {
                return Err(format!(
                    "group `{group}`: committing its offset on `{}` partition {} failed: {}",
                    topic.name.0.as_str(),
                    partition.partition_index,
                    error_name(partition.error_code)
                ));
            }
        }
    }
    Ok(())
}
