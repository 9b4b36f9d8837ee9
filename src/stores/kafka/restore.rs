//! Restoring a Kafka artifact: the topics recreated with their partition
//! counts and configs, each partition's records produced again in order
//! (keys, values, headers and timestamps as they were), then each group's
//! committed offsets translated to the new offsets. A verify does the same
//! under a scratch prefix on the store's own cluster, reads every
//! partition back, and deletes the scratch topics.

use std::collections::BTreeMap;
use std::io::Read;

use super::client::Cluster;
use super::cluster::{self, LATEST};
use super::format::{self, Content, Item};
use super::groups::{self, Committed};
use super::produce::{Producing, Written};
use super::saved;
use super::{broker_error, connect, security, stream_topic, GROUPS_STREAM, TOPICS_STREAM};
use crate::cancel::Cancel;
use crate::config::model::{Check, Store};
use crate::config::raw::KafkaStore;
use crate::stores::{StoreError, Target};

/// Configs set only after the records are produced: with
/// `LogAppendTime` the broker would stamp the restored records anew.
const AFTER_PRODUCING: [&str; 1] = ["message.timestamp.type"];

/// The most `topics.json` or `groups.json` may hold.
const MAX_JSON: u64 = 64 * 1024 * 1024;

pub struct KafkaTarget {
    name: String,
    store: KafkaStore,
    bootstrap: Vec<String>,
    prefix: String,
    scratch: bool,
    cluster: Option<Cluster>,
    topics: Vec<saved::Topic>,
    groups: BTreeMap<String, Vec<Committed>>,
    /// The groups' offsets on the new topics, as far as translated.
    translated: BTreeMap<String, Vec<Committed>>,
    created: Vec<String>,
    /// The target topics [`Target::existing`] found: what a safety backup dumps.
    found: Vec<String>,
    /// Configs to set once the records are in, by target topic.
    after_producing: BTreeMap<String, BTreeMap<String, String>>,
    written: Vec<Written>,
    notes: Vec<String>,
}

impl KafkaTarget {
    /// The store's own cluster, or `to` (`host:port[,host:port…]`), with
    /// the topics named `prefix` + their saved names.
    pub fn target(
        name: &str,
        store: &KafkaStore,
        to: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<Self, StoreError> {
        let bootstrap = match to {
            Some(to) => parse_bootstrap(name, to)?,
            None => store.bootstrap_servers.clone(),
        };
        Ok(Self::new(
            name,
            store,
            bootstrap,
            prefix.unwrap_or(""),
            false,
        ))
    }

    /// Scratch topics `cairn-verify-PID-NAME` on the store's own cluster.
    pub fn scratch(name: &str, store: &KafkaStore) -> Result<Self, StoreError> {
        let prefix = format!("cairn-verify-{}-", std::process::id());
        Ok(Self::new(
            name,
            store,
            store.bootstrap_servers.clone(),
            &prefix,
            true,
        ))
    }

    fn new(
        name: &str,
        store: &KafkaStore,
        bootstrap: Vec<String>,
        prefix: &str,
        scratch: bool,
    ) -> Self {
        Self {
            name: name.to_owned(),
            store: store.clone(),
            bootstrap,
            prefix: prefix.to_owned(),
            scratch,
            cluster: None,
            topics: Vec::new(),
            groups: BTreeMap::new(),
            translated: BTreeMap::new(),
            created: Vec::new(),
            found: Vec::new(),
            after_producing: BTreeMap::new(),
            written: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn fail(&self, message: String) -> StoreError {
        broker_error(&self.name, &self.bootstrap, message)
    }

    fn cluster(&mut self) -> Result<&mut Cluster, StoreError> {
        if self.cluster.is_none() {
            let security = security(&self.name, &self.store)?;
            self.cluster = Some(connect(&self.name, &self.bootstrap, security)?);
        }
        Ok(self.cluster.as_mut().expect("connected just above"))
    }

    /// Runs `f` on the cluster, turning its error into a store error.
    fn with_cluster<T>(
        &mut self,
        f: impl FnOnce(&mut Cluster) -> Result<T, String>,
    ) -> Result<T, StoreError> {
        let result = f(self.cluster()?);
        result.map_err(|e| self.fail(e))
    }

    fn target_topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    fn target_topics(&self, streams: &[String]) -> Vec<String> {
        streams
            .iter()
            .filter_map(|s| stream_topic(s))
            .map(|t| self.target_topic(t))
            .collect()
    }

    /// Creates the saved topics (or checks the empty ones that exist) and
    /// sets each saved config that differs from what the new topic reports.
    fn create_topics(&mut self) -> Result<(), StoreError> {
        for topic in self.topics.clone() {
            let target = self.target_topic(&topic.name);
            let existing =
                self.with_cluster(|c| c.metadata(Some(std::slice::from_ref(&target))))?;
            let brokers = self.cluster()?.broker_ids().len().max(1);
            match existing.iter().find(|t| t.name == target) {
                Some(found) if found.partitions.len() != topic.partitions as usize => {
                    return Err(StoreError::new(
                        &self.name,
                        format!(
                            "topic `{target}` exists with {} partitions; the artifact's `{}` has {}",
                            found.partitions.len(),
                            topic.name,
                            topic.partitions
                        ),
                    )
                    .with_help("delete the topic, restore with --force, or restore under another name with --topic-prefix"));
                }
                Some(_) => {}
                None => {
                    let on_topic: BTreeMap<String, String> = topic
                        .configs
                        .iter()
                        .filter(|(name, c)| {
                            c.set_on_topic()
                                && !c.read_only
                                && !AFTER_PRODUCING.contains(&name.as_str())
                        })
                        .filter_map(|(name, c)| Some((name.clone(), c.value.clone()?)))
                        .collect();
                    // A cluster with fewer brokers than the source cannot
                    // hold as many replicas.
                    let replication = topic.replication_factor.clamp(1, brokers as i16);
                    self.with_cluster(|c| {
                        cluster::create_topic(c, &target, topic.partitions, replication, &on_topic)
                    })?;
                    self.created.push(target.clone());
                }
            }
            let reported = self.with_cluster(|c| cluster::describe_configs(c, &target))?;
            let mut differing: BTreeMap<String, String> = topic
                .configs
                .iter()
                .filter(|(_, saved)| !saved.read_only && !saved.sensitive)
                .filter_map(|(name, saved)| {
                    let value = saved.value.clone()?;
                    // A config the new topic does not report differs too
                    // (tansu reports only the configs set on a topic).
                    let differs = reported
                        .get(name)
                        .is_none_or(|now| now.value.as_ref() != Some(&value) && !now.read_only);
                    differs.then(|| (name.clone(), value))
                })
                .collect();
            let later: BTreeMap<String, String> = AFTER_PRODUCING
                .iter()
                .filter_map(|name| differing.remove_entry(*name))
                .collect();
            self.with_cluster(|c| cluster::set_configs(c, &target, &differing))?;
            differing.extend(later.clone());
            if !later.is_empty() {
                self.after_producing.insert(target.clone(), later);
            }
            let set = if differing.is_empty() {
                "its configs already match".to_owned()
            } else {
                format!(
                    "set {}",
                    differing
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            self.notes.push(format!(
                "topic `{target}`: {} partitions, {set}",
                topic.partitions
            ));
        }
        Ok(())
    }

    /// Produces one topic stream's records into the target topic.
    fn load_topic(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        let name = self.name.clone();
        let bad = |e: std::io::Error| StoreError::new(&name, format!("{stream}: {e}"));
        let mut reader = format::Reader::new(&mut *input).map_err(bad)?;
        let topic = reader.topic.clone();
        if stream_topic(stream) != Some(topic.as_str()) {
            return Err(StoreError::new(
                &self.name,
                format!("{stream} holds topic `{topic}`, not the one its name says"),
            ));
        }
        if !self.topics.iter().any(|t| t.name == topic) {
            return Err(StoreError::new(
                &self.name,
                format!("{stream}: topic `{topic}` is not in {TOPICS_STREAM}"),
            ));
        }
        let target = self.target_topic(&topic);
        let info = self
            .with_cluster(|c| c.metadata(Some(std::slice::from_ref(&target))))?
            .into_iter()
            .find(|t| t.name == target)
            .ok_or_else(|| {
                self.fail(format!("topic `{target}` is missing after it was created"))
            })?;
        let starts = self.with_cluster(|c| cluster::offsets(c, &info, LATEST))?;
        let mut partition: Option<Producing> = None;
        loop {
            cancel
                .check()
                .map_err(|e| StoreError::new(&self.name, e.to_string()))?;
            let Some(item) = reader.next_item().map_err(bad)? else {
                break;
            };
            match item {
                Item::Record {
                    partition: index,
                    record,
                } => {
                    let producing = match &mut partition {
                        Some(p) if p.partition == index => p,
                        _ => {
                            let position = info
                                .partitions
                                .iter()
                                .position(|(p, _)| *p == index)
                                .ok_or_else(|| {
                                    StoreError::new(
                                        &self.name,
                                        format!("{stream}: partition {index} is not in topic `{target}`"),
                                    )
                                })?;
                            let targets = self.group_targets(&topic, index);
                            partition.insert(Producing::new(
                                index,
                                info.partitions[position].1,
                                starts[position],
                                targets,
                            ))
                        }
                    };
                    producing.add(&record);
                    if producing.is_full() {
                        let mut producing = partition.take().expect("set above");
                        self.flush(&target, &mut producing)?;
                        partition = Some(producing);
                    }
                }
                Item::PartitionEnd(end) => {
                    let mut producing = match partition.take() {
                        Some(p) if p.partition == end.partition => p,
                        _ => {
                            let position = info
                                .partitions
                                .iter()
                                .position(|(p, _)| *p == end.partition)
                                .ok_or_else(|| {
                                    StoreError::new(
                                        &self.name,
                                        format!(
                                            "{stream}: partition {} is not in topic `{target}`",
                                            end.partition
                                        ),
                                    )
                                })?;
                            Producing::new(
                                end.partition,
                                info.partitions[position].1,
                                starts[position],
                                self.group_targets(&topic, end.partition),
                            )
                        }
                    };
                    self.flush(&target, &mut producing)?;
                    self.finish_partition(&target, producing);
                }
            }
        }
        std::io::copy(&mut reader.into_inner(), &mut std::io::sink()).map_err(bad)?;
        Ok(())
    }

    /// The committed offsets (group, old offset) on `topic` `partition`.
    fn group_targets(&self, topic: &str, partition: i32) -> Vec<(String, Committed)> {
        let mut targets: Vec<(String, Committed)> = self
            .groups
            .iter()
            .flat_map(|(group, offsets)| {
                offsets
                    .iter()
                    .filter(|c| c.topic == topic && c.partition == partition)
                    .map(|c| (group.clone(), c.clone()))
            })
            .collect();
        targets.sort_by_key(|(_, c)| c.offset);
        targets
    }

    /// Produces what `producing` holds and keeps the group offsets its
    /// records settle.
    fn flush(&mut self, target: &str, producing: &mut Producing) -> Result<(), StoreError> {
        let Some(batches) = producing.take_batches() else {
            return Ok(());
        };
        let (index, leader) = (producing.partition, producing.leader);
        let base = self.with_cluster(|c| cluster::produce(c, target, index, leader, batches))?;
        let settled = producing.settle(base, target);
        self.keep_translated(settled);
        Ok(())
    }

    fn finish_partition(&mut self, target: &str, producing: Producing) {
        let (settled, written) = producing.finish(target);
        self.keep_translated(settled);
        self.written.push(written);
    }

    fn keep_translated(&mut self, settled: Vec<(String, Committed)>) {
        for (group, committed) in settled {
            self.translated.entry(group).or_default().push(committed);
        }
    }

    /// Reads `written` back from the cluster: its record count and checksum.
    fn read_back(&mut self, written: &Written, cancel: &Cancel) -> Result<Content, StoreError> {
        let info = self
            .with_cluster(|c| c.metadata(Some(std::slice::from_ref(&written.topic))))?
            .into_iter()
            .find(|t| t.name == written.topic)
            .ok_or_else(|| self.fail(format!("topic `{}` is gone", written.topic)))?;
        let leader = info
            .partitions
            .iter()
            .find(|(p, _)| *p == written.partition)
            .map_or(-1, |(_, leader)| *leader);
        let mut content = Content::default();
        let (topic, partition, first, end) = (
            written.topic.clone(),
            written.partition,
            written.first,
            written.end,
        );
        self.with_cluster(|c| {
            cluster::read_range(
                c,
                &topic,
                partition,
                leader,
                first,
                end,
                cancel,
                &mut |record| {
                    content.add(&record);
                    Ok(())
                },
            )
        })?;
        Ok(content)
    }
}

/// `host:port[,host:port…]` of `--to`.
fn parse_bootstrap(name: &str, to: &str) -> Result<Vec<String>, StoreError> {
    let servers: Vec<String> = to.split(',').map(|s| s.trim().to_owned()).collect();
    let valid = servers.iter().all(|server| {
        server.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
    });
    if servers.is_empty() || !valid {
        return Err(StoreError::new(
            name,
            format!("`{to}` is not a list of Kafka bootstrap servers"),
        )
        .with_help("give --to as HOST:PORT, or several as HOST:PORT,HOST:PORT (no scheme)"));
    }
    Ok(servers)
}

fn read_json<T: serde::de::DeserializeOwned>(
    name: &str,
    stream: &str,
    input: &mut dyn Read,
) -> Result<T, StoreError> {
    let mut text = Vec::new();
    input
        .take(MAX_JSON)
        .read_to_end(&mut text)
        .map_err(|e| StoreError::new(name, format!("{stream}: {e}")))?;
    std::io::copy(input, &mut std::io::sink())
        .map_err(|e| StoreError::new(name, format!("{stream}: {e}")))?;
    serde_json::from_slice(&text)
        .map_err(|e| StoreError::new(name, format!("{stream} is not what this cairn wrote: {e}")))
}

impl Target for KafkaTarget {
    fn describe(&self) -> String {
        let mut described = format!("Kafka at {}", self.bootstrap.join(","));
        if !self.prefix.is_empty() {
            described.push_str(&format!(" (topics prefixed `{}`)", self.prefix));
        }
        described
    }

    fn existing(&mut self, streams: &[String]) -> Result<Option<String>, StoreError> {
        let wanted = self.target_topics(streams);
        let found = self.with_cluster(|c| c.metadata(Some(&wanted)))?;
        self.found = found
            .iter()
            .filter(|t| wanted.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let mut holding = Vec::new();
        for topic in found.iter().filter(|t| wanted.contains(&t.name)) {
            let earliest = self.with_cluster(|c| cluster::offsets(c, topic, cluster::EARLIEST))?;
            let latest = self.with_cluster(|c| cluster::offsets(c, topic, LATEST))?;
            let records: i64 = earliest
                .iter()
                .zip(&latest)
                .map(|(a, b)| (b - a).max(0))
                .sum();
            if records > 0 {
                holding.push(format!(
                    "topic `{}` holds about {records} records",
                    topic.name
                ));
            }
        }
        Ok((!holding.is_empty()).then(|| holding.join(", ")))
    }

    fn as_store(&self) -> Store {
        let mut store = self.store.clone();
        store.bootstrap_servers = self.bootstrap.clone();
        // Topic names cannot hold glob characters: each selects itself.
        store.topics = self.found.clone();
        Store::Kafka(store)
    }

    fn clear(&mut self, streams: &[String]) -> Result<(), StoreError> {
        let topics = self.target_topics(streams);
        self.with_cluster(|c| cluster::delete_topics(c, &topics))
    }

    fn load(
        &mut self,
        stream: &str,
        input: &mut dyn Read,
        cancel: &Cancel,
    ) -> Result<(), StoreError> {
        if stream == TOPICS_STREAM {
            let topics: saved::Topics = read_json(&self.name, stream, input)?;
            if topics.format_version != saved::FORMAT_VERSION {
                return Err(StoreError::new(
                    &self.name,
                    format!(
                        "{stream} has format version {}; this cairn reads {}",
                        topics.format_version,
                        saved::FORMAT_VERSION
                    ),
                ));
            }
            self.topics = topics.topics;
            self.create_topics()
        } else if stream == GROUPS_STREAM {
            let groups: saved::Groups = read_json(&self.name, stream, input)?;
            self.groups = groups.groups;
            Ok(())
        } else if stream_topic(stream).is_some() {
            self.load_topic(stream, input, cancel)
        } else {
            Err(StoreError::new(
                &self.name,
                format!("`{stream}` is not a stream of a Kafka artifact"),
            ))
        }
    }

    fn finish(&mut self) -> Result<Vec<String>, StoreError> {
        let mut notes = std::mem::take(&mut self.notes);
        for written in &self.written {
            notes.push(format!(
                "topic `{}` partition {}: {} records written (offsets {} to {})",
                written.topic,
                written.partition,
                written.records,
                written.first,
                written.end - 1
            ));
        }
        for (topic, configs) in std::mem::take(&mut self.after_producing) {
            self.with_cluster(|c| cluster::set_configs(c, &topic, &configs))?;
        }
        if !self.scratch {
            for (group, offsets) in self.translated.clone() {
                self.with_cluster(|c| groups::commit_offsets(c, &group, &offsets))
                    .map_err(|e| e.with_help("a group's offsets can only be committed while none of its consumers run: stop them and restore again"))?;
                notes.push(format!(
                    "group `{group}`: committed {} offsets, translated to the new topics",
                    offsets.len()
                ));
            }
        }
        Ok(notes)
    }

    fn builtin_checks(&mut self) -> Result<Vec<(String, bool, String)>, StoreError> {
        let mut checks = Vec::new();
        for written in self.written.clone() {
            let content = self.read_back(&written, &Cancel::default())?;
            let saved_name = written
                .topic
                .strip_prefix(&self.prefix)
                .unwrap_or(&written.topic);
            checks.push((
                format!(
                    "topic `{saved_name}` partition {}: records and checksum read back match the artifact",
                    written.partition
                ),
                content.records == written.records && content.sha256() == written.sha256,
                format!("{} of {} records", content.records, written.records),
            ));
        }
        Ok(checks)
    }

    fn measure(&mut self, _check: &Check) -> Result<i64, StoreError> {
        Err(StoreError::new(
            &self.name,
            "Kafka stores take no declared checks: verify compares every partition's record count and checksum",
        ))
    }

    fn discard(&mut self) -> Result<(), StoreError> {
        let created = std::mem::take(&mut self.created);
        self.with_cluster(|c| cluster::delete_topics(c, &created))
    }
}
