//! `cairn status`: the history (with `settings.state = "destinations"`,
//! also the run records at the destinations) and every destination read,
//! the jobs' health evaluated at `now`, and with `--notify` the stale jobs
//! notified once per episode.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::history::remote;
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
    let shared = remote::read_shared(config, &state, None, Some(remote::RECENT), now)
        .await
        .map_err(|source| HistoryUnreadable {
            path: state.history().display().to_string(),
            source,
        })?;
    for damaged in &shared.history.damaged {
        log.warn(&damaged.to_string());
    }
    let records = shared.history.records;
    let mut listings = status::read_destinations(config).await;
    for warning in crate::inventory::ignored(&listings)
        .iter()
        .chain(&shared.ignored)
    {
        log.warn(warning);
    }
    // Records that cannot be read make the destination's runs unknown:
    // its jobs are UNKNOWN, never taken for jobs without runs.
    for (destination, why) in shared.unreadable {
        if let Some(listing @ Ok(_)) = listings.get_mut(&destination) {
            *listing = Err(format!("its run records cannot be read: {why}"));
        }
    }
    let archives = crate::wal::read_archives(config).await;
    let report = status::evaluate(config, &listings, &archives, &records, now);
    if notify {
        status::notify_stale(config, &state, &report, log).await;
    }
    Ok(report)
}
