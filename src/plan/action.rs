//! A plan's actions, typed: each kind carries exactly its data, so apply
//! never asks a file action for an artifact or a run for a path. On the
//! wire (plan JSON, saved plans; docs/plan-json.md) an action is one flat
//! object, written and read through [`Wire`].

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::address::{Address, ArtifactAddress, FileAddress, WalAddress};

/// What an action does, without its data: the `action` field of the JSON.
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

impl ActionKind {
    /// As the JSON and the markdown view write it.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Update => "update",
            ActionKind::Destroy => "destroy",
            ActionKind::Run => "run",
            ActionKind::Prune => "prune",
            ActionKind::Cleanup => "cleanup",
            ActionKind::Keep => "keep",
        }
    }
}

/// One change to one managed thing, why, and what the plan saw of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub operation: Operation,
    /// Why, in words ("never ran", "differs from the configuration").
    pub reason: String,
    /// What the plan saw of the thing: the digest of the file or cron entry
    /// on disk (`absent` when there was none), of the artifact's manifest,
    /// or of the job's last success; a saved plan is refused when it changed.
    pub observed: String,
}

/// What an action does, with what it needs to do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Write a generated file that is not there yet.
    Create { file: FileChange, content: String },
    /// Rewrite a generated file that differs from the configuration.
    Update { file: FileChange, content: String },
    /// Remove a generated file the configuration no longer wants.
    Destroy { file: FileChange },
    /// Run a due job.
    Run { job: String },
    /// Delete an artifact outside its retention; with `after_run`, only
    /// once this plan's run of the job landed at the destination.
    Prune {
        artifact: ArtifactAddress,
        after_run: bool,
    },
    /// Delete data without a manifest, or abort an unfinished upload.
    Cleanup { artifact: ArtifactAddress },
    /// `--verbose` only: an artifact retention keeps.
    Keep { artifact: ArtifactAddress },
    /// Delete WAL files (their stored names) archived before the oldest
    /// base backup retention keeps at the destination.
    PruneWal { wal: WalAddress, files: Vec<String> },
}

/// A generated file an action changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub address: FileAddress,
    /// The file on this host (under `--root` when given).
    pub path: PathBuf,
    /// A unified diff from the current to the desired content; for the cron
    /// file, of the job's entry.
    pub diff: String,
}

impl Action {
    /// Rewrites every text the action prints (its reason, diff and desired
    /// content) with `mask`.
    pub fn mask(&mut self, mask: &dyn Fn(&mut String)) {
        mask(&mut self.reason);
        match &mut self.operation {
            Operation::Create { file, content } | Operation::Update { file, content } => {
                mask(&mut file.diff);
                mask(content);
            }
            Operation::Destroy { file } => mask(&mut file.diff),
            _ => {}
        }
    }

    pub fn kind(&self) -> ActionKind {
        match &self.operation {
            Operation::Create { .. } => ActionKind::Create,
            Operation::Update { .. } => ActionKind::Update,
            Operation::Destroy { .. } => ActionKind::Destroy,
            Operation::Run { .. } => ActionKind::Run,
            Operation::Prune { .. } | Operation::PruneWal { .. } => ActionKind::Prune,
            Operation::Cleanup { .. } => ActionKind::Cleanup,
            Operation::Keep { .. } => ActionKind::Keep,
        }
    }

    pub fn address(&self) -> Address {
        match &self.operation {
            Operation::Create { file, .. }
            | Operation::Update { file, .. }
            | Operation::Destroy { file } => Address::File(file.address.clone()),
            Operation::Run { job } => Address::Job(job.clone()),
            Operation::Prune { artifact, .. }
            | Operation::Cleanup { artifact }
            | Operation::Keep { artifact } => Address::Artifact(artifact.clone()),
            Operation::PruneWal { wal, .. } => Address::Wal(wal.clone()),
        }
    }

    /// The file a create, update or destroy changes.
    pub fn file(&self) -> Option<&FileChange> {
        match &self.operation {
            Operation::Create { file, .. }
            | Operation::Update { file, .. }
            | Operation::Destroy { file } => Some(file),
            _ => None,
        }
    }

    /// The desired content of a created or updated file: the whole unit
    /// file, or the job's cron entry.
    pub fn content(&self) -> Option<&str> {
        match &self.operation {
            Operation::Create { content, .. } | Operation::Update { content, .. } => Some(content),
            _ => None,
        }
    }

    /// The artifact a prune, cleanup or keep is about.
    pub fn artifact(&self) -> Option<&ArtifactAddress> {
        match &self.operation {
            Operation::Prune { artifact, .. }
            | Operation::Cleanup { artifact }
            | Operation::Keep { artifact } => Some(artifact),
            _ => None,
        }
    }
}

/// An action as the JSON has it: one flat object, its fields in this order,
/// each present only for the kinds that have it (docs/plan-json.md).
#[derive(Serialize, Deserialize)]
struct Wire {
    address: Address,
    action: ActionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default)]
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    after_run: bool,
    /// A WAL prune's files, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<Vec<String>>,
    /// Kept in saved plans, left out of `--json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(default)]
    observed: String,
}

impl From<&Action> for Wire {
    fn from(action: &Action) -> Self {
        let mut wire = Wire {
            address: action.address(),
            action: action.kind(),
            path: None,
            reason: action.reason.clone(),
            diff: None,
            job: None,
            destination: None,
            artifact: None,
            after_run: false,
            files: None,
            content: action.content().map(str::to_owned),
            observed: action.observed.clone(),
        };
        if let Some(file) = action.file() {
            wire.path = Some(file.path.clone());
            wire.diff = Some(file.diff.clone());
        }
        if let Operation::Run { job } = &action.operation {
            wire.job = Some(job.clone());
        }
        if let Some(artifact) = action.artifact() {
            wire.job = Some(artifact.job.clone());
            wire.destination = Some(artifact.destination.clone());
            wire.artifact = Some(artifact.id.clone());
        }
        if let Operation::Prune { after_run, .. } = action.operation {
            wire.after_run = after_run;
        }
        if let Operation::PruneWal { wal, files } = &action.operation {
            wire.job = Some(wal.job.clone());
            wire.destination = Some(wal.destination.clone());
            wire.files = Some(files.clone());
        }
        wire
    }
}

impl TryFrom<Wire> for Action {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        let address = wire.address.to_string();
        let missing = |what: &str| format!("action `{address}` has no {what}");
        let mismatch = || {
            format!(
                "`{address}` cannot be the address of a `{}` action",
                wire.action.name()
            )
        };
        let file = |address: Address| match address {
            Address::File(address) => Ok(FileChange {
                address,
                path: wire.path.clone().ok_or_else(|| missing("path"))?,
                diff: wire.diff.clone().ok_or_else(|| missing("diff"))?,
            }),
            _ => Err(mismatch()),
        };
        let artifact = |address: Address| match address {
            Address::Artifact(artifact) => Ok(artifact),
            _ => Err(mismatch()),
        };
        let content = || wire.content.clone().ok_or_else(|| missing("content"));
        let operation = match wire.action {
            ActionKind::Create => Operation::Create {
                file: file(wire.address)?,
                content: content()?,
            },
            ActionKind::Update => Operation::Update {
                file: file(wire.address)?,
                content: content()?,
            },
            ActionKind::Destroy => Operation::Destroy {
                file: file(wire.address)?,
            },
            ActionKind::Run => match wire.address {
                Address::Job(job) => Operation::Run { job },
                _ => return Err(mismatch()),
            },
            ActionKind::Prune => match wire.address {
                Address::Wal(wal) => Operation::PruneWal {
                    wal,
                    files: wire.files.clone().ok_or_else(|| missing("files"))?,
                },
                address => Operation::Prune {
                    artifact: artifact(address)?,
                    after_run: wire.after_run,
                },
            },
            ActionKind::Cleanup => Operation::Cleanup {
                artifact: artifact(wire.address)?,
            },
            ActionKind::Keep => Operation::Keep {
                artifact: artifact(wire.address)?,
            },
        };
        Ok(Action {
            operation,
            reason: wire.reason,
            observed: wire.observed,
        })
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire::from(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Action::try_from(Wire::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::address::UnitKind;

    fn artifact() -> ArtifactAddress {
        ArtifactAddress {
            destination: "offsite".into(),
            job: "app".into(),
            id: "20261121T021500Z".into(),
        }
    }

    fn file() -> FileChange {
        FileChange {
            address: FileAddress::Unit {
                job: "app".into(),
                unit: UnitKind::Timer,
            },
            path: "/etc/systemd/system/cairn-app.timer".into(),
            diff: "--- a\n+++ desired\n".into(),
        }
    }

    fn action(operation: Operation) -> Action {
        Action {
            operation,
            reason: "why".into(),
            observed: "sha256:0".into(),
        }
    }

    #[test]
    fn actions_are_flat_objects_with_only_their_fields() {
        let cases = [
            (
                Operation::Create {
                    file: file(),
                    content: "[Timer]\n".into(),
                },
                r#"{"address":"unit.app.timer","action":"create","path":"/etc/systemd/system/cairn-app.timer","reason":"why","diff":"--- a\n+++ desired\n","content":"[Timer]\n","observed":"sha256:0"}"#,
            ),
            (
                Operation::Update {
                    file: file(),
                    content: "[Timer]\n".into(),
                },
                r#"{"address":"unit.app.timer","action":"update","path":"/etc/systemd/system/cairn-app.timer","reason":"why","diff":"--- a\n+++ desired\n","content":"[Timer]\n","observed":"sha256:0"}"#,
            ),
            (
                Operation::Destroy { file: file() },
                r#"{"address":"unit.app.timer","action":"destroy","path":"/etc/systemd/system/cairn-app.timer","reason":"why","diff":"--- a\n+++ desired\n","observed":"sha256:0"}"#,
            ),
            (
                Operation::Run { job: "app".into() },
                r#"{"address":"job.app","action":"run","reason":"why","job":"app","observed":"sha256:0"}"#,
            ),
            (
                Operation::Prune {
                    artifact: artifact(),
                    after_run: true,
                },
                r#"{"address":"artifact.offsite.app.20261121T021500Z","action":"prune","reason":"why","job":"app","destination":"offsite","artifact":"20261121T021500Z","after_run":true,"observed":"sha256:0"}"#,
            ),
            (
                Operation::Cleanup {
                    artifact: artifact(),
                },
                r#"{"address":"artifact.offsite.app.20261121T021500Z","action":"cleanup","reason":"why","job":"app","destination":"offsite","artifact":"20261121T021500Z","observed":"sha256:0"}"#,
            ),
            (
                Operation::Keep {
                    artifact: artifact(),
                },
                r#"{"address":"artifact.offsite.app.20261121T021500Z","action":"keep","reason":"why","job":"app","destination":"offsite","artifact":"20261121T021500Z","observed":"sha256:0"}"#,
            ),
            (
                Operation::PruneWal {
                    wal: WalAddress {
                        destination: "offsite".into(),
                        job: "pg".into(),
                    },
                    files: vec!["000000010000000000000001.zst".into()],
                },
                r#"{"address":"wal.offsite.pg","action":"prune","reason":"why","job":"pg","destination":"offsite","files":["000000010000000000000001.zst"],"observed":"sha256:0"}"#,
            ),
        ];
        for (operation, json) in cases {
            let action = action(operation);
            assert_eq!(serde_json::to_string(&action).unwrap(), json);
            assert_eq!(serde_json::from_str::<Action>(json).unwrap(), action);
        }
    }

    #[test]
    fn an_action_that_lacks_its_data_is_refused() {
        for (json, error) in [
            (
                r#"{"address":"unit.app.timer","action":"create","path":"/x","reason":"","diff":"","observed":""}"#,
                "action `unit.app.timer` has no content",
            ),
            (
                r#"{"address":"job.app","action":"prune","reason":"","observed":""}"#,
                "`job.app` cannot be the address of a `prune` action",
            ),
            (
                r#"{"address":"store.app","action":"run","reason":"","observed":""}"#,
                "`store.app` is not a plan address",
            ),
        ] {
            let refused = serde_json::from_str::<Action>(json)
                .unwrap_err()
                .to_string();
            assert!(refused.contains(error), "{refused}");
        }
    }
}
