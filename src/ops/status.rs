//! `cairn status`: the history and every destination read, the jobs'
//! health evaluated at `now`, and with `--notify` the stale jobs notified
//! once per episode.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::output::Log;
use crate::state::Host;
use crate::status::{self, Report};

/// Why status cannot tell (it then reports UNKNOWN).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot read the run history in {path}: {source}")]
#[diagnostic(help("check that this user can read the state directory (settings.state_dir)"))]
pub struct HistoryUnreadable {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Evaluates every job's health at `now`; with `notify`, sends a `stale`
/// notification for each job that became stale.
pub async fn status(
    config: &Config,
    host: &Host,
    now: DateTime<Utc>,
    notify: bool,
    log: &Log,
) -> Result<Report, HistoryUnreadable> {
    let state = host.state_dir(&config.settings.state_dir);
    let history = crate::history::read(&state, None).map_err(|source| HistoryUnreadable {
        path: state.history().display().to_string(),
        source,
    })?;
    for damaged in &history.damaged {
        log.warn(&damaged.to_string());
    }
    let records = history.records;
    let listings = status::read_destinations(config).await;
    for warning in crate::inventory::ignored(&listings) {
        log.warn(&warning);
    }
    let archives = crate::wal::read_archives(config).await;
    let report = status::evaluate(config, &listings, &archives, &records, now);
    if notify {
        status::notify_stale(config, &state, &report, log).await;
    }
    Ok(report)
}
