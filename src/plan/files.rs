//! The file part of a plan: the unit files and cron entries to create,
//! update and destroy so that this host matches the configuration. Unit
//! files and cron entries go through the same comparison.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::action::{Action, FileChange, Operation};
use super::{observed_digest, Observed};
use crate::config::address::{FileAddress, KubeFile};
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
            FileAddress::Unit { .. } | FileAddress::Kube(_) => Cow::Borrowed(&self.content),
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
    let desired_manifests: Vec<GeneratedFile> = match config.settings.scheduler {
        Scheduler::Kubernetes => units::kube::manifests(config)
            .into_iter()
            .map(|manifest| GeneratedFile {
                path: observed.manifests_dir.join(manifest.file.file_name()),
                address: FileAddress::Kube(manifest.file),
                content: manifest.content,
            })
            .collect(),
        _ => Vec::new(),
    };
    // A job of another host is not this host's: its files here go. The
    // manifests every job shares belong to the scheduler, not to a job.
    let configured =
        |job: &str| job.is_empty() || config.host_jobs().any(|j| j.name.as_str() == job);
    let scheduler = config.settings.scheduler;
    let mut actions = changes(&desired_units, &observed.units, configured, scheduler);
    actions.extend(changes(
        &desired_entries,
        &observed.cron_entries,
        configured,
        scheduler,
    ));
    actions.extend(changes(
        &desired_manifests,
        &observed.manifests,
        configured,
        scheduler,
    ));
    actions
}

/// What turns the `found` files into the `desired` ones; `configured` tells
/// whether a job is still in the configuration, now under `scheduler`.
fn changes(
    desired: &[GeneratedFile],
    found: &[GeneratedFile],
    configured: impl Fn(&str) -> bool,
    scheduler: Scheduler,
) -> Vec<Action> {
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
                match &want.address {
                    FileAddress::Unit { job, unit } => {
                        format!("job `{job}` has no {} yet", unit.suffix())
                    }
                    FileAddress::Cron { job } => format!("job `{job}` has no cron entry yet"),
                    FileAddress::Kube(KubeFile::CronJob { job }) => {
                        format!("job `{job}` has no CronJob yet")
                    }
                    FileAddress::Kube(file) => format!("{} is not rendered yet", file.file_name()),
                },
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
        let reason = if configured(job) {
            format!("scheduler is now `{}`", scheduler_name(scheduler))
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
        Scheduler::Kubernetes => "kubernetes",
        Scheduler::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::address::UnitKind;
    use crate::plan::ActionKind;

    fn cron(job: &str, content: &str) -> GeneratedFile {
        GeneratedFile {
            address: FileAddress::Cron { job: job.into() },
            path: "/etc/cron.d/cairn".into(),
            content: content.into(),
        }
    }

    fn timer(job: &str, content: &str) -> GeneratedFile {
        GeneratedFile {
            address: FileAddress::Unit {
                job: job.into(),
                unit: UnitKind::Timer,
            },
            path: format!("/etc/systemd/system/cairn-{job}.timer").into(),
            content: content.into(),
        }
    }

    fn summary(actions: &[Action]) -> Vec<(String, ActionKind, &str)> {
        actions
            .iter()
            .map(|a| (a.address().to_string(), a.kind(), a.reason.as_str()))
            .collect()
    }

    #[test]
    fn files_are_created_updated_left_and_destroyed() {
        for (file, scheduler) in [
            (timer as fn(&str, &str) -> GeneratedFile, Scheduler::Systemd),
            (cron, Scheduler::Cron),
        ] {
            let desired = [file("new", "a"), file("changed", "b"), file("same", "c")];
            let found = [
                file("changed", "x"),
                file("same", "c"),
                file("old", "d"),
                file("moved", "e"),
            ];
            let actions = changes(&desired, &found, |job| job != "old", scheduler);
            let noun = if scheduler == Scheduler::Cron {
                "cron entry"
            } else {
                "timer"
            };
            let prefix = if scheduler == Scheduler::Cron {
                "cron"
            } else {
                "unit"
            };
            let suffix = if scheduler == Scheduler::Cron {
                ""
            } else {
                ".timer"
            };
            let name = |job: &str| format!("{prefix}.{job}{suffix}");
            let scheduler_now = format!("scheduler is now `{}`", scheduler_name(scheduler));
            assert_eq!(
                summary(&actions),
                [
                    (
                        name("new"),
                        ActionKind::Create,
                        format!("job `new` has no {noun} yet").as_str()
                    ),
                    (
                        name("changed"),
                        ActionKind::Update,
                        "differs from the configuration"
                    ),
                    (
                        name("old"),
                        ActionKind::Destroy,
                        "job `old` is no longer in the configuration"
                    ),
                    (name("moved"), ActionKind::Destroy, scheduler_now.as_str()),
                ]
            );
            assert_eq!(actions[1].observed, observed_digest(Some("x")));
            assert_eq!(actions[0].observed, "absent");
        }
    }

    #[test]
    fn a_cron_entry_is_diffed_as_a_line_of_the_cron_file() {
        let actions = changes(
            &[cron("app", "0 2 * * * root cairn run app")],
            &[cron("app", "0 3 * * * root cairn run app")],
            |_| true,
            Scheduler::Cron,
        );
        let diff = &actions[0].file().unwrap().diff;
        assert!(
            diff.contains("-0 3 * * * root cairn run app\n+0 2 * * * root cairn run app\n"),
            "{diff}"
        );
    }
}
