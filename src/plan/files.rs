//! The file part of a plan: the unit files and cron entries to create,
//! update and destroy so that this host matches the configuration. Unit
//! files and cron entries go through the same comparison.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::action::{Action, FileChange, Operation};
use super::{observed_digest, Observed};
use crate::config::address::FileAddress;
use crate::config::model::Config;
use crate::config::raw::Scheduler;
use crate::units;

/// A generated file: desired (rendered from the configuration) or found on
/// disk. For the cron file, one job's entry in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub address: FileAddress,
    /// The file on this host (under `--root` when given).
    pub path: PathBuf,
    /// The whole unit file, or the job's cron entry.
    pub content: String,
}

impl GeneratedFile {
    /// The text the diff shows: a unit file as it is, a cron entry as a
    /// line of the cron file.
    fn shown(&self) -> Cow<'_, str> {
        match self.address {
            FileAddress::Unit { .. } => Cow::Borrowed(&self.content),
            FileAddress::Cron { .. } => Cow::Owned(format!("{}\n", self.content)),
        }
    }
}

/// The unit files, then the cron entries, to create, update and destroy.
pub(super) fn actions(config: &Config, observed: &Observed) -> Vec<Action> {
    // Desired only under their scheduler; otherwise any of ours go.
    let desired_units: Vec<GeneratedFile> = match config.settings.scheduler {
        Scheduler::Systemd => units::unit_files(config)
            .into_iter()
            .map(|unit| GeneratedFile {
                address: unit.address(),
                path: observed.units_dir.join(unit.file_name()),
                content: unit.content,
            })
            .collect(),
        _ => Vec::new(),
    };
    let desired_entries: Vec<GeneratedFile> = match config.settings.scheduler {
        Scheduler::Cron => units::cron_entries(config)
            .into_iter()
            .map(|entry| GeneratedFile {
                address: FileAddress::Cron { job: entry.job },
                path: observed.cron_file.clone(),
                content: entry.text,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut actions = changes(config, &desired_units, &observed.units);
    actions.extend(changes(config, &desired_entries, &observed.cron_entries));
    actions
}

/// What turns the `found` files into the `desired` ones.
fn changes(config: &Config, desired: &[GeneratedFile], found: &[GeneratedFile]) -> Vec<Action> {
    let mut actions = Vec::new();
    for want in desired {
        let current = found.iter().find(|file| file.address == want.address);
        if current.is_some_and(|current| current.content == want.content) {
            continue;
        }
        let before = current.map(GeneratedFile::shown).unwrap_or_default();
        let file = FileChange {
            address: want.address.clone(),
            path: want.path.clone(),
            diff: unified_diff(&want.path, &before, &want.shown()),
        };
        let content = want.content.clone();
        let (operation, reason) = match current {
            None => (
                Operation::Create { file, content },
                format!(
                    "job `{}` has no {} yet",
                    want.address.job(),
                    match &want.address {
                        FileAddress::Unit { unit, .. } => unit.suffix(),
                        FileAddress::Cron { .. } => "cron entry",
                    }
                ),
            ),
            Some(_) => (
                Operation::Update { file, content },
                "differs from the configuration".to_owned(),
            ),
        };
        actions.push(Action {
            operation,
            reason,
            observed: observed_digest(current.map(|current| current.content.as_str())),
        });
    }
    for current in found {
        if desired.iter().any(|want| want.address == current.address) {
            continue;
        }
        let job = current.address.job();
        let reason = if config.jobs.keys().any(|j| j.as_str() == job) {
            format!(
                "scheduler is now `{}`",
                scheduler_name(config.settings.scheduler)
            )
        } else {
            format!("job `{job}` is no longer in the configuration")
        };
        actions.push(Action {
            operation: Operation::Destroy {
                file: FileChange {
                    address: current.address.clone(),
                    path: current.path.clone(),
                    diff: unified_diff(&current.path, &current.shown(), ""),
                },
            },
            reason,
            observed: observed_digest(Some(&current.content)),
        });
    }
    actions
}

fn unified_diff(path: &Path, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&path.display().to_string(), "desired")
        .to_string()
}

fn scheduler_name(scheduler: Scheduler) -> &'static str {
    match scheduler {
        Scheduler::Systemd => "systemd",
        Scheduler::Cron => "cron",
        Scheduler::None => "none",
    }
}
