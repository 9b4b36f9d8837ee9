//! The plan (SPEC §4): what `apply` would change, computed by comparing the
//! desired state (the configuration, rendered) with the observed state (the
//! files on this host).

mod observe;
pub mod render;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use similar::TextDiff;

use crate::config::model::Config;
use crate::config::raw::Scheduler;
use crate::schedule::render as files;
pub use observe::Observed;

/// The version of the plan JSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Where cairn writes for itself: `--root` prefixes every such path.
#[derive(Debug, Clone, Default)]
pub struct Host {
    pub root: Option<PathBuf>,
}

impl Host {
    /// `path` as seen on this machine: under `--root` when given.
    pub fn local(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Create,
    Update,
    Destroy,
}

/// One change to one managed thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// e.g. `unit.app.service`, `cron.app`.
    pub address: String,
    pub action: ActionKind,
    /// The file on this host (under `--root` when given).
    pub path: PathBuf,
    pub reason: String,
    /// A unified diff from the current to the desired content.
    pub diff: String,
    /// The desired content: the whole unit file, or the job's cron entry;
    /// absent for `destroy`. Kept in saved plans, left out of `--json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Digest of the content found on disk when the plan was made
    /// (`absent` when there was none), so a saved plan can tell that the
    /// files changed since.
    pub observed: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

/// Everything `apply` would do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub cairn_version: String,
    /// The configuration file the plan was made from.
    pub config: PathBuf,
    pub env: Option<String>,
    pub root: Option<PathBuf>,
    /// Digest of every configuration file that went into the plan.
    pub config_digest: String,
    /// The `--target` addresses, when the plan was limited to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    pub actions: Vec<Action>,
    pub summary: Summary,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }
}

/// A file in cairn's way that cairn did not write.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("{path} exists and was not written by cairn")]
    #[diagnostic(help(
        "cairn only replaces files that start with its `# Managed by cairn.` header; {fix}"
    ))]
    Foreign { path: String, fix: String },
    #[error("{path} was written by cairn for another configuration, {other}")]
    #[diagnostic(help(
        "two configurations cannot manage the same file; {fix}, or if that configuration moved here, delete the file"
    ))]
    OtherConfig {
        path: String,
        fix: String,
        other: String,
    },
    #[error("cannot read {path}: {source}")]
    #[diagnostic(help(
        "check the permissions of the directory; with --root DIR cairn reads below DIR"
    ))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub fn digest(text: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

fn observed_digest(content: Option<&str>) -> String {
    content.map_or_else(|| "absent".to_owned(), digest)
}

fn unified_diff(path: &Path, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&path.display().to_string(), "desired")
        .to_string()
}

/// Computes the plan: what to create, update and destroy so that the files
/// on this host match `config`.
pub fn plan(
    config: &Config,
    config_digest: String,
    host: &Host,
    targets: &[String],
) -> Result<Plan, PlanError> {
    let observed = Observed::read(config, host)?;
    let mut actions = Vec::new();
    let units_dir = host.local(&config.settings.units_dir);

    // Units: desired when the scheduler is systemd; otherwise any of ours go.
    let desired_units = match config.settings.scheduler {
        Scheduler::Systemd => files::unit_files(config),
        _ => Vec::new(),
    };
    for unit in &desired_units {
        let path = units_dir.join(unit.file_name());
        let current = observed.units.get(&unit.file_name());
        let (action, reason) = match current {
            None => (
                ActionKind::Create,
                format!("job `{}` has no {} yet", unit.job, unit.suffix),
            ),
            Some(current) if current == &unit.content => continue,
            Some(_) => (
                ActionKind::Update,
                "differs from the configuration".to_owned(),
            ),
        };
        let before = current.map(String::as_str).unwrap_or("");
        actions.push(Action {
            address: unit.address(),
            action,
            diff: unified_diff(&path, before, &unit.content),
            path,
            reason,
            content: Some(unit.content.clone()),
            observed: observed_digest(current.map(String::as_str)),
        });
    }
    for (file_name, current) in &observed.units {
        if desired_units.iter().any(|u| &u.file_name() == file_name) {
            continue;
        }
        let Some((job, suffix)) = observe::unit_job(file_name) else {
            continue;
        };
        let reason = if config.jobs.keys().any(|j| j.as_str() == job) {
            format!(
                "scheduler is now `{}`",
                scheduler_name(config.settings.scheduler)
            )
        } else {
            format!("job `{job}` is no longer in the configuration")
        };
        let path = units_dir.join(file_name);
        actions.push(Action {
            address: format!("unit.{job}.{suffix}"),
            action: ActionKind::Destroy,
            diff: unified_diff(&path, current, ""),
            path,
            reason,
            content: None,
            observed: observed_digest(Some(current)),
        });
    }

    // The cron file: one entry per job.
    let cron_path = host.local(&config.settings.cron_file);
    let desired_entries = match config.settings.scheduler {
        Scheduler::Cron => files::cron_entries(config),
        _ => Vec::new(),
    };
    for entry in &desired_entries {
        let current = observed.cron_entries.iter().find(|e| e.job == entry.job);
        let (action, reason) = match current {
            None => (
                ActionKind::Create,
                format!("job `{}` has no cron entry yet", entry.job),
            ),
            Some(current) if current.text == entry.text => continue,
            Some(_) => (
                ActionKind::Update,
                "differs from the configuration".to_owned(),
            ),
        };
        let before = current.map(|c| format!("{}\n", c.text)).unwrap_or_default();
        actions.push(Action {
            address: format!("cron.{}", entry.job),
            action,
            diff: unified_diff(&cron_path, &before, &format!("{}\n", entry.text)),
            path: cron_path.clone(),
            reason,
            content: Some(entry.text.clone()),
            observed: observed_digest(current.map(|c| c.text.as_str())),
        });
    }
    for current in &observed.cron_entries {
        if desired_entries.iter().any(|e| e.job == current.job) {
            continue;
        }
        let reason = if config.jobs.keys().any(|j| j.as_str() == current.job) {
            format!(
                "scheduler is now `{}`",
                scheduler_name(config.settings.scheduler)
            )
        } else {
            format!("job `{}` is no longer in the configuration", current.job)
        };
        actions.push(Action {
            address: format!("cron.{}", current.job),
            action: ActionKind::Destroy,
            diff: unified_diff(&cron_path, &format!("{}\n", current.text), ""),
            path: cron_path.clone(),
            reason,
            content: None,
            observed: observed_digest(Some(&current.text)),
        });
    }

    if !targets.is_empty() {
        actions.retain(|action| {
            targets
                .iter()
                .any(|target| targets_address(target, &action.address))
        });
    }
    let summary = Summary {
        add: actions
            .iter()
            .filter(|a| a.action == ActionKind::Create)
            .count(),
        change: actions
            .iter()
            .filter(|a| a.action == ActionKind::Update)
            .count(),
        destroy: actions
            .iter()
            .filter(|a| a.action == ActionKind::Destroy)
            .count(),
    };
    Ok(Plan {
        format_version: FORMAT_VERSION,
        cairn_version: env!("CARGO_PKG_VERSION").to_owned(),
        config: config.path.clone(),
        env: config.env.clone(),
        root: host.root.clone(),
        config_digest,
        targets: targets.to_vec(),
        actions,
        summary,
    })
}

/// Whether `--target TARGET` selects `address`: the address itself, a
/// prefix of it at a `.` boundary (`unit.app` selects both unit files), or
/// `job.NAME`, which selects everything of that job.
pub fn targets_address(target: &str, address: &str) -> bool {
    if address == target || address.starts_with(&format!("{target}.")) {
        return true;
    }
    match target.strip_prefix("job.") {
        Some(job) => {
            address == format!("cron.{job}")
                || address == format!("unit.{job}.service")
                || address == format!("unit.{job}.timer")
        }
        None => false,
    }
}

fn scheduler_name(scheduler: Scheduler) -> &'static str {
    match scheduler {
        Scheduler::Systemd => "systemd",
        Scheduler::Cron => "cron",
        Scheduler::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_select_addresses_and_their_children() {
        assert!(targets_address("unit.app.service", "unit.app.service"));
        assert!(targets_address("unit.app", "unit.app.timer"));
        assert!(!targets_address("unit.ap", "unit.app.timer"));
        assert!(targets_address("job.app", "unit.app.timer"));
        assert!(targets_address("job.app", "cron.app"));
        assert!(!targets_address("job.app", "unit.apple.timer"));
    }

    #[test]
    fn root_prefixes_absolute_paths() {
        let host = Host {
            root: Some("/tmp/r".into()),
        };
        assert_eq!(
            host.local(Path::new("/etc/systemd/system")),
            PathBuf::from("/tmp/r/etc/systemd/system")
        );
        assert_eq!(
            Host::default().local(Path::new("/etc")),
            PathBuf::from("/etc")
        );
    }
}
