//! Stores and destinations that no job uses, reported as warnings when
//! every job validated.

use std::collections::{BTreeMap, BTreeSet};

use super::{path, Checker};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Job;
use crate::config::name::Name;
use crate::config::raw::{self, Store};

pub(super) fn check_unused(
    checker: &mut Checker,
    jobs: &BTreeMap<Name, Job>,
    stores: &BTreeMap<Name, Store>,
    destinations: &BTreeMap<Name, raw::Destination>,
) {
    let used_stores: BTreeSet<&Name> = jobs
        .values()
        .filter_map(|j| j.backup())
        .map(|b| &b.store)
        .collect();
    let used_destinations: BTreeSet<&Name> = jobs
        .values()
        .filter_map(|j| j.backup())
        .flat_map(|b| &b.to)
        .collect();
    let jobs_failed = checker.diagnostics.iter().any(Diagnostic::is_error);
    if jobs_failed {
        // A job that failed validation may be the one that uses them.
        return;
    }
    for name in stores.keys().filter(|n| !used_stores.contains(n)) {
        checker.warning(
            &path(&["stores", name.as_str()]),
            format!("store `{name}` is not backed up by any job"),
            "unused",
            format!("add a job with store = \"{name}\", or remove the store"),
        );
    }
    for name in destinations
        .keys()
        .filter(|n| !used_destinations.contains(n))
    {
        checker.warning(
            &path(&["destinations", name.as_str()]),
            format!("destination `{name}` is not used by any job"),
            "unused",
            format!("add \"{name}\" to a job's `to`, or remove the destination"),
        );
    }
}
