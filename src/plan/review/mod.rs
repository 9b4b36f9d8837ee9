//! A review (`cairn plan --against X`, SPEC §13): two revisions of the
//! configuration rendered side by side, without the host, the destinations
//! or any server. The before side's generated files stand in for what is
//! on the host, so the file actions are exactly those `plan` would show
//! after the before side was applied; each job's fields are compared in the
//! operator's terms, with the next fires of a schedule and the steady-state
//! counts of what retention keeps.

pub mod fields;
pub mod render;
pub mod steady;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::files::{self, GeneratedFile};
use super::{Action, Observed, Summary};
use crate::config::address::FileAddress;
use crate::config::model::{Config, Job};
use crate::config::raw::Scheduler;
use crate::units;
use fields::Field;

/// What changes between the two revisions.
#[derive(Debug, Clone)]
pub struct Review {
    pub config: PathBuf,
    pub env: Option<String>,
    /// The before side, as the operator named it.
    pub against: String,
    /// The hosts reviewed, in order; `None` stands for every host (no job
    /// names one).
    pub hosts: Vec<Option<String>>,
    /// File actions, each with the host it is for.
    pub actions: Vec<(Option<String>, Action)>,
    pub changes: Vec<Change>,
    pub notes: Vec<String>,
}

/// One field of one job (or of the settings, `job` `None`) that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub job: Option<String>,
    pub host: Option<String>,
    pub field: String,
    /// `None`: the field (or the job) is new.
    pub before: Option<String>,
    /// `None`: the field (or the job) is gone.
    pub after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fires_before: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fires_after: Option<Vec<String>>,
    /// Steady-state artifacts kept per destination (`null`: every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_before: Option<BTreeMap<String, Option<usize>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_after: Option<BTreeMap<String, Option<usize>>>,
    /// The age of the oldest kept artifact per destination, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_kept_before: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_kept_after: Option<BTreeMap<String, String>>,
    /// What the change means beyond its values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    fn new(
        job: Option<&str>,
        host: &Option<String>,
        field: &str,
        before: Option<String>,
        after: Option<String>,
    ) -> Self {
        Change {
            job: job.map(str::to_owned),
            host: host.clone(),
            field: field.to_owned(),
            before,
            after,
            next_fires_before: None,
            next_fires_after: None,
            kept_before: None,
            kept_after: None,
            oldest_kept_before: None,
            oldest_kept_after: None,
            note: None,
        }
    }
}

impl Review {
    /// Whether the two revisions install or keep different things.
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty() || !self.changes.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let actions: Vec<Action> = self.actions.iter().map(|(_, a)| a.clone()).collect();
        Summary::of(&actions)
    }

    /// Replaces each value a `${VAR}` took by the reference, wherever the
    /// review prints it: a secret in the environment of the machine that
    /// runs the review never reaches its output.
    pub fn mask(&mut self, variables: &[(String, String)]) {
        let mut variables: Vec<&(String, String)> = variables
            .iter()
            .filter(|(_, value)| value.len() >= 4)
            .collect();
        variables.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        let mask = |text: &mut String| {
            for (name, value) in &variables {
                if text.contains(value.as_str()) {
                    *text = text.replace(value.as_str(), &format!("${{{name}}}"));
                }
            }
        };
        for (_, action) in &mut self.actions {
            action.mask(&mask);
        }
        for change in &mut self.changes {
            for value in [&mut change.before, &mut change.after]
                .into_iter()
                .flatten()
            {
                mask(value);
            }
        }
        for note in &mut self.notes {
            mask(note);
        }
    }
}

/// Compares `before` with `after` for `host` (every host when `None`) at
/// `now` (the next fires and the retention horizon count from it).
pub fn review(
    before: &Config,
    after: &Config,
    against: String,
    host: Option<&str>,
    now: DateTime<Utc>,
) -> Review {
    let hosts: Vec<Option<String>> = match host {
        Some(host) => vec![Some(host.to_owned())],
        None => {
            let named: BTreeSet<String> = [before, after]
                .into_iter()
                .flat_map(|config| {
                    let declared = config
                        .settings
                        .hosts
                        .iter()
                        .flatten()
                        .map(|h| h.to_lowercase());
                    let named = config
                        .jobs
                        .values()
                        .flat_map(|job| job.hosts.iter().flatten().cloned());
                    declared.chain(named).collect::<Vec<_>>()
                })
                .collect();
            if named.is_empty() {
                vec![None]
            } else {
                named.into_iter().map(Some).collect()
            }
        }
    };
    let mut actions = Vec::new();
    let mut changes = Vec::new();
    for group in &hosts {
        let scoped = |config: &Config| Config {
            host: group.clone(),
            ..config.clone()
        };
        let (before, after) = (scoped(before), scoped(after));
        actions.extend(
            files::actions(&after, &rendered(&before, &after))
                .into_iter()
                .map(|action| (group.clone(), action)),
        );
        job_changes(&before, &after, group, now, &mut changes);
    }
    // The settings and notifications are the same for every host.
    let (global_before, global_after) = (fields::global(before), fields::global(after));
    changes.extend(
        differences(&global_before, &global_after).map(|(field, b, a)| {
            Change::new(
                None,
                &None,
                field,
                b.map(|f| f.shown.clone()),
                a.map(|f| f.shown.clone()),
            )
        }),
    );
    Review {
        config: after.path.clone(),
        env: after.env.clone(),
        against,
        hosts,
        actions,
        changes,
        notes: Vec::new(),
    }
}

/// The before side's files, as if it had been applied: what the host would
/// hold before the after side is.
fn rendered(before: &Config, after: &Config) -> Observed {
    let mut observed = Observed::empty(after);
    if before.settings.scheduler == Scheduler::Systemd {
        observed.units = units::unit_files(before)
            .into_iter()
            .map(|unit| GeneratedFile {
                address: unit.address(),
                path: before.settings.units_dir.join(unit.file_name()),
                content: unit.content,
            })
            .collect();
        observed.units.sort_by_key(|unit| unit.path.clone());
    }
    if before.settings.scheduler == Scheduler::Kubernetes {
        observed.manifests = units::kube::manifests(before)
            .into_iter()
            .map(|manifest| GeneratedFile {
                path: observed.manifests_dir.join(manifest.file.file_name()),
                address: FileAddress::Kube(manifest.file),
                content: manifest.content,
            })
            .collect();
    }
    if before.settings.scheduler == Scheduler::Cron {
        observed.cron_entries = units::cron_entries(before)
            .into_iter()
            .map(|entry| GeneratedFile {
                address: FileAddress::Cron { job: entry.job },
                path: before.settings.cron_file.clone(),
                content: entry.text,
            })
            .collect();
    }
    observed
}

/// The fields that differ: (field, before, after).
fn differences<'a>(
    before: &'a fields::Fields,
    after: &'a fields::Fields,
) -> impl Iterator<Item = (&'a str, Option<&'a Field>, Option<&'a Field>)> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter().filter_map(move |key| {
        let (b, a) = (before.get(key), after.get(key));
        let same = b.map(|f| &f.compared) == a.map(|f| &f.compared);
        (!same).then_some((key.as_str(), b, a))
    })
}

/// Each job of `host` added, removed or changed.
fn job_changes(
    before: &Config,
    after: &Config,
    host: &Option<String>,
    now: DateTime<Utc>,
    changes: &mut Vec<Change>,
) {
    let names: BTreeSet<&str> = before
        .host_jobs()
        .chain(after.host_jobs())
        .map(|job| job.name.as_str())
        .collect();
    for name in names {
        match (find(before, name), find(after, name)) {
            (None, Some(job)) => {
                let mut change =
                    Change::new(Some(name), host, "job", None, Some(summary(after, job)));
                schedule_effect(&mut change, None, Some((after, job)), now);
                changes.push(change);
            }
            (Some(job), None) => {
                let mut change =
                    Change::new(Some(name), host, "job", Some(summary(before, job)), None);
                if let Some(backup) = job.backup() {
                    let destinations = backup
                        .to
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    change.note = Some(format!(
                        "its artifacts at {destinations} are left alone: no plan prunes a job that is not configured"
                    ));
                }
                changes.push(change);
            }
            (Some(old), Some(new)) => {
                let (old_fields, new_fields) = (fields::job(before, old), fields::job(after, new));
                for (field, b, a) in differences(&old_fields, &new_fields) {
                    let mut change = Change::new(
                        Some(name),
                        host,
                        field,
                        b.map(|f| f.shown.clone()),
                        a.map(|f| f.shown.clone()),
                    );
                    if field == "schedule" {
                        schedule_effect(&mut change, Some((before, old)), Some((after, new)), now);
                    } else if let Some(destination) = field.strip_prefix("retention.") {
                        retention_effect(
                            &mut change,
                            destination,
                            (before, old),
                            (after, new),
                            now,
                        );
                    }
                    changes.push(change);
                }
            }
            (None, None) => {}
        }
    }
}

/// "backup of `db` (postgres) to local, offsite, daily 02:00 UTC".
fn summary(config: &Config, job: &Job) -> String {
    let schedule = fields::schedule(&job.schedule, config);
    match job.backup() {
        Some(backup) => format!(
            "backup of `{}` to {}, {schedule}",
            backup.store,
            backup
                .to
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => {
            let verifies = match &job.kind {
                crate::config::model::JobKind::Verify(verify) => verify.verifies.as_str(),
                crate::config::model::JobKind::Backup(_) => "",
            };
            format!("verify of `{verifies}`, {schedule}")
        }
    }
}

type Side<'a> = (&'a Config, &'a Job);

/// A schedule's next fires on each side, and what each side keeps.
fn schedule_effect(
    change: &mut Change,
    before: Option<Side>,
    after: Option<Side>,
    now: DateTime<Utc>,
) {
    let fires =
        |(config, job): Side| steady::next_fires(&job.schedule.cron, config.timezone, now, 3);
    change.next_fires_before = before.map(fires);
    change.next_fires_after = after.map(fires);
    let kept = |side: Option<Side>| {
        side.filter(|(_, job)| job.backup().is_some())
            .map(|side| kept(side, None, now))
    };
    if let Some((counts, oldest)) = kept(before) {
        change.kept_before = Some(counts);
        change.oldest_kept_before = Some(oldest);
    }
    if let Some((counts, oldest)) = kept(after) {
        change.kept_after = Some(counts);
        change.oldest_kept_after = Some(oldest);
    }
}

/// What each side keeps at `destination`.
fn retention_effect(
    change: &mut Change,
    destination: &str,
    before: Side,
    after: Side,
    now: DateTime<Utc>,
) {
    let (kept_before, oldest_before) = kept(before, Some(destination), now);
    let (kept_after, oldest_after) = kept(after, Some(destination), now);
    change.kept_before = Some(kept_before);
    change.kept_after = Some(kept_after);
    change.oldest_kept_before = Some(oldest_before);
    change.oldest_kept_after = Some(oldest_after);
}

/// Steady-state counts and oldest ages per destination of the job (or at
/// `only` that one), where the job sends artifacts.
fn kept(
    (config, job): Side,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> (BTreeMap<String, Option<usize>>, BTreeMap<String, String>) {
    let mut counts = BTreeMap::new();
    let mut oldest = BTreeMap::new();
    let Some(backup) = job.backup() else {
        return (counts, oldest);
    };
    for destination in &backup.to {
        if only.is_some_and(|only| only != destination.as_str()) {
            continue;
        }
        let policy = backup.retention.get(destination).map(|r| &r.policy);
        let state = steady::steady(&job.schedule.cron, policy, config.timezone, now);
        counts.insert(destination.to_string(), state.kept);
        oldest.insert(
            destination.to_string(),
            state
                .oldest
                .map_or_else(|| "every artifact".to_owned(), steady::age),
        );
    }
    (counts, oldest)
}

/// The job `name` of the configuration's host.
fn find<'a>(config: &'a Config, name: &str) -> Option<&'a Job> {
    config.host_jobs().find(|job| job.name.as_str() == name)
}
