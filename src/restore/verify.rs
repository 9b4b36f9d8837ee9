//! Verify runs (`cairn verify JOB`, `kind = "verify"` jobs): the automated
//! restore test. The newest artifact of the backup job is checked against
//! its manifest, restored into a scratch target, checked (the store kind's
//! built-in checks, then the job's declared ones), and the scratch target is
//! removed. The result is a run record in the history, with a `verify`
//! section.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{artifact, check_checksums, load, RestoreError, Selection};
use crate::cancel::Cancel;
use crate::config::model::{Check, Config, Job, JobKind};
use crate::history::{CheckRecord, Outcome, RunRecord, VerifyRecord};
use crate::manifest::Reason;
use crate::output::Log;

pub struct VerifyOptions<'a> {
    pub reason: Reason,
    pub now: DateTime<Utc>,
    /// `--identity`: the age identity file (else `settings.age_identity_file`).
    pub identity: Option<&'a std::path::Path>,
    /// Where each step is reported.
    pub log: Log,
    /// How a base backup's scratch cluster fetches WAL: the verified job's
    /// `cairn wal fetch` (other stores ignore it).
    pub restore_command: String,
}

/// Verifies the newest artifact of the job `job` tests (a verify job's
/// `verifies`, or a backup job itself with the built-in checks only) and
/// returns the run's record: a failed verify is a record with outcome
/// `failed`. The caller holds the job's lock and keeps the record.
pub fn verify(
    runtime: &tokio::runtime::Handle,
    config: &Config,
    job: &Job,
    options: &VerifyOptions<'_>,
) -> RunRecord {
    let (verified, checks): (&str, &[Check]) = match &job.kind {
        JobKind::Verify(verify) => (verify.verifies.as_str(), &verify.checks),
        JobKind::Backup(_) => (job.name.as_str(), &[]),
    };
    let started = std::time::Instant::now();
    let cancel = Cancel::default();
    let watcher = super::AbortOnDrop(
        cancel.watch(
            runtime,
            job.timeout
                .map(|t| std::time::Duration::from_secs(t.as_seconds())),
        ),
    );
    let mut run = VerifyRun {
        record: VerifyRecord {
            job: verified.to_owned(),
            destination: None,
            artifact: None,
            checks: Vec::new(),
        },
        raw_size: 0,
        stored_size: 0,
    };
    let result = run.execute(runtime, config, verified, checks, options, &cancel);
    drop(watcher);
    let error = match result {
        Err(error) => Some(cancel.explain(error.to_string())),
        Ok(()) => run
            .record
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| {
                format!(
                    "check failed: {} (measured {})",
                    c.check,
                    c.value.as_deref().unwrap_or("nothing")
                )
            })
            .reduce(|a, b| format!("{a}; {b}")),
    };
    RunRecord {
        job: job.name.to_string(),
        id: crate::destinations::artifact_id(options.now),
        reason: options.reason,
        started_at: options.now,
        finished_at: options.now
            + chrono::Duration::from_std(started.elapsed()).unwrap_or_default(),
        outcome: if error.is_none() {
            Outcome::Success
        } else {
            Outcome::Failed
        },
        error,
        raw_size: run.raw_size,
        stored_size: run.stored_size,
        destinations: BTreeMap::new(),
        verify: Some(run.record),
        warnings: Vec::new(),
    }
}

struct VerifyRun {
    record: VerifyRecord,
    raw_size: u64,
    stored_size: u64,
}

impl VerifyRun {
    fn execute(
        &mut self,
        runtime: &tokio::runtime::Handle,
        config: &Config,
        verified: &str,
        checks: &[Check],
        options: &VerifyOptions<'_>,
        cancel: &Cancel,
    ) -> Result<(), RestoreError> {
        let log = &options.log;
        let (job, backup) = artifact::backup_job(config, verified)?;
        let chosen = runtime.block_on(artifact::choose(
            config,
            job,
            backup,
            &Selection::default(),
            log,
        ))?;
        let manifest = chosen.manifest().clone();
        self.record.destination = Some(chosen.destination.name().to_owned());
        self.record.artifact = Some(manifest.id.clone());
        self.raw_size = manifest.streams.iter().map(|s| s.raw_size).sum();
        self.stored_size = manifest.streams.iter().map(|s| s.stored_size).sum();
        log.progress(&format!(
            "verifying artifact {} of job `{verified}` from `{}`",
            manifest.id,
            chosen.destination.name()
        ));
        let identities = artifact::identities(config, &manifest, options.identity, log)?;
        check_checksums(runtime, &chosen, cancel, log)?;
        self.record.checks.push(CheckRecord {
            check: "sha256 of every stream matches the manifest".to_owned(),
            passed: true,
            value: Some(format!("{} streams", manifest.streams.len())),
        });

        let store = &config.stores[&backup.store];
        let recovery = crate::stores::postgres::Recovery {
            target_time: None,
            timeline: "latest".to_owned(),
            action: crate::stores::postgres::TargetAction::Promote,
            start: true,
            restore_command: options.restore_command.clone(),
            server_version: manifest.wal.as_ref().map_or(0, |wal| wal.server_version),
        };
        let mut scratch = crate::stores::scratch_for(backup.store.as_str(), store, &recovery)?;
        let result = (|| -> Result<(), RestoreError> {
            load(runtime, &chosen, &identities, scratch.as_mut(), cancel, log)?;
            scratch.finish()?;
            for (check, passed, value) in scratch.builtin_checks()? {
                self.note(log, check, passed, value);
            }
            for check in checks {
                let value = scratch.measure(check)?;
                self.note(
                    log,
                    describe(check),
                    passes(check, value),
                    value.to_string(),
                );
            }
            Ok(())
        })();
        log.progress(&format!("removing {}", scratch.describe()));
        if let Err(error) = scratch.discard() {
            log.warn(&error.to_string());
        }
        result
    }

    fn note(&mut self, log: &Log, check: String, passed: bool, value: String) {
        log.progress(&format!(
            "{} {check}: {value}",
            if passed { "ok    " } else { "FAILED" }
        ));
        self.record.checks.push(CheckRecord {
            check,
            passed,
            value: Some(value),
        });
    }
}

/// A declared check in words, e.g. `select count(*) from users >= 1`.
pub fn describe(check: &Check) -> String {
    let bounds = |what: String| match (check.min, check.max) {
        (Some(min), Some(max)) => format!("{what} between {min} and {max}"),
        (Some(min), None) => format!("{what} >= {min}"),
        (None, Some(max)) => format!("{what} <= {max}"),
        (None, None) => what,
    };
    if let Some(query) = &check.query {
        let place = check
            .database
            .as_ref()
            .map(|db| format!(" in {db}"))
            .unwrap_or_default();
        bounds(format!("`{query}`{place}"))
    } else if let Some(min) = check.min_keys {
        format!("keys >= {min}")
    } else if let Some(min) = check.min_files {
        format!("files >= {min}")
    } else {
        "no check".to_owned()
    }
}

/// Whether `value` satisfies `check`.
pub fn passes(check: &Check, value: i64) -> bool {
    if check.query.is_some() {
        check.min.is_none_or(|min| value >= min) && check.max.is_none_or(|max| value <= max)
    } else if let Some(min) = check.min_keys {
        value >= min as i64
    } else if let Some(min) = check.min_files {
        value >= min as i64
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_compare_with_their_bounds() {
        let query = Check {
            query: Some("select count(*) from users".into()),
            min: Some(1),
            max: Some(10),
            ..Check::default()
        };
        assert_eq!(
            describe(&query),
            "`select count(*) from users` between 1 and 10"
        );
        assert!(passes(&query, 1) && passes(&query, 10));
        assert!(!passes(&query, 0) && !passes(&query, 11));
        let keys = Check {
            min_keys: Some(3),
            ..Check::default()
        };
        assert_eq!(describe(&keys), "keys >= 3");
        assert!(passes(&keys, 3) && !passes(&keys, 2));
        let files = Check {
            min_files: Some(2),
            ..Check::default()
        };
        assert!(passes(&files, 5) && !passes(&files, 1));
    }
}
