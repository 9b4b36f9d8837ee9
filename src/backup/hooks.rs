//! The job's hooks (`before`, `after`, `on_failure`): shell commands run
//! around a backup with the run's job, ID and outcome in their environment.

use std::process::Command;

use crate::cancel::Cancel;

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("`{command}` could not run: {source}")]
    Start {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` could not be waited for: {source}")]
    Wait {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` exited {code}")]
    Exited { command: String, code: i32 },
}

/// Runs hook commands through `sh -c`, stopping at the first failure; a
/// cancel (timeout, signal) stops the hook too.
pub(super) fn run_hooks(
    commands: &[String],
    job: &str,
    id: &str,
    outcome: Option<&str>,
    cancel: &Cancel,
) -> Result<(), HookError> {
    use std::os::unix::process::CommandExt;
    for command in commands {
        let mut process = Command::new("sh");
        process
            .arg("-c")
            .arg(command)
            .env("CAIRN_JOB", job)
            .env("CAIRN_RUN_ID", id)
            .process_group(0);
        if let Some(outcome) = outcome {
            process.env("CAIRN_OUTCOME", outcome);
        }
        let mut child = process.spawn().map_err(|source| HookError::Start {
            command: command.clone(),
            source,
        })?;
        cancel.register(child.id());
        let status = child.wait();
        cancel.unregister(child.id());
        let status = status.map_err(|source| HookError::Wait {
            command: command.clone(),
            source,
        })?;
        if !status.success() {
            return Err(HookError::Exited {
                command: command.clone(),
                code: status.code().unwrap_or(-1),
            });
        }
    }
    Ok(())
}
