//! `cairn restore`, `verify` and `status`.

use super::*;

pub(super) fn restore(global: &GlobalArgs, args: &RestoreArgs) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let at = args.at.as_deref().map(parse_time).transpose()?;
    let options = crate::restore::RestoreOptions {
        selection: crate::restore::Selection {
            from: args.from.as_deref(),
            at,
            artifact: args.artifact.as_deref(),
        },
        to: args.to.as_deref(),
        force: args.force,
        identity: args.identity.as_deref(),
        now: now()?,
    };
    let host = host(global);
    let runtime = runtime()?;
    let jobs: Vec<String> = match &args.job {
        Some(job) => vec![job.clone()],
        None => crate::restore::backup_jobs_in_order(&config),
    };
    for (done, job) in jobs.iter().enumerate() {
        let notes = crate::restore::restore(runtime.handle(), &config, &host, job, &options)
            .map_err(|error| {
                if jobs.len() > 1 {
                    eprintln!(
                        "error: restore --all stopped at job `{job}` after restoring {done} of {} jobs ({}); the jobs after it were not restored",
                        jobs.len(),
                        jobs[..done].join(", ")
                    );
                }
                miette::Report::new(error)
            })?;
        for note in notes {
            eprintln!("note: {note}");
        }
    }
    output::print(&format!(
        "Restored {}.\n",
        jobs.iter()
            .map(|j| format!("`{j}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    Ok(ExitStatus::Success)
}

/// `--at`: RFC 3339, or a date (the end of that day, UTC).
fn parse_time(text: &str) -> miette::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(23, 59, 59)
            .expect("a valid time")
            .and_utc());
    }
    Err(miette!(
        help = "write it as RFC 3339 (2026-11-20T02:00:00Z) or a date (2026-11-20, meaning its end, UTC)",
        "--at `{text}` is not a time"
    ))
}

pub(super) fn verify(
    global: &GlobalArgs,
    job: &str,
    identity: Option<&std::path::Path>,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let runtime = runtime()?;
    verify_job(
        &config,
        &host(global),
        &runtime,
        job,
        crate::manifest::Reason::Manual,
        now()?,
        identity,
    )
}

/// One verify run (`cairn verify`, or `cairn run` of a verify job): the
/// record goes to the history and the notifications; exit 1 when it failed.
pub(super) fn verify_job(
    config: &Config,
    host: &Host,
    runtime: &tokio::runtime::Runtime,
    job: &str,
    reason: crate::manifest::Reason,
    now: chrono::DateTime<chrono::Utc>,
    identity: Option<&std::path::Path>,
) -> miette::Result<ExitStatus> {
    let options = crate::restore::verify::VerifyOptions {
        reason,
        now,
        identity,
    };
    let record = crate::restore::verify::verify(runtime.handle(), config, host, job, &options)?;
    let state_dir = host.local(&config.settings.state_dir);
    runtime.block_on(crate::notify::after_run(config, &state_dir, &record));
    let verified = record
        .verify
        .as_ref()
        .expect("verify runs have a verify record");
    let what = match (&verified.artifact, &verified.destination) {
        (Some(artifact), Some(destination)) => {
            format!(
                "artifact {artifact} of job `{}` from `{destination}`",
                verified.job
            )
        }
        _ => format!("job `{}`", verified.job),
    };
    match &record.error {
        Some(error) => {
            eprintln!("error: verify `{job}` failed: {error}");
            eprintln!("Verify of {what} failed.");
            Ok(ExitStatus::Failure)
        }
        None => {
            output::print(&format!(
                "Verify of {what} passed: {} checks.\n",
                verified.checks.len()
            ))?;
            Ok(ExitStatus::Success)
        }
    }
}

/// `cairn status`: exits with the worst job's state (0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN). Whatever keeps it from telling — an invalid
/// configuration, a bad `CAIRN_NOW`, an unreadable history — is UNKNOWN (3),
/// not an error (1), so that monitoring tells "cannot tell" from "broken".
pub(super) fn status(
    global: &GlobalArgs,
    json: bool,
    prometheus: Option<&std::path::Path>,
    notify: bool,
) -> miette::Result<ExitStatus> {
    let report = (|| {
        let (config, _) = load_config(global)?;
        let now = now()?;
        let state_dir = host(global).local(&config.settings.state_dir);
        let records = crate::history::read(&state_dir, None).map_err(|e| {
            miette!(
                help = "check that this user can read the state directory (settings.state_dir)",
                "cannot read the run history in {}: {e}",
                state_dir.join("history").display()
            )
        })?;
        let runtime = runtime()?;
        let listings = runtime.block_on(crate::status::read_destinations(&config));
        let report = crate::status::evaluate(&config, &listings, &records, now);
        if notify {
            runtime.block_on(crate::status::notify_stale(&config, &state_dir, &report));
        }
        Ok::<_, miette::Report>(report)
    })();
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
