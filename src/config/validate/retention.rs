//! Retention: every policy keeps something, and a backup job has a policy
//! for each of its destinations.

use std::collections::BTreeMap;

use super::{path, Checker};
use crate::config::model::Retention;
use crate::config::name::Name;
use crate::config::raw::{self, RetentionPolicy};
use crate::config::suggest;
use crate::config::tree::Path;

fn keeps_something(policy: &RetentionPolicy) -> bool {
    [
        policy.keep_last,
        policy.hourly,
        policy.daily,
        policy.weekly,
        policy.monthly,
        policy.yearly,
    ]
    .iter()
    .any(|tier| tier.unwrap_or(0) > 0)
        || policy.within.is_some_and(|within| !within.is_zero())
}

pub(super) fn check_keeps_something(
    checker: &mut Checker,
    at: &Path,
    policy: &RetentionPolicy,
) -> bool {
    if keeps_something(policy) {
        return true;
    }
    checker.error(
        at,
        "this retention policy keeps no artifact",
        "keeps nothing",
        "set at least one tier above zero, e.g. daily = 7 (an artifact kept by any tier is kept)",
    );
    false
}

pub(super) fn check_job_retention(
    checker: &mut Checker,
    name: &Name,
    job: &raw::Job,
    to: &[Name],
    policies: &BTreeMap<Name, RetentionPolicy>,
) -> Option<BTreeMap<Name, Retention>> {
    let at = path(&["jobs", name.as_str(), "retention"]);
    let resolve =
        |checker: &mut Checker, at: &Path, policy: &raw::PolicyRef| -> Option<Retention> {
            match policy {
                raw::PolicyRef::Named(policy) => checker
                    .reference(at, "retention", "retention policy", policy, policies)
                    .map(|found| Retention {
                        name: Some(policy.clone()),
                        policy: found.clone(),
                    }),
                raw::PolicyRef::Inline(policy) => {
                    check_keeps_something(checker, at, policy).then(|| Retention {
                        name: None,
                        policy: policy.clone(),
                    })
                }
            }
        };
    let mut retention = BTreeMap::new();
    match &job.retention {
        None => {
            if !to.is_empty() {
                checker.warning(&path(&["jobs", name.as_str()]), format!("job `{name}` has no retention: its artifacts are kept forever"), "no `retention`", "add retention = \"POLICY\" or retention = { daily = 7 } so old artifacts are pruned");
            }
        }
        Some(raw::JobRetention::Named(policy)) => {
            let policy = resolve(checker, &at, &raw::PolicyRef::Named(policy.clone()))?;
            retention = to.iter().map(|d| (d.clone(), policy.clone())).collect();
        }
        Some(raw::JobRetention::Inline(policy)) => {
            let policy = resolve(checker, &at, &raw::PolicyRef::Inline(policy.clone()))?;
            retention = to.iter().map(|d| (d.clone(), policy.clone())).collect();
        }
        Some(raw::JobRetention::PerDestination(per_destination)) => {
            let mut ok = true;
            for (destination, policy) in per_destination {
                let at_entry = at.key(destination.as_str());
                if !to.contains(destination) && !job.to.contains(destination) {
                    checker.error(&at_entry, format!("job `{name}` sets a retention for `{destination}`, which is not one of its destinations"), "not in `to`", format!("the job writes to {}; add `{destination}` to `to` or remove this entry", suggest::list(&job.to)));
                    ok = false;
                    continue;
                }
                match resolve(checker, &at_entry, policy) {
                    Some(policy) => {
                        retention.insert(destination.clone(), policy);
                    }
                    None => ok = false,
                }
            }
            for destination in to {
                if ok && !per_destination.contains_key(destination) {
                    checker.warning(&at, format!("job `{name}` has no retention for destination `{destination}`: its artifacts there are kept forever"), "no policy for this destination", format!("add {destination} = {{ daily = 7 }} or {destination} = \"POLICY\""));
                }
            }
            if !ok {
                return None;
            }
        }
    }
    Some(retention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;

    #[test]
    fn a_policy_of_zeros_keeps_nothing() {
        assert!(!keeps_something(&RetentionPolicy::default()));
        assert!(!keeps_something(&RetentionPolicy {
            daily: Some(0),
            within: Some(Duration::from_seconds(0)),
            ..Default::default()
        }));
        assert!(keeps_something(&RetentionPolicy {
            weekly: Some(1),
            ..Default::default()
        }));
    }
}
