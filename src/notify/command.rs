//! The `command` notifier: `sh -c COMMAND` with the notice in its
//! environment.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{DeliveryError, Notice};
use crate::config::raw::CommandNotify;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a finished command's leftovers (a background child holding
/// stderr open) may delay the warning.
const STDERR_GRACE: Duration = Duration::from_secs(1);
/// How much of a failed command's stderr a warning quotes.
const STDERR_LIMIT: usize = 1024;

pub(super) async fn run(command: &CommandNotify, notice: &Notice) -> Result<(), DeliveryError> {
    let mut process = tokio::process::Command::new("sh");
    process
        .arg("-c")
        .arg(&command.command)
        .env("CAIRN_EVENT", notice.event.name())
        .env("CAIRN_JOB", &notice.job)
        .env("CAIRN_MESSAGE", &notice.message)
        .env("CAIRN_STATUS", notice.status.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout stops whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    match &notice.artifact {
        Some(artifact) => process.env("CAIRN_ARTIFACT", artifact),
        None => process.env_remove("CAIRN_ARTIFACT"),
    };
    let mut child = process.spawn().map_err(DeliveryError::CommandStart)?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut reader = tokio::spawn(async move {
        let mut tail = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buffer[..n]);
            if tail.len() > 2 * STDERR_LIMIT {
                tail.drain(..tail.len() - STDERR_LIMIT);
            }
        }
        tail
    });
    let status = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(DeliveryError::CommandWait)?,
        Err(_) => {
            if let Some(pid) = child.id() {
                crate::cancel::signal_group(pid, libc::SIGKILL);
            }
            let _ = child.wait().await;
            reader.abort();
            return Err(DeliveryError::CommandTimeout(COMMAND_TIMEOUT.as_secs()));
        }
    };
    if status.success() {
        reader.abort();
        return Ok(());
    }
    let tail = match tokio::time::timeout(STDERR_GRACE, &mut reader).await {
        Ok(Ok(tail)) => tail,
        _ => {
            reader.abort();
            Vec::new()
        }
    };
    let tail = String::from_utf8_lossy(&tail[tail.len().saturating_sub(STDERR_LIMIT)..])
        .trim()
        .to_owned();
    let ending = match status.code() {
        Some(code) => format!("exited {code}"),
        None => "was killed by a signal".to_owned(),
    };
    Err(DeliveryError::CommandFailed {
        ending,
        stderr: tail,
    })
}
