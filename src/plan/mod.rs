//! The plan (SPEC §4): what `apply` would change, computed by comparing the
//! desired state (the configuration, rendered) with the observed state (the
//! files on this host, the artifacts at every destination, the run history).

mod action;
mod files;
pub mod jobs;
mod observe;
pub mod render;
pub mod review;
mod wal;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::config::address::{Address, ArtifactAddress, FileAddress, Target, UnitKind};
use crate::config::model::Config;
use crate::state::Host;
pub use action::{Action, ActionKind, FileChange, Operation};
pub use files::GeneratedFile;
pub use observe::Observed;

/// The version of the plan JSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

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
        let count = |kind| actions.iter().filter(|a| a.kind() == kind).count();
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
    pub targets: Vec<Target>,
    pub actions: Vec<Action>,
    /// Things worth knowing that are not actions: a job already running, a
    /// destination that cannot be read, pruning held back after a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub summary: Summary,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(|a| a.kind() != ActionKind::Keep)
    }

    /// What a saved plan must still match when it is applied: each action's
    /// address, kind, desired content and what it observed.
    pub fn fingerprint(&self) -> Vec<(Address, ActionKind, Option<&str>, &str)> {
        self.actions
            .iter()
            // A WAL prune is checked by its range alone (`wal_ranges_hold`):
            // the archive grows every minute.
            .filter(|a| {
                a.kind() != ActionKind::Keep && !matches!(a.operation, Operation::PruneWal { .. })
            })
            .map(|a| (a.address(), a.kind(), a.content(), a.observed.as_str()))
            .collect()
    }

    /// Whether every WAL file this (saved) plan prunes is still one that
    /// `current` prunes.
    pub fn wal_ranges_hold(&self, current: &Plan) -> bool {
        self.actions.iter().all(|saved| {
            let Operation::PruneWal { wal, files } = &saved.operation else {
                return true;
            };
            current.actions.iter().any(|now| match &now.operation {
                Operation::PruneWal {
                    wal: same,
                    files: now_files,
                } => same == wal && files.iter().all(|file| now_files.contains(file)),
                _ => false,
            })
        })
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

/// What a plan looks at besides the configuration and the observed state.
pub struct PlanOptions<'a> {
    pub targets: &'a [Target],
    /// The time the plan is for (`CAIRN_NOW` or the clock).
    pub now: chrono::DateTime<chrono::Utc>,
    /// Also list what retention keeps, and why.
    pub verbose: bool,
    /// Prune even where the latest run failed.
    pub force_prune: bool,
}

/// Computes the plan: the files to create, update and destroy so that this
/// host matches `config`, the jobs that are due, and the artifacts to prune
/// and clean up. Observes first (all the I/O), then diffs.
pub async fn plan(
    config: &Config,
    config_digest: String,
    host: &Host,
    options: &PlanOptions<'_>,
) -> Result<Plan, PlanError> {
    let observed = Observed::read(config, host, options.now).await?;
    let Diff { actions, notes } = diff(config, &observed, options);
    let summary = Summary::of(&actions);
    Ok(Plan {
        format_version: FORMAT_VERSION,
        cairn_version: env!("CARGO_PKG_VERSION").to_owned(),
        config: config.path.clone(),
        env: config.env.clone(),
        root: host.root.clone(),
        config_digest,
        targets: options.targets.to_vec(),
        actions,
        notes,
        summary,
    })
}

/// A plan's actions, in order, and its notes.
pub struct Diff {
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
}

/// What apply would do: a pure function of the configuration, the observed
/// state and the options (which carry the time).
pub fn diff(config: &Config, observed: &Observed, options: &PlanOptions<'_>) -> Diff {
    let mut actions = files::actions(config, observed);
    let jobs = if config.settings.scheduler == crate::config::raw::Scheduler::Kubernetes {
        jobs::JobPlan {
            actions: Vec::new(),
            notes: vec![
                "scheduler = \"kubernetes\": the jobs run and prune in the cluster; apply only renders the manifests".to_owned(),
            ],
        }
    } else {
        jobs::plan(config, observed, options)
    };
    actions.extend(jobs.actions);
    if !options.targets.is_empty() {
        actions.retain(|action| {
            let address = action.address();
            options
                .targets
                .iter()
                .any(|target| target.selects(&address))
        });
    }
    Diff {
        actions,
        notes: jobs.notes,
    }
}
