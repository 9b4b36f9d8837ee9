//! `cairn history`: the runs recorded on this host and, with
//! `settings.state = "destinations"`, at the jobs' destinations.

use super::*;

pub(super) fn history(
    global: &GlobalArgs,
    job: Option<&str>,
    json: bool,
    all_hosts: bool,
) -> miette::Result<ExitStatus> {
    let (config, _) = if all_hosts {
        load_config(global)?
    } else {
        load_host_config(global)?
    };
    if let Some(job) = job {
        config.job(job)?;
    }
    let state = host(global).state_dir(&config.settings.state_dir);
    let jobs = job.map(|job| [job]);
    let shared = runtime()?
        .block_on(crate::history::remote::read_shared(
            &config,
            &state,
            jobs.as_ref().map(|jobs| jobs.as_slice()),
            None,
            now()?,
        ))
        .map_err(|e| {
            miette!(
                "cannot read the history in {}: {e}",
                state.history().display()
            )
        })?;
    let log = output::Log::stderr();
    for damaged in &shared.history.damaged {
        log.warn(&damaged.to_string());
    }
    for warning in &shared.ignored {
        log.warn(warning);
    }
    for (destination, why) in &shared.unreadable {
        log.warn(&format!(
            "the run records at destination `{destination}` cannot be read, so runs recorded only there are missing: {why}"
        ));
    }
    for running in &shared.running {
        log.warn(&format!(
            "job `{}`: run {} is running (pid {}, since {})",
            running.job,
            running.id,
            running.holder(),
            running.started_at.to_rfc3339()
        ));
    }
    let records = shared.history.records;
    if json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&records).expect("records serialize")
        ))?;
    } else {
        output::print(&crate::history::table(&records))?;
    }
    Ok(if shared.unreadable.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
