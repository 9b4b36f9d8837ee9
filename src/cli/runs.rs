//! `cairn run`, `history`, `retention` and `inventory`.

use super::*;

pub(super) fn run_job(
    global: &GlobalArgs,
    job: &str,
    force_prune: bool,
) -> miette::Result<ExitStatus> {
    let (config, digest) = load_config(global)?;
    let reason = match std::env::var("CAIRN_REASON").as_deref() {
        Ok("scheduled") => crate::manifest::Reason::Scheduled,
        _ => crate::manifest::Reason::Manual,
    };
    let now = now()?;
    let host = host(global);
    let runtime = runtime()?;
    if config
        .jobs
        .iter()
        .any(|(name, j)| name.as_str() == job && j.backup().is_none())
    {
        return super::recovery::verify_job(&config, &host, &runtime, job, reason, now, None);
    }
    let options = crate::run::RunOptions {
        reason,
        now,
        store: None,
    };
    let record = runtime.block_on(crate::run::run(&config, job, &host, options))?;
    let mut failed = false;
    for (destination, outcome) in &record.destinations {
        if let Some(error) = &outcome.error {
            failed = true;
            eprintln!("error: job `{job}`: destination `{destination}`: {error}");
        }
    }
    if let Some(error) = &record.error {
        failed = true;
        eprintln!("error: job `{job}` failed: {error}");
    }
    // Before anything that can stop here (a closed stdout): a run that
    // happened is always reported.
    let state_dir = host.local(&config.settings.state_dir);
    runtime.block_on(crate::notify::after_run(&config, &state_dir, &record));
    if failed || record.outcome == crate::history::Outcome::Failed {
        eprintln!(
            "Run {} of job `{job}` failed; earlier backups are untouched and no incomplete artifact counts as a backup.",
            record.id
        );
        // What earlier failed runs left still goes; pruning waits for a
        // good run. A cleanup that fails here is only a warning.
        if let Err(error) = tidy_after_run(&config, digest, &host, &runtime, job, false, false) {
            eprintln!("warning: job `{job}`: cleanup after the run: {error:?}");
        }
        return Ok(ExitStatus::Failure);
    }
    output::print(&format!(
        "Backup {} of job `{job}` complete: {}.\n",
        record.id,
        record.stored_summary()
    ))?;
    tidy_after_run(&config, digest, &host, &runtime, job, true, force_prune)
}

/// After a run, with the same planner and executor as `apply`: cleans up
/// what failed runs of the job left at its destinations (data without a
/// manifest, unfinished uploads) and, after a good run, prunes the artifacts
/// outside retention.
fn tidy_after_run(
    config: &Config,
    digest: String,
    host: &Host,
    runtime: &tokio::runtime::Runtime,
    job: &str,
    prune: bool,
    force_prune: bool,
) -> miette::Result<ExitStatus> {
    let targets = [format!("job.{job}")];
    let options = plan::PlanOptions {
        targets: &targets,
        now: now()?,
        verbose: false,
        force_prune,
    };
    let mut plan = runtime.block_on(plan::plan(config, digest, host, &options))?;
    plan.actions.retain(|a| match a.action {
        plan::ActionKind::Cleanup => true,
        plan::ActionKind::Prune => prune,
        _ => false,
    });
    if plan.actions.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let apply_options = crate::apply::ApplyOptions {
        parallelism: 1,
        now: options.now,
    };
    let outcome = runtime.block_on(crate::apply::apply(&plan, config, host, &apply_options))?;
    for action in &plan.actions {
        let done = match action.action {
            plan::ActionKind::Prune => "pruned",
            _ => "cleaned up",
        };
        eprintln!("cairn: {done} {} ({})", action.address, action.reason);
    }
    for error in &outcome.errors {
        eprintln!("error: {error}");
    }
    Ok(if outcome.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

pub(super) fn history(
    global: &GlobalArgs,
    job: Option<&str>,
    json: bool,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    if let Some(job) = job {
        if !config.jobs.keys().any(|j| j.as_str() == job) {
            return Err(miette!(
                help = "`cairn graph` lists the jobs",
                "there is no job `{job}` in the configuration"
            ));
        }
    }
    let state_dir = host(global).local(&config.settings.state_dir);
    let records = crate::history::read(&state_dir, job).map_err(|e| {
        miette!(
            "cannot read the history in {}: {e}",
            state_dir.join("history").display()
        )
    })?;
    if json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&records).expect("records serialize")
        ))?;
        return Ok(ExitStatus::Success);
    }
    if records.is_empty() {
        output::print("No runs recorded yet.\n")?;
        return Ok(ExitStatus::Success);
    }
    let mut out = format!(
        "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
        "JOB", "RUN", "REASON", "OUTCOME", "DURATION", "STORED", "ERROR"
    );
    for record in &records {
        let duration = (record.finished_at - record.started_at)
            .num_seconds()
            .max(0) as u64;
        let error = record
            .error
            .clone()
            .or_else(|| {
                record
                    .destinations
                    .iter()
                    .find_map(|(d, o)| o.error.as_ref().map(|e| format!("{d}: {e}")))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<20} {:<20} {:<9} {:>9} {:>10} {:>10}  {}\n",
            record.job,
            record.id,
            format!("{:?}", record.reason).to_lowercase(),
            format!("{:?}", record.outcome).to_lowercase(),
            crate::duration::Duration::from_seconds(duration).to_string(),
            crate::run::human_bytes(record.stored_size),
            error
        ));
    }
    output::print(&out)?;
    Ok(ExitStatus::Success)
}

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
    let width = given.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (time, decision) in given.iter().zip(&decisions) {
        if decision.keep {
            out.push_str(&format!(
                "keep   {time:width$}  {}\n",
                decision.reasons.join(", ")
            ));
        } else {
            out.push_str(&format!(
                "prune  {time:width$}  outside {}\n",
                crate::retention::describe(&policy)
            ));
        }
    }
    let kept = decisions.iter().filter(|d| d.keep).count();
    out.push_str(&format!(
        "\n{kept} kept, {} pruned by {} (periods in {timezone}).\n",
        decisions.len() - kept,
        crate::retention::describe(&policy)
    ));
    output::print(&out)?;
    Ok(ExitStatus::Success)
}

pub(super) fn inventory(
    global: &GlobalArgs,
    job: Option<&str>,
    json: bool,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let inventory = runtime()?.block_on(async {
        let opened = crate::inventory::open_all(&config).await;
        crate::inventory::read(&opened, job).await
    });
    let rows = inventory.rows();
    let errors = inventory.errors();
    if json {
        let report = serde_json::json!({
            "artifacts": rows,
            "errors": errors.iter().map(|(d, e)| serde_json::json!({"destination": d, "error": e})).collect::<Vec<_>>(),
        });
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("rows serialize")
        ))?;
    } else {
        let mut out = format!(
            "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
            "DESTINATION", "JOB", "ID", "STATUS", "STORED", "SHA256", "REASON"
        );
        for row in &rows {
            out.push_str(&format!(
                "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
                row.destination,
                row.job,
                row.id,
                row.status,
                crate::run::human_bytes(row.stored_size),
                row.streams
                    .first()
                    .map(|s| &s.sha256[..16.min(s.sha256.len())])
                    .unwrap_or("-"),
                row.reason
                    .map(|r| format!("{r:?}").to_lowercase())
                    .unwrap_or_default()
            ));
        }
        if rows.is_empty() {
            out = "No artifacts found.\n".to_owned();
        }
        output::print(&out)?;
        for (destination, error) in &errors {
            eprintln!("error: destination `{destination}` cannot be read: {error}");
        }
    }
    Ok(if errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
