//! The observed state, read in one step: everything a plan looks at besides
//! the configuration — the unit files and cron entries on disk, the run
//! history, the artifacts at every destination and which jobs are running.
//! This is the plan's only I/O; the diff is a pure function of it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::files::GeneratedFile;
use super::PlanError;
use crate::config::address::{FileAddress, KubeFile, UnitKind};
use crate::config::model::Config;
use crate::config::raw::Scheduler;
use crate::destinations::Listing;
use crate::history::remote;
use crate::history::History;
use crate::inventory;
use crate::state::Host;
use crate::units as files;

/// What is there now for this configuration.
#[derive(Debug)]
pub struct Observed {
    /// `settings.units_dir` on this host (under `--root` when given).
    pub units_dir: PathBuf,
    /// cairn's unit files for this configuration, in file name order.
    pub units: Vec<GeneratedFile>,
    /// `settings.cron_file` on this host (under `--root` when given).
    pub cron_file: PathBuf,
    /// This configuration's entries in the cron file, in file order.
    pub cron_entries: Vec<GeneratedFile>,
    /// `settings.kubernetes.manifests_dir` (in the repository beside the
    /// configuration, never under `--root`).
    pub manifests_dir: PathBuf,
    /// cairn's manifests there for this configuration, by file name.
    pub manifests: Vec<GeneratedFile>,
    /// The run history, or why it cannot be read.
    pub history: Result<History, String>,
    /// What each destination holds, or why it cannot be listed.
    pub listings: BTreeMap<String, Result<Listing, String>>,
    /// The jobs running now (their lock is held), with the PID in the lock.
    pub running: BTreeMap<String, String>,
    /// With `settings.state = "destinations"`: the runs a destination marks
    /// running that may be alive on another machine (before their
    /// deadline), by job: run ID and "PID on host HOST".
    pub running_elsewhere: BTreeMap<String, Vec<(String, String)>>,
    /// The WAL archives of basebackup jobs.
    pub archives: crate::wal::Archives,
    /// The archiving settings of basebackup jobs' servers.
    pub server_settings: crate::wal::ServerSettings,
    /// Backup runs that were killed: the run ID their job's free lock still
    /// names, of a run the history does not know, by job, with its PID.
    pub interrupted: BTreeMap<String, Interrupted>,
    /// With `settings.state = "destinations"`: the destinations whose run
    /// records cannot be read, with why. What the job's latest run did
    /// there is unknown, so nothing of its jobs is pruned.
    pub records_unreadable: BTreeMap<String, String>,
    /// Warnings about objects at the destinations not taken for records.
    pub records_ignored: Vec<String>,
}

/// A backup run that stopped before it recorded its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    pub id: String,
    pub pid: String,
}

impl Observed {
    /// A host with nothing on it: no units or cron entries, no history,
    /// every destination empty and no job running. What the pure diff sees
    /// for a first `plan` on a fresh host, without reading anything.
    pub fn empty(config: &Config) -> Self {
        Observed {
            units_dir: config.settings.units_dir.clone(),
            units: Vec::new(),
            cron_file: config.settings.cron_file.clone(),
            cron_entries: Vec::new(),
            manifests_dir: manifests_dir(config),
            manifests: Vec::new(),
            history: Ok(History::default()),
            listings: config
                .destinations
                .keys()
                .map(|name| (name.to_string(), Ok(Listing::default())))
                .collect(),
            running: BTreeMap::new(),
            running_elsewhere: BTreeMap::new(),
            archives: crate::wal::Archives::new(),
            server_settings: crate::wal::ServerSettings::new(),
            interrupted: BTreeMap::new(),
            records_unreadable: BTreeMap::new(),
            records_ignored: Vec::new(),
        }
    }

    /// Reads everything as of `now` (which decides whether a run marked
    /// running at a destination may still be alive); a file of someone
    /// else's in cairn's way is an error.
    pub async fn read(config: &Config, host: &Host, now: DateTime<Utc>) -> Result<Self, PlanError> {
        let units_dir = host.local(&config.settings.units_dir);
        let units = read_units(config, &units_dir)?;
        let cron_file = host.local(&config.settings.cron_file);
        let cron_entries = read_cron_entries(config, &cron_file)?;
        let manifests_dir = manifests_dir(config);
        let manifests = read_manifests(config, &manifests_dir)?;
        if config.settings.scheduler == Scheduler::Kubernetes {
            // Jobs run and prune in the cluster: nothing else is looked at
            // (the machine that renders needs no credentials).
            return Ok(Observed {
                units_dir,
                units,
                cron_file,
                cron_entries,
                manifests_dir,
                manifests,
                ..Observed::empty(config)
            });
        }

        let state = host.state_dir(&config.settings.state_dir);
        let shared = remote::read_shared(config, &state, None, Some(remote::RECENT), now)
            .await
            .map_err(|error| {
                format!(
                    "the run history in {} cannot be read: {error}",
                    state.root().display()
                )
            });
        let (history, remote_running, records_unreadable, records_ignored) = match shared {
            Ok(shared) => (
                Ok(shared.history),
                shared.running,
                shared.unreadable,
                shared.ignored,
            ),
            Err(error) => (Err(error), Vec::new(), BTreeMap::new(), Vec::new()),
        };
        let opened = inventory::open_all(config).await;
        let listings = inventory::read(&opened, None).await.destinations;

        // The configured jobs, and any job that left something at a
        // destination (its incomplete artifacts are not cleaned up while
        // it runs).
        let mut jobs: BTreeSet<&str> = config.jobs.keys().map(|job| job.as_str()).collect();
        for listing in listings.values().flatten() {
            jobs.extend(listing.artifacts.iter().map(|found| found.job.as_str()));
            jobs.extend(listing.uploads.iter().map(|upload| upload.job.as_str()));
        }
        let mut running = BTreeMap::new();
        let mut interrupted = BTreeMap::new();
        for job in jobs {
            match crate::lock::peek(&state.job_lock(job)) {
                Some((true, holder)) => {
                    running.insert(job.to_owned(), holder.pid);
                }
                Some((false, holder)) => {
                    let Some(id) = holder.run else { continue };
                    let recorded = history.as_ref().map_or(true, |records| {
                        records.records.iter().any(|r| r.job == job && r.id == id)
                    });
                    if !recorded {
                        let pid = holder.pid;
                        interrupted.insert(job.to_owned(), Interrupted { id, pid });
                    }
                }
                None => {}
            }
        }
        // Runs that a destination marks running and that may be alive on
        // another machine (not a run this host's lock knows was killed).
        let mut running_elsewhere: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for run in remote_running {
            let killed_here = interrupted
                .get(&run.job)
                .is_some_and(|known: &Interrupted| known.id == run.id);
            if !killed_here {
                let holder = run.holder();
                running_elsewhere
                    .entry(run.job)
                    .or_default()
                    .push((run.id, holder));
            }
        }

        let archives = crate::wal::read_archives(config).await;
        let server_settings = crate::wal::read_server_settings(config).await;
        Ok(Observed {
            archives,
            server_settings,
            units_dir,
            units,
            cron_file,
            cron_entries,
            manifests_dir,
            manifests,
            history,
            listings,
            running,
            running_elsewhere,
            interrupted,
            records_unreadable,
            records_ignored,
        })
    }
}

fn read(path: &Path) -> Result<Option<String>, PlanError> {
    match fs_err::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PlanError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// This configuration's unit files in `units_dir`.
fn read_units(config: &Config, units_dir: &Path) -> Result<Vec<GeneratedFile>, PlanError> {
    let wanted = match config.settings.scheduler {
        Scheduler::Systemd => config
            .host_jobs()
            .flat_map(|job| {
                [UnitKind::Service, UnitKind::Timer]
                    .map(|unit| files::unit_file_name(job.name.as_str(), unit))
            })
            .collect(),
        _ => Vec::new(),
    };
    read_owned(
        OwnedFiles {
            dir: units_dir,
            ours: &config.path,
            wanted,
        },
        files::unit_address,
        |address, foreign| match foreign {
            true => format!("move it away, or rename job `{}`", address.job()),
            false => format!("rename job `{}`", address.job()),
        },
    )
}

/// This configuration's entries in the cron file.
fn read_cron_entries(config: &Config, cron_file: &Path) -> Result<Vec<GeneratedFile>, PlanError> {
    let Some(content) = read(cron_file)? else {
        return Ok(Vec::new());
    };
    match files::owner_config(&content) {
        Some(owner) if owner == config.path => Ok(files::parse_cron_entries(&content)
            .into_iter()
            .map(|entry| GeneratedFile {
                address: FileAddress::Cron { job: entry.job },
                path: cron_file.to_owned(),
                content: entry.text,
            })
            .collect()),
        Some(owner) if config.settings.scheduler == Scheduler::Cron => {
            Err(PlanError::OtherConfig {
                path: cron_file.display().to_string(),
                fix: "give this configuration its own settings.cron_file".to_owned(),
                other: owner.display().to_string(),
            })
        }
        None if config.settings.scheduler == Scheduler::Cron => Err(PlanError::Foreign {
            path: cron_file.display().to_string(),
            fix: "move it away, or set settings.cron_file to another file".to_owned(),
        }),
        _ => Ok(Vec::new()),
    }
}

/// Where the manifests go: `settings.kubernetes.manifests_dir`, else the
/// default `kubernetes/` beside the configuration (where earlier manifests
/// of a configuration that left Kubernetes are looked for).
fn manifests_dir(config: &Config) -> PathBuf {
    match &config.settings.kubernetes {
        Some(kube) => kube.manifests_dir.clone(),
        None => config
            .path
            .parent()
            .unwrap_or(Path::new("/"))
            .join("kubernetes"),
    }
}

/// This configuration's manifests in `dir`.
fn read_manifests(config: &Config, dir: &Path) -> Result<Vec<GeneratedFile>, PlanError> {
    let wanted = match config.settings.scheduler {
        Scheduler::Kubernetes => files::kube::manifests(config)
            .iter()
            .map(|manifest| manifest.file.file_name())
            .collect(),
        _ => Vec::new(),
    };
    read_owned(
        OwnedFiles {
            dir,
            ours: &files::kube::config_mark(config, dir),
            wanted,
        },
        |name| KubeFile::from_file_name(name).map(FileAddress::Kube),
        |_, foreign| match foreign {
            true => "move it away, or set settings.kubernetes.manifests_dir to another directory"
                .to_owned(),
            false => "give this configuration its own settings.kubernetes.manifests_dir".to_owned(),
        },
    )
}

/// A directory where cairn writes one file per address (unit files,
/// manifests), as one configuration sees it.
struct OwnedFiles<'a> {
    dir: &'a Path,
    /// The configuration mark in the header of this configuration's files.
    ours: &'a Path,
    /// The file names this configuration would write.
    wanted: Vec<String>,
}

/// The files of `owned.dir` named as cairn names them (`address` reads a
/// name) whose header carries this configuration's mark. Another
/// configuration's file, or one that is not cairn's, where this
/// configuration would write is an error, with `fix(address, foreign)` as
/// its remedy; anything else is never touched.
fn read_owned(
    owned: OwnedFiles,
    address: impl Fn(&str) -> Option<FileAddress>,
    fix: impl Fn(&FileAddress, bool) -> String,
) -> Result<Vec<GeneratedFile>, PlanError> {
    let entries = match fs_err::read_dir(owned.dir) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(PlanError::Read {
                path: owned.dir.display().to_string(),
                source,
            })
        }
    };
    let mut found = BTreeMap::new();
    for entry in entries {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(address) = address(&file_name) else {
            continue;
        };
        let path = entry.path();
        let Some(content) = read(&path)? else {
            continue;
        };
        let in_the_way = owned.wanted.contains(&file_name);
        match files::owner_config(&content) {
            Some(owner) if owner == owned.ours => {
                found.insert(
                    file_name,
                    GeneratedFile {
                        address,
                        path,
                        content,
                    },
                );
            }
            Some(owner) if in_the_way => {
                return Err(PlanError::OtherConfig {
                    path: path.display().to_string(),
                    fix: fix(&address, false),
                    other: owner.display().to_string(),
                })
            }
            None if in_the_way => {
                return Err(PlanError::Foreign {
                    path: path.display().to_string(),
                    fix: fix(&address, true),
                })
            }
            _ => {}
        }
    }
    Ok(found.into_values().collect())
}
