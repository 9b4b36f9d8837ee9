//! `cairn retention`: which timestamps a policy keeps, and why.

use super::*;

/// `cairn retention`: which of the timestamps on stdin a policy keeps, and
/// why. Periods are in the configuration's time zone when there is a
/// configuration file, else in UTC.
pub(super) fn retention(global: &GlobalArgs, spec: &str, json: bool) -> miette::Result<ExitStatus> {
    use std::io::Read;
    let policy = crate::retention::parse_spec(spec).map_err(|e| {
        miette!(
            help = "write the policy as e.g. daily=7,weekly=4,monthly=12",
            "--policy: {e}"
        )
    })?;
    let timezone = if global.config.exists() {
        load_config(global)?.0.timezone
    } else {
        chrono_tz::UTC
    };
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
    let decisions = crate::retention::apply(&policy, &times, timezone);
    if json {
        let items: Vec<serde_json::Value> = given
            .iter()
            .zip(&decisions)
            .map(|(time, decision)| serde_json::json!({ "time": time, "keep": decision.keep, "reasons": decision.reasons }))
            .collect();
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&items).expect("JSON values serialize")
        ))?;
        return Ok(ExitStatus::Success);
    }
    output::print(&crate::retention::table(
        &given, &decisions, &policy, timezone,
    ))?;
    Ok(ExitStatus::Success)
}
