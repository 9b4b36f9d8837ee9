//! Verify jobs: what they verify is a backup job, they take none of a
//! backup job's keys, and each check fits the verified job's store.

use std::collections::BTreeMap;

use super::{path, Checker};
use crate::config::model::Verify;
use crate::config::name::Name;
use crate::config::raw::{self, Store};
use crate::config::suggest;
use crate::config::tree::Path;

pub(super) fn check_verify(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    jobs: &BTreeMap<Name, raw::Job>,
    stores: &BTreeMap<Name, Store>,
    settings: &raw::Settings,
) -> Option<Verify> {
    let at = |key: &str| path(&["jobs", name.as_str(), key]);
    let mut ok = true;
    for (key, set) in [
        ("store", job.store.is_some()),
        ("to", !job.to.is_empty()),
        ("retention", job.retention.is_some()),
        ("compression", job.compression.is_some()),
        ("encrypt_to", !job.encrypt_to.is_empty()),
    ] {
        if set {
            checker.error(&at(key), format!("verify job `{name}` does not take `{key}`"), "not for verify jobs", "a verify job restores the newest artifact of the job named in `verifies`; remove this key");
            ok = false;
        }
    }
    let Some(verifies) = &job.verifies else {
        checker.error(
            &path(&["jobs", name.as_str()]),
            format!("verify job `{name}` does not say what it verifies"),
            "needs `verifies`",
            "add verifies = \"JOB\" naming the backup job whose artifacts it restores",
        );
        return None;
    };
    let target = checker.reference(&at("verifies"), "jobs", "job", verifies, jobs)?;
    if target.kind == raw::JobKind::Verify {
        checker.error(
            &at("verifies"),
            format!("`{verifies}` is a verify job; a verify job verifies a backup job"),
            "not a backup job",
            "name the backup job whose artifacts should be restore-tested",
        );
        return None;
    }
    if !target.encrypt_to.is_empty() && settings.age_identity_file.is_none() {
        checker.warning(&at("verifies"), format!("job `{verifies}` encrypts its artifacts but no `settings.age_identity_file` is set"), "cannot decrypt", "set settings.age_identity_file on the host that runs this verify job");
    }
    let store_kind = target
        .store
        .as_ref()
        .and_then(|s| stores.get(s))
        .map(Store::kind);
    for (i, check) in job.checks.iter().enumerate() {
        ok &= check_check(checker, &at("checks").index(i), check, store_kind);
    }
    ok.then(|| Verify {
        verifies: verifies.clone(),
        checks: job.checks.clone(),
    })
}

fn check_check(
    checker: &mut Checker,
    at: &Path,
    check: &raw::Check,
    store_kind: Option<&str>,
) -> bool {
    let set: Vec<&str> = [
        ("query", check.query.is_some()),
        ("min_keys", check.min_keys.is_some()),
        ("min_files", check.min_files.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    if set.len() != 1 {
        checker.error(at, "a check needs exactly one of `query`, `min_keys` or `min_files`", "one kind of check per entry", "write one [[jobs.NAME.checks]] entry per check, e.g. query = \"select count(*) from users\" with min = 1");
        return false;
    }
    let what = set[0];
    let fits: &[&str] = match what {
        "query" => &["postgres", "mariadb", "sqlite"],
        "min_keys" => &["redis"],
        _ => &["directory"],
    };
    if let Some(kind) = store_kind {
        if !fits.contains(&kind) {
            checker.error(
                &at.key(what),
                format!("`{what}` checks do not apply to {kind} stores"),
                format!("not for {kind}"),
                format!("`{what}` works with {} stores", suggest::list(fits)),
            );
            return false;
        }
    }
    if what != "query" {
        for (key, set) in [
            ("min", check.min.is_some()),
            ("max", check.max.is_some()),
            ("database", check.database.is_some()),
        ] {
            if set {
                checker.error(
                    &at.key(key),
                    format!("`{key}` only goes with `query`"),
                    "not used",
                    format!("`{what}` is itself the minimum; remove `{key}`"),
                );
                return false;
            }
        }
    } else if check.min.is_none() && check.max.is_none() {
        checker.error(
            at,
            "a query check needs `min`, `max` or both",
            "no bound",
            "e.g. min = 1 to require at least one row",
        );
        return false;
    }
    if let (Some(min), Some(max)) = (check.min, check.max) {
        if min > max {
            checker.error(
                &at.key("min"),
                format!("`min` ({min}) is greater than `max` ({max})"),
                "no value can pass",
                "swap them or fix one",
            );
            return false;
        }
    }
    true
}
