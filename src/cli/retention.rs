//! `cairn retention`: which timestamps a policy keeps, and why; with
//! `--against-policy`, what a change of policy keeps more or less.

use super::*;
use crate::config::raw::RetentionPolicy;
use crate::retention::Decision;

/// What `cairn retention` was asked.
pub(super) struct Request<'a> {
    pub policy: &'a str,
    /// `--against-policy`: the policy before the change.
    pub against: Option<&'a str>,
    /// `--from-inventory JOB`: the job's artifacts instead of stdin.
    pub from_inventory: Option<&'a str>,
    pub json: bool,
}

fn parse_policy(flag: &str, spec: &str) -> miette::Result<RetentionPolicy> {
    crate::retention::parse_spec(spec).map_err(|e| {
        miette!(
            help = "write the policy as e.g. daily=7,weekly=4,monthly=12",
            "{flag}: {e}"
        )
    })
}

/// `cairn retention`: which of the timestamps on stdin (or the job's
/// artifacts) a policy keeps, and why. Periods are in the configuration's
/// time zone when there is a configuration file, else in UTC.
pub(super) fn retention(global: &GlobalArgs, request: &Request<'_>) -> miette::Result<ExitStatus> {
    let policy = parse_policy("--policy", request.policy)?;
    let against = request
        .against
        .map(|spec| parse_policy("--against-policy", spec))
        .transpose()?;
    let config = if global.config.exists() || request.from_inventory.is_some() {
        Some(load_config(global)?.0)
    } else {
        None
    };
    let timezone = config.as_ref().map_or(chrono_tz::UTC, |c| c.timezone);
    let (given, times) = match (request.from_inventory, &config) {
        (Some(job), Some(config)) => inventory_times(config, job)?,
        _ => stdin_times()?,
    };
    let decisions = crate::retention::apply(&policy, &times, timezone);
    let Some(against) = against else {
        if request.json {
            let items: Vec<serde_json::Value> = given
                .iter()
                .zip(&decisions)
                .map(|(time, decision)| serde_json::json!({ "time": time, "keep": decision.keep, "reasons": decision.reasons }))
                .collect();
            return print_json(&items);
        }
        output::print(&crate::retention::table(
            &given, &decisions, &policy, timezone,
        ))?;
        return Ok(ExitStatus::Success);
    };
    let before = crate::retention::apply(&against, &times, timezone);
    if request.json {
        let decision = |d: &Decision| serde_json::json!({ "keep": d.keep, "reasons": d.reasons });
        let items: Vec<serde_json::Value> = given
            .iter()
            .zip(before.iter().zip(&decisions))
            .map(|(time, (b, a))| serde_json::json!({ "time": time, "before": decision(b), "after": decision(a) }))
            .collect();
        return print_json(&items);
    }
    output::print(&crate::retention::comparison(
        &given, &before, &decisions, &against, &policy, timezone,
    ))?;
    Ok(ExitStatus::Success)
}

fn print_json(items: &[serde_json::Value]) -> miette::Result<ExitStatus> {
    output::print(&format!(
        "{}\n",
        serde_json::to_string_pretty(items).expect("JSON values serialize")
    ))?;
    Ok(ExitStatus::Success)
}

/// RFC 3339 timestamps, one per line, from stdin.
fn stdin_times() -> miette::Result<(Vec<String>, Vec<chrono::DateTime<chrono::Utc>>)> {
    use std::io::Read;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| miette!("cannot read the timestamps from stdin: {e}"))?;
    let mut given = Vec::new();
    let mut times = Vec::new();
    for (number, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let time = chrono::DateTime::parse_from_rfc3339(line).map_err(|e| {
            miette!(
                help = "give one RFC 3339 timestamp per line, e.g. 2026-11-20T02:00:00Z",
                "line {}: `{line}` is not an RFC 3339 timestamp: {e}",
                number + 1
            )
        })?;
        given.push(line.to_owned());
        times.push(time.with_timezone(&chrono::Utc));
    }
    Ok((given, times))
}

/// The start times of `job`'s good artifacts (not safety backups) at its
/// destinations, each time once.
fn inventory_times(
    config: &Config,
    job: &str,
) -> miette::Result<(Vec<String>, Vec<chrono::DateTime<chrono::Utc>>)> {
    let found = config.job(job)?;
    let Some(backup) = found.backup() else {
        return Err(miette!(
            "`{job}` is a verify job: it has no artifacts of its own"
        ));
    };
    let inventory = runtime()?.block_on(async {
        let opened = crate::inventory::open_all(config).await;
        crate::inventory::read(&opened, Some(job)).await
    });
    let log = Log::stderr();
    let mut times = std::collections::BTreeSet::new();
    for destination in &backup.to {
        match inventory.destinations.get(destination.as_str()) {
            Some(Ok(listing)) => times.extend(
                listing
                    .artifacts
                    .iter()
                    .filter(|found| {
                        found.job == job
                            && found
                                .manifest()
                                .is_some_and(|m| m.reason != crate::manifest::Reason::Safety)
                    })
                    .map(|found| found.time),
            ),
            Some(Err(error)) => log.warn(&format!(
                "destination `{destination}` cannot be read: {error}"
            )),
            None => {}
        }
    }
    let times: Vec<_> = times.into_iter().collect();
    let given = times
        .iter()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .collect();
    Ok((given, times))
}
