//! `cairn verify JOB`: restore the newest artifact into a scratch target
//! and run the checks (also what `cairn run` of a verify job prints).

use std::path::Path;

use crate::history::RunRecord;
use crate::manifest::Reason;
use crate::ops::run::{run_job, RunOptions, Task};

use super::*;

pub(super) fn verify(
    global: &GlobalArgs,
    job: &str,
    identity: Option<&Path>,
) -> miette::Result<ExitStatus> {
    let (config, _) = load_config(global)?;
    let options = RunOptions {
        reason: Reason::Manual,
        now: now()?,
        identity: identity.map(Path::to_owned),
        log: Log::stderr(),
    };
    let record =
        runtime()?.block_on(run_job(&config, &host(global), job, Task::Verify, &options))?;
    report(job, &record)
}

/// Prints the result of a verify run; exit 1 when it failed.
pub(super) fn report(job: &str, record: &RunRecord) -> miette::Result<ExitStatus> {
    let Some(verified) = &record.verify else {
        return Err(miette!("job `{job}` did not verify anything"));
    };
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
