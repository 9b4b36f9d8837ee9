//! `cairn restore`: one job's artifact, or every backup job's newest (`--all`).

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
        topic_prefix: args.topic_prefix.as_deref(),
        force: args.force,
        identity: args.identity.as_deref(),
        now: now()?,
        log: Log::stderr(),
        recovery: crate::stores::postgres::Recovery {
            target_time: at,
            timeline: timeline(&args.timeline)?,
            action: match args.target_action {
                TargetActionArg::Promote => crate::stores::postgres::TargetAction::Promote,
                TargetActionArg::Pause => crate::stores::postgres::TargetAction::Pause,
                TargetActionArg::Shutdown => crate::stores::postgres::TargetAction::Shutdown,
            },
            start: args.start,
            // Set per job by the restore op.
            restore_command: String::new(),
            server_version: 0,
        },
    };
    let host = host(global);
    let runtime = runtime()?;
    let jobs: Vec<String> = match &args.job {
        Some(job) => vec![job.clone()],
        None => ops::restore::backup_jobs_in_order(&config),
    };
    for (done, job) in jobs.iter().enumerate() {
        let notes = ops::restore::restore_job(runtime.handle(), &config, &host, job, &options)
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

/// `--timeline`: `latest`, or a timeline number.
fn timeline(text: &str) -> miette::Result<String> {
    if text == "latest" || text.parse::<u32>().is_ok_and(|n| n > 0) {
        Ok(text.to_owned())
    } else {
        Err(miette!(
            help = "give `latest` (the default: follow the newest timeline in the archive) or a number such as 1",
            "--timeline `{text}` is not a timeline"
        ))
    }
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
