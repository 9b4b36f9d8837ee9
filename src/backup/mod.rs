//! One run of one backup job (`cairn run JOB`, SPEC §5): dump each stream
//! of the store through the pipeline to every destination at once, write
//! the manifest last at every destination that got everything, and return
//! the run's record. A failed dump leaves nothing that counts as a backup
//! anywhere; a failed destination loses only its own copy.
//!
//! The engine knows nothing of locks, the history or notifications: the
//! `ops` layer holds the job's lock around it and records what it returns.

mod hooks;
mod progress;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::cancel::Cancel;
use crate::config::model::{Backup, Config, Job, Store};
use crate::destinations::{self, ArtifactWriter, Destination};
use crate::format::human_bytes;
use crate::history::{DestinationRecord, Outcome, RunRecord};
use crate::manifest::{
    CompressionRecord, EncryptionRecord, Manifest, Reason, StoreRecord, StreamRecord, WalRecord,
};
use crate::output::Log;
use crate::pipeline::{self, Chain, StreamSummary};
use crate::stores::{self, Dumped, Dumper, StoreError};
use hooks::run_hooks;
use progress::Progress;

pub struct BackupOptions {
    pub reason: Reason,
    /// The run's start time (`CAIRN_NOW` or the clock); it names the artifact.
    pub now: DateTime<Utc>,
    /// Dump this instead of the job's store: the target of a forced restore,
    /// for its safety backup.
    pub store: Option<Store>,
    /// Where progress and warnings go.
    pub log: Log,
    /// Told the run's artifact ID once it is picked, before anything is
    /// written under it (`ops` notes it in the job's lock and, with
    /// `settings.state = "destinations"`, marks the run running at the
    /// destinations, so that a run killed from here on is known to the next
    /// one). Answers the destinations that must not be written, with why.
    pub on_id: Option<OnId>,
}

/// See [`BackupOptions::on_id`].
pub type OnId = Box<
    dyn FnOnce(String) -> futures::future::BoxFuture<'static, BTreeMap<String, String>>
        + Send
        + Sync,
>;

/// Runs the backup job `job` once and returns its record. The caller holds
/// the job's lock and keeps the record.
pub async fn run(config: &Config, job: &Job, backup: &Backup, options: BackupOptions) -> RunRecord {
    let progress = Progress::new(options.log.clone());
    let mut run = Run::new(config, job, backup, options, progress);
    run.execute().await;
    run.record()
}

/// How long a run keeps trying to remove what a failed copy left at a
/// destination that does not answer (S3 gone mid-upload). After that, `plan`
/// shows the leftovers for cleanup and the job's next run removes them.
const CLEANUP_PATIENCE: Duration = Duration::from_secs(30);

enum Slot {
    Live(Box<dyn ArtifactWriter>),
    Failed(String),
}

struct Run<'a> {
    config: &'a Config,
    job: &'a Job,
    backup: &'a Backup,
    options: BackupOptions,
    log: Progress,
    id: String,
    cancel: Cancel,
    slots: BTreeMap<String, Slot>,
    /// The writers of failed copies, whose leftovers go once the good copies
    /// are committed.
    leftovers: Vec<(String, Box<dyn ArtifactWriter>)>,
    /// Per destination, why its leftovers could not be removed.
    stranded: BTreeMap<String, String>,
    streams: Vec<StreamRecord>,
    /// A base backup's place in the WAL, for the manifest.
    wal: Option<WalRecord>,
    /// The store's source and tool versions, for the manifest.
    source: String,
    tools: BTreeMap<String, String>,
    /// When the run started, for durations measured for real.
    started: std::time::Instant,
    /// Why the run failed as a whole.
    error: Option<String>,
    /// What went wrong without failing the run.
    warnings: Vec<String>,
    finished_at: Option<DateTime<Utc>>,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a Config,
        job: &'a Job,
        backup: &'a Backup,
        options: BackupOptions,
        log: Progress,
    ) -> Self {
        Self {
            config,
            job,
            backup,
            id: destinations::artifact_id(options.now),
            options,
            log,
            cancel: Cancel::default(),
            slots: BTreeMap::new(),
            leftovers: Vec::new(),
            stranded: BTreeMap::new(),
            streams: Vec::new(),
            wal: None,
            source: String::new(),
            tools: BTreeMap::new(),
            started: std::time::Instant::now(),
            error: None,
            warnings: Vec::new(),
            finished_at: None,
        }
    }

    /// What the run dumps: the job's store, or the override.
    fn store(&self) -> &Store {
        self.options
            .store
            .as_ref()
            .unwrap_or(&self.config.stores[&self.backup.store])
    }

    fn fail(&mut self, error: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(error.into());
        }
    }

    async fn execute(&mut self) {
        // From the first moment: the timeout and the signals also cover
        // hooks, version probes and connecting to the destinations.
        let watcher = self.watch();
        self.prepare_and_dump().await;
        watcher.abort();
        if let Some(reason) = self.cancel.reason() {
            self.fail(reason);
        }
        if self.error.is_none() {
            self.tools = self.dumper_tools();
            self.commit().await;
        } else {
            for name in self.live() {
                self.drop_copy(name, "aborted: the run failed".to_owned());
            }
        }
        self.remove_leftovers().await;
        self.finished_at = Some(self.clock());
        let hooks = if self.succeeded() {
            &self.job.hooks.after
        } else {
            &self.job.hooks.on_failure
        };
        let outcome = if self.succeeded() {
            "success"
        } else {
            "failed"
        };
        // A fresh cancel: a timed-out run still runs its `on_failure` hooks.
        if let Err(error) = run_hooks(
            hooks,
            self.job.name.as_str(),
            &self.id,
            Some(outcome),
            &Cancel::default(),
        ) {
            self.log
                .warn(&format!("job `{}`: a hook failed: {error}", self.job.name));
        }
    }

    /// `CAIRN_NOW` plus the real time elapsed since the run started.
    fn clock(&self) -> DateTime<Utc> {
        self.options.now + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }

    fn dumper_tools(&self) -> BTreeMap<String, String> {
        stores::dumper(self.backup.store.as_str(), self.store())
            .map(|d| d.tools())
            .unwrap_or_default()
    }

    async fn prepare_and_dump(&mut self) {
        let store_name = self.backup.store.to_string();
        let dumper = match stores::dumper(&store_name, self.store()) {
            Ok(dumper) => dumper,
            Err(error) => return self.fail(error.with_hint_inline()),
        };
        self.source = dumper.source();
        let recipients: Vec<age::x25519::Recipient> = self
            .backup
            .encrypt_to
            .iter()
            .map(|r| r.parse().expect("validation: recipients parse"))
            .collect();

        let mut destinations: Vec<Box<dyn Destination>> = Vec::new();
        for name in &self.backup.to {
            match destinations::open(name.as_str(), &self.config.destinations[name]).await {
                Ok(destination) => destinations.push(destination),
                Err(error) => {
                    self.slots
                        .insert(name.to_string(), Slot::Failed(error.to_string()));
                }
            }
        }
        self.id = free_id(&destinations, self.job.name.as_str(), &self.id).await;
        if let Some(on_id) = self.options.on_id.take() {
            for (name, why) in on_id(self.id.clone()).await {
                self.slots.insert(name, Slot::Failed(why));
            }
        }
        if let Err(error) = run_hooks(
            &self.job.hooks.before,
            self.job.name.as_str(),
            &self.id,
            None,
            &self.cancel,
        ) {
            return self.fail(format!("a `before` hook failed: {error}"));
        }
        // After the hooks (which may quiesce the store), before any
        // destination is written: a store that cannot be read leaves nothing.
        let cancel = self.cancel.clone();
        let (dumper, prepared) = tokio::task::spawn_blocking(move || {
            let mut dumper = dumper;
            let prepared = dumper.prepare(&cancel);
            (dumper, prepared)
        })
        .await
        .expect("the dump thread does not panic");
        if let Err(error) = prepared {
            return self.fail(error.with_hint_inline());
        }
        for destination in &destinations {
            if self.slots.contains_key(destination.name()) {
                continue; // refused by `on_id`
            }
            let slot = match destination.begin(self.job.name.as_str(), &self.id).await {
                Ok(writer) => Slot::Live(writer),
                Err(error) => Slot::Failed(error.to_string()),
            };
            self.slots.insert(destination.name().to_owned(), slot);
        }
        if !self
            .slots
            .values()
            .any(|slot| matches!(slot, Slot::Live(_)))
        {
            self.fail("no destination could be written");
        }

        if self.error.is_none() && !self.cancel.is_cancelled() {
            self.dump_streams(dumper, &recipients).await;
        }
    }

    /// Cancels the run on timeout, SIGINT or SIGTERM.
    fn watch(&self) -> tokio::task::JoinHandle<()> {
        let timeout = self
            .job
            .timeout
            .map(|t| Duration::from_secs(t.as_seconds()));
        self.cancel
            .watch(&tokio::runtime::Handle::current(), timeout)
    }

    async fn dump_streams(
        &mut self,
        mut dumper: Box<dyn Dumper>,
        recipients: &[age::x25519::Recipient],
    ) {
        for (index, stream) in dumper.streams().into_iter().enumerate() {
            let stored =
                pipeline::stored_name(&stream, &self.backup.compression, !recipients.is_empty());
            let mut senders = Vec::new();
            let mut tasks = Vec::new();
            let live = self.live();
            for name in &live {
                let Some(Slot::Live(mut writer)) = self.slots.remove(name) else {
                    unreachable!()
                };
                let (sender, receiver) = mpsc::channel(pipeline::CHANNEL_CAPACITY);
                senders.push(sender);
                let stored = stored.clone();
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    let result = writer.write_stream(&stored, receiver).await;
                    (name, writer, result)
                }));
            }
            self.log.line(&format!(
                "job {}: dumping {stream} to {}",
                self.job.name,
                live.join(", ")
            ));
            let progress = Arc::new(AtomicU64::new(0));
            let ticker = self
                .log
                .ticker(format!("job {}: {stream}", self.job.name), progress.clone());
            let compression = self.backup.compression;
            let recipients = recipients.to_vec();
            let cancel = self.cancel.clone();
            let producer = tokio::task::spawn_blocking(move || {
                let result = produce(
                    dumper.as_mut(),
                    index,
                    &compression,
                    &recipients,
                    senders,
                    progress,
                    cancel,
                );
                (dumper, result)
            });
            let (returned, result) = producer.await.expect("the dump thread does not panic");
            dumper = returned;
            if let Some(ticker) = ticker {
                ticker.abort();
            }
            for task in tasks {
                let (name, writer, written) = task.await.expect("destination tasks do not panic");
                match written {
                    Ok(()) => {
                        self.slots.insert(name, Slot::Live(writer));
                    }
                    Err(error) => {
                        self.leftovers.push((name.clone(), writer));
                        self.slots.insert(name, Slot::Failed(error.to_string()));
                    }
                }
            }
            match result {
                Ok((summary, dumped)) => {
                    if !dumped.stderr.is_empty() {
                        let warning = format!(
                            "store `{}`: the dump of {stream} succeeded but wrote to stderr: {}",
                            self.backup.store, dumped.stderr
                        );
                        self.log
                            .warn(&format!("job `{}`: {warning}", self.job.name));
                        self.warnings.push(warning);
                    }
                    self.log.line(&format!(
                        "job {}: {stored}: {} read, {} stored, sha256 {}",
                        self.job.name,
                        human_bytes(summary.raw_size),
                        human_bytes(summary.stored_size),
                        &summary.sha256[..16]
                    ));
                    self.streams.push(StreamRecord {
                        name: stored,
                        raw_size: summary.raw_size,
                        stored_size: summary.stored_size,
                        sha256: summary.sha256,
                    });
                }
                Err(error) => {
                    // Destinations that failed on their own keep their own error.
                    let error = self.cancel.explain(error.to_string());
                    return self.fail(error);
                }
            }
            if !self
                .slots
                .values()
                .any(|slot| matches!(slot, Slot::Live(_)))
            {
                return self.fail("every destination failed");
            }
        }
        self.wal = dumper.wal();
    }

    async fn commit(&mut self) {
        let manifest = Manifest {
            format_version: crate::manifest::FORMAT_VERSION,
            cairn_version: env!("CARGO_PKG_VERSION").to_owned(),
            job: self.job.name.to_string(),
            id: self.id.clone(),
            reason: self.options.reason,
            store: StoreRecord {
                name: self.backup.store.to_string(),
                kind: self.store().kind().to_owned(),
                source: self.source.clone(),
            },
            tools: self.tools.clone(),
            started_at: self.options.now,
            finished_at: self.clock(),
            compression: CompressionRecord {
                algorithm: self.backup.compression.algorithm,
                level: self.backup.compression.level,
            },
            encryption: (!self.backup.encrypt_to.is_empty()).then(|| EncryptionRecord {
                kind: "age".to_owned(),
                recipients: self.backup.encrypt_to.clone(),
            }),
            streams: self.streams.clone(),
            wal: self.wal.clone(),
        };
        let json = manifest.to_json();
        let mut failed = Vec::new();
        for (name, slot) in &mut self.slots {
            if let Slot::Live(writer) = slot {
                if let Err(error) = writer.commit(&json).await {
                    failed.push((
                        name.clone(),
                        format!("writing the manifest failed: {error}"),
                    ));
                }
            }
        }
        for (name, error) in failed {
            self.drop_copy(name, error);
        }
    }

    /// The destinations whose copy is still going.
    fn live(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Live(_)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Gives up the copy at destination `name`: it failed with `error`, and
    /// what it wrote goes in `remove_leftovers`.
    fn drop_copy(&mut self, name: String, error: String) {
        if let Some(Slot::Live(writer)) = self.slots.insert(name.clone(), Slot::Failed(error)) {
            self.leftovers.push((name, writer));
        }
    }

    /// Removes what the failed copies wrote, all destinations at once. A
    /// destination that does not answer is tried again, with growing pauses,
    /// for up to `CLEANUP_PATIENCE` (SIGINT or SIGTERM ends the waiting);
    /// what is still there after that is noted on its record.
    async fn remove_leftovers(&mut self) {
        if self.leftovers.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + CLEANUP_PATIENCE;
        let stop = Cancel::default();
        let watcher = stop.watch(&tokio::runtime::Handle::current(), None);
        let mut removals = tokio::task::JoinSet::new();
        for (name, mut writer) in std::mem::take(&mut self.leftovers) {
            let stop = stop.clone();
            removals.spawn(async move {
                let mut pause = Duration::from_millis(500);
                loop {
                    match writer.abort().await {
                        Ok(()) => return (name, None),
                        Err(error)
                            if stop.is_cancelled()
                                || tokio::time::Instant::now() + pause > deadline =>
                        {
                            return (name, Some(error))
                        }
                        Err(_) => {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            });
        }
        while let Some(removal) = removals.join_next().await {
            let (name, error) = removal.expect("removals do not panic");
            if let Some(error) = error {
                self.log.line(&format!(
                    "job {}: destination {name}: cannot remove the failed copy yet: {error}",
                    self.job.name
                ));
                self.stranded.insert(name, error.to_string());
            }
        }
        watcher.abort();
    }

    fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .slots
                .values()
                .all(|slot| matches!(slot, Slot::Live(_)))
    }

    fn record(&self) -> RunRecord {
        let destinations = self
            .slots
            .iter()
            .map(|(name, slot)| {
                let record = match slot {
                    Slot::Live(_) => DestinationRecord {
                        outcome: Outcome::Success,
                        error: None,
                    },
                    Slot::Failed(error) => {
                        let mut error = match &self.error {
                            Some(run_error) if error.starts_with("aborted") => {
                                format!("aborted: {run_error}")
                            }
                            _ => error.clone(),
                        };
                        if let Some(why) = self.stranded.get(name) {
                            error.push_str(&format!(
                                "; what this run wrote there could not be removed ({why}): \
                                 `cairn plan` shows it for cleanup, and the job's next run removes it"
                            ));
                        }
                        DestinationRecord {
                            outcome: Outcome::Failed,
                            error: Some(error),
                        }
                    }
                };
                (name.clone(), record)
            })
            .collect();
        RunRecord {
            job: self.job.name.to_string(),
            id: self.id.clone(),
            reason: self.options.reason,
            started_at: self.options.now,
            finished_at: self.finished_at.unwrap_or(self.options.now),
            outcome: if self.succeeded() {
                Outcome::Success
            } else {
                Outcome::Failed
            },
            error: self.error.clone(),
            raw_size: self.streams.iter().map(|s| s.raw_size).sum(),
            stored_size: self.streams.iter().map(|s| s.stored_size).sum(),
            destinations,
            verify: None,
            warnings: self.warnings.clone(),
        }
    }
}

/// Runs in the dump thread: dump one stream into the chain and finish it.
fn produce(
    dumper: &mut dyn Dumper,
    index: usize,
    compression: &crate::config::model::Compression,
    recipients: &[age::x25519::Recipient],
    senders: Vec<mpsc::Sender<destinations::Message>>,
    progress: Arc<AtomicU64>,
    cancel: Cancel,
) -> Result<(StreamSummary, Dumped), StreamError> {
    let mut chain = Chain::new(compression, recipients, senders, progress, cancel.clone())
        .map_err(StreamError::Setup)?;
    let dumped = dumper
        .dump(index, &mut chain, &cancel)
        .map_err(StreamError::Store)?;
    let summary = chain.finish().map_err(StreamError::Finish)?;
    Ok((summary, dumped))
}

/// Why one stream of a backup failed.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("cannot set up the pipeline: {0}")]
    Setup(std::io::Error),
    #[error("{}", .0.with_hint_inline())]
    Store(StoreError),
    #[error("finishing the stream failed: {0}")]
    Finish(std::io::Error),
}

/// The run ID, made unique with `-2`, `-3`… when an artifact of that name exists.
async fn free_id(destinations: &[Box<dyn Destination>], job: &str, base: &str) -> String {
    let mut candidate = base.to_owned();
    for n in 2.. {
        let mut taken = false;
        for destination in destinations {
            if destination.exists(job, &candidate).await.unwrap_or(false) {
                taken = true;
            }
        }
        if !taken {
            return candidate;
        }
        candidate = format!("{base}-{n}");
    }
    unreachable!("some suffix is free")
}
