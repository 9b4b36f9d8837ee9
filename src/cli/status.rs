//! `cairn status`: are the backups healthy? Exit 0/1/2/3 as monitoring plugins do.

use super::*;

/// `cairn status`: exits with the worst job's state (0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN). Whatever keeps it from telling — an invalid
/// configuration, a bad `CAIRN_NOW`, an unreadable history — is UNKNOWN (3),
/// not an error (1), so that monitoring tells "cannot tell" from "broken".
pub(super) fn status(
    global: &GlobalArgs,
    json: bool,
    prometheus: Option<&std::path::Path>,
    notify: bool,
    all_hosts: bool,
) -> miette::Result<ExitStatus> {
    let report = (|| {
        let (config, _) = if all_hosts {
            load_config(global)?
        } else {
            load_host_config(global)?
        };
        let now = now()?;
        let report = runtime()?.block_on(ops::status::status(
            &config,
            &host(global),
            now,
            notify,
            &Log::stderr(),
        ))?;
        Ok::<_, miette::Report>(report)
    })();
    // Every host's jobs: grouped by the hosts they run on.
    let report = report.map(|mut report| {
        if all_hosts {
            report
                .jobs
                .sort_by_key(|job| (job.hosts.clone().unwrap_or_default(), job.job.clone()));
        }
        report
    });
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("{error:?}");
            if json {
                let text = crate::status::json_unknown(now().ok(), &error.to_string());
                output::print(&text)?;
            } else {
                output::print("Status: UNKNOWN (cairn cannot tell; see the error above).\n")?;
            }
            return Ok(ExitStatus::Unknown);
        }
    };
    let mut state = report.state;
    if let Some(file) = prometheus {
        if let Err(e) = crate::status::prometheus::write(file, &report) {
            eprintln!(
                "error: cannot write the Prometheus textfile {}: {e}\n  help: check that the directory exists and this user may write to it",
                file.display()
            );
            state = state.max(crate::status::State::Unknown);
        }
    }
    output::print(&if json {
        crate::status::json(&report)
    } else {
        crate::status::text(&report)
    })?;
    Ok(state.exit_status())
}
