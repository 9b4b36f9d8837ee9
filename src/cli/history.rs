//! `cairn history`: the runs recorded on this host.

use super::*;

pub(super) fn history(
    global: &GlobalArgs,
    job: Option<&str>,
    json: bool,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    if let Some(job) = job {
        config.job(job)?;
    }
    let state = host(global).state_dir(&config.settings.state_dir);
    let history = crate::history::read(&state, job).map_err(|e| {
        miette!(
            "cannot read the history in {}: {e}",
            state.history().display()
        )
    })?;
    let log = output::Log::stderr();
    for damaged in &history.damaged {
        log.warn(&damaged.to_string());
    }
    let records = history.records;
    if json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&records).expect("records serialize")
        ))?;
        return Ok(ExitStatus::Success);
    }
    output::print(&crate::history::table(&records))?;
    Ok(ExitStatus::Success)
}
