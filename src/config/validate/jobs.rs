//! `[jobs.NAME]`: the schedule, `after`, durations and hooks of every job,
//! and what a backup job needs: a store, destinations, retention,
//! compression and age recipients. Verify jobs are checked in `verify`.

use std::collections::BTreeMap;

use super::retention::check_job_retention;
use super::schedules::{check_rpo, check_schedule};
use super::verify::check_verify;
use super::{path, Checker};
use crate::config::model::{Backup, Compression, Job, JobKind, Schedule};
use crate::config::name::Name;
use crate::config::raw::{self, CompressionAlgorithm, RetentionPolicy, Store};
use crate::config::suggest;
use crate::config::tree::Path;
use crate::duration::Duration;

#[allow(clippy::too_many_arguments)]
pub(super) fn check_jobs(
    checker: &mut Checker,
    jobs: &BTreeMap<Name, raw::Job>,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
    policies: &BTreeMap<Name, RetentionPolicy>,
    schedules: &BTreeMap<Name, Schedule>,
    settings: &raw::Settings,
) -> BTreeMap<Name, Job> {
    let mut checked = BTreeMap::new();
    for (name, job) in jobs {
        let at = |key: &str| path(&["jobs", name.as_str(), key]);
        let schedule = match &job.schedule {
            raw::ScheduleRef::Named(schedule) => checker
                .reference(
                    &at("schedule"),
                    "schedules",
                    "schedule",
                    schedule,
                    schedules,
                )
                .cloned(),
            raw::ScheduleRef::Inline(inline) => {
                check_schedule(checker, &at("schedule"), None, inline.clone())
            }
        };
        let mut after = Vec::new();
        for (i, other) in job.after.iter().enumerate() {
            let at_entry = at("after").index(i);
            if other == name {
                checker.error(
                    &at_entry,
                    format!("job `{name}` cannot run after itself"),
                    "itself",
                    "remove it from `after`",
                );
            } else if after.contains(other) {
                checker.error(
                    &at_entry,
                    format!("job `{other}` appears twice in `after`"),
                    "repeated",
                    "list each job once",
                );
            } else if checker
                .reference(&at_entry, "jobs", "job", other, jobs)
                .is_some()
            {
                after.push(other.clone());
            }
        }
        for (key, duration) in [("rpo", job.rpo), ("timeout", job.timeout)] {
            if duration.is_some_and(Duration::is_zero) {
                checker.error(
                    &at(key),
                    format!("`{key}` must be longer than zero"),
                    "zero",
                    "give a duration such as \"26h\", or remove the key",
                );
            }
        }
        // A base backup's rpo is met by the WAL archive, not its schedule.
        let archived = job
            .store
            .as_ref()
            .and_then(|store| stores.get(store))
            .is_some_and(|store| {
                matches!(store, Store::Postgres(pg) if pg.method == raw::PostgresMethod::Basebackup)
            });
        if let (Some(schedule), Some(rpo), false) = (&schedule, job.rpo, archived) {
            check_rpo(checker, &at("rpo"), name, schedule, rpo);
        }
        let hooks = job.hooks.clone().unwrap_or_default();
        for (key, commands) in [
            ("before", &hooks.before),
            ("after", &hooks.after),
            ("on_failure", &hooks.on_failure),
        ] {
            for (i, command) in commands.iter().enumerate() {
                if command.trim().is_empty() {
                    checker.error(
                        &at("hooks").key(key).index(i),
                        "a hook command is empty",
                        "empty command",
                        "remove it, or write the command line to run through sh -c",
                    );
                }
            }
        }
        let hosts = job
            .host
            .as_ref()
            .map(|host| check_hosts(checker, &at("host"), name, &host.names(), settings));
        if settings.scheduler == raw::Scheduler::Kubernetes {
            check_kubernetes_job(checker, name, job, schedule.as_ref(), jobs);
        }
        let kind = match job.kind {
            raw::JobKind::Backup => {
                check_backup(checker, name, job, stores, destinations, policies)
                    .map(JobKind::Backup)
            }
            raw::JobKind::Verify => {
                check_verify(checker, name, job, jobs, stores, settings).map(JobKind::Verify)
            }
        };
        if let (Some(schedule), Some(kind)) = (schedule, kind) {
            checked.insert(
                name.clone(),
                Job {
                    name: name.clone(),
                    schedule,
                    after,
                    rpo: job.rpo,
                    timeout: job.timeout,
                    hooks,
                    kind,
                    hosts,
                },
            );
        }
    }
    checked
}

fn check_backup(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
    policies: &BTreeMap<Name, RetentionPolicy>,
) -> Option<Backup> {
    let at = |key: &str| path(&["jobs", name.as_str(), key]);
    let whole = path(&["jobs", name.as_str()]);
    let mut ok = true;
    if job.verifies.is_some() || !job.checks.is_empty() {
        let key = if job.verifies.is_some() {
            "verifies"
        } else {
            "checks"
        };
        checker.error(
            &at(key),
            format!("`{key}` is only for verify jobs"),
            "only for kind = \"verify\"",
            "set kind = \"verify\" on this job, or remove the key",
        );
        ok = false;
    }
    let store = match &job.store {
        Some(store) => checker
            .reference(&at("store"), "stores", "store", store, stores)
            .map(|_| store.clone()),
        None => {
            let names: Vec<&str> = stores.keys().map(Name::as_str).collect();
            let help = if names.is_empty() {
                "add store = \"NAME\" and define [stores.NAME]".to_owned()
            } else {
                format!("add store = \"NAME\" with one of {}", suggest::list(&names))
            };
            checker.error(
                &whole,
                format!("backup job `{name}` has no `store`"),
                "needs `store`",
                help,
            );
            None
        }
    };
    if job.to.is_empty() {
        let names: Vec<&str> = destinations.keys().map(Name::as_str).collect();
        let help = if names.is_empty() {
            "add to = [\"NAME\"] and define [destinations.NAME]".to_owned()
        } else {
            format!("add to = [...] with some of {}", suggest::list(&names))
        };
        checker.error(
            &whole,
            format!("backup job `{name}` has no destinations (`to`)"),
            "needs `to`",
            help,
        );
        ok = false;
    }
    let mut to: Vec<Name> = Vec::new();
    for (i, destination) in job.to.iter().enumerate() {
        let at_entry = at("to").index(i);
        if to.contains(destination) {
            checker.error(
                &at_entry,
                format!("destination `{destination}` appears twice in `to`"),
                "repeated",
                "list each destination once",
            );
            ok = false;
        } else if checker
            .reference(
                &at_entry,
                "destinations",
                "destination",
                destination,
                destinations,
            )
            .is_some()
        {
            to.push(destination.clone());
        } else {
            ok = false;
        }
    }
    let retention = check_job_retention(checker, name, job, &to, policies);
    let compression = check_compression(checker, &at("compression"), &job.compression);
    let mut encrypt_to = Vec::new();
    for (i, recipient) in job.encrypt_to.iter().enumerate() {
        match recipient.parse::<age::x25519::Recipient>() {
            Ok(_) => encrypt_to.push(recipient.clone()),
            Err(reason) => {
                checker.error(
                    &at("encrypt_to").index(i),
                    format!("`{recipient}` is not an age recipient: {reason}"),
                    "not an age recipient",
                    "use an age public key (\"age1...\"), as printed by `age-keygen -y KEYFILE`",
                );
                ok = false;
            }
        }
    }
    let (store, retention, compression) = (store?, retention?, compression?);
    ok.then_some(Backup {
        store,
        to,
        retention,
        compression,
        encrypt_to,
    })
}

fn check_compression(
    checker: &mut Checker,
    at: &Path,
    compression: &Option<raw::Compression>,
) -> Option<Compression> {
    let (algorithm, level) = match compression {
        None => return Some(Compression::default()),
        Some(raw::Compression::Algorithm(algorithm)) => (*algorithm, None),
        Some(raw::Compression::Detailed(settings)) => (settings.algorithm, settings.level),
    };
    let (range, default) = match algorithm {
        CompressionAlgorithm::Zstd => (1..=19, Some(3)),
        CompressionAlgorithm::Gzip => (1..=9, Some(6)),
        CompressionAlgorithm::None => (0..=0, None),
    };
    match (level, default) {
        (Some(_), None) => {
            checker.error(
                &at.key("level"),
                "`level` has no meaning without compression",
                "not used",
                "remove level, or choose algorithm = \"zstd\" or \"gzip\"",
            );
            None
        }
        (Some(level), Some(_)) if !range.contains(&level) => {
            checker.error(
                &at.key("level"),
                format!(
                    "compression level {level} is out of range {}-{}",
                    range.start(),
                    range.end()
                ),
                "out of range",
                "zstd takes 1-19 (3 is the default and fast), gzip 1-9 (6 is the default)",
            );
            None
        }
        (level, default) => Some(Compression {
            algorithm,
            level: level.or(default),
        }),
    }
}

/// A job's hosts, lowercase: names, and with `settings.hosts` declared,
/// declared ones.
fn check_hosts(
    checker: &mut Checker,
    at: &Path,
    job: &Name,
    hosts: &[String],
    settings: &raw::Settings,
) -> Vec<String> {
    if hosts.is_empty() {
        checker.error(
            at,
            format!("job `{job}` lists no host"),
            "empty",
            "name the host(s) the job runs on, or remove `host` to run it on every host",
        );
    }
    let declared: Option<Vec<String>> = settings
        .hosts
        .as_ref()
        .map(|hosts| hosts.iter().map(|h| h.to_lowercase()).collect());
    let mut names = Vec::new();
    for host in hosts {
        let name = host.trim().to_lowercase();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '/') {
            checker.error(
                at,
                format!("`{host}` is not a host name"),
                "not a host name",
                "write the name gethostname(2) gives on that host, e.g. db-1",
            );
            continue;
        }
        if let Some(declared) = &declared {
            if !declared.contains(&name) {
                checker.error(
                    at,
                    format!(
                        "job `{job}` names host `{host}`, which settings.hosts does not declare"
                    ),
                    "not in settings.hosts",
                    format!(
                        "declare it in settings.hosts, or use one of: {}",
                        declared.join(", ")
                    ),
                );
            }
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What a job cannot be as a CronJob: scoped to a host (the cluster picks
/// the node), on a schedule Kubernetes reads otherwise, or named so that
/// its CronJob's name is too long or another job's.
fn check_kubernetes_job(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    schedule: Option<&Schedule>,
    jobs: &BTreeMap<Name, raw::Job>,
) {
    let at = |key: &str| path(&["jobs", name.as_str(), key]);
    if job.host.is_some() {
        checker.error(
            &at("host"),
            format!("job `{name}` names a host, but with scheduler = \"kubernetes\" the cluster picks where it runs"),
            "not with kubernetes",
            "remove `host`; use settings.kubernetes.node_selector to steer pods to nodes",
        );
    }
    if let Some(why) = schedule
        .and_then(|schedule| crate::schedule::kubernetes::parser_difference(schedule.cron.source()))
    {
        checker.error(
            &at("schedule"),
            format!("job `{name}`'s schedule means something else to Kubernetes: {why}"),
            "read otherwise by Kubernetes",
            "split it into two jobs (one per day field), or make one day field `*`",
        );
    }
    let kube_name = |job: &str| format!("cairn-{}", job.replace('_', "-"));
    let cronjob = kube_name(name.as_str());
    if cronjob.len() > 52 {
        checker.error(
            &path(&["jobs", name.as_str()]),
            format!("job `{name}`'s CronJob would be named `{cronjob}`, longer than Kubernetes' 52 characters"),
            "name too long",
            format!("shorten the job's name to at most {} characters", 52 - "cairn-".len()),
        );
    }
    if let Some(other) = jobs
        .keys()
        .find(|other| *other < name && kube_name(other.as_str()) == cronjob)
    {
        checker.error(
            &path(&["jobs", name.as_str()]),
            format!("jobs `{other}` and `{name}` would both be the CronJob `{cronjob}` (Kubernetes names have no `_`)"),
            "same CronJob name",
            "rename one of them",
        );
    }
}
