//! The backup of a Kafka store: at the start, the topics the store selects,
//! each partition's earliest and end offsets, configs and group offsets
//! (the snapshot); then each topic's records up to those end offsets.

use std::collections::BTreeMap;
use std::io::Write;

use super::client::{Cluster, TopicInfo};
use super::cluster::{self, EARLIEST, LATEST};
use super::format::{self, Content, PartitionEnd};
use super::groups::{self, Committed};
use super::saved::{self, PartitionOffsets};
use super::{broker_error, connect, security, topic_stream, GROUPS_STREAM, TOPICS_STREAM};
use crate::cancel::Cancel;
use crate::config::raw::KafkaStore;
use crate::stores::{Dumped, Dumper, StoreError};

pub struct Kafka {
    name: String,
    store: KafkaStore,
    snapshot: Option<Snapshot>,
}

/// What the run saw at its start.
struct Snapshot {
    cluster: Cluster,
    topics: Vec<(TopicInfo, saved::Topic)>,
    groups: BTreeMap<String, Vec<Committed>>,
}

impl Kafka {
    pub fn new(name: &str, store: &KafkaStore) -> Self {
        Self {
            name: name.to_owned(),
            store: store.clone(),
            snapshot: None,
        }
    }

    fn fail(&self, message: String) -> StoreError {
        broker_error(&self.name, &self.store.bootstrap_servers, message)
    }

    fn snapshot(&mut self) -> Result<&mut Snapshot, StoreError> {
        self.snapshot
            .as_mut()
            .ok_or_else(|| StoreError::new(&self.name, "the Kafka snapshot was not taken"))
    }

    fn take_snapshot(&self) -> Result<Snapshot, StoreError> {
        let security = security(&self.name, &self.store)?;
        let mut cluster = connect(&self.name, &self.store.bootstrap_servers, security)?;
        self.read_snapshot(&mut cluster)
            .map(|(topics, groups)| Snapshot {
                cluster,
                topics,
                groups,
            })
            .map_err(|e| self.fail(e))
    }

    /// The topics (and groups) as they are now: the snapshot's content.
    #[allow(clippy::type_complexity)]
    fn read_snapshot(
        &self,
        cluster: &mut Cluster,
    ) -> Result<
        (
            Vec<(TopicInfo, saved::Topic)>,
            BTreeMap<String, Vec<Committed>>,
        ),
        String,
    > {
        let cluster = &mut *cluster;
        let infos = cluster::select_topics(cluster, &self.store.topics)?;
        let mut topics = Vec::new();
        for info in infos {
            let earliest = cluster::offsets(cluster, &info, EARLIEST)?;
            let end = cluster::offsets(cluster, &info, LATEST)?;
            let configs = cluster::describe_configs(cluster, &info.name)?;
            let offsets = info
                .partitions
                .iter()
                .zip(earliest.iter().zip(&end))
                .map(|((partition, _), (earliest, end))| PartitionOffsets {
                    partition: *partition,
                    earliest: *earliest,
                    end: *end,
                })
                .collect();
            let saved = saved::Topic {
                name: info.name.clone(),
                partitions: info.partitions.len() as i32,
                replication_factor: i16::try_from(info.replication_factor).unwrap_or(i16::MAX),
                configs,
                offsets,
            };
            topics.push((info, saved));
        }
        let groups = if self.store.consumer_groups {
            let infos: Vec<TopicInfo> = topics.iter().map(|(info, _)| info.clone()).collect();
            groups::group_offsets(cluster, &infos)?
        } else {
            BTreeMap::new()
        };
        Ok((topics, groups))
    }

    /// Writes every record of `topic` up to the end offsets seen at the start.
    fn dump_topic(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        let name = self.name.clone();
        let io =
            |e: std::io::Error| StoreError::new(&name, format!("writing the stream failed: {e}"));
        let snapshot = self.snapshot()?;
        let (info, saved) = snapshot.topics[index].clone();
        format::write_header(out, &info.name, info.partitions.len() as u32).map_err(io)?;
        for (position, offsets) in saved.offsets.iter().enumerate() {
            let leader = info.partitions[position].1;
            let content = self.dump_partition(&info, offsets, leader, out, cancel)?;
            format::write_partition_end(
                out,
                &PartitionEnd {
                    partition: offsets.partition,
                    first_offset: offsets.earliest,
                    end_offset: offsets.end,
                    records: content.records,
                    sha256: content.sha256(),
                },
            )
            .map_err(io)?;
        }
        format::write_end(out, info.partitions.len() as u32).map_err(io)?;
        Ok(())
    }

    fn dump_partition(
        &mut self,
        info: &TopicInfo,
        offsets: &PartitionOffsets,
        leader: i32,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Content, StoreError> {
        let partition = offsets.partition;
        let mut content = Content::default();
        let mut frame = Vec::new();
        let cluster = &mut self.snapshot()?.cluster;
        let read = cluster::read_range(
            cluster,
            &info.name,
            partition,
            leader,
            offsets.earliest,
            offsets.end,
            cancel,
            &mut |record| {
                content.add(&record);
                frame.clear();
                format::put_record(&mut frame, partition, &record);
                out.write_all(&frame)
                    .map_err(|e| format!("writing the stream failed: {e}"))
            },
        );
        read.map_err(|e| {
            if cancel.is_cancelled() || e.starts_with("writing the stream") {
                StoreError::new(&self.name, e)
            } else {
                self.fail(e)
            }
        })?;
        Ok(content)
    }
}

impl Dumper for Kafka {
    fn prepare(&mut self, _cancel: &Cancel) -> Result<(), StoreError> {
        let snapshot = self.take_snapshot()?;
        self.snapshot = Some(snapshot);
        Ok(())
    }

    fn streams(&self) -> Vec<String> {
        let mut streams = vec![TOPICS_STREAM.to_owned()];
        if self.store.consumer_groups {
            streams.push(GROUPS_STREAM.to_owned());
        }
        if let Some(snapshot) = &self.snapshot {
            streams.extend(
                snapshot
                    .topics
                    .iter()
                    .map(|(info, _)| topic_stream(&info.name)),
            );
        }
        streams
    }

    fn dump(
        &mut self,
        index: usize,
        out: &mut dyn Write,
        cancel: &Cancel,
    ) -> Result<Dumped, StoreError> {
        let name = self.name.clone();
        let groups = usize::from(self.store.consumer_groups);
        let snapshot = self.snapshot()?;
        let json = |value: serde_json::Value, out: &mut dyn Write| {
            let mut text = serde_json::to_vec_pretty(&value).expect("JSON values serialize");
            text.push(b'\n');
            out.write_all(&text)
                .map_err(|e| StoreError::new(&name, format!("writing the stream failed: {e}")))
        };
        match index {
            0 => {
                let topics = saved::Topics {
                    format_version: saved::FORMAT_VERSION,
                    topics: snapshot.topics.iter().map(|(_, t)| t.clone()).collect(),
                };
                json(serde_json::to_value(topics).expect("topics serialize"), out)?;
            }
            1 if groups == 1 => {
                let groups = saved::Groups {
                    format_version: saved::FORMAT_VERSION,
                    groups: snapshot.groups.clone(),
                };
                json(serde_json::to_value(groups).expect("groups serialize"), out)?;
            }
            topic => self.dump_topic(topic - 1 - groups, out, cancel)?,
        }
        Ok(Dumped::default())
    }

    fn source(&self) -> String {
        format!(
            "kafka {} (topics {})",
            self.store.bootstrap_servers.join(","),
            self.store.topics.join(", ")
        )
    }

    fn tools(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("kafka-protocol".to_owned(), "0.18".to_owned())])
    }
}
