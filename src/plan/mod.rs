//! The plan (SPEC §4): what `apply` would change, computed by comparing the
//! desired state (the configuration, rendered) with the observed state (the
//! files on this host, the artifacts at every destination, the run history).

pub mod jobs;
mod observe;
pub mod render;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use similar::TextDiff;

use crate::config::model::Config;
use crate::config::raw::Scheduler;
use crate::state::Host;
use crate::units as files;
pub use observe::Observed;

/// The version of the plan JSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Create,
    Update,
    Destroy,
    /// Run a due job.
    Run,
    /// Delete an artifact outside its retention.
    Prune,
    /// Delete data without a manifest (or an unfinished upload) past the grace period.
    Cleanup,
    /// `--verbose` only: an artifact retention keeps, and why.
    Keep,
}

/// One change to one managed thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// e.g. `unit.app.service`, `cron.app`, `job.app`, `artifact.local.app.20261121T021500Z`.
    pub address: String,
    pub action: ActionKind,
    /// The file on this host (under `--root` when given), for file actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub reason: String,
    /// A unified diff from the current to the desired content, for file actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The job a run, prune, cleanup or keep is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The destination of a prune, cleanup or keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The artifact ID of a prune, cleanup or keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// A prune that waits for this plan's run of the job to land at the
    /// destination first, and is skipped when it does not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_run: bool,
    /// The desired content: the whole unit file, or the job's cron entry;
    /// absent for other actions. Kept in saved plans, left out of `--json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// What the plan saw of the thing: the digest of the file or cron entry
    /// on disk (`absent` when there was none), of the artifact's manifest,
    /// or of the job's last success; a saved plan is refused when it changed.
    pub observed: String,
}

impl Default for Action {
    fn default() -> Self {
        Self {
            address: String::new(),
            action: ActionKind::Keep,
            path: None,
            reason: String::new(),
            diff: None,
            job: None,
            destination: None,
            artifact: None,
            after_run: false,
            content: None,
            observed: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub run: usize,
    pub prune: usize,
    pub cleanup: usize,
}

impl Summary {
    pub fn of(actions: &[Action]) -> Self {
        let count = |kind| actions.iter().filter(|a| a.action == kind).count();
        Self {
            add: count(ActionKind::Create),
            change: count(ActionKind::Update),
            destroy: count(ActionKind::Destroy),
            run: count(ActionKind::Run),
            prune: count(ActionKind::Prune),
            cleanup: count(ActionKind::Cleanup),
        }
    }
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
    /// Things worth knowing that are not actions: a job already running, a
    /// destination that cannot be read, pruning held back after a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub summary: Summary,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(|a| a.action != ActionKind::Keep)
    }

    /// What a saved plan must still match when it is applied: each action's
    /// address, kind, desired content and what it observed.
    pub fn fingerprint(&self) -> Vec<(String, ActionKind, Option<String>, String)> {
        self.actions
            .iter()
            .filter(|a| a.action != ActionKind::Keep)
            .map(|a| {
                (
                    a.address.clone(),
                    a.action,
                    a.content.clone(),
                    a.observed.clone(),
                )
            })
            .collect()
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

pub(crate) fn observed_digest(content: Option<&str>) -> String {
    content.map_or_else(|| "absent".to_owned(), digest)
}

fn unified_diff(path: &Path, before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&path.display().to_string(), "desired")
        .to_string()
}

/// What a plan looks at besides the configuration.
pub struct PlanOptions<'a> {
    pub targets: &'a [String],
    /// The time the plan is for (`CAIRN_NOW` or the clock).
    pub now: chrono::DateTime<chrono::Utc>,
    /// Also list what retention keeps, and why.
    pub verbose: bool,
    /// Prune even where the latest run failed.
    pub force_prune: bool,
}

/// Computes the plan: the files to create, update and destroy so that this
/// host matches `config`, the jobs that are due, and the artifacts to prune
/// and clean up.
pub async fn plan(
    config: &Config,
    config_digest: String,
    host: &Host,
    options: &PlanOptions<'_>,
) -> Result<Plan, PlanError> {
    let mut actions = file_actions(config, host)?;
    let job_plan = jobs::plan(config, host, options).await;
    actions.extend(job_plan.actions);
    let targets = options.targets;
    if !targets.is_empty() {
        actions.retain(|action| {
            targets
                .iter()
                .any(|target| targets_address(target, &action.address))
        });
    }
    let summary = Summary::of(&actions);
    Ok(Plan {
        format_version: FORMAT_VERSION,
        cairn_version: env!("CARGO_PKG_VERSION").to_owned(),
        config: config.path.clone(),
        env: config.env.clone(),
        root: host.root.clone(),
        config_digest,
        targets: targets.to_vec(),
        actions,
        notes: job_plan.notes,
        summary,
    })
}

/// The unit files and cron entries to create, update and destroy.
fn file_actions(config: &Config, host: &Host) -> Result<Vec<Action>, PlanError> {
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
            diff: Some(unified_diff(&path, before, &unit.content)),
            path: Some(path),
            reason,
            content: Some(unit.content.clone()),
            observed: observed_digest(current.map(String::as_str)),
            ..Action::default()
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
            diff: Some(unified_diff(&path, current, "")),
            path: Some(path),
            reason,
            observed: observed_digest(Some(current)),
            ..Action::default()
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
            diff: Some(unified_diff(
                &cron_path,
                &before,
                &format!("{}\n", entry.text),
            )),
            path: Some(cron_path.clone()),
            reason,
            content: Some(entry.text.clone()),
            observed: observed_digest(current.map(|c| c.text.as_str())),
            ..Action::default()
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
            diff: Some(unified_diff(&cron_path, &format!("{}\n", current.text), "")),
            path: Some(cron_path.clone()),
            reason,
            observed: observed_digest(Some(&current.text)),
            ..Action::default()
        });
    }

    Ok(actions)
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
                || (address.starts_with("artifact.") && address.split('.').nth(2) == Some(job))
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
        assert!(targets_address(
            "job.app",
            "artifact.local.app.20261121T021500Z"
        ));
        assert!(!targets_address(
            "job.app",
            "artifact.local.apple.20261121T021500Z"
        ));
    }
}
